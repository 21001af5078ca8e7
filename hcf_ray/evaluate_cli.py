"""``hcf-sim eval`` (RD curves of the methods on an image folder) and ``hcf-sim bd`` (BD
tables from saved results): registered by :func:`add_eval_commands`, torch imported only when
``eval`` runs."""

from __future__ import annotations

import argparse

from hcf_ray.cli_args import MODEL_SPECS, model_spec
from hcf_ray.demo_models import print_notice
from hcf_ray.errors import InputError, UserError


def add_eval_commands(sub) -> None:
    """Register ``eval`` and ``bd`` on the ``hcf-sim`` sub-parsers."""
    ev = sub.add_parser("eval", help="RD curves of SSF / HCF / DRF on an image folder")
    ev.add_argument("--images", required=True, help="image folder")
    ev.add_argument("--models", default="default", help=f"the models, a {MODEL_SPECS}")
    ev.add_argument(
        "--methods",
        default="ssf,hcf,hcf-late,drf,drf-nq2",
        help="comma list of ssf, hcf, hcf-late, drf, drf-nq2, pcf-tail, pcf-j2k, drf-jpeg, "
        "drf-webp",
    )
    ev.add_argument("--pcf-model", default="default", help="tail-drop model dir for pcf-tail")
    ev.add_argument("--max-images", type=int, default=None)
    ev.add_argument("--source-level", type=int, default=None)
    ev.add_argument(
        "--n-q",
        type=int,
        default=None,
        help="quantizations of every policy-driven method (default: each method's own: 2 for "
        "hcf, every level drop for drf and the baselines)",
    )
    ev.add_argument("--out", default=None, help="write CompressAI-style JSON per method here")
    ev.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads; 1 reproduces the simulator's node actors (one thread each) bit "
        "for bit, as some float kernels depend on the thread count",
    )
    ev.set_defaults(func=_cmd_eval)

    bd = sub.add_parser("bd", help="BD tables from saved eval results (one or more --out dirs)")
    bd.add_argument("results", nargs="+", help="folders written by hcf-sim eval --out")
    bd.add_argument("--out", default=None, help="write the BD rows as JSON to this file")
    bd.set_defaults(func=_cmd_bd)


def _cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.bundle import load_bundle
    from hcf_ray.evaluate import bd_table, evaluate, format_tables, reference_rows, write_results
    from hcf_ray.images import image_files

    torch.set_num_threads(args.threads)
    model_spec(args.models, "--models")
    try:
        files = image_files(args.images)[: args.max_images]
        bundle = load_bundle(args.models)
    except (InputError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        curves = evaluate(
            bundle,
            files,
            methods,
            args.source_level,
            progress=print,
            tail_model=args.pcf_model,
            n_q=args.n_q,
        )
    except InputError as exc:
        raise UserError(str(exc)) from None
    bd = bd_table(curves) + reference_rows(curves)
    print_notice(args.models)
    print(format_tables(curves, bd))
    if args.out:
        write_results(curves, bd, args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_bd(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hcf_ray.evaluate import bd_table, format_tables, load_results, reference_rows

    try:
        curves = load_results(args.results)
    except (InputError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    bd = bd_table(curves) + reference_rows(curves)
    print(format_tables(curves, bd))
    if args.out:
        Path(args.out).write_text(json.dumps(bd, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0
