"""Which level crosses each link of a multicast tree (HCF's hierarchy; DRF uses the same).

Every tree link carries exactly one transmission, levels strictly decrease along every route
(each hop is a quantization, Σπ = n_q = number of hops) and the link into a destination
carries its target level. Destinations are planned in order of decreasing target level
(then shorter routes first): the first one's policy fixes the levels of its whole route; a
later destination keeps the levels already fixed on the shared prefix of its route and its
policy plans only the rest, from the fork relay on (source level = the level the relay
received − 1). ``Hop.min_level`` tells a policy the lowest level a hop may carry so that
every destination further down the tree remains reachable; a plan that breaks it is an error.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hcf_ray.policy import ExplicitPolicy, Hop, Policy, PolicyContext, Route
from hcf_ray.sim.topology import MulticastTree, Topology


class PlanError(ValueError):
    """An impossible plan; ``field`` names the config entry it comes from."""

    def __init__(self, message: str, field: str = ""):
        self.message = message
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class TreeProblem:
    topology: Topology
    tree: MulticastTree
    source_level: int
    targets: Mapping[str, int]  # destination → target level
    policies: Mapping[str, Policy]  # destination → policy
    flow: Any = None
    max_level: int | None = None
    fields: Mapping[str, str] | None = None  # destination → config field (for errors)

    def field(self, dest: str) -> str:
        return (self.fields or {}).get(dest, "")


def min_levels(problem: TreeProblem) -> dict[tuple[str, str], int]:
    """Lowest level each tree link may carry: a destination k hops below needs ≥ d + k."""
    need: dict[tuple[str, str], int] = {}
    for dest, path in problem.tree.paths.items():
        d = problem.targets[dest]
        for i, edge in enumerate(itertools.pairwise(path)):
            below = len(path) - 2 - i  # hops after this one
            need[edge] = max(need.get(edge, 0), d + below)
    return need


def assign_levels(problem: TreeProblem) -> dict[str, tuple[int, ...]]:
    """Levels per hop of every destination's route (see module doc)."""
    s = problem.source_level
    need = min_levels(problem)
    fixed: dict[tuple[str, str], tuple[int, str]] = {}  # edge → (level, destination)
    order = sorted(problem.targets, key=lambda n: (-problem.targets[n], len(problem.tree.paths[n])))
    for dest in order:
        path = problem.tree.paths[dest]
        edges = list(itertools.pairwise(path))
        d = problem.targets[dest]
        j = 0
        while j < len(edges) and edges[j] in fixed:
            j += 1
        if j == len(edges):
            level, owner = fixed[edges[-1]]
            if level != d:
                u, v = edges[-1]
                raise PlanError(
                    f"destination {dest!r} needs level {d} but link {u}→{v} already carries "
                    f"level {level} for destination {owner!r} further down the tree",
                    problem.field(dest),
                )
            continue
        top = s if j == 0 else fixed[edges[j - 1]][0] - 1
        levels = _plan_rest(problem, dest, path[j:], top, need, fixed, edges[:j])
        for edge, level in zip(edges[j:], levels):
            if level < need[edge]:
                u, v = edge
                raise PlanError(
                    f"policy sends level {level} on link {u}→{v}, but destinations further "
                    f"down the tree need at least level {need[edge]} there",
                    problem.field(dest),
                )
            fixed[edge] = (level, dest)
    return {
        dest: tuple(fixed[e][0] for e in itertools.pairwise(path))
        for dest, path in problem.tree.paths.items()
    }


def _plan_rest(problem, dest, nodes, top, need, fixed, prefix) -> tuple[int, ...]:
    d = problem.targets[dest]
    n = len(nodes) - 1
    s = problem.source_level
    policy = problem.policies[dest]
    where = problem.field(dest)
    if isinstance(policy, ExplicitPolicy):  # a vector over the destination's whole route
        try:
            vec = policy(PolicyContext(s, d, len(prefix) + n, max_level=problem.max_level))
        except ValueError as exc:
            raise PlanError(f"{exc} (route has {len(prefix) + n} hops)", where) from None
        levels = vec.transmission_levels
        for edge, level in zip(prefix, levels):
            if fixed[edge][0] != level:
                u, v = edge
                raise PlanError(
                    f"policy {vec} puts level {level} on link {u}→{v}, which already carries "
                    f"level {fixed[edge][0]} for destination {fixed[edge][1]!r}",
                    where,
                )
        return levels[len(prefix) :]
    if top < d or n > top - d + 1:
        start = f"relay {nodes[0]!r} (which receives level {top + 1})" if prefix else "the source"
        raise PlanError(
            f"destination {dest!r} is {n} hops from {start} but levels {top}→{d} allow at most "
            f"{max(top - d + 1, 0)} transmissions (one per hop)",
            where,
        )
    topo = problem.topology
    hops = tuple(
        Hop(u, v, ln.bandwidth_mbps, ln.latency_ms, ln.loss, need[(u, v)])
        for u, v in itertools.pairwise(nodes)
        for ln in [topo.link(u, v)]
    )
    route = Route(
        nodes=tuple(nodes),
        hops=hops,
        node_resources={x: _resources(topo.node(x)) for x in nodes},
        node_speed={x: topo.node(x).speed for x in nodes},
        upstream_level=top + 1 if prefix else None,
    )
    try:
        ctx = PolicyContext(top, d, n, route=route, flow=problem.flow, max_level=problem.max_level)
        vec = policy(ctx)
    except ValueError as exc:
        raise PlanError(str(exc), where) from None
    return vec.transmission_levels


def _resources(node) -> dict[str, float]:
    gpus = node.num_gpus if isinstance(node.num_gpus, float | int) else 0.0
    return {"CPU": node.num_cpus, "GPU": gpus, **node.resources}
