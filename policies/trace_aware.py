"""A user policy for links whose capacity changes: quantize before a link that will be slow
when the message gets there.

Reference it from a topology YAML as ``policy: ../policies/trace_aware.py:TraceAware``, with
arguments as ``policy: {class: ../policies/trace_aware.py:TraceAware, args: {slow_mbps: 2}}``
(the path relative to the YAML file's folder, here one in ``topologies/``, never the current
directory).

Idea: on a traced link (``trace:`` in the topology, or a ``background`` load) the capacity a
message gets depends on *when* it crosses. The policy walks the route from the source,
estimates when the message reaches each hop and what the hop's capacity will be then, and
sends as low a level as the route still allows over every hop predicted below ``slow_mbps``
(and as high a level as possible over the others), with one quantization per hop like
``policies/bandwidth_aware.py``.

What it predicts for a hop:

* by default the future is hidden, so the prediction is the worse of the capacity now
  (``hop.capacity_mbps``, at the decision time ``ctx.now_s``) and its mean over the last
  ``window_s`` seconds (``hop.mean_capacity_mbps(window_s)``): a link that is slow now, or
  was slow lately, counts as slow;
* on a topology with ``oracle: true`` (an upper bound: no real sender knows its link's
  future) it is the capacity at the estimated arrival, ``hop.capacity_at(t)``. The arrival is
  the decision time plus, for every earlier hop, its latency and its transmission
  (``ctx.transmit_s``, exact over the trace with the oracle); compute on the nodes is left
  out.

A constant link's capacity is its ``bandwidth_mbps`` at every time. When the destination asks
for fewer quantizations than hops (``n_q`` in the YAML), or outside the simulator, it sends the
edge policy's vector.
"""

from __future__ import annotations

import math

from hcf_ray.policy import Hop, Policy, PolicyContext, PolicyVector


class TraceAware(Policy):
    name = "trace-aware"

    def __init__(self, slow_mbps: float = 5.0, window_s: float = 5.0):
        for key, value in (("slow_mbps", slow_mbps), ("window_s", window_s)):
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0, got {value!r}")
        self.slow_mbps = float(slow_mbps)
        self.window_s = float(window_s)
        self.predicted_mbps: list[float] = []  # the last route's predictions (for inspection)

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        top, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        if ctx.route is None or ctx.num_hops != n:
            return PolicyVector.from_levels(top, d, [top - i for i in range(n - 1)] + [d])
        levels: list[int] = []
        self.predicted_mbps = []
        at_s = ctx.now_s  # when the message reaches the next hop (estimate)
        for i, hop in enumerate(ctx.route):
            remaining = n - 1 - i  # hops after this one, each needs a lower level
            lowest = max(d + remaining, hop.min_level or 0)
            highest = min(top - i, levels[-1] - 1 if levels else top)
            mbps = self.predict(hop, at_s)
            self.predicted_mbps.append(mbps)
            if i == n - 1:
                level = d
            elif mbps < self.slow_mbps:
                level = lowest
            else:
                level = highest
            level = max(min(level, highest), lowest)
            levels.append(level)
            at_s += self.crossing_s(ctx, level, hop, at_s)
        return PolicyVector.from_levels(top, d, levels)

    def predict(self, hop: Hop, at_s: float) -> float:
        """The capacity ``hop`` is expected to have when a message reaches it at ``at_s``
        (0 when an earlier hop will never deliver it)."""
        if math.isinf(at_s):
            return 0.0
        if hop.oracle:
            return hop.capacity_at(at_s)
        return min(hop.capacity_mbps, hop.mean_capacity_mbps(self.window_s))

    @staticmethod
    def crossing_s(ctx: PolicyContext, level: int, hop: Hop, at_s: float) -> float:
        """Seconds from the message entering ``hop`` at ``at_s`` until it has arrived: its
        transmission (exact over the trace with the oracle) and latency; the latency alone
        when the simulator's rate estimate is not available."""
        try:
            return ctx.transmit_s(level, hop, start_s=at_s if hop.oracle else None)
        except LookupError:
            return hop.latency_ms / 1000.0
