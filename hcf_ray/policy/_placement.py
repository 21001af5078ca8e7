"""Levels per hop: the default placements and the check every placement passes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hcf_ray.policy.context import PolicyContext
from hcf_ray.policy.vector import PolicyVector, all_placements, fitting


def place_default(ctx: PolicyContext, vector: PolicyVector) -> tuple[int, ...]:
    """The placement of a policy that gives none: drop as early as the route's
    ``Hop.min_level`` s allow (:func:`place_early` when they allow nothing)."""
    levels, hops = vector.transmission_levels, ctx.num_hops
    route = ctx.route
    if route is not None and len(route) == hops and any(h.min_level for h in route):
        mins = [h.min_level for h in route]
        return next(all_placements(levels, hops, mins), None) or place_early(levels, hops)
    return place_early(levels, hops)


def place_early(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    """Levels per hop, dropping as early as possible: ``(6, 3)`` on 4 hops → ``(6, 3, 3, 3)``
    (the first relay does the work, later relays forward the level-3 bytes)."""
    levels = fitting(levels, hops)
    return levels + (levels[-1],) * (hops - len(levels))


def place_late(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    """Levels per hop, dropping as late as possible: ``(6, 3)`` on 4 hops → ``(6, 6, 6, 3)``
    (the source's stream is forwarded until the last relay, which does the work)."""
    levels = fitting(levels, hops)
    return (levels[0],) * (hops - len(levels)) + levels


def check_placement(vector: PolicyVector, hop_levels: Sequence[int], hops: int) -> None:
    """A placement must give every hop a level, never raise the level, and use exactly the
    vector's transmission levels (a repeated level = a relay forwarding the bytes)."""
    lv = tuple(hop_levels)
    if len(lv) != hops:
        raise ValueError(f"placement {list(lv)} gives {len(lv)} levels for a route of {hops} hops")
    if any(b > a for a, b in itertools.pairwise(lv)):
        raise ValueError(f"placement {list(lv)} raises the level along the route")
    if tuple(dict.fromkeys(lv)) != vector.transmission_levels:
        raise ValueError(
            f"placement {list(lv)} does not carry exactly the levels "
            f"{list(vector.transmission_levels)} of policy {vector}"
        )
