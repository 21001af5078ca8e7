"""Sweep throughput: networks per minute, cold cache against warm cache, side by side.

    python benchmarks/sweep_throughput.py [--networks 1000] [--codec default] [--images 2]

Builds ``topologies/sweep.yaml``'s generators with enough seeds for ``--networks`` networks
(3 policies × 3 methods × ``--images`` images each), runs the sweep once with an empty cache
directory (cold) and once more over the same directory (warm), on the local Ray instance,
and prints one JSON object: build time, wall time, networks per minute and cache counters
of both, and whether their records are identical. (1 vs 2 raylets: not measured yet.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import yaml

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "wall"} for x in lines]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--codec", default=None, help="override sweep.yaml's codec")
    args = p.parse_args(argv)

    from hcf_ray.sim.pool import connect
    from hcf_ray.sim.sweep import load_sweep, run_sweep

    data = yaml.safe_load(Path("topologies/sweep.yaml").read_text())
    data["seeds"] = list(range(math.ceil(args.networks / len(data["generators"]))))
    data["flow"]["max_images"] = args.images
    if args.codec:
        data["codec"] = args.codec
    out: dict = {"benchmark": "sweep_throughput", "images": args.images}
    connect()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "sweep.yaml"
        cfg.write_text(yaml.safe_dump(data))
        t0 = time.perf_counter()
        sweep = load_sweep(cfg)
        build_s = time.perf_counter() - t0
        out.update(networks=len(sweep.networks), worlds=len(sweep.worlds), build_s=build_s)
        for name in ("cold", "warm"):
            t0 = time.perf_counter()
            s = run_sweep(sweep, Path(tmp) / name, cache_dir=Path(tmp) / "cache")
            wall = time.perf_counter() - t0
            out[name] = {
                "wall_s": round(wall, 2),
                "networks_per_minute_incl_build": round(
                    len(sweep.networks) / (wall + build_s) * 60, 1
                ),
                "codec_work_s": round(s["wall"]["codec_work_s"], 2),
                "event_simulation_s": round(s["wall"]["event_simulation_s"], 2),
                "records": s["records"],
                "cache": s["wall"]["cache"],
            }
        out["identical_records"] = records(Path(tmp) / "cold" / "sweep_results.jsonl") == records(
            Path(tmp) / "warm" / "sweep_results.jsonl"
        )
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
