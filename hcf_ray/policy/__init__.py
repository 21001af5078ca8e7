"""Quantization policies: where along a cascade the latent is quantized and transmitted.

Writing a policy (the whole API is :mod:`hcf_ray.policy.base`; full examples in
``policies/``)::

    # my_policies.py
    from hcf_ray.policy import Decision, Policy, PolicyContext, PolicyVector

    class SlowestLinkLast(Policy):
        name = "slowest-link-last"

        def __init__(self, threshold_mbps: float = 20.0):   # args from the YAML
            self.threshold_mbps = threshold_mbps

        def decide(self, ctx: PolicyContext) -> Decision:
            ...  # look at hop.bandwidth_mbps for hop in ctx.route
            vector = PolicyVector.from_levels(ctx.start_level, ctx.target_level, [6, 2, 1])
            return Decision(vector, levels=None)  # or the level on every hop: (6, 6, 2, 1)

Reference it from a topology YAML as ``policy: my_policies.py:SlowestLinkLast``, or with
constructor arguments as ``policy: {class: my_policies.py:SlowestLinkLast, args:
{threshold_mbps: 10}}``, and try it first with ``hcf-sim check-policy
my_policies.py:SlowestLinkLast``. ``decide(ctx)`` is called once per destination of a flow.

The context (:class:`PolicyContext`) names the levels (``flow_source_level``,
``start_level``, ``target_level``, ``max_level``), the counts (``n_q`` quantizations,
``num_hops`` links, ``n_q ≤ num_hops``) and, inside the simulator, the ``route`` (its
:class:`Hop` s' ``bandwidth_mbps``, ``latency_ms``, ``loss``, ``min_level``;
``route.nodes``, ``route.node_speed``, ``route.forks``, ``route.upstream_level``), the flow's
largest ``image_size``, each node's device (``route.devices``: a :class:`NodeDevice` with
``cores``, ``speed``, ``throughput``, ``busy_w``, ``idle_w``) and estimates priced like the
simulator prices them: ``ctx.estimate(levels)`` prices a whole plan (the level on every hop)
with the simulator's own code on an idle network — an :class:`Estimate` of ``latency_s``,
``energy_j``, ``link_bytes`` and ``compute_s`` — and its pieces ``ctx.rate_model(level)``
(bytes), ``ctx.cost_model(ops, node)`` (seconds of compute) and ``ctx.transmit_s(level,
hop)``. On a multicast tree a later destination's policy sees only
the rest of its route, from the relay where it leaves the shared part (``start_level`` is
then one below ``route.upstream_level``); ``Hop.min_level`` says how low a hop may go so that
every destination further down the tree stays reachable.

A policy loaded from a file runs guarded: its import, ``__init__`` and ``decide`` (or
``choose``/``place``) may take at most ``$HCF_POLICY_TIMEOUT_S`` seconds per call (default
5; the first ``rate_model`` measurement is not counted), and whatever goes wrong in them is
one line naming the file and line, ``policy my_policies.py:12: ZeroDivisionError: division by
zero``. The file is loaded from its text under a private module name: a policy saved as
``bottleneck.py`` shadows no installed package. A class registered with
:func:`register_policy` is named in a topology by its ``name`` (like ``edge``).
"""

from hcf_ray.policy._registry import register_policy
from hcf_ray.policy.base import Decision, Policy
from hcf_ray.policy.builtin import EdgePolicy, ExplicitPolicy, LatePolicy, UniformPolicy
from hcf_ray.policy.context import Hop, PolicyContext, Route
from hcf_ray.policy.estimate import Estimate, NodeDevice
from hcf_ray.policy.vector import PolicyVector, all_placements, enumerate_policies

__all__ = [
    "Decision",
    "EdgePolicy",
    "Estimate",
    "ExplicitPolicy",
    "Hop",
    "LatePolicy",
    "NodeDevice",
    "Policy",
    "PolicyContext",
    "PolicyVector",
    "Route",
    "UniformPolicy",
    "all_placements",
    "enumerate_policies",
    "register_policy",
]
