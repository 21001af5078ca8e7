"""Topology Zoo sweep: every network of a folder swept with latent transport, networks per minute.

    python benchmarks/zoo_sweep.py [--folder tests/data/topologyzoo/gml] [--sample N]
                                   [--images 1] [--codec SPEC]

Runs ``topologies/zoo_sweep.yaml`` with its ``graphs.files`` pointed at ``--folder``'s
``*.gml`` files (``--sample N``: N of them, drawn with seed 0; default: all) and ``transport:
latent``; networks with no eligible destination are skipped and listed. In a child process it
starts a fresh local Ray cluster on this machine's CPUs, builds the sweep (every file imported
once, placement, planning: ``build_s``), runs it once with an empty cache directory (cold) and
once more over the same directory (warm), and prints one JSON object: networks, worlds, build
time, wall time and networks per minute (with the build time) of both runs, and whether their
records are identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
ROOT = Path(__file__).resolve().parent.parent


def records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "wall"} for x in lines]


def digest(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def sweep_config(args) -> dict:
    data = yaml.safe_load((ROOT / "topologies" / "zoo_sweep.yaml").read_text())
    data["transport"] = "latent"
    data["seeds"] = [0]
    data["graphs"]["files"] = [str(Path(args.folder).resolve() / "*.gml")]
    # a few Zoo networks have no two routers joined through routers (JanetExternal): skipped
    data["graphs"]["unplaceable"] = "skip"
    if args.sample:
        data["graphs"]["sample"] = args.sample
    data["flow"]["max_images"] = args.images
    if args.codec:
        data["codec"] = args.codec
    return data


def child(args) -> dict:
    import ray

    from hcf_ray.sim.pool import connect
    from hcf_ray.sim.sweep import load_sweep, run_sweep

    connect(num_cpus=os.cpu_count() or 1)
    out: dict = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "sweep.yaml"
        cfg.write_text(yaml.safe_dump(sweep_config(args)))
        t0 = time.perf_counter()
        sweep = load_sweep(cfg)
        build_s = time.perf_counter() - t0
        out.update(
            files=len(sweep.graph_files),
            networks=len(sweep.networks),
            worlds=len(sweep.worlds),
            nodes=sum(n["nodes"] for n in sweep.networks),
            networks_skipped=[n["graph"] for n in sweep.networks if n["source"] is None],
            worlds_skipped=sum(n["skipped"] for n in sweep.networks),
            build_s=round(build_s, 2),
        )
        for name in ("cold", "warm"):
            t0 = time.perf_counter()
            s = run_sweep(sweep, Path(tmp) / name, cache_dir=Path(tmp) / "cache")
            wall = time.perf_counter() - t0
            out[name] = {
                "wall_s": round(wall, 2),
                "networks_per_minute": round(len(sweep.networks) / wall * 60, 1),
                "networks_per_minute_incl_build": round(
                    len(sweep.networks) / (wall + build_s) * 60, 1
                ),
                "codec_work_s": round(s["wall"]["codec_work_s"], 2),
                "event_simulation_s": round(s["wall"]["event_simulation_s"], 2),
                "records": s["records"],
                "error_records": s["failures"]["error_records"],
            }
        cold = records(Path(tmp) / "cold" / "sweep_results.jsonl")
        out["identical_records"] = cold == records(Path(tmp) / "warm" / "sweep_results.jsonl")
        out["records_sha256"] = digest(cold)
    ray.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default=str(ROOT / "tests" / "data" / "topologyzoo" / "gml"))
    p.add_argument("--sample", type=int, default=None, help="files drawn (default: all)")
    p.add_argument("--images", type=int, default=1)
    p.add_argument("--codec", default=None, help="override zoo_sweep.yaml's codec")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("CHILD " + json.dumps(child(args)))
        return 0
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, __file__, "--child", "--folder", args.folder]
    cmd += ["--images", str(args.images)]
    cmd += ["--sample", str(args.sample)] if args.sample else []
    cmd += ["--codec", args.codec] if args.codec else []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [x for x in proc.stdout.splitlines() if x.startswith("CHILD ")]
    if proc.returncode or not line:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"zoo sweep failed (rc {proc.returncode})")
    run = json.loads(line[-1][6:])
    out = {
        "benchmark": "zoo_sweep",
        "folder": args.folder,
        "transport": "latent",
        "images": args.images,
        "codec": args.codec or sweep_config(args)["codec"],
        **run,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
