"""Ray overhead: the same cascades through the actor pool and in-process, side by side.

    python benchmarks/ray_overhead.py [--config topologies/mesh.yaml] [--max-images 2]

Every job of every unit (flow × method × image) is computed with no cache, once in this
process (a NodeWorker called directly, payloads as Python objects) and once through
CodecWork on a pool of 1 actor and of one actor per CPU. Each path first runs every unit
once untimed (models loaded, first-call costs paid). Then, for each pool, ``--repeats``
rounds of one in-process pass followed by one pass through the pool, so that both sides of a
comparison see the same machine load; medians are reported. Both sides run torch on the same
number of threads (printed). Prints one JSON object: wall and CPU seconds, the overhead of the
1-actor pool over in-process (goal: ≤ 10 % on 2 cores), in % and in ms per unit, and the
speedup of the per-CPU pool (goal: ≥ 1.5× on 2 idle cores), with the load average before and
after and ``pool_per_cpu_capacity_cores``: the cores as many busy processes as the pool has
actors got together just after the passes (on a shared machine the speedup cannot exceed it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _actor_probe(worker) -> tuple[float, int]:
    """Runs inside an actor: its process CPU seconds and torch thread count."""
    import torch

    return time.process_time(), torch.get_num_threads()


_BURN = "import time\nt=time.perf_counter()\nwhile time.perf_counter()-t<{s}: pass\nprint(time.process_time()/(time.perf_counter()-t))"


def parallel_capacity(n: int, seconds: float = 1.5) -> float:
    """Cores that ``n`` busy processes get together right now (``n`` on an idle machine):
    the most any pool of ``n`` actors can gain over one process under the current load."""
    import subprocess

    procs = [
        subprocess.Popen([sys.executable, "-c", _BURN.format(s=seconds)], stdout=subprocess.PIPE)
        for _ in range(n)
    ]
    return round(sum(float(p.communicate()[0]) for p in procs), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="topologies/mesh.yaml")
    p.add_argument("--max-images", type=int, default=2)
    p.add_argument("--codec", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-in-flight", type=int, default=8)
    args = p.parse_args(argv)

    import ray
    import torch

    from hcf_ray.images import load_image
    from hcf_ray.sim.actors import NodeWorker
    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.pipeline import ImageStore, bundle_hash, units_of
    from hcf_ray.sim.planner import ModelNeeds, node_needs
    from hcf_ray.sim.pool import connect
    from hcf_ray.sim.scenario import build_scenario
    from hcf_ray.sim.work.backend import PoolBackend
    from hcf_ray.sim.work.cache import CodecCache, file_sha256
    from hcf_ray.sim.work.codecwork import CodecWork, UnitRequest

    load_before = [round(x, 2) for x in os.getloadavg()]
    cfg = load_config(args.config)
    if args.codec:
        cfg = cfg.model_copy(update={"codec": args.codec})
    sc = build_scenario(cfg, max_images=args.max_images)
    units = units_of(sc)
    needs = ModelNeeds()
    for n in node_needs(list(sc.plans.values())).values():
        needs = needs | n

    worker = NodeWorker("local", sc.codec.spec, sc.codec.phi_dir)  # one torch thread, as actors
    worker.prepare(needs)
    images = {u.image: load_image(u.image).numpy() for u in units}

    def in_process() -> None:
        for u in units:
            plan = sc.plan(u.flow, u.method)
            x = images[u.image]
            size = (x.shape[-2], x.shape[-1])
            outs = {}
            for job in plan.jobs:
                if not job.computes:
                    for b in range(len(job.branches)):
                        outs[job.index, b] = outs.get(job.input, x) if job.input else x
                    continue
                inp = x if job.input is None else outs[job.input]
                rets = worker.run_job(job, inp, x, size, sc.transport)
                for b, br in enumerate(job.branches):
                    outs[job.index, b] = inp if br.forward else rets[b]

    def timed(fn) -> tuple[float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        return time.perf_counter() - t0, time.process_time() - c0

    in_process()  # warm-up
    connect()
    out: dict = {
        "benchmark": "ray_overhead",
        "config": args.config,
        "units": len(units),
        "repeats": args.repeats,
        "cpus": int(ray.cluster_resources().get("CPU", 0)),
        "torch_threads_in_process": torch.get_num_threads(),
    }
    store = ImageStore()
    reqs = [
        UnitRequest(u.seq, sc.plan(u.flow, u.method), u.image, file_sha256(u.image), sc.transport)
        for u in units
    ]
    local_walls: dict[str, list[float]] = {}
    for label, size in (("pool_1_actor", 1), ("pool_per_cpu", None)):
        backend = PoolBackend(sc.codec.spec, sc.codec.phi_dir, 600.0, size)
        backend.prepare(node_needs(list(sc.plans.values())))
        work = CodecWork(backend, CodecCache(), bundle_hash(sc), store, 600.0, reuse=False)
        handles = list(backend.actors.handles.values())
        # warm-up: every actor loads every model now (a pool actor loads each on the first job
        # that needs it, and which jobs reach which actor varies from pass to pass)
        ray.get([h.prepare.remote(needs, True) for h in handles])
        work.run(reqs, args.max_in_flight)
        local, pool, local_cpu, actor_cpu = [], [], [], []
        for _ in range(args.repeats):
            wall, cpu = timed(in_process)
            local.append(wall)
            local_cpu.append(cpu)
            before = ray.get([h.__ray_call__.remote(_actor_probe) for h in handles])
            wall, _ = timed(lambda: work.run(reqs, args.max_in_flight))  # noqa: B023
            after = ray.get([h.__ray_call__.remote(_actor_probe) for h in handles])
            pool.append(wall)
            actor_cpu.append(sum(a[0] - b[0] for a, b in zip(after, before)))
        if len(handles) > 1:  # what this machine's load leaves for them, after the passes
            out[f"{label}_capacity_cores"] = parallel_capacity(len(handles))
        local_walls[label] = local
        out[f"{label}_actors"] = len(handles)
        out[f"{label}_torch_threads"] = sorted({a[1] for a in after})
        out[f"{label}_s"] = round(statistics.median(pool), 3)
        out[f"{label}_in_process_s"] = round(statistics.median(local), 3)
        out[f"{label}_actor_cpu_s"] = round(statistics.median(actor_cpu), 3)
        out[f"{label}_in_process_cpu_s"] = round(statistics.median(local_cpu), 3)
        backend.close()
    one, one_local = out["pool_1_actor_s"], out["pool_1_actor_in_process_s"]
    out["in_process_s"] = round(
        statistics.median([t for ts in local_walls.values() for t in ts]), 3
    )
    out["overhead_1_actor_pct"] = round(100 * (one / one_local - 1), 1)
    out["overhead_1_actor_ms_per_unit"] = round(1000 * (one - one_local) / len(units), 1)
    out["overhead_1_actor_cpu_pct"] = round(
        100 * (out["pool_1_actor_actor_cpu_s"] / out["pool_1_actor_in_process_cpu_s"] - 1), 1
    )
    out["speedup_per_cpu_pool"] = round(out["pool_per_cpu_in_process_s"] / out["pool_per_cpu_s"], 2)
    out["load_avg_before"] = load_before
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
