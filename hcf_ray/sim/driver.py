"""The simulation driver: plan → codec work (cached) → event simulation → records.

1. **Units.** Every flow × image × method is a unit, released at ``image index ·
   interval``; units are ordered by release time, flow and image.
2. **Codec work** (:mod:`hcf_ray.sim.work`). Each unit's jobs run on Ray actors — a pool
   sized from the cluster, or one actor per node with ``placement: dedicated`` — except the
   branches whose lineage is already cached: rate and distortion depend on the image, the
   models and the cascade, never on the network.
3. **Event simulation** (:mod:`hcf_ray.sim.world`). Each method is one world: a SimPy
   network of FIFO links and multi-core nodes. With ``timing: profile`` (the default) every
   op is priced by the node's device model, so the records are a function of the inputs
   only; ``timing: measured`` replays the wall clock of each op in the actors instead.
4. **Records.** ``results.jsonl`` (one line per flow × destination × image × method, in
   unit order) and ``summary.json``. Everything that depends on how and where the run
   executed (wall-clock times, placement, cache hits) is kept apart under the key ``wall``.

Faults and restarts. A unit whose work is lost to a crash is computed again (``retries``);
one that still fails becomes an error record (``status: error`` and its ``cause``) for each
of its destinations, and the other units go on. The output folder follows
:mod:`hcf_ray.sim.outdir` (never truncated; ``resume`` appends the missing records). Codec
work goes to a disk cache (``--cache``, by default ``cache/`` inside the output folder), so a
resumed run does not compute again what the interrupted one finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hcf_ray.sim.outdir import OutputDir
from hcf_ray.sim.pipeline import (
    CodecPipeline,
    Item,
    Progress,
    RunOptions,
    Unit,
    bundle_hash,
    codec_cache,
    error_records,
    name_policies,
    units_of,
)
from hcf_ray.sim.planner import node_needs
from hcf_ray.sim.pool import WorkerSpec
from hcf_ray.sim.report import summarize_worlds
from hcf_ray.sim.scenario import Scenario
from hcf_ray.sim.work.backend import Backend, DedicatedBackend, LazyBackend
from hcf_ray.sim.work.cache import CodecCache
from hcf_ray.sim.work.warm import open_pool
from hcf_ray.sim.world import PricedUnit, WorldResult, simulate_world, world_spec

Log = Callable[[str], None]


def node_workers(scenario: Scenario) -> list[WorkerSpec]:
    return [
        WorkerSpec(n.id, n.num_cpus, n.num_gpus, dict(n.resources))
        for n in scenario.topology.nodes.values()
    ]


def make_backend(scenario: Scenario, options: RunOptions, log: Log | None = None) -> Backend:
    """The scenario's backend, started on its first job (a fully cached run starts none)."""
    codec = scenario.codec
    if scenario.config.placement == "dedicated":
        return LazyBackend(
            lambda: DedicatedBackend(
                node_workers(scenario),
                codec.spec,
                codec.phi_dir,
                options.timeout_s,
                log,
                plans=[p for w in scenario.all_worlds for p in w.plans.values()],
                transport=scenario.transport,
            ),
            options.say,
        )
    budget = scenario.config.model_budget_mb
    return LazyBackend(
        lambda: open_pool(
            codec.spec, codec.phi_dir, options.timeout_s, options.pool_size, log, budget
        ),
        options.say,
    )


