"""Policy search: every policy vector and placement of one destination, priced and simulated.

For a flow's destination with source level ``s``, target level ``d`` and a route of ``H``
hops, a *candidate* is a choice of the levels each hop carries: a non-increasing tuple of
``H`` levels in ``d..s`` that ends at ``d``. Its distinct levels are the transmission levels
of a policy vector π ∈ Π(s, d; n_q), ``n_q`` of them, and the tuple says which relays
re-quantize (a repeated level is a relay forwarding the bytes): for each π there are
``C(H-1, n_q-1)`` placements, so the space holds ``Σ C(s-d, n-1)·C(H-1, n-1)`` candidates
over the ``n_q`` searched (every allowed one, ``1..min(H, s-d+1)``, by default).

One destination is searched at a time; the flow's other destinations keep their configured
policies (a candidate that leaves one of them without a plan, or that disagrees with the
levels they already fix on a shared link, is *infeasible* and listed as such), and the other
flows of the topology run alongside as configured (cross-traffic). Each candidate is one
world per method (``hcf``; ``drf`` at the same per-hop levels on request): its codec work goes
through one backend and one :class:`~hcf_ray.sim.work.cache.CodecCache`, so a cascade that
several candidates share (a common prefix, the other flows) is computed once; every op is
priced by the cost profile (``timing: profile``) and each world replays the network as an
event simulation.

Every candidate gets the mean over the flow's images of ``psnr`` (dB), ``bpp`` and
``latency_ms`` at the searched destination, and per image for the whole flow (every
destination, shared links and work counted once) ``link_bytes``, ``compute_ms`` and
``energy_j``. The Pareto front is taken over (PSNR ↑, bpp ↓, latency ↓); the paper's ``edge``
and ``late`` vectors (placed as early as possible, the planner's default) are located on it;
an :class:`Objective` (``max psnr s.t. latency_ms <= 80``) picks one candidate.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from hcf_ray.methods import get_method, method_names
from hcf_ray.policy import (
    EdgePolicy,
    ExplicitPolicy,
    LatePolicy,
    PolicyContext,
    PolicyVector,
    enumerate_policies,
)
from hcf_ray.policy._sandbox import PolicyError
from hcf_ray.sim.devices import check_priced
from hcf_ray.sim.planner import FlowPlan, plan_flow
from hcf_ray.sim.scenario import FlowRun, Scenario
from hcf_ray.sim.treelevels import PlanError

METRICS = {
    "psnr": "PSNR at the destination (dB), mean over the images",
    "bpp": "bits per pixel arriving at the destination, mean over the images",
    "latency_ms": "end-to-end latency to the destination (ms), mean over the images",
    "link_bytes": "bytes on the flow's links per image (shared links counted once)",
    "compute_ms": "compute of the flow per image (ms, shared work counted once)",
    "energy_j": "busy energy of the flow's compute per image (J)",
}
FRONT = (("psnr", 1), ("bpp", -1), ("latency_ms", -1))  # (metric, +1: higher is better)


def search_methods() -> tuple[str, ...]:
    """Methods whose levels a policy picks (the others fix their own, or have none)."""
    return tuple(m for m in method_names() if get_method(m).uses_policy)


MAX_CANDIDATES = 1000
GRAMMAR = "max|min METRIC [s.t. METRIC (<=|>=) NUMBER [and METRIC (<=|>=) NUMBER ...]]"


class SearchError(ValueError):
    """A search that cannot be set up as asked (one line)."""


# -- the objective ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    value: float

    def holds(self, metrics: Mapping[str, float]) -> bool:
        x = metrics[self.metric]
        return x <= self.value if self.op == "<=" else x >= self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Objective:
    """``max|min METRIC`` subject to constraints (all of them, inclusive bounds)."""

    sense: str  # "max" or "min"
    metric: str
    constraints: tuple[Constraint, ...] = ()

    def admits(self, metrics: Mapping[str, float]) -> bool:
        return all(c.holds(metrics) for c in self.constraints)

    def pick(self, candidates: Iterable[Candidate]) -> Candidate | None:
        """The best admitted candidate. Ties (every placement of one vector has the same PSNR
        and bpp) go to higher PSNR, then lower bpp, latency, link bytes, compute, energy,
        then the first in enumeration order."""
        sign = -1.0 if self.sense == "max" else 1.0
        admitted = [c for c in candidates if c.metrics is not None and self.admits(c.metrics)]
        if not admitted:
            return None
        return min(
            admitted,
            key=lambda c: (
                sign * c.metrics[self.metric],
                *(-c.metrics[m] if m == "psnr" else c.metrics[m] for m in METRICS),
                c.id,
            ),
        )

    def __str__(self) -> str:
        text = f"{self.sense} {self.metric}"
        if self.constraints:
            text += " s.t. " + " and ".join(map(str, self.constraints))
        return text


_TOKENS = re.compile(r"<=|>=|[<>=!]+|[^\s<>=!]+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_objective(text: str) -> Objective:
    """Parse ``max|min METRIC [s.t. METRIC (<=|>=) NUMBER [and ...]]`` (see :data:`GRAMMAR`);
    anything else is a :class:`SearchError` of one line."""
    tokens = _TOKENS.findall(text or "")

    def fail(why: str) -> SearchError:
        shown = " ".join(tokens) if len(text) > 80 else text
        return SearchError(f"--objective {shown!r}: {why}; expected {GRAMMAR}")

    def metric(tok: str | None) -> str:
        if tok is None:
            raise fail("a metric is missing")
        if tok not in METRICS:
            raise fail(f"unknown metric {tok!r} (metrics: {', '.join(METRICS)})")
        return tok

    if not tokens:
        raise fail("it is empty")
    if tokens[0] not in ("max", "min"):
        raise fail(f"it starts with {tokens[0]!r}, not 'max' or 'min'")
    sense = tokens[0]
    goal = metric(tokens[1] if len(tokens) > 1 else None)
    rest = tokens[2:]
    constraints: list[Constraint] = []
    if rest:
        if rest[0] != "s.t.":
            raise fail(f"{rest[0]!r} after the metric, where 's.t.' or the end belongs")
        rest = rest[1:]
        if not rest:
            raise fail("'s.t.' is followed by no constraint")
        while True:
            if len(rest) < 3:
                raise fail(f"constraint {' '.join(rest)!r} is incomplete")
            name, op, num = rest[:3]
            name = metric(name)
            if op not in ("<=", ">="):
                raise fail(f"{op!r} is not a comparison (use <= or >=)")
            if not _NUMBER.fullmatch(num):
                raise fail(f"{num!r} is not a number")
            value = float(num)
            if not math.isfinite(value):
                raise fail(f"{num!r} is not a finite number")
            constraints.append(Constraint(name, op, value))
            rest = rest[3:]
            if not rest:
                break
            if rest[0] != "and" or len(rest) == 1:
                raise fail(f"{rest[0]!r} after a constraint, where 'and' + a constraint belongs")
            rest = rest[1:]
    return Objective(sense, goal, tuple(constraints))


# -- the space ----------------------------------------------------------------------------------
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


def dominates(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """``a`` is at least as good as ``b`` on every front axis and better on one."""
    ge = all(sign * a[m] >= sign * b[m] for m, sign in FRONT)
    return ge and any(sign * a[m] > sign * b[m] for m, sign in FRONT)


def pareto_flags(points: Sequence[Mapping[str, float]]) -> list[bool]:
    """True for every point no other point dominates."""
    return [not any(dominates(q, p) for q in points if q is not p) for p in points]


class PlacedPolicy(ExplicitPolicy):
    """A whole-route vector with a fixed placement: the levels every hop carries."""

    name = "search"

    def __init__(self, vector: PolicyVector, levels: Sequence[int]):
        super().__init__(vector.bits)
        self.levels = tuple(levels)

    def place(self, ctx: PolicyContext, vector: PolicyVector) -> Sequence[int]:
        return self.levels

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


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


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

    @property
    def hops(self) -> int:
        return len(self.path) - 1

    @property
    def title(self) -> str:
        return f"{self.flow} → {self.destination}"

    @property
    def front(self) -> list[Candidate]:
        return [c for c in self.candidates if c.pareto]


@dataclass
class SearchResult:
    scenario: Scenario
    targets: list[Target]
    objective: Objective | None
    wall: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[Candidate]:
        return [c for t in self.targets for c in t.candidates if c.error]


# -- planning the candidates (pure: no Ray, no models) --------------------------------------------
def plan_search(
    scenario: Scenario,
    flow: str | None = None,
    destination: str | None = None,
    methods: Sequence[str] = ("hcf",),
    n_q: Sequence[int] | None = None,
    max_candidates: int = MAX_CANDIDATES,
) -> list[Target]:
    """The targets (flow × destination) and their feasible candidates, planned."""
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


def _references(scenario: Scenario, t: Target) -> None:
    """Where the paper's edge (and late) vectors, placed early, and the destination's
    configured plan sit among the candidates."""
    by_levels = {(c.method, c.levels): c for c in t.candidates}
    bad = {(x["method"], tuple(x["levels"])): x["reason"] for x in t.infeasible}
    refs: list[tuple[str, int, str, tuple[int, ...], dict]] = []
    for n in t.n_q_values:
        for policy in (EdgePolicy(), LatePolicy()):
            ctx = PolicyContext(
                t.source_level, t.level, n, max_level=scenario.codec.max_level, hops=t.hops
            )
            levels = tuple(policy.hop_levels(ctx))
            refs.append((policy.name, n, str(policy(ctx)), levels, {}))
    plan = next(
        (scenario.plans[t.flow, m] for m in search_methods() if (t.flow, m) in scenario.plans),
        None,
    )
    if plan is not None:  # every policy-driven method carries the same levels
        dest = next(d for d in plan.destinations if d.node == t.destination)
        vec = PolicyVector.from_levels(t.source_level, t.level, dest.levels)
        refs.append(("configured", vec.n_q, str(vec), tuple(dest.levels), {"label": dest.policy}))
    for name, n, vector, levels, extra in refs:
        for m in t.methods:
            ref = {
                "policy": name,
                **extra,
                "n_q": n,
                "method": m,
                "vector": vector,
                "levels": list(levels),
                "candidate": None,
            }
            c = by_levels.get((m, levels))
            if c is None and n not in t.n_q_values:
                ref["position"] = "not searched"
                ref["reason"] = f"n_q={n} is not searched"
            elif c is None:
                ref["position"] = "infeasible"
                ref["reason"] = bad.get((m, levels), "")
            elif c.metrics is None:
                ref.update(candidate=c.id, position="failed", reason=c.error)
            else:
                c.refs.append(f"{name} n_q={n}")
                ref["candidate"] = c.id
                ref["position"] = "front" if c.pareto else "dominated"
                ref["dominated_by"] = list(c.dominated_by)
            t.references.append(ref)


# -- running ------------------------------------------------------------------------------------
def variant(scenario: Scenario, flow: str, method: str, plan: FlowPlan) -> Scenario:
    """The scenario as one world of ``method``: ``flow`` planned as ``plan``, the other flows
    that run ``method`` as configured, the rest left out."""
    flows = []
    plans = {}
    for f in scenario.flows:
        name = f.spec.name
        if name == flow:
            plans[name, method] = plan
        elif (name, method) in scenario.plans:
            plans[name, method] = scenario.plans[name, method]
        else:
            flows.append(replace(f, methods=[]))
            continue
        flows.append(replace(f, methods=[method]))
    return replace(scenario, flows=flows, plans=plans)


def run_search(
    scenario: Scenario,
    targets: list[Target],
    objective: Objective | None = None,
    options=None,
    backend=None,
    cache=None,
    log: Callable[[str], None] | None = None,
) -> SearchResult:
    """Codec work of every candidate through one backend and one cache, then each
    candidate's world priced and simulated; fronts, references and the objective's pick.
    Runs on the current Ray session (only when something is not cached)."""
    from hcf_ray.sim.driver import (
        ImageStore,
        RunOptions,
        codec_work,
        make_backend,
        phase_times,
        price_result,
        simulate_worlds,
        units_of,
    )
    from hcf_ray.sim.planner import node_needs
    from hcf_ray.sim.work.cache import CodecCache, file_sha256
    from hcf_ray.sim.work.codecwork import UnitRequest

    options = options or RunOptions()
    log = log or (lambda _msg: None)
    say = options.say or (lambda _msg: None)
    if scenario.timing != "profile":
        raise SearchError("a search prices ops with the cost profile: timing must be 'profile'")
    t0 = time.perf_counter()
    worlds = [
        (t, c, variant(scenario, t.flow, c.method, c.plan)) for t in targets for c in t.candidates
    ]
    own = backend is None
    if own:
        backend = make_backend(scenario, options, log)
    cache = cache if cache is not None else CodecCache(options.cache_dir)
    images = ImageStore()
    priced: dict[int, list] = defaultdict(list)
    errors: dict[int, str] = {}
    try:
        backend.prepare(node_needs([p for _, _, sc in worlds for p in sc.plans.values()]))
        t_ready = time.perf_counter()
        work = codec_work(backend, cache, scenario, images, options.timeout_s, options.retries)
        units = {i: units_of(sc) for i, (_, _, sc) in enumerate(worlds)}
        shas: dict[Path, str] = {}
        requests = []
        for i, (_, c, sc) in enumerate(worlds):
            for u in units[i]:
                sha = shas.setdefault(u.image, file_sha256(u.image))
                requests.append(
                    UnitRequest(
                        (i, u.seq),
                        sc.plan(u.flow, u.method),
                        u.image,
                        sha,
                        sc.transport,
                        f"{u.image.name} ({u.flow}/{u.method} {c.label})",
                    )
                )
        say(
            f"codec work: {len(requests)} units of {len(worlds)} candidate worlds "
            f"({sum(len(t.candidates) for t in targets)} candidates)"
        )
        clock = {"said": time.monotonic(), "done": 0}

        def on_result(res) -> None:
            i, seq = res.key
            u = units[i][seq]
            if res.error is None:
                priced[i].append(price_result(worlds[i][2], u, res, images))
            else:
                errors.setdefault(i, res.error)
                log(f"{res.error} (candidate left out)")
            clock["done"] += 1
            if time.monotonic() - clock["said"] > 5.0:
                say(f"codec work: {clock['done']}/{len(requests)} units done")
                clock["said"] = time.monotonic()

        work.run(requests, options.max_in_flight, on_result)
        failures = work.failures
    finally:
        if own:
            backend.close()
    t_codec = time.perf_counter()
    say(f"event simulation: {len(worlds)} worlds, one per candidate")
    for i, (t, c, sc) in enumerate(worlds):
        if i in errors:
            c.error = errors[i]
            continue
        result = simulate_worlds(sc, {c.method: priced[i]})[c.method]
        c.metrics = _metrics(result, t.flow, t.destination)
    for t in targets:
        _front(t)
        _references(scenario, t)
        if objective is not None:
            t.chosen = objective.pick(t.candidates)
    wall = {
        **phase_times(t0, t_ready, t_codec),
        "cache": cache.describe(),
        "units": len(requests),
        "faults": {"retries": sum(f["retried"] for f in failures), "tries": failures},
    }
    return SearchResult(scenario, targets, objective, wall)


def _metrics(result, flow: str, destination: str) -> dict[str, float]:
    recs = [r for r in result.records if r["flow"] == flow and r["destination"] == destination]
    units = [u for u in result.per_unit if u["flow"] == flow]

    def mean(values) -> float:
        return statistics.fmean(values)

    return {
        "psnr": mean(r["psnr"] for r in recs),
        "bpp": mean(r["bpp"] for r in recs),
        "latency_ms": mean(r["latency_s"] * 1000.0 for r in recs),
        "link_bytes": mean(u["link_bytes"] for u in units),
        "compute_ms": mean(u["compute_s"] * 1000.0 for u in units),
        "energy_j": mean(u["energy_j"] for u in units),
    }


def _front(t: Target) -> None:
    done = [c for c in t.candidates if c.metrics is not None]
    flags = pareto_flags([c.metrics for c in done])
    for c, flag in zip(done, flags):
        c.pareto = flag
    front = [c for c in done if c.pareto]
    for c in done:
        if not c.pareto:
            c.dominated_by = [p.id for p in front if dominates(p.metrics, c.metrics)]


# -- outputs ------------------------------------------------------------------------------------
def search_json(result: SearchResult) -> dict:
    """``search.json``: every candidate with its metrics and ``pareto`` flag, the references,
    the objective's pick per target; host-dependent figures under ``wall``."""
    sc = result.scenario
    from hcf_ray.sim.driver import bundle_hash

    targets = []
    for t in result.targets:
        targets.append(
            {
                "flow": t.flow,
                "destination": t.destination,
                "source_level": t.source_level,
                "target_level": t.level,
                "path": list(t.path),
                "hops": t.hops,
                "n_q_values": list(t.n_q_values),
                "methods": list(t.methods),
                "images": t.images,
                "candidates": [
                    {
                        "id": c.id,
                        "method": c.method,
                        "n_q": c.n_q,
                        "vector": list(c.vector.bits),
                        "transmission_levels": list(c.vector.transmission_levels),
                        "levels": list(c.levels),
                        "metrics": c.metrics,
                        "pareto": c.pareto,
                        "dominated_by": c.dominated_by,
                        "references": c.refs,
                        "error": c.error,
                    }
                    for c in t.candidates
                ],
                "front": [c.id for c in t.front],
                "infeasible": t.infeasible,
                "references": t.references,
                "chosen": _chosen(t, result.objective),
            }
        )
    return {
        "name": sc.config.name,
        "config": sc.source,
        "timing": sc.timing,
        "transport": sc.transport,
        "codec": {"used": sc.codec.spec, "bundle_sha256": bundle_hash(sc)},
        "front_axes": {m: "max" if sign > 0 else "min" for m, sign in FRONT},
        "metrics": METRICS,
        "objective": str(result.objective) if result.objective else None,
        "targets": targets,
        "wall": result.wall,
    }


