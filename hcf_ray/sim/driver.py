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

import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from hcf_ray.sim.outdir import OutputDir
from hcf_ray.sim.planner import node_needs
from hcf_ray.sim.pool import WorkerSpec
from hcf_ray.sim.report import summarize
from hcf_ray.sim.scenario import Scenario
from hcf_ray.sim.work.backend import Backend, DedicatedBackend, LazyBackend, PoolBackend
from hcf_ray.sim.work.cache import CodecCache, file_sha256
from hcf_ray.sim.work.codecwork import CodecWork, UnitRequest, UnitResult
from hcf_ray.sim.world import PricedUnit, WorldResult, price_unit, simulate_world, world_spec

Log = Callable[[str], None]


@dataclass
class RunOptions:
    max_in_flight: int = 8
    timeout_s: float = 600.0  # any single wait on Ray
    check_transport: bool = True  # closing note: bitstream vs latent bpp on one image
    warmup: bool = True  # timing: measured — one untimed pass per flow × method first
    progress: bool = False  # a progress bar (on a terminal)
    on_unit: Callable[[int, int], None] | None = None  # (done, total) after each unit
    say: Callable[[str], None] | None = None  # one line per phase (and units k/N every 5 s
    # when there is no progress bar)
    cache_dir: str | Path | None = None  # codec-work cache on disk (default: OUT/cache)
    pool_size: int | None = None  # placement: pool — actors (default: one per CPU)
    resume: bool = False  # complete the records already in the output folder
    overwrite: bool = False  # replace them (once the new ones exist)
    retries: int = 2  # resubmissions of a unit whose work was lost to a crash
    health_every_s: float = 10.0  # ping every actor this often (and at the end)


@dataclass
class Unit:
    seq: int
    flow: str
    method: str
    image: Path
    image_index: int
    release_s: float


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
                plans=list(scenario.plans.values()),
                transport=scenario.transport,
            ),
            options.say,
        )
    budget = scenario.config.model_budget_mb
    return LazyBackend(
        lambda: PoolBackend(
            codec.spec, codec.phi_dir, options.timeout_s, options.pool_size, log, budget
        ),
        options.say,
    )


def units_of(scenario: Scenario) -> list[Unit]:
    units = []
    for f in scenario.flows:
        for i, img in enumerate(f.images):
            for m in f.methods:
                units.append(Unit(0, f.spec.name, m, img, i, i * f.interval_s))
    order = {f.spec.name: f.index for f in scenario.flows}
    units.sort(key=lambda u: (u.release_s, order[u.flow], u.image_index))
    for seq, u in enumerate(units):
        u.seq = seq
    return units


class ImageStore:
    """Image sizes from file headers; pixels loaded and ``ray.put`` once, only when needed."""

    def __init__(self):
        self._refs: dict[Path, Any] = {}
        self._sizes: dict[Path, tuple[int, int]] = {}

    def size(self, path: Path) -> tuple[int, int]:
        if path not in self._sizes:
            from PIL import Image

            with Image.open(path) as im:
                w, h = im.size
            self._sizes[path] = (int(h), int(w))
        return self._sizes[path]

    def ref(self, path: Path):
        if path not in self._refs:
            from hcf_ray.images import load_image

            x = load_image(path)
            self._sizes[path] = (int(x.shape[-2]), int(x.shape[-1]))
            self._refs[path] = ray.put(x.numpy())
        return self._refs[path]


def bundle_hash(scenario: Scenario) -> str:
    from hcf_ray.bundle_id import bundle_sha256

    return bundle_sha256(scenario.codec.spec, scenario.codec.phi_dir)


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
    if cache is None:
        cache = CodecCache(options.cache_dir or out.path / "cache")
    try:
        prepared = backend.prepare(node_needs(list(scenario.plans.values())))
        t_ready = time.perf_counter()
        run = compute_units(scenario, backend, cache, options, log)
        t_codec = time.perf_counter()
        health = backend.health() if own else []
        say = options.say or (lambda _msg: None)
        say(f"event simulation: {len(run.priced)} world(s), one per method")
        results = simulate_worlds(scenario, run.priced)
        records = merge_records(results, run.errors)
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
        summary = summarize(scenario, records, results, status, error, wall, bundle_hash(scenario))
        summary["failures"] = {
            "units": len({(r["flow"], r["image"], r["method"]) for r in failed}),
            "error_records": len(failed),
            "skipped_records": sum(r.get("status") == "skipped" for r in records),
        }
        summary["wall"]["faults"] = {
            "retries": sum(f["retried"] for f in run.failures),
            "tries": run.failures,
            "actors": run.health + health,
            "injected": run.injected,
        }
        if status == "ok" and options.check_transport and records:
            try:
                summary["transport_check"] = transport_check(scenario, records[0])
            except Exception as exc:  # a side note must not fail a finished run
                log(f"transport check skipped: {type(exc).__name__}: {exc}")
        summary["wall"]["wall_s"] = time.perf_counter() - t0
        out.write_json("summary.json", summary)
        out.finish()
        return summary
    finally:
        if own:
            backend.close()