def run_simulation(
    scenario: Scenario,
    out_dir: str | Path | OutputDir,
    backend: Backend | None = None,
    options: RunOptions | None = None,
    log: Log | None = None,
    cache: CodecCache | None = None,
) -> dict:
    """Run a checked scenario on the current Ray session; returns the summary dict.

    ``out_dir`` is a folder or an :class:`~hcf_ray.sim.outdir.OutputDir` already checked
    (the CLI checks it before Ray starts)."""
    options = options or RunOptions()
    log = log or (lambda _msg: None)
    out = out_dir if isinstance(out_dir, OutputDir) else open_output(scenario, out_dir, options)
    out.open()
    t0 = time.perf_counter()
    own = backend is None
    if own:
        backend = make_backend(scenario, options, log)
    cache = codec_cache(cache, options.cache_dir, out.path)
    try:
        worlds = scenario.all_worlds
        plans = [p for w in worlds for p in w.plans.values()]
        prepared = backend.prepare(node_needs(plans))
        t_ready = time.perf_counter()
        say = options.say or (lambda _msg: None)
        runs, per_world = [], []
        for k, w in enumerate(worlds):
            if len(worlds) > 1:
                say(f"policy {scenario.world_names[k]} ({k + 1} of {len(worlds)})")
            runs.append(compute_units(w, backend, cache, options, log))
        t_codec = time.perf_counter()
        health = backend.health() if own else []
        for k, (w, run) in enumerate(zip(worlds, runs, strict=True)):
            world = scenario.world_names[k] if len(worlds) > 1 else None
            of = f" of policy {world}" if world else ""
            say(f"event simulation{of}: {len(run.priced)} world(s), one per method")
            results = simulate_worlds(w, run.priced)
            recs = name_policies(w, merge_records(results, run.errors), world)
            per_world.append((w, recs, results))
        records = [r for _, recs, _ in per_world for r in recs]
        say(f"writing {out.final}")
        appended = out.append(records)
        failed = [r for r in records if r.get("status") == "error"]
        status = "ok" if not failed else "partial"
        wall = {
            **phase_times(t0, t_ready, t_codec),
            "cache": cache.describe(),
            "placement": placement_of(scenario, backend, prepared),
            "records_appended": appended,
            "records_kept": len(out.existing),
        }
        error = failed[0]["cause"] if failed else None
        summary = summarize_worlds(scenario, per_world, status, error, wall, bundle_hash(scenario))
        summary["failures"] = {
            "units": len({(r.get("world"), r["flow"], r["image"], r["method"]) for r in failed}),
            "error_records": len(failed),
            "skipped_records": sum(r.get("status") == "skipped" for r in records),
        }
        summary["wall"]["faults"] = {
            "retries": sum(f["retried"] for run in runs for f in run.failures),
            "tries": [f for run in runs for f in run.failures],
            "actors": [h for run in runs for h in run.health] + health,
            "injected": [i for run in runs for i in run.injected],
        }
        if status == "ok" and options.check_transport and records:
            try:
                summary["transport_check"] = transport_check(scenario, records[0])
            except Exception as exc:  # a side note must not fail a finished run
                log(f"transport check skipped: {type(exc).__name__}: {exc}")
        graph_section(scenario, summary)
        summary["wall"]["wall_s"] = time.perf_counter() - t0
        out.write_json("summary.json", summary)
        out.finish()
        return summary
    finally:
        if own:
            backend.close()


def graph_section(scenario: Scenario, summary: dict) -> None:
    """``summary["graph"]`` for a topology with a ``graph:`` file: the network it ran on
    (the imported one with the YAML's own nodes and links), each link's numbers with their
    rules, the counts per rule and the link table's sha256 (:mod:`hcf_ray.graphs.cli`)."""
    from hcf_ray.graphs.cli import json_report, network_of
    from hcf_ray.sim.topology import with_speeds

    net = network_of(with_speeds(scenario.config, scenario.topology), scenario.topology)
    if net is not None:
        summary["graph"] = json_report(net)


def open_output(scenario: Scenario, out_dir: str | Path, options: RunOptions) -> OutputDir:
    """The run's output folder, checked (refuses to reuse one unless resuming/overwriting,
    and resuming one whose config or input files differ)."""
    return OutputDir(
        out_dir,
        "results.jsonl",
        run_identity(scenario),
        options.resume,
        options.overwrite,
        inputs=run_inputs(scenario),
    )


