"""Node-actor start-up: CPU seconds a new actor spends before its first job can run, with
CompressAI imported lean (the default in hcf-sim's actors) and in full.

    python benchmarks/actor_start.py [--actors 3] [--codec random:mbt2018-mean]

One local Ray instance (one CPU). Lean and full actors are started one at a time, alternating
(lean, full, lean, full, …) so that both see the same machine; the full ones get
``HCF_SIM_FULL_IMPORTS=1`` through their ``runtime_env``. Each actor loads the models of one
level (``prepare``), which imports CompressAI, and is then measured: the user + system CPU
time of its process (psutil), so the figure does not depend on how busy the machine is.
Printed: per variant the median and every value, and the ratio lean / full of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--actors", type=int, default=3, help="actors per variant")
    p.add_argument("--codec", default="random:mbt2018-mean")
    p.add_argument("--level", type=int, default=2)
    args = p.parse_args()

    import psutil
    import ray

    from hcf_ray._lean_imports import OFF_ENV
    from hcf_ray.sim.actors import NodeActor
    from hcf_ray.sim.planner import ModelNeeds
    from hcf_ray.sim.pool import connect

    connect(num_cpus=1)
    needs = ModelNeeds(base=frozenset({args.level}), hcf=frozenset({args.level}))
    cpu: dict[str, list[float]] = {"lean": [], "full": []}
    lean_flags: dict[str, list[bool]] = {"lean": [], "full": []}
    for i in range(2 * args.actors):
        variant = ("lean", "full")[i % 2]
        options = {"runtime_env": {"env_vars": {OFF_ENV: "1"}}} if variant == "full" else {}
        actor = NodeActor.options(**options).remote(f"bench{i}", args.codec)
        info = ray.get(actor.prepare.remote(needs))
        times = psutil.Process(info["pid"]).cpu_times()
        cpu[variant].append(round(times.user + times.system, 3))
        lean_flags[variant].append(bool(info["compressai_lean"]))
        ray.kill(actor)
    ray.shutdown()
    medians = {k: statistics.median(v) for k, v in cpu.items()}
    doc = {
        "what": "CPU seconds of a node actor's process once it holds one level's models",
        "codec": args.codec,
        "actors_per_variant": args.actors,
        "lean_cpu_s": {"median": medians["lean"], "all": cpu["lean"]},
        "full_cpu_s": {"median": medians["full"], "all": cpu["full"]},
        "lean_over_full": round(medians["lean"] / medians["full"], 3),
        "imported_lean": lean_flags,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