def open_output(scenario: Scenario, out_dir: str | Path, options: RunOptions) -> OutputDir:
    """The run's output folder, checked (refuses to reuse one unless resuming/overwriting)."""
    return OutputDir(
        out_dir, "results.jsonl", run_identity(scenario), options.resume, options.overwrite
    )


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
    """Codec work of every unit, priced as it completes. A unit that fails (after retries)
    gives error records; the others go on."""
    from hcf_ray.sim.faults import Corrupt, Crash, ImageFault

    log = log or (lambda _msg: None)
    # A failed unit's later jobs fail too and are never fetched; the failure is already an
    # error record, so Ray's "unhandled error" dump for each of them is noise on stderr.
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    units = units_of(scenario)
    images = ImageStore()
    measured = scenario.timing == "measured"
    faults = scenario.config.faults
    work = codec_work(backend, cache, scenario, images, options.timeout_s, options.retries)
    shas = {u.image: file_sha256(u.image) for u in units}
    bad_images = {f.image for f in faults if isinstance(f, ImageFault)}
    bad_images |= {p.name for p in getattr(scenario, "image_errors", {})}
    corrupt = [f for f in faults if isinstance(f, Corrupt)]
    crash_at = _crash_units(scenario, units, [f for f in faults if isinstance(f, Crash)])
    run = CodecRun(defaultdict(list), {}, work.failures, [], [])

    def request(u: Unit) -> UnitRequest:
        req = _request(scenario, u, shas)
        damage = {(f.src, f.dst): f.mode for f in corrupt if f.image in (None, u.image.name)}
        req.corrupt = damage or None
        if u.seq in crash_at:
            req.crash_at = crash_at[u.seq]
            run.injected.append({"kind": "crash", "node": req.crash_at, "unit": req.label})
        return req

    if measured and options.warmup:
        firsts = {}
        for u in units:
            if u.image.name not in bad_images:
                firsts.setdefault((u.flow, u.method), u)
        work.run([request(u) for u in firsts.values()], options.max_in_flight)
    by_seq = {u.seq: u for u in units}
    done = 0
    last_health = time.monotonic()

    from tqdm import tqdm

    bar = tqdm(total=len(units), disable=not options.progress, unit="unit", leave=False)
    say = options.say or (lambda _msg: None)
    last_say = time.monotonic()

    def on_result(res: UnitResult) -> None:
        nonlocal done, last_health, last_say
        u = by_seq[res.key]
        if res.error is None:
            run.priced[u.method].append(price_result(scenario, u, res, images))
        else:
            run.errors[u.seq] = error_records(scenario, u, "error", res.error)
            log(f"{res.error} (error record written)")
        done += 1
        bar.update(1)
        if not options.progress and time.monotonic() - last_say > 5.0:
            say(f"codec work: {done}/{len(units)} units done")
            last_say = time.monotonic()
        if time.monotonic() - last_health > options.health_every_s:
            run.health += backend.health(timeout_s=2.0)
            last_health = time.monotonic()
        if options.on_unit:
            options.on_unit(done, len(units))

    seq = len(units)  # skipped images: after every unit, in flow order
    for f in scenario.flows:
        for path in f.skipped:
            for m in f.methods:
                u = Unit(seq, f.spec.name, m, path, -1, 0.0)
                cause = scenario_image_error(scenario, path) or f"{path.name}: unusable image"
                run.errors[seq] = error_records(scenario, u, "skipped", cause)
                seq += 1
    good = []
    for u in units:
        if u.image.name in bad_images:
            cause = scenario_image_error(scenario, u.image) or f"{u.image.name}: injected fault"
            run.errors[u.seq] = error_records(scenario, u, "skipped", cause)
            done += 1
            bar.update(1)
        else:
            good.append(u)
    say(
        f"codec work: {len(units)} units (flow × method × image)"
        + (f", {len(units) - len(good)} skipped" if len(units) > len(good) else "")
    )
    try:
        work.run((request(u) for u in good), options.max_in_flight, on_result)
    finally:
        bar.close()
    return run


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


def error_records(scenario: Scenario, u: Unit, status: str, cause: str) -> list[dict]:
    """One record per destination of a unit that produced no result."""
    plan = scenario.plan(u.flow, u.method)
    return [
        {
            "flow": u.flow,
            "destination": d.node,
            "image": u.image.name,
            "method": u.method,
            "policy": d.policy,
            "source_level": plan.source_level,
            "target_level": d.level,
            "transport": scenario.transport,
            "timing": scenario.timing,
            "status": status,
            "cause": cause,
        }
        for d in plan.destinations
    ]


def codec_work(backend, cache, scenario, images, timeout_s: float, retries: int) -> CodecWork:
    """The codec work of ``scenario``'s units: each unit tried ``1 + retries`` times; cached
    stages reused unless the scenario times ops by measuring them (``timing: measured``)."""
    return CodecWork(
        backend,
        cache,
        bundle_hash(scenario),
        images,
        timeout_s,
        reuse=scenario.timing != "measured",
        max_tries=1 + max(0, retries),
    )


def record_base(scenario: Scenario, u: Unit) -> dict:
    """The fields every record of a unit starts with."""
    return {
        "flow": u.flow,
        "image": u.image.name,
        "method": u.method,
        "transport": scenario.transport,
        "timing": scenario.timing,
        # transport: latent sends no bitstream; its bytes are entropy estimates
        "estimated_bytes": scenario.transport == "latent",
        "status": "ok",
    }


def price_result(scenario: Scenario, u: Unit, res: UnitResult, images: ImageStore) -> PricedUnit:
    """One unit's codec results priced on its scenario's devices (see :mod:`hcf_ray.sim.world`)."""
    nodes = scenario.topology.nodes
    base = record_base(scenario, u)
    return price_unit(
        u.seq,
        scenario.plan(u.flow, u.method),
        res.infos,
        images.size(u.image),
        scenario.devices,
        {n: spec.speed for n, spec in nodes.items()},
        {n: spec.cores for n, spec in nodes.items()},
        scenario.timing,
        base,
        u.release_s,
        res.segment_s,
    )


def _request(scenario: Scenario, u: Unit, shas) -> UnitRequest:
    return UnitRequest(
        key=u.seq,
        plan=scenario.plan(u.flow, u.method),
        image=u.image,
        image_sha256=shas[u.image],
        transport=scenario.transport,
        label=f"{u.image.name} ({u.flow}/{u.method})",
    )


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


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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
