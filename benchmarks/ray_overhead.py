"""Ray overhead: the same cascades through the actor pool and in-process, side by side.

    python benchmarks/ray_overhead.py [--config topologies/mesh.yaml] [--max-images 2]

Every job of every unit (flow × method × image) is computed with no cache, once in this
process (a NodeWorker called directly, payloads as Python objects) and once through
CodecWork on a pool of 1 actor and of one actor per CPU. Each path first runs every unit
once untimed (models loaded, first-call costs paid), then ``--repeats`` timed passes; the
median is reported. Prints one JSON object with the wall times and the overhead of the
1-actor pool over in-process (goal: ≤ 10 % on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="topologies/mesh.yaml")
    p.add_argument("--max-images", type=int, default=2)
    p.add_argument("--codec", default=None)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    import statistics

    from hcf_ray.sim.actors import NodeWorker
    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.pipeline import ImageStore, bundle_hash, units_of
    from hcf_ray.sim.planner import ModelNeeds, node_needs
    from hcf_ray.sim.pool import connect
    from hcf_ray.sim.scenario import build_scenario
    from hcf_ray.sim.work.backend import PoolBackend
    from hcf_ray.sim.work.cache import CodecCache, file_sha256
    from hcf_ray.sim.work.codecwork import CodecWork, UnitRequest

    cfg = load_config(args.config)
    if args.codec:
        cfg = cfg.model_copy(update={"codec": args.codec})
    sc = build_scenario(cfg, max_images=args.max_images)
    units = units_of(sc)
    needs = ModelNeeds()
    for n in node_needs(list(sc.plans.values())).values():
        needs = needs | n

    from hcf_ray.images import load_image

    worker = NodeWorker("local", sc.codec.spec, sc.codec.phi_dir)
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

    in_process()  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        in_process()
        times.append(time.perf_counter() - t0)
    local_s = statistics.median(times)

    connect()
    out = {"benchmark": "ray_overhead", "config": args.config, "units": len(units)}
    out["in_process_s"] = round(local_s, 3)
    store = ImageStore()
    for label, size in (("pool_1_actor", 1), ("pool_per_cpu", None)):
        backend = PoolBackend(sc.codec.spec, sc.codec.phi_dir, 600.0, size)
        backend.prepare(node_needs(list(sc.plans.values())))
        work = CodecWork(backend, CodecCache(), bundle_hash(sc), store, 600.0, reuse=False)
        reqs = [
            UnitRequest(
                u.seq, sc.plan(u.flow, u.method), u.image, file_sha256(u.image), sc.transport
            )
            for u in units
        ]
        work.run(reqs, 8)  # warm-up: every actor loads its models
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            work.run(reqs, 8)
            times.append(time.perf_counter() - t0)
        out[f"{label}_s"] = round(statistics.median(times), 3)
        backend.close()
    out["overhead_1_actor_pct"] = round(100 * (out["pool_1_actor_s"] / local_s - 1), 1)
    out["speedup_per_cpu_pool"] = round(local_s / out["pool_per_cpu_s"], 2)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
