"""A user policy: choose transmission levels from the link bandwidths of the route.

Reference it from a topology YAML as ``policy: ../policies/bandwidth_aware.py:BandwidthAware``
(a relative path is relative to the YAML file's folder, here one in ``topologies/``, never the
current directory; on the command line, ``hcf-sim check-policy`` takes it from the current
directory).

Idea: the edge policy (paper Eq. 16) keeps the latent at high levels for as long as possible,
which is best for quality, but a slow link then carries a big bitstream. This policy sends
as low a level as the route still allows over every *slow* hop (bandwidth below
``slow_fraction`` of the route's fastest hop) and as high a level as possible over the fast
ones. It plans routes with one quantization per hop (levels strictly decrease, the last hop
carries the target level, ``hop.min_level`` from multicast trees is respected); when the
destination asks for fewer quantizations than hops (``n_q`` in the YAML) it falls back to the
edge vector, whose default placement (``Policy.place``) already sends the lowest level over as
many links as possible. ``ctx.start_level`` is the top of the vector (the source level, or for
a later multicast destination one below what its fork relay holds).

``slow_fraction`` can be set from the YAML::

    policy: {class: ../policies/bandwidth_aware.py:BandwidthAware, args: {slow_fraction: 0.3}}
"""

from __future__ import annotations

from hcf_ray.policy import Policy, PolicyContext, PolicyVector


class BandwidthAware(Policy):
    name = "bandwidth-aware"

    def __init__(self, slow_fraction: float = 0.5):
        self.slow_fraction = slow_fraction

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        top, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        if ctx.route is None or ctx.num_hops != n:
            # outside the simulator: behave like the edge policy
            return PolicyVector.from_levels(top, d, [top - i for i in range(n - 1)] + [d])
        fastest = max(hop.bandwidth_mbps for hop in ctx.route)
        levels: list[int] = []
        for i, hop in enumerate(ctx.route):
            remaining = n - 1 - i  # hops after this one, each needs a lower level
            lowest = max(d + remaining, hop.min_level or 0)
            highest = min(top - i, levels[-1] - 1 if levels else top)
            if i == n - 1:
                level = d
            elif hop.bandwidth_mbps < self.slow_fraction * fastest:
                level = lowest
            else:
                level = highest
            levels.append(max(min(level, highest), lowest))
        return PolicyVector.from_levels(top, d, levels)
