"""``hcf-sim calibrate``: measure every op of a model bundle into a cost profile (registered
by :func:`add_calibrate_command`; torch and the models are imported only when it runs)."""

from __future__ import annotations

import argparse

from hcf_ray.cli_args import MODEL_SPECS, model_spec, torch_device
from hcf_ray.errors import InputError, UserError


def add_calibrate_command(sub) -> argparse.ArgumentParser:
    """Register ``calibrate`` on the ``hcf-sim`` sub-parsers."""
    cal = sub.add_parser(
        "calibrate",
        help="measure every op of a model bundle (and the baselines) into a cost profile",
    )
    cal.add_argument("--models", default="default", help=f"the models, a {MODEL_SPECS}")
    cal.add_argument("--phi-dir", default=None, help="φ modules from this directory")
    cal.add_argument("--out", required=True, help="profile JSON to write")
    cal.add_argument(
        "--sizes",
        default=None,
        help="calibration sizes HEIGHTxWIDTH,... (at least 3; default "
        "256x256,512x384,768x512,1024x768)",
    )
    cal.add_argument("--runs", type=int, default=5, help="timed runs per op (median)")
    cal.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    cal.add_argument("--threads", type=int, default=1, help="torch threads")
    cal.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    cal.add_argument("--no-baselines", action="store_true", help="only the learned cascade's ops")
    cal.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    cal.set_defaults(func=_cmd_calibrate)
    return cal


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hcf_ray.calibrate import DEFAULT_SIZES, calibrate, format_table, parse_sizes, write_profile

    try:
        sizes = parse_sizes(args.sizes) if args.sizes else list(DEFAULT_SIZES)
    except InputError as exc:
        raise UserError(f"--sizes: {exc}") from None
    if min(args.runs, args.warmup, args.threads) < 1:
        raise UserError("--runs, --warmup and --threads must be at least 1")
    if Path(args.out).exists() and not args.overwrite:
        raise UserError(f"--out {args.out} already exists (pass --overwrite to replace it)")
    device = torch_device(args)
    model_spec(args.models, "--models")
    print(
        f"calibrating {args.models} on {device} ({args.threads} thread(s), "
        f"sizes {', '.join(f'{h}x{w}' for h, w in sizes)}, runs {args.runs})",
        flush=True,
    )
    try:
        profile = calibrate(
            args.models,
            phi_dir=args.phi_dir,
            sizes=sizes,
            runs=args.runs,
            warmup=args.warmup,
            threads=args.threads,
            device=device,
            baselines=not args.no_baselines,
            log=lambda msg: print(msg, flush=True),
        )
        path = write_profile(profile, args.out, overwrite=args.overwrite)
    except (InputError, FileNotFoundError, FileExistsError) as exc:
        raise UserError(f"calibrate: {exc}") from None
    print(format_table(profile, path))
    print(f"calibration took {profile['elapsed_s']:.0f} s")
    return 0
