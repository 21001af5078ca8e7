"""Bitstream vs latent transport, side by side in one Ray session (same actors, same images).

    python benchmarks/transport.py [--config topologies/mesh.yaml] [--max-images 4]
        [--codec random:mbt2018-mean] [--address auto]

Prints one JSON object: per transport the wall time per image (a unit = one flow × method ×
image through the node actors), the mean measured compute per destination record, mean bpp
and link bytes; then the bpp difference (latent − bitstream, the entropy estimate's error)
and whether every destination's reconstruction is identical between the two transports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="topologies/mesh.yaml")
    p.add_argument("--max-images", type=int, default=4)
    p.add_argument("--codec", default=None, help="override the YAML's codec")
    p.add_argument("--address", default=None)
    args = p.parse_args(argv)

    import ray

    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.driver import RunOptions, run_simulation
    from hcf_ray.sim.planner import node_needs
    from hcf_ray.sim.pool import connect
    from hcf_ray.sim.scenario import build_scenario
    from hcf_ray.sim.work.backend import PoolBackend

    cfg = load_config(args.config)
    if args.codec:
        cfg = cfg.model_copy(update={"codec": args.codec})
    started = connect(args.address)
    results: dict[str, dict] = {}
    records: dict[str, list[dict]] = {}
    try:
        first = build_scenario(cfg, max_images=args.max_images)
        actors = PoolBackend(first.codec.spec, first.codec.phi_dir, 600.0)
        try:
            actors.prepare(node_needs(list(first.plans.values())))  # load models untimed
            for transport in ("bitstream", "latent"):
                sc = build_scenario(cfg, max_images=args.max_images, transport=transport)
                units = sum(len(f.images) * len(f.methods) for f in sc.flows)
                with tempfile.TemporaryDirectory() as tmp:
                    opts = RunOptions(check_transport=False, warmup=True)
                    t0 = time.perf_counter()
                    run_simulation(sc, tmp, backend=actors, options=opts)
                    wall = time.perf_counter() - t0
                    recs = [
                        json.loads(line)
                        for line in (Path(tmp) / "results.jsonl").read_text().splitlines()
                    ]
                records[transport] = recs
                results[transport] = {
                    "units": units,
                    "wall_s": wall,
                    "s_per_image": wall / units,
                    "compute_s_per_record": statistics.fmean(r["compute_s"] for r in recs),
                    "bpp": statistics.fmean(r["bpp"] for r in recs),
                    "total_bytes_per_record": statistics.fmean(r["total_bytes"] for r in recs),
                }
        finally:
            actors.close()
    finally:
        if started:
            ray.shutdown()
    key = lambda r: (r["flow"], r["destination"], r["image"], r["method"])  # noqa: E731
    real = {key(r): r for r in records["bitstream"]}
    est = {key(r): r for r in records["latent"]}
    deltas = [est[k]["bpp"] - real[k]["bpp"] for k in real]
    rel = [100 * (est[k]["bpp"] / real[k]["bpp"] - 1) for k in real if real[k]["bpp"]]
    out = {
        "config": args.config,
        "codec": first.codec.spec,
        "images_per_flow": args.max_images,
        "bitstream": results["bitstream"],
        "latent": results["latent"],
        "latent_minus_bitstream_bpp": {
            "mean": statistics.fmean(deltas),
            "mean_pct": statistics.fmean(rel) if rel else None,
            "max_abs": max(abs(d) for d in deltas),
        },
        "speedup_per_image": results["bitstream"]["s_per_image"] / results["latent"]["s_per_image"],
        "same_reconstructions": all(
            est[k]["recon_sha256"] == real[k]["recon_sha256"] for k in real
        ),
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
