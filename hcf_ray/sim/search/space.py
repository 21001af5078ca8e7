"""The candidate space of a search (pure: no Ray, no models).

For a destination with source level ``s``, target level ``d`` and a route of ``H`` hops, a
candidate is a non-increasing tuple of ``H`` levels in ``d..s`` ending at ``d``: a policy
vector π and its placement (which relays re-quantize). :func:`plan_search` lists the targets
(flow × destination) and plans every candidate; those the flow's other destinations rule out
are kept as *infeasible*, with the reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hcf_ray.methods import get_method, method_names
from hcf_ray.policy import (
    Decision,
    ExplicitPolicy,
    PolicyContext,
    PolicyVector,
    enumerate_policies,
)
from hcf_ray.policy._sandbox import PolicyError
from hcf_ray.sim.devices import check_priced
from hcf_ray.sim.planner import FlowPlan, plan_flow
from hcf_ray.sim.scenario import FlowRun, Scenario
from hcf_ray.sim.search.objective import SearchError
from hcf_ray.sim.search.policies import plan_policies
from hcf_ray.sim.treelevels import PlanError


def search_methods() -> tuple[str, ...]:
    """Methods whose levels a policy picks (the others fix their own, or have none)."""
    return tuple(m for m in method_names() if get_method(m).uses_policy)


MAX_CANDIDATES = 1000


def placements(levels: Sequence[int], hops: int) -> list[tuple[int, ...]]:
    """Every way to carry the transmission levels ``levels`` (descending) over ``hops`` links:
    each level on at least one consecutive hop, in order. Place-early first, place-late last."""
    levels = tuple(levels)
    n = len(levels)
    if not 1 <= n <= hops:
        return []
    out = []
    for cuts in itertools.combinations(range(1, hops), n - 1):
        bounds = (0, *cuts, hops)
        out.append(
            tuple(lv for i, lv in enumerate(levels) for _ in range(bounds[i + 1] - bounds[i]))
        )
    return out


class PlacedPolicy(ExplicitPolicy):
    """A whole-route vector with a fixed placement: the levels every hop carries."""

    name = "search"

    def __init__(self, vector: PolicyVector, levels: Sequence[int]):
        super().__init__(vector.bits)
        self.levels = tuple(levels)

    def decide(self, ctx: PolicyContext) -> Decision:
        return Decision(PolicyVector(ctx.start_level, ctx.target_level, self.bits), self.levels)

    def __repr__(self) -> str:
        return f"PlacedPolicy({list(self.bits)}, {list(self.levels)})"


@dataclass
class Candidate:
    id: int  # 1-based within its target, in enumeration order
    method: str
    vector: PolicyVector
    levels: tuple[int, ...]  # level on each hop of the destination's route
    plan: FlowPlan  # the flow's plan with this candidate (other destinations as configured)
    metrics: dict[str, float] | None = None
    pareto: bool = False
    dominated_by: list[int] = field(default_factory=list)  # front ids that dominate it
    error: str | None = None  # its codec work failed
    refs: list[str] = field(default_factory=list)  # e.g. "edge n_q=2"

    @property
    def n_q(self) -> int:
        return self.vector.n_q

    @property
    def label(self) -> str:
        return f"{self.vector} {levels_text(self.levels)}"


def levels_text(levels: Sequence[int]) -> str:
    return "-".join(map(str, levels))


@dataclass
class Target:
    """One flow × destination searched."""

    flow: str
    destination: str
    source_level: int
    level: int
    path: tuple[str, ...]
    n_q_values: tuple[int, ...]
    methods: tuple[str, ...]
    images: list[str]
    candidates: list[Candidate] = field(default_factory=list)
    infeasible: list[dict] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    chosen: Candidate | None = None
    # the listed policies planned here (hcf_ray.sim.search.policies.ListedPolicy)
    policies: list = field(default_factory=list)
    chosen_reason: str = ""  # why nothing was chosen (an objective's bound with no value)

    @property
    def hops(self) -> int:
        return len(self.path) - 1

    @property
    def title(self) -> str:
        return f"{self.flow} → {self.destination}"

    @property
    def front(self) -> list[Candidate]:
        return [c for c in self.candidates if c.pareto]


def plan_search(
    scenario: Scenario,
    flow: str | None = None,
    destination: str | None = None,
    methods: Sequence[str] = ("hcf",),
    n_q: Sequence[int] | None = None,
    max_candidates: int = MAX_CANDIDATES,
    policies: Sequence | None = None,
) -> list[Target]:
    """The targets (flow × destination) and their feasible candidates, planned; each
    target's listed policies too (``policies``: ``--policies`` parsed by
    :func:`~hcf_ray.sim.search.policies.parse_cli_policies`, else the topology's list)."""
    methods = tuple(dict.fromkeys(methods))
    for m in methods:
        if m not in search_methods():
            raise SearchError(
                f"--methods: {m!r} cannot be searched (methods with a policy: "
                f"{', '.join(search_methods())})"
            )
    for m in methods:
        if get_method(m).needs_phis and not scenario.codec.has_phis:
            raise SearchError(
                f"codec {scenario.codec.requested!r} has no φ modules: {m} cannot run"
            )
    flows = [f for f in scenario.flows if flow is None or f.spec.name == flow]
    if not flows:
        names = ", ".join(f.spec.name for f in scenario.flows)
        raise SearchError(f"--flow {flow!r}: no such flow (flows: {names})")
    pairs = [
        (f, d.node)
        for f in flows
        for d in f.spec.destinations
        if destination is None or d.node == destination
    ]
    if not pairs:
        where = f"flow {flow!r}" if flow else "any flow"
        raise SearchError(f"--destination {destination!r} is not a destination of {where}")
    weight = scenario.config.routing.weight
    targets = []
    for f, node in pairs:
        spec = f.spec
        tree = scenario.topology.multicast_tree(
            spec.source, [d.node for d in spec.destinations], weight
        )
        dest = next(d for d in spec.destinations if d.node == node)
        path = tuple(tree.paths[node])
        s, d, hops = spec.source_level, dest.level, len(path) - 1
        allowed = range(1, min(hops, s - d + 1) + 1)
        wanted = tuple(sorted(set(n_q))) if n_q else tuple(allowed)
        values = tuple(n for n in wanted if n in allowed)
        if not values:
            raise SearchError(
                f"--n-q {' '.join(map(str, wanted))}: {spec.name} → {node} ({hops} hop(s), "
                f"levels {s}→{d}) allows n_q {allowed.start}..{allowed.stop - 1}"
            )
        targets.append(
            Target(spec.name, node, s, d, path, values, methods, [p.name for p in f.images])
        )
    total = sum(
        math.comb(t.source_level - t.level, n - 1) * math.comb(t.hops - 1, n - 1)
        for t in targets
        for n in t.n_q_values
    ) * len(methods)
    if total > max_candidates:
        raise SearchError(
            f"{total} candidates (vector × placement × method) exceed --max-candidates "
            f"{max_candidates}; narrow the search "
            "with --flow, --destination, --n-q (or raise --max-candidates)"
        )
    for t in targets:
        _enumerate(scenario, t)
    check_priced([c.plan for t in targets for c in t.candidates], scenario.devices)
    plan_policies(scenario, targets, policies)
    return targets


