"""Scale: the 150-node, 10-flow topology on this machine, with memory per process.

    python benchmarks/scale.py [--config topologies/isp150.yaml] [--max-images 2]

Runs the topology through ``run_simulation`` (a pool of one actor per CPU) and prints one JSON
object: wall time (setup, codec work, event simulation), records, cache counters, and the
peak resident memory of the driver and of every actor, with their total. The goal on a
2-core, 24 GB laptop is under 6 GB in total.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="topologies/isp150.yaml")
    p.add_argument("--max-images", type=int, default=2)
    p.add_argument("--codec", default=None, help="override the YAML's codec")
    args = p.parse_args(argv)

    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.driver import RunOptions, run_simulation
    from hcf_ray.sim.pool import connect
    from hcf_ray.sim.scenario import build_scenario

    t0 = time.perf_counter()
    cfg = load_config(args.config)
    if args.codec:
        cfg = cfg.model_copy(update={"codec": args.codec})
    sc = build_scenario(cfg, max_images=args.max_images)
    t_plan = time.perf_counter() - t0
    connect()
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_simulation(sc, tmp, options=RunOptions(check_transport=False))
    wall = summary["wall"]
    actors = wall["placement"]["actors"]
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    actor_mb = {name: a.get("rss_peak_mb") for name, a in actors.items()}
    out = {
        "benchmark": "scale",
        "config": args.config,
        "nodes": len(sc.topology.nodes),
        "directed_links": sc.topology.graph.number_of_edges(),
        "flows": len(sc.flows),
        "images_per_flow": args.max_images,
        "records": summary["records"],
        "status": summary["status"],
        "plan_s": round(t_plan, 2),
        "wall_s": round(wall["wall_s"], 2),
        "setup_s": round(wall["setup_s"], 2),
        "codec_work_s": round(wall["codec_work_s"], 2),
        "event_simulation_s": round(wall["event_simulation_s"], 3),
        "cache": wall["cache"],
        "actors": len(actors),
        "rss_peak_mb": {
            "driver": round(driver_mb, 1),
            **{k: round(v, 1) for k, v in actor_mb.items() if v is not None},
        },
        "rss_peak_total_mb": round(driver_mb + sum(v for v in actor_mb.values() if v), 1),
        "goal_total_mb": 6144,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