def _chosen(t: Target, objective: Objective | None) -> dict | None:
    if objective is None:
        return None
    c = t.chosen
    if c is None:
        return {"id": None, "reason": "no candidate satisfies the constraints"}
    return {"id": c.id, "method": c.method, "vector": list(c.vector.bits), "levels": list(c.levels)}


def format_search(result: SearchResult) -> str:
    """The printed report: per target the front as a table, edge/late, the pick."""
    out = []
    for t in result.targets:
        done = [c for c in t.candidates if c.metrics is not None]
        out.append(
            f"{t.title} ({'/'.join(t.methods)}; levels {t.source_level}→{t.level}, {t.hops} "
            f"hop(s) {'→'.join(t.path)}, n_q {','.join(map(str, t.n_q_values))}): "
            f"{_count(len(t.candidates), 'candidate')}"
            + (f" ({len(t.infeasible)} more infeasible)" if t.infeasible else "")
            + f", {len(t.front)} on the Pareto front (PSNR ↑, bpp ↓, latency ↓; "
            f"mean over {len(t.images)} image(s))"
        )
        head = (
            f"  {'#':>4} {'method':<7}{'n_q':>3}  {'π':<{_w(t, 'vec')}}  "
            f"{'levels/hop':<{_w(t, 'lv')}}{'PSNR dB':>9}{'bpp':>8}{'latency ms':>12}"
            f"{'link kB/img':>13}{'compute ms':>12}{'energy J':>10}  reference"
        )
        out.append(head)
        out.append("  " + "-" * (len(head) - 2))
        for c in sorted(t.front, key=lambda c: (c.metrics["bpp"], -c.metrics["psnr"], c.id)):
            out.append(_row(t, c))
        for c in t.candidates:
            if c.error:
                out.append(f"  {c.id:>4} {c.method:<7}{c.n_q:>3}  {c.label}: failed: {c.error}")
        out += _reference_lines(t, done)
        if result.objective is not None:
            c = t.chosen
            if c is None:
                out.append(f"  objective {result.objective}: no candidate satisfies it")
            else:
                m = c.metrics
                out.append(
                    f"  objective {result.objective}: #{c.id} {c.method} {c.label} "
                    f"(PSNR {m['psnr']:.2f} dB, {m['bpp']:.4f} bpp, {m['latency_ms']:.1f} ms, "
                    f"{m['link_bytes'] / 1000:.1f} kB/img"
                    + (", on the front)" if c.pareto else ", dominated)")
                )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _reference_lines(t: Target, done: list[Candidate]) -> list[str]:
    """One line per distinct reference placement (edge and late coincide at the extreme
    n_q), with the position of each method's candidate; the infeasible ones on one line."""
    groups: dict[tuple[int, ...], list[dict]] = {}
    for ref in t.references:
        groups.setdefault(tuple(ref["levels"]), []).append(ref)
    lines, infeasible = [], []
    for levels, refs in groups.items():
        names = " = ".join(dict.fromkeys(f"{r['policy']} n_q={r['n_q']}" for r in refs))
        if all(r["position"] == "infeasible" for r in refs):
            infeasible.append((names, refs[0]))
            continue
        wheres = {}
        for m in dict.fromkeys(r["method"] for r in refs):
            ref = next(r for r in refs if r["method"] == m)
            if ref["position"] == "front":
                where = f"#{ref['candidate']} on the front"
            elif ref["position"] == "dominated":
                by = ref["dominated_by"]
                first = next(c for c in done if c.id == by[0])
                where = f"#{ref['candidate']} dominated by #{first.id} ({first.method} " + (
                    f"{first.label})" + (f" and {len(by) - 1} more" if len(by) > 1 else "")
                )
            elif ref["position"] == "failed":
                where = f"#{ref['candidate']} failed"
            else:
                where = f"{ref['position']} ({ref['reason']})"
            wheres[m] = where
        if len(set(wheres.values())) == 1:
            parts = [next(iter(wheres.values()))]
        else:
            parts = [f"{m} {w}" for m, w in wheres.items()]
        lines.append(f"  {names} {refs[0]['vector']} {levels_text(levels)}: {'; '.join(parts)}")
    if infeasible:
        names = ", ".join(n for n, _ in infeasible)
        _, ref = infeasible[0]
        lines.append(
            f"  infeasible here: {names} (e.g. {levels_text(ref['levels'])}: {ref['reason']})"
        )
    return lines


