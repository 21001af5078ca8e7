"""A user policy that meets an end-to-end deadline with the best quality it can.

Reference it from a topology YAML with its deadline as an argument::

    policy: {class: ../policies/deadline_aware.py:DeadlineAware, args: {deadline_ms: 375}}

(see ``topologies/deadline.yaml``; without it: 375 ms; the path is relative to the YAML
file's folder, never the current directory). Idea: every candidate plan — a vector
``π`` with the destination's ``ctx.n_q`` quantizations and a placement of its levels on the
route's hops — is priced with ``ctx.estimate(levels)``, which runs the plan through the
simulator's own pricing (the method's stages on the nodes' devices, ``ctx.rate_model`` bytes
over the links, the event model) for the flow's largest image (``ctx.image_size``), on an
otherwise idle network.

Vectors are tried best quality first: ``enumerate_policies`` lists them edge policy first
(the latent stays at high levels as long as possible, paper Eq. 16), i.e. by decreasing
transmission levels. The first vector with a placement that meets the deadline is chosen,
with its fastest such placement; when none does, the fastest plan overall. ``decide`` returns
both, the vector and the level on every hop (a :class:`~hcf_ray.policy.Decision`). The
quantization count itself is the destination's ``n_q`` (fewer quantizations are better for
quality: set ``n_q`` in the YAML). Estimates leave out queueing behind other images and
flows, and for a later destination of a multicast tree they cover only its own part of the
route (from the fork relay on). Outside the simulator (no route, or ``estimate`` not
available, as in ``hcf-sim check-policy``) it behaves like the edge policy.
"""

from __future__ import annotations

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
            try:
                plans = [
                    (ctx.estimate(levels).latency_s, levels)
                    for levels in all_placements(vector.transmission_levels, ctx.num_hops, mins)
                ]
            except LookupError:  # no simulator to price with (hcf-sim check-policy)
                return EdgePolicy().decide(ctx)
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
