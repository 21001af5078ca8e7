"""Ladder training-step throughput, side by side: quantization proxies × devices, one run.

    python benchmarks/train_step.py [--N 64 --M 96] [--batch 4 --crop 192] [--steps 20]
        [--threads 2] [--devices cpu,cuda]

One training step is what ``hcf-sim train ladder`` runs per iteration: forward, the
``λ·255²·MSE + bpp`` loss, backward, gradient clipping, the Adam step and the aux step. For
every (device, quant) pair the script times ``--steps`` steps after ``--warmup`` untimed ones
on random crops and prints one JSON object: seconds per step, pixels per second, and the
ratios against the first pair (CPU with noise). Devices torch cannot see are reported as
unavailable, not skipped silently. Use it to size a GPU run before borrowing a machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="mbt2018-mean")
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--M", type=int, default=96)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=192)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--devices", default="cpu,cuda")
    p.add_argument("--quants", default="noise,ste")
    args = p.parse_args(argv)

    import torch

    from hcf_ray.codecs.ladder import build_model
    from hcf_ray.train.ladder import optimizers

    torch.set_num_threads(args.threads)
    rows, unavailable = [], {}
    for dev in args.devices.split(","):
        if dev.startswith("cuda") and not torch.cuda.is_available():
            unavailable[dev] = "torch sees no CUDA device"
            continue
        device = torch.device(dev)
        for quant in args.quants.split(","):
            torch.manual_seed(0)
            model = build_model(args.arch, args.N, args.M).to(device).train()
            opt, aux_opt = optimizers(model, 1e-4, 1e-3)
            x = torch.rand(args.batch, 3, args.crop, args.crop, device=device)
            s = _seconds_per_step(model, opt, aux_opt, x, quant, args.steps, args.warmup)
            rows.append(
                {
                    "device": dev,
                    "quant": quant,
                    "s_per_step": s,
                    "pixels_per_s": args.batch * args.crop**2 / s,
                }
            )
    if rows:
        base = rows[0]["s_per_step"]
        for r in rows:
            r["speedup_vs_first"] = base / r["s_per_step"]
    out = {
        "model": {"arch": args.arch, "N": args.N, "M": args.M},
        "batch": args.batch,
        "crop": args.crop,
        "steps": args.steps,
        "threads": args.threads,
        "rows": rows,
        "unavailable": unavailable,
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


def _seconds_per_step(model, opt, aux_opt, x, quant, steps, warmup) -> float:
    """Mean wall time of the ladder trainer's own step (``hcf_ray.train.ladder.train_step``)."""
    import torch

    from hcf_ray.codecs.ladder import MSE_LAMBDAS
    from hcf_ray.train.ladder import train_step

    def sync():
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    for _ in range(warmup):
        train_step(model, opt, aux_opt, x, MSE_LAMBDAS[4], quant, 1.0)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, aux_opt, x, MSE_LAMBDAS[4], quant, 1.0)
    sync()
    return (time.perf_counter() - t0) / steps


if __name__ == "__main__":
    sys.exit(main())