def run_inputs(scenario: Scenario) -> dict[str, str]:
    """``{file: sha256}`` of every file a run of ``scenario`` reads, its config file (the
    scenario's source) included (:mod:`hcf_ray.sim.inputs`)."""
    from hcf_ray.sim.inputs import scenario_inputs

    source = scenario.source
    return scenario_inputs(scenario, source if source and Path(source).is_file() else None)


def run_identity(scenario: Scenario) -> dict:
    """What a run's records are a function of (resuming with anything else is refused)."""
    return {
        "config": scenario.config.model_dump(mode="json"),
        "transport": scenario.transport,
        "flows": [
            [f.spec.name, list(f.methods), [p.name for p in f.images]] for f in scenario.flows
        ],
    }


@dataclass
class CodecRun:
    """What :func:`compute_units` produced."""

    priced: dict[str, list[PricedUnit]]
    errors: dict[int, list[dict]]  # unit seq -> its error records
    failures: list[dict]  # every failed try
    health: list[dict]  # actor deaths/restarts seen during the run
    injected: list[dict]  # faults injected on the host


def compute_units(
    scenario: Scenario,
    backend: Backend,
    cache: CodecCache,
    options: RunOptions,
    log: Log | None = None,
) -> CodecRun:
    """Codec work of every unit through the shared pipeline (:mod:`hcf_ray.sim.pipeline`),
    priced as it completes; each method is one world. Injected faults (``faults:``) are added
    to the requests here; a unit that fails (after retries) gives error records."""
    from hcf_ray.sim.faults import Corrupt, Crash, ImageFault

    units = units_of(scenario)
    faults = scenario.config.faults
    pipe = CodecPipeline(backend, cache, scenario, options, log, watch_health=True)
    bad_images = {f.image for f in faults if isinstance(f, ImageFault)}
    bad_images |= {p.name for p in getattr(scenario, "image_errors", {})}
    corrupt = [f for f in faults if isinstance(f, Corrupt)]
    crash_at = _crash_units(scenario, units, [f for f in faults if isinstance(f, Crash)])
    injected: list[dict] = []

    def request(key, item: Item):
        req, u = pipe.request(key, item), item.unit
        damage = {(f.src, f.dst): f.mode for f in corrupt if f.image in (None, u.image.name)}
        req.corrupt = damage or None
        if u.seq in crash_at:
            req.crash_at = crash_at[u.seq]
            injected.append({"kind": "crash", "node": req.crash_at, "unit": req.label})
        return req

    def item(u: Unit) -> Item:
        return Item(u.method, scenario, u, f"{u.image.name} ({u.flow}/{u.method})")

    if scenario.timing == "measured" and options.warmup:
        firsts: dict[tuple[str, str], Unit] = {}
        for u in units:
            if u.image.name not in bad_images:
                firsts.setdefault((u.flow, u.method), u)
        pipe.warm_up(request(u.seq, item(u)) for u in firsts.values())
    errors: dict[int, list[dict]] = {}
    seq = len(units)  # skipped images: after every unit, in flow order
    for f in scenario.flows:
        for path in f.skipped:
            for m in f.methods:
                u = Unit(seq, f.spec.name, m, path, -1, 0.0)
                cause = scenario_image_error(scenario, path) or f"{path.name}: unusable image"
                errors[seq] = error_records(scenario, u, "skipped", cause)
                seq += 1
    progress = Progress(len(units), options.say, options.progress, on_step=options.on_unit)
    good = []
    for u in units:
        if u.image.name in bad_images:
            cause = scenario_image_error(scenario, u.image) or f"{u.image.name}: injected fault"
            errors[u.seq] = error_records(scenario, u, "skipped", cause)
            progress.step(notify=False)
        else:
            good.append(item(u))
    intro = f"codec work: {len(units)} units (flow × method × image)" + (
        f", {len(units) - len(good)} skipped" if len(units) > len(good) else ""
    )
    out = pipe.run(good, intro, progress, request)
    for recs in out.errors.values():
        errors.update(recs)
    return CodecRun(out.priced, errors, pipe.failures, out.health, injected)