def _enumerate(scenario: Scenario, t: Target) -> None:
    f = next(f for f in scenario.flows if f.spec.name == t.flow)
    s, d = t.source_level, t.level
    for n in t.n_q_values:
        for vec in enumerate_policies(s, d, n):
            for levels in placements(vec.transmission_levels, t.hops):
                for m in t.methods:
                    plan, why = plan_candidate(scenario, f, t.destination, m, vec, levels)
                    if plan is None:
                        t.infeasible.append(
                            {
                                "method": m,
                                "n_q": n,
                                "vector": str(vec),
                                "levels": list(levels),
                                "reason": why,
                            }
                        )
                    else:
                        t.candidates.append(Candidate(len(t.candidates) + 1, m, vec, levels, plan))


def plan_candidate(
    scenario: Scenario,
    flow: FlowRun,
    destination: str,
    method: str,
    vector: PolicyVector,
    levels: Sequence[int],
) -> tuple[FlowPlan | None, str]:
    """The flow's plan with ``destination`` carrying ``levels`` (its other destinations as
    configured), or None and why it is infeasible."""
    spec = flow.spec
    label = f"{vector}@{levels_text(levels)}"
    dests = tuple(
        replace(d, policy=PlacedPolicy(vector, levels), policy_label=label, n_q=vector.n_q)
        if d.node == destination
        else d
        for d in spec.destinations
    )
    cfg, codec = scenario.config, scenario.codec
    try:
        plan = plan_flow(
            scenario.topology,
            replace(spec, destinations=dests),
            get_method(method),
            cfg.routing.weight,
            codec.max_level,
        )
    except PlanError as exc:
        return None, exc.message
    except (PolicyError, ValueError) as exc:
        return None, str(exc)
    got = next(x for x in plan.destinations if x.node == destination).levels
    if tuple(got) != tuple(levels):
        return None, (
            f"the flow's other destinations fix the levels {levels_text(got)} on this route"
        )
    return plan, ""
