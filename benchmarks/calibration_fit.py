"""How well a cost profile predicts op times on image sizes it was not calibrated on.

    python benchmarks/calibration_fit.py [--profile PROFILE.json] [--sizes 384x640,896x640]
        [--ops analysis,encode[6],drf-jpeg:] [--runs 5] [--warmup 1]

Loads a profile (default: the shipped ``hcf_ray/data/profiles/cpu-default.json``), measures
each of its ops in isolation on held-out sizes with the calibration's own method
(:func:`hcf_ray.calibrate.measure_points`: same models, device, threads, input photos,
warm-up and median of ``--runs``) and prints ONE JSON object: per op and size the predicted
and measured seconds and the relative error ``|predicted - measured| / measured``, plus the
median and max relative error over all (op, size) pairs, and the same over the ops whose
measured time is at least 10 ms (sub-millisecond ops such as a PCF relay are dominated by
timer noise). ``--ops`` items select the ops equal to or starting with them. Sizes that are
among the calibration sizes are refused: the point is held-out data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="torch")

HELD_OUT = "384x640,896x640"
SIGNIFICANT_S = 0.010


def _summary(errors: list[float]) -> dict:
    if not errors:
        return {"n": 0, "median_rel_err": None, "max_rel_err": None}
    return {
        "n": len(errors),
        "median_rel_err": statistics.median(errors),
        "max_rel_err": max(errors),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default=None, help="profile JSON (default: the shipped one)")
    p.add_argument("--sizes", default=HELD_OUT, help=f"held-out HxW sizes (default {HELD_OUT})")
    p.add_argument("--ops", default=None, help="comma list of ops / op prefixes (default: all)")
    p.add_argument("--runs", type=int, default=None, help="default: the profile's runs")
    p.add_argument("--warmup", type=int, default=None, help="default: the profile's warm-up")
    args = p.parse_args(argv)

    from hcf_ray.bundle_id import bundle_sha256
    from hcf_ray.calibrate import measure_points, op_selector
    from hcf_ray.sim.net.costs import CostProfile, ProfileError, padded_pixels

    try:
        prof = CostProfile.load(args.profile) if args.profile else CostProfile.default()
    except ProfileError as exc:
        print(f"calibration_fit: {exc}", file=sys.stderr)
        return 2
    method, models, dev = prof.meta["method"], prof.meta["models"], prof.meta["device"]
    sizes = []
    for item in args.sizes.split(","):
        try:
            h, w = (int(v) for v in item.strip().lower().split("x"))
        except ValueError:
            print(f"calibration_fit: --sizes: bad size {item!r}", file=sys.stderr)
            return 2
        sizes.append((h, w))
    calibrated = {tuple(s) for s in method["sizes"]}
    if any(s in calibrated for s in sizes):
        print("calibration_fit: --sizes must not be calibration sizes", file=sys.stderr)
        return 2
    select = op_selector(args.ops.split(",") if args.ops else None)
    ops = [op for op in prof.ops if select(op)]
    if not ops:
        print("calibration_fit: --ops selects none of the profile's ops", file=sys.stderr)
        return 2
    runs = args.runs or method["runs"]
    warmup = args.warmup or method["warmup"]
    device = "cuda" if dev["kind"] == "cuda" else "cpu"
    same_models = bundle_sha256(models["spec"], models.get("phi_dir")) == models["bundle_sha256"]

    t0 = time.perf_counter()
    points, skipped, _ = measure_points(
        models["spec"],
        models.get("phi_dir"),
        sizes,
        runs=runs,
        warmup=warmup,
        threads=int(dev["threads"]),
        device=device,
        baselines=any(":" in op for op in ops),
        ops=ops,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    by_pixels = {padded_pixels(h, w): (h, w) for h, w in sizes}
    result_ops: dict[str, list] = {}
    errors, significant = [], []
    for op in ops:
        if op not in points:
            continue
        rows = []
        for pixels, measured in points[op]["seconds"]:
            h, w = by_pixels[pixels]
            predicted = prof.seconds(op, h, w)
            err = abs(predicted - measured) / measured if measured > 0 else None
            rows.append(
                {
                    "size": [h, w],
                    "predicted_s": predicted,
                    "measured_s": measured,
                    "rel_err": err,
                }
            )
            if err is not None:
                errors.append(err)
                if measured >= SIGNIFICANT_S:
                    significant.append(err)
        result_ops[op] = rows
    worst = max(
        ((op, r) for op, rows in result_ops.items() for r in rows if r["rel_err"] is not None),
        key=lambda t: t[1]["rel_err"],
        default=None,
    )
    out = {
        "profile": prof.path,
        "label": prof.label,
        "profile_sha256": prof.sha256,
        "models_match_profile": same_models,
        "calibration_sizes": method["sizes"],
        "held_out_sizes": [list(s) for s in sizes],
        "runs": runs,
        "warmup": warmup,
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "ops": result_ops,
        "not_measured": sorted(set(ops) - set(result_ops)),
        "skipped": skipped,
        "median_rel_err": _summary(errors)["median_rel_err"],
        "max_rel_err": _summary(errors)["max_rel_err"],
        "all": _summary(errors),
        f"measured >= {SIGNIFICANT_S * 1e3:g} ms": _summary(significant),
        "worst": None if worst is None else {"op": worst[0], **worst[1]},
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
