"""Sweep throughput: networks per minute, cold cache against warm cache, side by side.

    python benchmarks/sweep_throughput.py [--networks 1000] [--images 2] [--raylets 1,2]
                                          [--traces]

Builds ``topologies/sweep.yaml``'s generators with enough seeds for ``--networks`` networks
(3 policies × 3 methods × ``--images`` images each). For each raylet count it starts a fresh
local Ray cluster in a child process, with the machine's CPUs split evenly between that many
raylets, runs the sweep once with an empty cache directory (cold) and once more over the same
directory (warm), and reports build time, wall time, networks per minute and cache counters
of both, and whether their records are identical. One JSON object is printed at the end, with
the throughput ratios of every raylet count against the first, and whether the records of
all cluster shapes are identical.

With ``--traces`` every cluster shape also runs the same networks with traced links: the
``links.trace`` of ``topologies/sweep_traced.yaml`` (each link's capacity drawn from the
shipped Pensieve traces in ``topologies/traces/pensieve/sweep/``, seeded) added to
``sweep.yaml``, cold and warm over a cache of its own. Each run then has a ``traced`` entry
shaped like its static one, and the JSON has ``networks_per_minute`` of both side by side
and ``traced_vs_static``, the traced figure over the static one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
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


def digest(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def start_ray(raylets: int):
    """A fresh local cluster of ``raylets`` raylets sharing this machine's CPUs."""
    from hcf_ray.sim.pool import connect

    cpus = os.cpu_count() or 1
    if raylets == 1:
        connect(num_cpus=cpus)
        return None
    from ray.cluster_utils import Cluster

    share = max(1, cpus // raylets)
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": share, "include_dashboard": False}
    )
    for _ in range(raylets - 1):
        cluster.add_node(num_cpus=share)
    cluster.wait_for_nodes()
    connect(cluster.address)
    return cluster


def traced_links() -> dict:
    """``links.trace`` of ``topologies/sweep_traced.yaml``, its glob made absolute (the
    benchmark's sweep file lives in a temporary folder)."""
    here = Path("topologies")
    trace = dict(yaml.safe_load((here / "sweep_traced.yaml").read_text())["links"]["trace"])
    trace["files"] = str((here / trace["files"]).resolve())
    return trace


def warm_up(data: dict, folder: Path) -> None:
    """Build one network of ``data`` untimed, so that the static and the traced figures
    both start with the package imported and the codec resolved."""
    from hcf_ray.sim.sweep import load_sweep

    folder.mkdir()
    cfg = folder / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({**data, "seeds": data["seeds"][:1]}))
    load_sweep(cfg)


def measure(data: dict, folder: Path) -> dict:
    """Build the sweep of ``data``, then run it cold and warm over one cache in ``folder``."""
    from hcf_ray.sim.sweep import load_sweep, run_sweep

    folder.mkdir()
    cfg = folder / "sweep.yaml"
    cfg.write_text(yaml.safe_dump(data))
    t0 = time.perf_counter()
    sweep = load_sweep(cfg)
    build_s = time.perf_counter() - t0
    out: dict = {"networks": len(sweep.networks), "worlds": len(sweep.worlds), "build_s": build_s}
    for name in ("cold", "warm"):
        t0 = time.perf_counter()
        s = run_sweep(sweep, folder / name, cache_dir=folder / "cache")
        wall = time.perf_counter() - t0
        out[name] = {
            "wall_s": round(wall, 2),
            "networks_per_minute_incl_build": round(len(sweep.networks) / (wall + build_s) * 60, 1),
            "codec_work_s": round(s["wall"]["codec_work_s"], 2),
            "event_simulation_s": round(s["wall"]["event_simulation_s"], 2),
            "records": s["records"],
            "error_records": s["failures"]["error_records"],
            "cache": s["wall"]["cache"],
        }
    cold = records(folder / "cold" / "sweep_results.jsonl")
    out["identical_records"] = cold == records(folder / "warm" / "sweep_results.jsonl")
    out["records_sha256"] = digest(cold)
    return out


def child(args) -> dict:
    import ray

    data = yaml.safe_load(Path("topologies/sweep.yaml").read_text())
    data["seeds"] = list(range(math.ceil(args.networks / len(data["generators"]))))
    data["flow"]["max_images"] = args.images
    if args.codec:
        data["codec"] = args.codec
    out: dict = {
        "raylets": args.raylets,
        "cpus_per_raylet": max(1, (os.cpu_count() or 1) // args.raylets),
    }
    cluster = start_ray(args.raylets)
    with tempfile.TemporaryDirectory() as tmp:
        if args.traces:  # imports and first-use caches paid before either is timed
            warm_up(data, Path(tmp) / "warm-up")
        out.update(measure(data, Path(tmp) / "static"))
        if args.traces:
            traced = {**data, "links": {**data["links"], "trace": traced_links()}}
            out["traced"] = measure(traced, Path(tmp) / "traced")
    ray.shutdown()
    if cluster is not None:
        cluster.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--codec", default=None, help="override sweep.yaml's codec")
    p.add_argument("--raylets", default="1,2", help="comma-separated raylet counts to compare")
    p.add_argument(
        "--traces",
        action="store_true",
        help="also run the networks with links drawn from the shipped traces (side by side)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.raylets = int(args.raylets)
        print("CHILD " + json.dumps(child(args)))
        return 0
    shapes = [int(x) for x in args.raylets.split(",")]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    runs = []
    for n in shapes:
        cmd = [sys.executable, __file__, "--child", "--raylets", str(n)]
        cmd += ["--networks", str(args.networks), "--images", str(args.images)]
        cmd += ["--codec", args.codec] if args.codec else []
        cmd += ["--traces"] if args.traces else []
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = [x for x in proc.stdout.splitlines() if x.startswith("CHILD ")]
        if proc.returncode or not line:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit(f"sweep on {n} raylet(s) failed (rc {proc.returncode})")
        runs.append(json.loads(line[-1][6:]))
    base = runs[0]
    out = {
        "benchmark": "sweep_throughput",
        "images": args.images,
        "networks": base["networks"],
        "worlds": base["worlds"],
        "runs": runs,
        "ratio_vs_first": {
            f"{r['raylets']}_raylets": {
                k: round(
                    r[k]["networks_per_minute_incl_build"]
                    / base[k]["networks_per_minute_incl_build"],
                    3,
                )
                for k in ("cold", "warm")
            }
            for r in runs
        },
        "identical_records_across_cluster_shapes": len({r["records_sha256"] for r in runs}) == 1,
    }
    if args.traces:
        out["networks_per_minute"] = {
            f"{r['raylets']}_raylets": {
                k: {
                    "static": r[k]["networks_per_minute_incl_build"],
                    "traced": r["traced"][k]["networks_per_minute_incl_build"],
                }
                for k in ("cold", "warm")
            }
            for r in runs
        }
        out["traced_vs_static"] = {
            f"{r['raylets']}_raylets": {
                k: round(
                    r["traced"][k]["networks_per_minute_incl_build"]
                    / r[k]["networks_per_minute_incl_build"],
                    3,
                )
                for k in ("cold", "warm")
            }
            for r in runs
        }
        out["identical_traced_records_across_cluster_shapes"] = (
            len({r["traced"]["records_sha256"] for r in runs}) == 1
        )
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
