"""A user policy that decides *where* the drops happen on a multicast tree.

Reference it from a topology YAML as ``policy: ../policies/fork_aware.py:ForkAware`` (the
path relative to the YAML file's folder, here one in ``topologies/``, never the current
directory).

The built-in placement drops levels as early as possible, which keeps the bytes on every link
low. On a multicast tree that has a price: once the first relay has cut the stream to the
first destination's level, every destination that branches off further down inherits that
cut and needs one more quantization of its own. ``ForkAware`` chooses the edge vector (paper
Eq. 16) but forwards the source's stream untouched up to the first relay where the tree
branches (``ctx.route.forks``), and drops from there on, so each destination below that relay
can reach its level with its own ``n_q`` quantizations, from one shared decode at the fork.
The shared links then carry the higher level: rate on those links is traded for quality at
the destinations. No hop goes below its ``min_level``.

Its :meth:`~hcf_ray.policy.Policy.decide` takes the vector of
:class:`~hcf_ray.policy.EdgePolicy` and returns it with its own placement. For a later destination of the tree, ``ctx.start_level``
is one below the level its fork relay already holds (``ctx.route.upstream_level``), not the
flow's ``ctx.flow_source_level``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hcf_ray.policy import Decision, EdgePolicy, Policy, PolicyContext, all_placements


class ForkAware(Policy):
    name = "fork-aware"

    def decide(self, ctx: PolicyContext) -> Decision:
        vector = EdgePolicy().decide(ctx).vector
        return Decision(vector, self.placement(ctx, vector.transmission_levels))

    def placement(self, ctx: PolicyContext, levels: Sequence[int]) -> tuple[int, ...]:
        route, hops = ctx.route, ctx.num_hops
        mins = [hop.min_level for hop in route] if route is not None else None
        # every placement that keeps each hop at or above its min_level, earliest drops first
        plans = list(all_placements(levels, hops, mins)) or list(all_placements(levels, hops))
        if route is None or not route.forks or len(levels) == 1:
            return plans[0]
        # the hops up to the first fork relay forward the source's level; the other levels
        # are dropped as early as possible from the fork on (each needs one hop)
        first_fork = min(route.nodes.index(x) for x in route.forks)
        keep = min(first_fork, hops - len(levels) + 1)
        return next((p for p in plans if p[:keep] == (levels[0],) * keep), plans[0])