def _w(t: Target, what: str) -> int:
    if what == "vec":
        return max([2, *(len(str(c.vector)) for c in t.candidates)])
    return max([10, *(len(levels_text(c.levels)) for c in t.candidates)])


def _row(t: Target, c: Candidate) -> str:
    m = c.metrics
    mark = "*" if t.chosen is c else " "
    return (
        f" {mark}{c.id:>4} {c.method:<7}{c.n_q:>3}  {c.vector!s:<{_w(t, 'vec')}}  "
        f"{levels_text(c.levels):<{_w(t, 'lv')}}{m['psnr']:>9.2f}{m['bpp']:>8.4f}"
        f"{m['latency_ms']:>12.1f}{m['link_bytes'] / 1000:>13.1f}{m['compute_ms']:>12.1f}"
        f"{m['energy_j']:>10.3f}  {_ref_names(c.refs)}"
    ).rstrip()


def _ref_names(refs: Sequence[str]) -> str:
    """``["edge n_q=1", "late n_q=1", "edge n_q=2"]`` → ``"edge=late n_q=1, edge n_q=2"``."""
    by_n: dict[str, list[str]] = {}
    for r in refs:
        name, _, n = r.partition(" ")
        by_n.setdefault(n, []).append(name)
    return ", ".join(f"{'='.join(names)} {n}" for n, names in by_n.items())


