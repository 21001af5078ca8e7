"""``hcf-sim report``: registered by :func:`add_report_command` on the main parser."""

from __future__ import annotations

import argparse


def add_report_command(subparsers) -> argparse.ArgumentParser:
    """Register ``hcf-sim report --images DIR --out DIR [--models …] [--quick] …``."""
    p = subparsers.add_parser(
        "report",
        help="the paper's analyses (Tables 1-4, Fig. 3, Fig. 6, RD curves) as report.md",
    )
    p.add_argument(
        "--images",
        required=True,
        action="append",
        help="image folder; repeat to get the BD table for several folders (the other "
        "analyses use the first)",
    )
    p.add_argument("--out", required=True, help="output folder for report.md, report.json, PNGs")
    p.add_argument(
        "--models",
        default="default",
        help="the models: 'default', a model directory (or a bundle exported by train hcf), "
        "zoo:ARCH[@Q1-Q2] or random:ARCH[:N[:M[:LEVELS]]]",
    )
    p.add_argument(
        "--quick", action="store_true", help="2 images, 512-px crops, no full-size timing"
    )
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument(
        "--crop", type=int, default=640, help="centre-crop every image to N×N px; 0 = full size"
    )
    p.add_argument(
        "--policy-crop",
        type=int,
        default=512,
        help="centre crop for the policy table (60 cascades per image); 0 = as --crop",
    )
    p.add_argument(
        "--policy-images", type=int, default=0, help="images in the policy table; 0 = all"
    )
    p.add_argument("--pcf-model", default="default", help="tail-drop model dir for pcf-tail")
    p.add_argument("--device", default=None, help="efficiency device (default: cuda if present)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_cmd_report)
    return p


def _cmd_report(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.analysis.report import ReportConfig, build_report
    from hcf_ray.demo_models import print_notice
    from hcf_ray.errors import InputError, UserError

    torch.set_num_threads(args.threads)
    if args.max_images is not None and args.max_images < 1:
        raise UserError("--max-images must be >= 1")
    if args.policy_images < 0:
        raise UserError("--policy-images must be >= 0 (0 = all)")
    for name in ("crop", "policy_crop"):
        v = getattr(args, name)
        if v is not None and v != 0 and v < 64:
            raise UserError(f"--{name.replace('_', '-')} must be 0 or >= 64 pixels")
    if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available")
    from hcf_ray.model_spec import SpecError, parse_spec

    try:
        parse_spec(args.models)
    except SpecError as exc:
        raise UserError(f"--models: {exc}") from None
    cfg = ReportConfig(
        image_dirs=args.images,
        out=args.out,
        models=args.models,
        quick=args.quick,
        max_images=args.max_images,
        crop=args.crop or None,
        policy_crop=args.policy_crop or None,
        policy_images=args.policy_images or None,
        tail_model=args.pcf_model,
        device=args.device,
    )
    try:
        res = build_report(cfg, progress=print)
    except (InputError, FileNotFoundError) as exc:
        raise UserError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    print(f"wrote {res.path} ({len(res.plots)} plots) in {sum(res.seconds.values()):.0f} s")
    print_notice(args.models)
    return 0
