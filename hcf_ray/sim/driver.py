"""The simulation driver: every flow × image × method through the node actors.

For one *unit* (flow, method, image) the driver submits one actor call per job of the plan,
parents first, passing each parent's output ObjectRef straight into the child's call — the
payloads go actor to actor through the object store, the driver only receives the small
stats dicts. Up to ``max_in_flight`` units run at once; units complete and are written in
submission order (sorted by release time), and that is also the order in which they are
handed to the virtual clocks, so link and node FIFOs are resolved in submission order.
Each method runs in its own virtual network (alternative systems, not competing traffic);
flows of one method share it.

Outputs in ``out_dir``: ``results.jsonl`` (one record per flow/destination/image/method,
appended and flushed as each unit completes, so a crash loses nothing already done) and
``summary.json`` (also written after a failure, with ``status: failed``).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from hcf_ray.sim.network import VirtualNetwork
from hcf_ray.sim.planner import FlowPlan, node_needs
from hcf_ray.sim.pool import ActorSet, SimulationError, WorkerSpec, _cause, _reason
from hcf_ray.sim.report import NodeTotals, summarize
from hcf_ray.sim.scenario import Scenario
from hcf_ray.sim.timeline import schedule

Log = Callable[[str], None]


@dataclass
class RunOptions:
    max_in_flight: int = 8
    timeout_s: float = 600.0  # any single wait on Ray
    check_transport: bool = True  # closing note: bitstream vs latent bpp on one image
    warmup: bool = True  # run each flow × method once on its first image, untimed
    progress: bool = False
    on_unit: Callable[[int, int], None] | None = None  # (done, total) after each unit


@dataclass
class Unit:
    seq: int
    flow: str
    method: str
    image: Path
    image_index: int
    release_s: float
    plan: FlowPlan
    refs: dict[int, Any] = field(default_factory=dict)  # job → stats ref
    keep: list[Any] = field(default_factory=list)  # payload refs (freed when done)


def node_workers(scenario: Scenario) -> list[WorkerSpec]:
    return [
        WorkerSpec(n.id, n.num_cpus, n.num_gpus, dict(n.resources))
        for n in scenario.topology.nodes.values()
    ]


def run_simulation(
    scenario: Scenario,
    out_dir: str | Path,
    actors: ActorSet | None = None,
    options: RunOptions | None = None,
    log: Log | None = None,
) -> dict:
    """Run a checked scenario on the current Ray session; returns the summary dict."""
    options = options or RunOptions()
    log = log or (lambda _msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    own = actors is None
    if own:
        actors = ActorSet(
            node_workers(scenario),
            scenario.codec.spec,
            scenario.codec.phi_dir,
            options.timeout_s,
            log,
        )
    try:
        placement = actors.prepare(node_needs(list(scenario.plans.values())))
        runner = _Runner(scenario, actors, options, out)
        try:
            runner.run()
            status, error = "ok", None
        except SimulationError as exc:
            status, error = "failed", str(exc)
        summary = summarize(
            scenario,
            runner.records,
            {m: net.stats() for m, net in runner.worlds.items()},
            runner.totals,
            placement_of(scenario, actors, placement),
            runner.unit_totals,
            wall_s=time.perf_counter() - t0,
            status=status,
            error=error,
        )
        if status == "ok" and options.check_transport and runner.records:
            try:
                summary["transport_check"] = transport_check(scenario, runner.records[0])
            except Exception as exc:  # a side note must not fail a finished run
                log(f"transport check skipped: {type(exc).__name__}: {exc}")
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, default=str, ensure_ascii=False) + "\n"
        )
        if error:
            raise SimulationError(f"{error} ({len(runner.records)} results kept in {out})")
        return summary
    finally:
        if own:
            actors.close()


def placement_of(scenario: Scenario, actors: ActorSet, prepared: dict) -> dict[str, dict]:
    out = {}
    for node in scenario.topology.nodes:
        name = actors.mapping.get(node, node)
        info = {**actors.info.get(name, {}), **prepared.get(name, {})}
        out[node] = {
            k: info.get(k)
            for k in ("name", "ray_node_id", "host", "pid", "device", "levels", "model_mb")
        }
    return out


class _Runner:
    def __init__(self, scenario: Scenario, actors: ActorSet, options: RunOptions, out: Path):
        self.sc = scenario
        self.actors = actors
        self.opt = options
        self.results_path = out / "results.jsonl"
        self.records: list[dict] = []
        self.worlds: dict[str, VirtualNetwork] = {}
        self.totals: dict[str, dict[str, NodeTotals]] = {}
        self.unit_totals: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self.images = _ImageStore()

    def units(self) -> list[Unit]:
        units = []
        for f in self.sc.flows:
            for i, img in enumerate(f.images):
                for m in f.methods:
                    plan = self.sc.plan(f.spec.name, m)
                    units.append(Unit(0, f.spec.name, m, img, i, i * f.interval_s, plan))
        order = {f.spec.name: f.index for f in self.sc.flows}
        units.sort(key=lambda u: (u.release_s, order[u.flow], u.image_index))
        for seq, u in enumerate(units):
            u.seq = seq
        return units

    def run(self) -> None:
        from tqdm import tqdm

        units = self.units()
        for u in units:
            self.images.expect(u.image)
        for m in {u.method for u in units}:
            self.worlds[m] = VirtualNetwork.of(self.sc.topology, self.sc.config.seed)
            self.totals[m] = {}
        if self.opt.warmup:
            self.warm_up(units)
        pending = deque(units)
        flight: deque[Unit] = deque()
        with (
            self.results_path.open("w") as sink,
            tqdm(total=len(units), disable=not self.opt.progress, unit="img", leave=False) as bar,
        ):
            while pending or flight:
                while pending and len(flight) < max(1, self.opt.max_in_flight):
                    u = pending.popleft()
                    self.submit(u)
                    flight.append(u)
                u = flight.popleft()
                stats = self.collect(u)
                self.finish(u, stats, sink)
                bar.update(1)
                if self.opt.on_unit:
                    self.opt.on_unit(u.seq + 1, len(units))

    def warm_up(self, units: list[Unit]) -> None:
        """One untimed pass per (flow, method): first calls pay lazy initialisation."""
        firsts: dict[tuple[str, str], Unit] = {}
        for u in units:
            firsts.setdefault((u.flow, u.method), u)
        warm = [
            Unit(-1, u.flow, u.method, u.image, u.image_index, 0.0, u.plan) for u in firsts.values()
        ]
        for u in warm:
            self.images.expect(u.image)
            self.submit(u)
        for u in warm:
            self.collect(u)
            self.images.done(u.image)

    # -- one unit ----------------------------------------------------------------------------
    def submit(self, u: Unit) -> None:
        image_ref, size = self.images.get(u.image)
        outputs: dict[tuple[int, int], Any] = {}
        for job in u.plan.jobs:
            inp = image_ref if job.input is None else outputs[job.input]
            if not job.computes:
                for b in range(len(job.branches)):
                    outputs[job.index, b] = inp
                continue
            actor = self.actors.actor(job.node)
            img = image_ref if job.has_destination else None
            rets = actor.run_job.options(num_returns=len(job.branches) + 1).remote(
                job, inp, img, size, self.sc.transport
            )
            for b, br in enumerate(job.branches):
                outputs[job.index, b] = inp if br.forward else rets[b]
            u.refs[job.index] = rets[-1]
            u.keep.extend(rets[:-1])

    def collect(self, u: Unit) -> dict[int, dict]:
        try:
            ready, _ = ray.wait(
                list(u.refs.values()), num_returns=len(u.refs), timeout=self.opt.timeout_s
            )
            if len(ready) < len(u.refs):
                raise GetTimeoutError
            return dict(zip(u.refs, ray.get(list(u.refs.values()), timeout=self.opt.timeout_s)))
        except (RayError, GetTimeoutError):
            raise SimulationError(self._failure(u)) from None

    def _failure(self, u: Unit) -> str:
        where = f"{u.image.name} ({u.flow}/{u.method})"
        for j, ref in u.refs.items():  # parents first: the first failure is the cause
            node = u.plan.jobs[j].node
            try:
                ray.get(ref, timeout=self.opt.timeout_s)
            except RayActorError as exc:
                return f"node {node!r}: actor died ({_reason(exc)}) while processing {where}"
            except RayTaskError as exc:
                return f"node {node!r} failed on {where}: {_cause(exc)}"
            except GetTimeoutError:
                return f"node {node!r} timed out after {self.opt.timeout_s:.0f} s on {where}"
            except RayError as exc:
                return f"node {node!r} failed on {where}: {type(exc).__name__}: {_cause(exc)}"
        return f"unit {where} failed"

    def finish(self, u: Unit, stats: dict[int, dict], sink) -> None:
        net = self.worlds[u.method]
        size = self.images.size(u.image)
        before = net.totals()
        timings = schedule(u.plan, stats, net, u.release_s)
        after = net.totals()
        totals = self.totals[u.method]
        for st in stats.values():
            totals.setdefault(st["node"], NodeTotals()).add(st)
        self.unit_totals[u.flow, u.method].append(
            {
                "link_bytes": after[0] - before[0],
                "compute_s": after[1] - before[1],
                "flops": sum(s["flops"] for st in stats.values() for s in st["segments"]),
                "latency_s": max(t.latency_s for t in timings),
            }
        )
        for d, tm in zip(u.plan.destinations, timings):
            rec = record(u, d, tm, size, self.sc.transport)
            sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.records.append(rec)
        sink.flush()
        u.refs.clear()
        u.keep.clear()
        self.images.done(u.image)


class _ImageStore:
    """Each image is loaded and ``ray.put`` once, and dropped after its last unit."""

    def __init__(self):
        self._refs: dict[Path, Any] = {}
        self._sizes: dict[Path, tuple[int, int]] = {}
        self._uses: dict[Path, int] = defaultdict(int)

    def expect(self, path: Path) -> None:
        self._uses[path] += 1

    def get(self, path: Path) -> tuple[Any, tuple[int, int]]:
        if path not in self._refs:
            from hcf_ray.images import load_image

            x = load_image(path)
            self._sizes[path] = (int(x.shape[-2]), int(x.shape[-1]))
            self._refs[path] = ray.put(x.numpy())
        return self._refs[path], self._sizes[path]

    def size(self, path: Path) -> tuple[int, int]:
        return self._sizes[path]

    def done(self, path: Path) -> None:
        self._uses[path] -= 1
        if self._uses[path] <= 0:
            self._refs.pop(path, None)


def record(u: Unit, d, tm, size: tuple[int, int], transport: str) -> dict:
    h, w = size
    return {
        "flow": u.flow,
        "destination": d.node,
        "image": u.image.name,
        "method": u.method,
        "policy": d.policy,
        "source_level": u.plan.source_level,
        "target_level": d.level,
        "transport": transport,
        "bpp": tm.payload["bytes"] * 8.0 / (h * w),
        "psnr": tm.final["psnr"],
        "ms_ssim_db": tm.final["ms_ssim_db"],
        "latency_s": tm.latency_s,
        "release_s": u.release_s,
        "done_s": tm.done_s,
        "path": list(d.path),
        "levels": list(d.levels),
        "total_bytes": sum(hop["bytes"] for hop in tm.hops),
        "hops": tm.hops,
        "nodes": tm.nodes,
        "compute_s": sum(n["compute_s"] for n in tm.nodes.values()),
        "flops": sum(n["flops"] for n in tm.nodes.values()),
        "recon_sha256": tm.final["recon_sha256"],
        "image_size": [h, w],
    }


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