def _ref_tags(refs: Sequence[str]) -> str:
    """``["edge n_q=1", "late n_q=1"]`` → ``"E1/L1"`` (the figure's short labels)."""
    return "/".join(f"{r[0].upper()}{r.rpartition('=')[2]}" for r in refs)


def plot_search(result: SearchResult, out_dir: str | Path) -> list[Path]:
    """``search.pdf`` and ``search.png``: PSNR vs bpp per target, latency as colour, the front
    highlighted, edge/late and the objective's pick annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    targets = [t for t in result.targets if any(c.metrics for c in t.candidates)]
    n = max(1, len(targets))
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(9.0, 6.4 * cols), 4.8 * rows), squeeze=False)
    markers = {"hcf": "o", "drf": "s"}
    for ax, t in zip(axes.flat, targets):
        done = [c for c in t.candidates if c.metrics is not None]
        lat = [c.metrics["latency_ms"] for c in done]
        vmin, vmax = min(lat), max(lat)
        if vmax - vmin < 1e-6 * max(1.0, abs(vmax)):  # one latency: a readable ±1 ms scale
            vmin, vmax = vmin - 1.0, vmax + 1.0
        sc = None
        for m in t.methods:
            for on_front in (False, True):
                pts = [c for c in done if c.method == m and c.pareto == on_front]
                if not pts:
                    continue
                sc = ax.scatter(
                    [c.metrics["bpp"] for c in pts],
                    [c.metrics["psnr"] for c in pts],
                    c=[c.metrics["latency_ms"] for c in pts],
                    cmap="viridis",
                    vmin=vmin,
                    vmax=vmax,
                    marker=markers.get(m, "o"),
                    s=70 if on_front else 28,
                    edgecolors="red" if on_front else "none",
                    linewidths=1.6 if on_front else 0,
                    alpha=1.0 if on_front else 0.55,
                    zorder=3 if on_front else 2,
                )
        ax.margins(0.12)
        xs = [c.metrics["bpp"] for c in done]
        ys = [c.metrics["psnr"] for c in done]
        x0, xspan = min(xs), (max(xs) - min(xs)) or 1.0
        y0, yspan = min(ys), (max(ys) - min(ys)) or 1.0
        # references that sit (nearly) on one spot share one label
        spots: list[tuple[float, float, list[str]]] = []
        for c in done:
            if not c.refs:
                continue
            fx, fy = (c.metrics["bpp"] - x0) / xspan, (c.metrics["psnr"] - y0) / yspan
            text = f"{c.method} {_ref_tags(c.refs)}" + ("" if c.pareto else " (dominated)")
            near = next((sp for sp in spots if abs(sp[0] - fx) + abs(sp[1] - fy) < 0.05), None)
            if near is None:
                spots.append((fx, fy, [text]))
            else:
                near[2].append(text)
        for k, (fx, fy, texts) in enumerate(spots):
            # text towards the inside of the axes, staggered so that neighbours do not overlap
            left = fx > 0.6
            up = fy < 0.5 if k % 2 else fy < 0.15
            ax.annotate(
                "\n".join(", ".join(texts[i : i + 3]) for i in range(0, len(texts), 3)),
                (x0 + fx * xspan, y0 + fy * yspan),
                xytext=(-10 if left else 10, (10 + 6 * (k % 3)) * (1 if up else -1)),
                textcoords="offset points",
                ha="right" if left else "left",
                va="bottom" if up else "top",
                fontsize=7,
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.3"},
            )
        if t.chosen is not None:
            ax.scatter(
                [t.chosen.metrics["bpp"]],
                [t.chosen.metrics["psnr"]],
                marker="*",
                s=260,
                facecolors="none",
                edgecolors="black",
                linewidths=1.2,
                zorder=4,
            )
        if sc is not None:
            fig.colorbar(sc, ax=ax).set_label("latency to the destination (ms)")
        ax.set_xlabel("rate at the destination (bpp, bits per pixel)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(
            f"{t.title}: levels {t.source_level}→{t.level}, {t.hops} hops, "
            f"{_count(len(done), 'candidate')}",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        handles = [
            Line2D([], [], marker="o", ls="", mfc="0.6", mec="red", mew=1.6, label="Pareto front"),
            Line2D([], [], marker="o", ls="", mfc="0.6", mec="none", alpha=0.55, label="dominated"),
        ]
        if len(t.methods) > 1:
            handles += [
                Line2D([], [], marker=markers.get(m, "o"), ls="", color="0.3", label=m)
                for m in t.methods
            ]
        if t.chosen is not None:
            handles.append(
                Line2D([], [], marker="*", ls="", mfc="none", mec="black", ms=12, label="objective")
            )
        ax.legend(handles=handles, fontsize=7, loc="best")
    for ax in list(axes.flat)[len(targets) :]:
        ax.axis("off")
    title = f"{result.scenario.config.name}: policy search (front over PSNR ↑, bpp ↓, latency ↓)"
    if result.objective is not None:
        title += f"\n☆ objective: {result.objective}"
    fig.suptitle(title, fontsize=10)
    fig.text(
        0.5,
        0.005,
        "labels: Ek / Lk = the edge / late policy at n_q = k, placed as early as possible; "
        "Ck = the configured plan (n_q = k).\nRinged: on the Pareto front. The placements of "
        "one π share PSNR and bpp and differ in latency (colour): they overlap, the front "
        "one on top",
        ha="center",
        va="bottom",
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.4 / (4.8 * rows), 1, 1))  # room for the two-line note
    out = Path(out_dir)
    paths = [out / "search.pdf", out / "search.png"]
    for p in paths:
        fig.savefig(p, dpi=150)
    plt.close(fig)
    return paths


def write_search(result: SearchResult, out_dir: str | Path) -> list[Path]:
    """``search.json``, ``search.pdf`` and ``search.png`` in ``out_dir``."""
    from hcf_ray.sim.outdir import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "search.json", search_json(result))
    return [out / "search.json", *plot_search(result, out)]


def check_out_dir(path: str | Path, overwrite: bool) -> Path:
    """The output folder: new or empty, or anything with ``overwrite``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SearchError(f"--out {p}: exists and is not a folder")
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        raise SearchError(f"--out {p} is not empty; use --overwrite to replace its search files")
    return p


__all__ = [
    "FRONT",
    "GRAMMAR",
    "METRICS",
    "Candidate",
    "Objective",
    "SearchError",
    "SearchResult",
    "Target",
    "check_out_dir",
    "dominates",
    "format_search",
    "pareto_flags",
    "parse_objective",
    "placements",
    "plan_search",
    "run_search",
    "search_json",
    "write_search",
]