def _crash_units(scenario: Scenario, units: list[Unit], crashes) -> dict[int, str]:
    """``faults: crash``: unit seq -> node, for the first unit from ``after_units`` on whose
    plan computes at that node."""
    out: dict[int, str] = {}
    for f in crashes:
        for u in units[f.after_units :]:
            plan = scenario.plan(u.flow, u.method)
            if u.seq not in out and any(j.node == f.node and j.computes for j in plan.jobs):
                out[u.seq] = f.node
                break
    return out


def scenario_image_error(scenario: Scenario, image: Path) -> str | None:
    errors = getattr(scenario, "image_errors", None) or {}
    return errors.get(image)


def simulate_worlds(
    scenario: Scenario, priced: dict[str, list[PricedUnit]]
) -> dict[str, WorldResult]:
    out = {}
    for method in sorted(priced):
        spec = world_spec(
            method,
            scenario.topology,
            scenario.devices,
            scenario.config.seed,
            scenario.config.faults,
        )
        out[method] = simulate_world(spec, priced[method])
    return out


def merge_records(
    results: dict[str, WorldResult], errors: dict[int, list[dict]] | None = None
) -> list[dict]:
    """All worlds' records and the error records, in unit order (each unit's destinations
    in plan order)."""
    units = [(seq, recs) for res in results.values() for seq, recs in res.units]
    units += list((errors or {}).items())
    units.sort(key=lambda t: t[0])
    return [r for _, recs in units for r in recs]


def phase_times(t0: float, t_ready: float, t_codec: float) -> dict[str, float]:
    """Wall-clock phases of a run (host-dependent: they go under ``wall``)."""
    now = time.perf_counter()
    return {
        "wall_s": now - t0,
        "setup_s": t_ready - t0,
        "codec_work_s": t_codec - t_ready,
        "event_simulation_s": now - t_codec,
    }


def placement_of(scenario: Scenario, backend: Backend, prepared: dict) -> dict[str, dict]:
    keys = ("name", "ray_node_id", "host", "pid", "device", "gpu_ids", "levels", "models")
    keys += ("rss_peak_mb",)
    started = not isinstance(backend, LazyBackend) or backend.started
    if started:
        backend.actors.refresh()
    known = backend.actors.info if started else {}
    prepared = backend.info if isinstance(backend, LazyBackend) else prepared
    actors = {}
    for name in {**known, **prepared}:
        merged = {**prepared.get(name, {}), **known.get(name, {})}
        actors[name] = {k: merged.get(k) for k in keys}
    nodes = {n: backend.actor_name(n) for n in scenario.topology.nodes}
    return {"placement": scenario.config.placement, "actors": actors, "nodes": nodes}


def transport_check(scenario: Scenario, rec: dict) -> dict:
    """Bitstream vs latent transport on one image in-process: bpp difference, same pixels?"""
    import torch

    from hcf_ray.bundle import load_bundle
    from hcf_ray.images import load_image

    bundle = load_bundle(scenario.codec.spec, scenario.codec.phi_dir)
    engine = bundle.engine()
    plan = scenario.plan(rec["flow"], rec["method"])
    dest = next(d for d in plan.destinations if d.node == rec["destination"])
    flow = next(f for f in scenario.flows if f.spec.name == rec["flow"])
    path = next(p for p in flow.images if p.name == rec["image"])
    x = load_image(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        real = engine.execute(dest.program, x, "bitstream")
        est = engine.execute(dest.program, x, "latent")
    finally:
        torch.set_num_threads(threads)
    b_real, b_est = real.bpp(), est.bpp()
    return {
        "flow": rec["flow"],
        "method": rec["method"],
        "destination": rec["destination"],
        "image": rec["image"],
        "bitstream_bpp": b_real,
        "latent_bpp": b_est,
        "delta_bpp": b_est - b_real,
        "delta_pct": 100.0 * (b_est - b_real) / b_real if b_real else 0.0,
        "same_reconstruction": bool(torch.equal(real.x_hat, est.x_hat)),
    }
