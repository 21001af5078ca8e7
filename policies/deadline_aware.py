"""A user policy that meets an end-to-end deadline with the best quality it can.

Reference it from a topology YAML with its deadline as an argument::

    policy: {class: ../policies/deadline_aware.py:DeadlineAware, args: {deadline_ms: 375}}

(see ``topologies/deadline.yaml``; without it: 375 ms; the path is relative to the YAML
file's folder, never the current directory). Idea: every candidate plan — a vector ``π`` with the
destination's ``ctx.n_q`` quantizations and a placement of its levels on the route's hops —
is priced the way the simulator prices it, for the flow's largest image (``ctx.image_size``):

* compute with ``ctx.cost_model(ops, node)`` (the node's cost profile / device throughput /
  node speed) for the ops of the HCF cascade (:mod:`hcf_ray.cascade`): the source runs
  ``analysis[s]``, ``phi_intra`` down to its first level and ``encode``; a relay where the
  level drops from ``a`` to ``b`` runs ``decode[a]``, ``phi_inter[a]``, ``phi_intra`` down to
  ``b`` and ``encode[b]``; a relay that keeps the level forwards the bytes (no compute); the
  destination runs ``decode[d]`` and ``synthesis[d]``;
* every hop with ``ctx.transmit_s(level, hop)`` (``ctx.rate_model`` bytes × 8 / bandwidth +
  latency).

Vectors are tried best quality first: ``enumerate_policies`` lists them edge policy first
(the latent stays at high levels as long as possible, paper Eq. 16), i.e. by decreasing
transmission levels. The first vector with a placement that meets the deadline is chosen,
with its fastest such placement; when none does, the fastest plan overall. ``decide`` returns
both, the vector and the level on every hop (a :class:`~hcf_ray.policy.Decision`). The quantization
count itself is the destination's ``n_q`` (fewer quantizations are better for quality: set
``n_q`` in the YAML). Estimates ignore queueing behind other images and flows, and for a
later destination of a multicast tree they cover only its own part of the route (from the
fork relay on). Outside the simulator (no route) it behaves like the edge policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from hcf_ray.policy import (
    Decision,
    EdgePolicy,
    Policy,
    PolicyContext,
    all_placements,
    enumerate_policies,
)


class DeadlineAware(Policy):
    name = "deadline-aware"

    def __init__(self, deadline_ms: float = 375.0):
        if not isinstance(deadline_ms, int | float) or deadline_ms <= 0:
            raise ValueError(f"deadline_ms must be a positive number, got {deadline_ms!r}")
        self.deadline_s = deadline_ms / 1000.0
        self.estimate_s: float | None = None  # the last plan's estimate (for inspection)

    def decide(self, ctx: PolicyContext) -> Decision:
        if ctx.route is None or ctx.image_size is None:
            return EdgePolicy().decide(ctx)
        fastest = None  # (seconds, vector, placement) over every plan
        mins = [hop.min_level for hop in ctx.route]
        for vector in enumerate_policies(ctx.start_level, ctx.target_level, ctx.n_q):
            plans = [
                (self.latency_s(ctx, levels), levels)
                for levels in all_placements(vector.transmission_levels, ctx.num_hops, mins)
            ]
            if not plans:
                continue
            seconds, levels = min(plans)
            if fastest is None or seconds < fastest[0]:
                fastest = (seconds, vector, levels)
            if seconds <= self.deadline_s:  # best quality that meets the deadline
                self.estimate_s = seconds
                return Decision(vector, levels)
        if fastest is None:  # no placement respects the tree's min levels: let the check say so
            return EdgePolicy().decide(ctx)
        self.estimate_s, vector, levels = fastest
        return Decision(vector, levels)

    # -- the estimate -----------------------------------------------------------------------
    def latency_s(self, ctx: PolicyContext, levels: Sequence[int]) -> float:
        """Estimated seconds from the chain's start to the reconstruction at the destination
        when hop ``i`` carries ``levels[i]``."""
        nodes = ctx.route.nodes
        held = ctx.route.upstream_level  # a fork relay already holds (and decoded) this level
        total = 0.0
        for i, hop in enumerate(ctx.route):
            sent = levels[i]
            if i == 0:
                if held is None:  # the flow's source: analysis at the source level
                    ops = [f"analysis[{ctx.start_level}]", *intra(ctx.start_level, sent)]
                else:
                    ops = [f"phi_inter[{held}]", *intra(held - 1, sent)]
                ops.append(f"encode[{sent}]")
            elif sent != levels[i - 1]:  # this relay drops the level
                got = levels[i - 1]
                ops = [f"decode[{got}]", f"phi_inter[{got}]", *intra(got - 1, sent)]
                ops.append(f"encode[{sent}]")
            else:  # forwards the bytes it received
                ops = []
            if ops:
                total += ctx.cost_model(ops, nodes[i])
            total += ctx.transmit_s(sent, hop)
        d = ctx.target_level
        return total + ctx.cost_model([f"decode[{d}]", f"synthesis[{d}]"], nodes[-1])


def intra(top: int, bottom: int) -> list[str]:
    """φ^intra ops taking the latent from level ``top`` down to ``bottom`` inside a node."""
    return [f"phi_intra[{k}]" for k in range(top, bottom, -1)]
