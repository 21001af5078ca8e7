"""Running a search: each candidate is one world per method; its codec work goes through
the shared pipeline (:mod:`hcf_ray.sim.pipeline`), its world is simulated as a Ray task, and
the fronts, the references (edge, late, the configured plan, the listed policies) and the
objective's pick are taken from the metrics."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hcf_ray.policy import EdgePolicy, LatePolicy, PolicyContext, PolicyVector
from hcf_ray.sim.pipeline import simulate_in_tasks
from hcf_ray.sim.planner import FlowPlan
from hcf_ray.sim.scenario import Scenario
from hcf_ray.sim.search.objective import (
    Objective,
    SearchError,
    check_policies,
    dominates,
    pareto_flags,
)
from hcf_ray.sim.search.space import Candidate, Target, search_methods
from hcf_ray.sim.world import world_spec


@dataclass
class SearchResult:
    scenario: Scenario
    targets: list[Target]
    objective: Objective | None
    wall: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[Candidate]:
        return [c for t in self.targets for c in t.candidates if c.error]


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
    out_dir: str | Path | None = None,
) -> SearchResult:
    """Codec work of every candidate through the shared pipeline (one backend, one cache),
    then each candidate's world simulated as a Ray task; fronts, references and the
    objective's pick. The cache is ``cache``, else ``options.cache_dir``, else
    ``out_dir/cache`` (else memory only). Runs on the current Ray session."""
    from hcf_ray.sim.driver import make_backend, phase_times
    from hcf_ray.sim.pipeline import CodecPipeline, Item, RunOptions, codec_cache, units_of
    from hcf_ray.sim.planner import node_needs

    options = options or RunOptions()
    if scenario.timing != "profile":
        raise SearchError("a search prices ops with the cost profile: timing must be 'profile'")
    for t in targets:
        check_policies(objective, [p.name for p in t.policies], t.title)
    t0 = time.perf_counter()
    worlds = [
        (t, c, variant(scenario, t.flow, c.method, c.plan)) for t in targets for c in t.candidates
    ]
    own = backend is None
    if own:
        backend = make_backend(scenario, options, log)
    cache = codec_cache(cache, options.cache_dir, out_dir)
    try:
        backend.prepare(node_needs([p for _, _, sc in worlds for p in sc.plans.values()]))
        t_ready = time.perf_counter()
        pipe = CodecPipeline(backend, cache, scenario, options, log)
        pipe.error_note = "candidate left out"
        items = [
            Item(i, sc, u, f"{u.image.name} ({u.flow}/{u.method} {c.label})")
            for i, (_, c, sc) in enumerate(worlds)
            for u in units_of(sc)
        ]
        codec = pipe.run(
            items,
            f"codec work: {len(items)} units of {len(worlds)} candidate worlds "
            f"({sum(len(t.candidates) for t in targets)} candidates)",
        )
    finally:
        if own:
            backend.close()
    t_codec = time.perf_counter()
    if options.say:
        options.say(f"event simulation: {len(worlds)} worlds as Ray tasks, one per candidate")
    jobs = []
    for i, (_, c, sc) in enumerate(worlds):
        if i in codec.causes:
            c.error = codec.causes[i]
            continue
        spec = world_spec(c.method, sc.topology, sc.devices, sc.config.seed, sc.config.faults)
        jobs.append((i, spec, codec.priced[i]))

    def done(i: int, result) -> None:
        t, c, _ = worlds[i]
        c.metrics = _metrics(result, t.flow, t.destination)

    simulate_in_tasks(jobs, done)
    for t in targets:
        _front(t)
        _references(scenario, t)
        if objective is not None:
            _pick(objective, t)
    failures = pipe.failures
    wall = {
        **phase_times(t0, t_ready, t_codec),
        "cache": cache.describe(),
        "units": len(items),
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


def _references(scenario: Scenario, t: Target) -> None:
    """Where the paper's edge (and late) vectors, placed early, the destination's
    configured plan and the listed policies sit among the candidates."""
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
            ref = {"policy": name, **extra, "n_q": n, "method": m, "vector": vector}
            t.references.append(_locate(t, ref, levels, by_levels, bad))
    for p in t.policies:  # the listed policies (hcf_ray.sim.search.policies)
        for m in t.methods:
            ref = {"policy": p.name, "listed": True, "label": p.label, "where": p.where}
            if m in p.infeasible:
                ref.update(n_q=None, method=m, vector=None, levels=None, candidate=None)
                ref.update(position="infeasible", reason=p.infeasible[m])
                t.references.append(ref)
                continue
            levels = p.levels[m]
            vec = PolicyVector.from_levels(t.source_level, t.level, list(dict.fromkeys(levels)))
            ref.update(n_q=vec.n_q, method=m, vector=str(vec))
            t.references.append(_locate(t, ref, levels, by_levels, bad))


def _locate(t: Target, ref: dict, levels: tuple[int, ...], by_levels: dict, bad: dict) -> dict:
    """``ref`` with its levels, candidate and position: on the front, dominated (by which
    front candidates), failed, infeasible or not searched."""
    n, m = ref["n_q"], ref["method"]
    ref.update(levels=list(levels), candidate=None)
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
        tag = f"{ref['policy']} n_q={n}"
        if tag not in c.refs:
            c.refs.append(tag)
        ref["candidate"] = c.id
        ref["position"] = "front" if c.pareto else "dominated"
        ref["dominated_by"] = list(c.dominated_by)
    return ref


def policy_metrics(t: Target) -> dict[tuple[str, str], dict[str, float] | None]:
    """(listed policy, method) → the metrics of its candidate (None: it has none here)."""
    by_id = {c.id: c for c in t.candidates}
    out: dict[tuple[str, str], dict[str, float] | None] = {}
    for ref in t.references:
        if ref.get("listed"):
            c = by_id.get(ref["candidate"])
            out[ref["policy"], ref["method"]] = c.metrics if c is not None else None
    return out


def _pick(objective: Objective, t: Target) -> None:
    """The objective's pick; when a ``policy:NAME`` bound has no value for some method, why."""
    known = policy_metrics(t)
    t.chosen = objective.pick(t.candidates, known)
    missing = [
        (name, m) for name in objective.policies for m in t.methods if known.get((name, m)) is None
    ]
    if t.chosen is None and missing:
        name, m = missing[0]
        ref = next(
            r for r in t.references if r.get("listed") and (r["policy"], r["method"]) == (name, m)
        )
        t.chosen_reason = f"policy {name} ({m}) gives no bound here: {ref['position']}" + (
            f" ({ref['reason']})" if ref.get("reason") else ""
        )
