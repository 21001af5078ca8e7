"""Which level crosses each link of a multicast tree (HCF's hierarchy; DRF uses the same).

Every tree link carries exactly one stream; levels never rise along a route and the link into
a destination carries its target level. A hop whose level is lower than the one before it is
a quantization (the relay decodes, runs φ or DRF's re-encode, quantizes at the new level); a
hop with the same level is a relay forwarding the bytes unchanged. A destination's ``n_q``
(quantizations along its whole route, Σπ) defaults to one per hop while the levels allow it,
``min(hops, s − d + 1)``; the policy picks the levels (:meth:`Policy.__call__`) and which hops
carry them (:meth:`Policy.place`). Destinations are planned in order of decreasing target level
(then shorter routes first): the first one's policy fixes the levels of its whole route; a
later destination keeps the levels already fixed on the shared prefix of its route and its
policy plans only the rest, from the fork relay on (its context's ``start_level`` = the level
the relay received − 1, ``flow_source_level`` the flow's; when the relay already receives the
target level, the rest of the route forwards it).
``Hop.min_level`` tells a policy the lowest level a hop may carry so that every destination
further down the tree remains reachable (the highest target level below it); a plan that
breaks it is an error.

Policies decide once per flow, at the release of its first image (``decided_s``, simulation
time 0); every hop carries its link's capacity over time (``LinkSpec.capacity``), which a
policy reads at or before that time, and after it only when the topology sets ``oracle:
true`` (:class:`~hcf_ray.policy.context.Hop`).
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcf_ray import policy as policy_module
from hcf_ray.errors import InputError
from hcf_ray.policy import ExplicitPolicy, Hop, Policy, PolicyContext, Route
from hcf_ray.policy._environment import environment_of
from hcf_ray.policy._values import PolicyReturnError
from hcf_ray.sim.topology import MulticastTree, Topology


class PlanError(InputError):
    """An impossible plan; ``field`` names the config entry it comes from."""

    def __init__(self, message: str, field: str = ""):
        self.message = message
        self.field = field
        super().__init__(message)


def _refused_by_policy(exc: ValueError) -> bool:
    """Whether ``exc`` is a policy refusing its input (a vector, levels, a placement that do
    not fit the route), to be reported as a :class:`PlanError`, rather than a bug.

    An :class:`InputError` or a :class:`PolicyReturnError` is; so is a plain ``ValueError``
    raised by a ``raise ValueError(...)`` statement of the :mod:`hcf_ray.policy` package (its
    checks predate :class:`InputError`). Anything else (a bad unpacking, a shape mismatch, a
    ``ValueError`` from deeper down) is a bug and propagates unchanged."""
    if isinstance(exc, InputError | PolicyReturnError):
        return True
    tb = exc.__traceback__
    if tb is None or type(exc) is not ValueError:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if Path(code.co_filename).parent != Path(policy_module.__file__).parent:
        return False
    return (
        linecache.getline(code.co_filename, tb.tb_lineno).lstrip().startswith("raise ValueError(")
    )


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
    n_q: Mapping[str, int | None] | None = None  # destination → quantizations (None: default)
    n_q_fields: Mapping[str, str] | None = None  # destination → config field of its n_q
    # when the policies decide, simulation seconds: the release of the flow's first image
    decided_s: float = 0.0
    # policies may read link capacities after decided_s (None: the topology's ``oracle``)
    oracle: bool | None = None
    method: str | None = None  # the method being planned (Route.method, what estimate prices)

    @property
    def sees_future(self) -> bool:
        if self.oracle is not None:
            return self.oracle
        return bool(getattr(self.topology, "oracle", False))

    def n_q_field(self, dest: str) -> str:
        return (self.n_q_fields or {}).get(dest) or self.field(dest)

    def field(self, dest: str) -> str:
        return (self.fields or {}).get(dest, "")


def min_levels(problem: TreeProblem) -> dict[tuple[str, str], int]:
    """Lowest level each tree link may carry: the highest target level below it (relays can
    forward a level unchanged, so a destination k hops below needs only ≥ d)."""
    need: dict[tuple[str, str], int] = {}
    for dest, path in problem.tree.paths.items():
        d = problem.targets[dest]
        for edge in itertools.pairwise(path):
            need[edge] = max(need.get(edge, 0), d)
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
            _rest_n_q(problem, dest, edges, fixed, 0)
            continue
        if j and fixed[edges[j - 1]][0] == d:  # the fork relay already receives level d
            _rest_n_q(problem, dest, edges[:j], fixed, 0)
            levels = (d,) * (len(edges) - j)
        else:
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


def _rest_n_q(problem, dest, prefix, fixed, default: int) -> int:
    """Quantizations left for the part of a route after the shared ``prefix``: the
    destination's ``n_q`` minus the distinct levels already on the prefix, or ``default``
    when ``n_q`` is unset. ``default == 0``: nothing is left to drop (the route ends on the
    shared part or forwards the level it receives), so ``n_q`` must be used up exactly."""
    n_q = (problem.n_q or {}).get(dest)
    if n_q is None:
        return default
    used = len({fixed[e][0] for e in prefix})
    rest = n_q - used
    if rest != 0 if default == 0 else rest < 1:
        raise PlanError(
            f"destination {dest!r} asks for n_q={n_q}, but the route it shares with "
            f"destination {fixed[prefix[-1]][1]!r} already has {used} quantization(s)"
            + (" and ends at its level" if default == 0 else " and it needs at least one more"),
            problem.n_q_field(dest),
        )
    return rest


def _plan_rest(problem, dest, nodes, top, need, fixed, prefix) -> tuple[int, ...]:
    d = problem.targets[dest]
    n = len(nodes) - 1
    s = problem.source_level
    policy = problem.policies[dest]
    where = problem.field(dest)
    n_q = (problem.n_q or {}).get(dest)
    if isinstance(policy, ExplicitPolicy):  # a vector over the destination's whole route
        hops = len(prefix) + n
        if n_q is not None and n_q != sum(policy.bits):
            raise PlanError(
                f"n_q={n_q} but policy {list(policy.bits)} has {sum(policy.bits)} quantizations",
                problem.n_q_field(dest),
            )
        try:
            ctx = PolicyContext(
                s,
                d,
                sum(policy.bits),
                max_level=problem.max_level,
                num_hops=hops,
                flow_source_level=s,
                environment=environment_of(policy),
            )
            levels = policy.hop_levels(ctx)
        except ValueError as exc:
            if not _refused_by_policy(exc):
                raise
            raise PlanError(f"{exc} (route has {hops} hops)", where) from None
        for edge, level in zip(prefix, levels):
            if fixed[edge][0] != level:
                u, v = edge
                raise PlanError(
                    f"policy {list(policy.bits)} puts level {level} on link {u}→{v}, which "
                    f"already carries level {fixed[edge][0]} for destination {fixed[edge][1]!r}",
                    where,
                )
        return levels[len(prefix) :]
    if top < d:
        raise PlanError(
            f"destination {dest!r} needs level {d} but relay {nodes[0]!r} receives level "
            f"{top + 1} and must drop at least one level",
            where,
        )
    default = min(n, top - d + 1)
    n_rest = _rest_n_q(problem, dest, prefix, fixed, default)
    if not 1 <= n_rest <= min(n, top - d + 1):
        start = f"relay {nodes[0]!r} (which receives level {top + 1})" if prefix else "the source"
        asked = f"n_q={n_q}" + (
            f" leaves {n_rest} quantization(s) after the shared route" if prefix else ""
        )
        raise PlanError(
            f"{asked}, but destination {dest!r} is {n} hop(s) from {start} and levels "
            f"{top}→{d} allow 1..{min(n, top - d + 1)} there",
            problem.n_q_field(dest),
        )
    topo = problem.topology
    hops = tuple(
        Hop(
            u,
            v,
            ln.bandwidth_mbps,
            ln.latency_ms,
            ln.loss,
            need[(u, v)],
            now_s=problem.decided_s,
            oracle=problem.sees_future,
            _capacity=getattr(ln, "capacity", None),
        )
        for u, v in itertools.pairwise(nodes)
        for ln in [topo.link(u, v)]
    )
    env = environment_of(policy)
    known = env.node_devices if env is not None else {}
    route = Route(
        nodes=tuple(nodes),
        hops=hops,
        node_resources={x: _resources(topo.node(x)) for x in nodes},
        node_speed={x: topo.node(x).speed for x in nodes},
        upstream_level=top + 1 if prefix else None,
        forks=frozenset(
            x for x in nodes[1:-1] if len(problem.tree.children(x)) > 1 or x in problem.targets
        ),
        devices={x: known[x] for x in nodes if x in known},
        method=problem.method,
    )
    try:
        ctx = PolicyContext(
            top,
            d,
            n_rest,
            route=route,
            flow=problem.flow,
            max_level=problem.max_level,
            num_hops=n,
            flow_source_level=s,
            environment=env,
        )
        return policy.hop_levels(ctx)
    except ValueError as exc:
        if not _refused_by_policy(exc):
            raise
        raise PlanError(str(exc), where) from None


def _resources(node) -> dict[str, float]:
    gpus = node.num_gpus if isinstance(node.num_gpus, float | int) else 0.0
    return {"CPU": node.num_cpus, "GPU": gpus, **node.resources}
