"""``hcf-sim train pcf``: registered on the ``train`` sub-command by :func:`add_pcf_commands`."""

from __future__ import annotations

import argparse


def add_pcf_commands(train_subparsers) -> argparse.ArgumentParser:
    """Register ``pcf`` on the ``hcf-sim train`` sub-parsers; returns the new parser."""
    from hcf_ray.pcf.train import TailDropRecipe

    d = TailDropRecipe()
    tp = train_subparsers.add_parser(
        "pcf",
        help="train the tail-drop progressive baseline (pcf-tail; resumable)",
        description="Stochastic tail-drop training of a mean-scale hyperprior (ProgDTD-style). "
        "Rerun the same command to resume from --workdir.",
    )
    tp.add_argument("--data", required=True, help="training image folder")
    tp.add_argument("--val", default=None, help="validation image folder")
    tp.add_argument("--workdir", required=True, help="checkpoint, recipe and log (resumable)")
    tp.add_argument(
        "--warm-start",
        default=None,
        help="ladder checkpoint, or a ladder work dir (its highest level*.ckpt); first run only",
    )
    tp.add_argument("--export", default=None, help="write fp16 weights (pcf.json) here at the end")
    tp.add_argument("--export-only", action="store_true", help="only export the current state")
    tp.add_argument("--N", type=int, default=d.N)
    tp.add_argument("--M", type=int, default=d.M)
    tp.add_argument("--group-size", type=int, default=d.group_size, help="channels per chunk")
    tp.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"learning rate (default {d.lr}; overrides on resume)",
    )
    tp.add_argument("--crop", type=int, default=d.crop)
    tp.add_argument("--batch", type=int, default=d.batch)
    tp.add_argument("--lambda-mode", choices=("ladder", "single"), default=d.lambda_mode)
    tp.add_argument("--iters", type=int, default=d.iters, help="total iterations of the run")
    tp.add_argument("--max-iters", type=int, default=None, help="stop after this many more")
    tp.add_argument("--max-hours", type=float, default=None)
    tp.add_argument("--val-every", type=int, default=d.val_every)
    tp.add_argument("--threads", type=int, default=1)
    tp.set_defaults(func=cmd_train_pcf)
    return tp


def cmd_train_pcf(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.errors import InputError, UserError
    from hcf_ray.pcf.train import TailDropRecipe, TailDropTrainer

    torch.set_num_threads(args.threads)
    if args.export_only and not args.export:
        raise UserError("train pcf: --export-only needs --export DIR")
    try:
        recipe = TailDropRecipe(
            N=args.N,
            M=args.M,
            group_size=args.group_size,
            iters=args.iters,
            crop=args.crop,
            batch=args.batch,
            lambda_mode=args.lambda_mode,
            val_every=args.val_every,
            **({"lr": args.lr} if args.lr is not None else {}),
        )
        trainer = TailDropTrainer(args.workdir, args.data, args.val, recipe, args.warm_start)
        if not args.export_only:
            trainer.run(max_hours=args.max_hours, max_iters=args.max_iters, lr=args.lr)
        if args.export:
            trainer.export(args.export)
            print(f"exported pcf-tail model to {args.export}")
    except (InputError, FileNotFoundError) as exc:
        raise UserError(f"train pcf: {exc}") from None
    return 0
