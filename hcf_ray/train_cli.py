"""``hcf-sim train ladder | shared | hcf | hyper | status | pcf``: the trainers' commands.

Registered on the ``hcf-sim`` sub-parsers by :func:`add_train_commands`; torch and the trainers
are imported only inside the command functions (``pcf``'s parser, whose defaults are its
recipe's, is added only when ``train`` is used).
"""

from __future__ import annotations

import argparse

from hcf_ray.cli_args import MODEL_SPECS, defer, model_spec, torch_device, weights_dir
from hcf_ray.errors import InputError, UserError


def add_train_commands(sub) -> argparse.ArgumentParser:
    """Register ``train`` and its sub-commands on the ``hcf-sim`` sub-parsers."""
    train = sub.add_parser("train", help="train the codec ladder or the HCF modules")
    tsub = train.add_subparsers(dest="what", required=True)
    tl = tsub.add_parser("ladder", help="train the base codec ladder (resumable)")
    tl.add_argument("--data", required=True, help="training image folder")
    tl.add_argument("--val", default=None, help="validation image folder")
    tl.add_argument("--workdir", required=True, help="checkpoints, state and logs (resumable)")
    tl.add_argument("--export", default=None, help="write the trained ladder here at the end")
    tl.add_argument("--export-only", action="store_true", help="only export the current state")
    tl.add_argument(
        "--init-from",
        default=None,
        help="continue from an exported ladder dir ('default': the shipped ladder)",
    )
    tl.add_argument(
        "--merge-from",
        action="append",
        metavar="WORKDIR",
        help="take over the levels a parallel --only-levels work dir trained (repeatable)",
    )
    tl.add_argument("--arch", default="mbt2018-mean")
    tl.add_argument("--N", type=int, default=64)
    tl.add_argument("--M", type=int, default=96)
    tl.add_argument("--levels", type=int, default=6)
    tl.add_argument("--anchor", type=int, default=4)
    tl.add_argument("--lr", type=float, default=1e-3)
    tl.add_argument("--base-iters", type=int, default=12000)
    tl.add_argument("--spread-iters", type=int, default=3000)
    tl.add_argument("--refine-iters", type=int, default=2000)
    tl.add_argument("--refine-crop", type=int, default=128)
    tl.add_argument(
        "--refine-rounds",
        type=int,
        default=100,
        help="rounds of the refine schedule over all levels (default 100; --max-hours also stops)",
    )
    tl.add_argument(
        "--refine-schedule",
        default=None,
        help="refine stages ITERS:CROP:BATCH:LR,... (e.g. 2400:192:4:2e-4,700:192:4:5e-5); "
        "overrides --refine-iters/--refine-crop",
    )
    tl.add_argument("--val-every", type=int, default=1000)
    tl.add_argument("--max-hours", type=float, default=None)
    tl.add_argument("--max-jobs", type=int, default=None)
    tl.add_argument(
        "--only-levels",
        default=None,
        help="comma list: train only these levels (run disjoint sets in parallel workdirs)",
    )
    _add_trainer_args(
        tl,
        "quantization proxy in training: additive noise (CompressAI's default) or 'ste', "
        "noise for the rate and straight-through rounding into g_s (a new work dir's recipe)",
    )
    tl.set_defaults(func=_cmd_train_ladder)

    ts = tsub.add_parser(
        "shared",
        help="train one network for all levels (per-level channel gains), export it folded "
        "into a standard ladder",
    )
    ts.add_argument("--data", required=True, help="training image folder")
    ts.add_argument("--val", default=None, help="validation image folder")
    ts.add_argument("--workdir", required=True, help="checkpoint, state and log (resumable)")
    ts.add_argument("--export", default=None, help="write the folded ladder here at the end")
    ts.add_argument(
        "--init-from", default="default", help="mbt2018-mean ladder to start from (default)"
    )
    ts.add_argument("--anchor", type=int, default=4, help="level whose network is shared")
    ts.add_argument("--iters", type=int, default=8000)
    ts.add_argument("--batch", type=int, default=6, help="crops per iteration, levels cycled")
    ts.add_argument("--crop", type=int, default=192, help="crop side, a multiple of 64")
    ts.add_argument("--lr", type=float, default=1e-4)
    ts.add_argument("--gain-lr", type=float, default=1e-3)
    ts.add_argument("--val-every", type=int, default=2000)
    ts.add_argument("--max-val-images", type=int, default=8)
    ts.add_argument("--max-hours", type=float, default=None)
    _add_trainer_args(ts)
    ts.set_defaults(func=_cmd_train_shared)

    th = tsub.add_parser("hcf", help="train φ modules (phase 1) and fine-tune decoders (phase 2)")
    th.add_argument(
        "--ladder",
        default="default",
        help=f"the ladder to train φ for, a {MODEL_SPECS}; --export then references it",
    )
    th.add_argument("--data", required=True, help="training image folder")
    th.add_argument("--workdir", required=True, help="cache, checkpoints, logs (resumable)")
    th.add_argument("--export", default=None, help="write phi.json/phi.pt and hcf/ overlay here")
    th.add_argument(
        "--init-phi",
        default=None,
        help="warm-start phase 1 from the φ modules in this dir ('default': the shipped ones); "
        "with --phase1-iters 0 they are kept as they are",
    )
    th.add_argument(
        "--init-overlay",
        default=None,
        help="start phase 2 from the HCF overlay in this dir ('default': the shipped one) "
        "instead of the base levels, to continue it",
    )
    th.add_argument("--phi-hidden", type=int, default=48, help="0 = paper width (M)")
    th.add_argument("--phi-res", type=int, default=4)
    th.add_argument("--attention", action="store_true", help="add the paper's attention blocks")
    th.add_argument("--cache-crops", type=int, default=3000)
    th.add_argument("--crop", type=int, default=128)
    th.add_argument("--phase1-iters", type=int, default=2500)
    th.add_argument("--phase1-batch", type=int, default=16)
    th.add_argument("--phase1-lr", type=float, default=1e-3)
    th.add_argument("--phase2-iters", type=int, default=1500)
    th.add_argument("--phase2-batch", type=int, default=8)
    th.add_argument("--phase2-lr", type=float, default=5e-5)
    th.add_argument("--skip-phase2", action="store_true")
    th.add_argument("--max-hours", type=float, default=None)
    _add_trainer_args(
        th,
        "phase-2 quantization proxy: additive noise or 'ste' (straight-through rounding "
        "into g_s, as the receiver decodes)",
    )
    th.set_defaults(func=_cmd_train_hcf)

    thy = tsub.add_parser(
        "hyper",
        help="fine-tune every level's entropy model (h_a, h_s, z prior) on whole-image "
        "latents, transforms frozen",
    )
    thy.add_argument(
        "--models",
        "--ladder",
        dest="models",
        default="default",
        help=f"the models to tune, a {MODEL_SPECS}",
    )
    thy.add_argument("--data", required=True, help="training image folder")
    thy.add_argument("--val", default=None, help="validation image folder")
    thy.add_argument("--workdir", required=True, help="latent cache, checkpoints, log (resumable)")
    thy.add_argument("--export", default=None, help="write the complete tuned model dir here")
    thy.add_argument("--iters", type=int, default=300, help="optimizer steps per level")
    thy.add_argument("--maps-per-iter", type=int, default=4, help="whole-image latents per step")
    thy.add_argument("--lr", type=float, default=1e-4, help="cosine-decayed to 0 per level")
    thy.add_argument("--no-flips", action="store_true", help="do not add mirrored photos")
    thy.add_argument("--no-overlay", action="store_true", help="base ladder only")
    thy.add_argument("--max-val-images", type=int, default=8)
    thy.add_argument("--max-hours", type=float, default=None)
    _add_trainer_args(thy)
    thy.set_defaults(func=_cmd_train_hyper)

    tst = tsub.add_parser(
        "status",
        help="where training work dirs stand: jobs done and next, hours, last validation",
    )
    tst.add_argument("workdirs", nargs="+", help="work dirs of any trainer")
    tst.add_argument("--json", action="store_true", help="one JSON object per work dir")
    tst.set_defaults(func=_cmd_train_status)

    defer(train, lambda _: _add_pcf(tsub))
    return train


def _add_pcf(tsub) -> None:
    from hcf_ray.pcf.cli import add_pcf_commands

    add_pcf_commands(tsub)


def _refine_stages(args: argparse.Namespace):
    """``--refine-schedule ITERS:CROP:BATCH:LR,...`` or the single default refine stage."""
    from hcf_ray.train.ladder import Stage

    if not args.refine_schedule:
        return [Stage(args.refine_iters, args.refine_crop, 8, args.lr / 5)]
    stages = []
    for item in args.refine_schedule.split(","):
        try:
            iters, crop, batch, lr = item.split(":")
            stage = Stage(int(iters), int(crop), int(batch), float(lr))
        except ValueError:
            raise UserError(
                f"--refine-schedule: expected ITERS:CROP:BATCH:LR[,...], got {item!r}"
            ) from None
        if min(stage.iters, stage.crop, stage.batch) <= 0 or stage.lr <= 0:
            raise UserError(f"--refine-schedule: {item!r} must be all positive")
        stages.append(stage)
    return stages


def _add_trainer_args(p: argparse.ArgumentParser, quant_help: str | None = None) -> None:
    """``--threads`` and ``--device`` of a trainer (and ``--quant`` with ``quant_help``)."""
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--device",
        default="cpu",
        help="where to train: cpu (default), cuda, cuda:N or auto; validation and entropy "
        "coding stay on the CPU",
    )
    if quant_help:
        p.add_argument("--quant", choices=("noise", "ste"), default="noise", help=quant_help)


def _cmd_train_ladder(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.train.ladder import LadderRecipe, LadderTrainer, Stage

    torch.set_num_threads(args.threads)
    try:
        recipe = LadderRecipe(
            arch=args.arch,
            N=args.N,
            M=args.M,
            levels=args.levels,
            anchor=args.anchor,
            val_every=args.val_every,
            base=[Stage(args.base_iters, 64, 16, args.lr)],
            spread=[Stage(args.spread_iters, 64, 16, args.lr / 2)],
            refine=_refine_stages(args),
            refine_rounds=args.refine_rounds,
            quant=args.quant,
        )
        trainer = LadderTrainer(
            args.workdir, args.data, args.val, recipe, device=torch_device(args)
        )
    except InputError as exc:
        raise UserError(f"train ladder: {exc}") from None
    if args.init_from:
        try:
            trainer.import_ladder(weights_dir(args.init_from))
        except (InputError, FileNotFoundError) as e:
            raise UserError(f"--init-from: {e}") from None
    for other in args.merge_from or []:
        try:
            levels = trainer.merge(other)
        except (OSError, InputError, KeyError) as e:
            raise UserError(f"--merge-from {other}: {e}") from None
        print(f"merged levels {levels} from {other}")
    if args.export_only:
        if not args.export:
            raise UserError("--export-only needs --export DIR")
        trainer.export(args.export)
        print(f"exported ladder to {args.export}")
        return 0
    only = None
    if args.only_levels:
        try:
            only = {int(v) for v in args.only_levels.split(",")}
        except ValueError:
            raise UserError(
                f"--only-levels: expected e.g. 1,2,3, got {args.only_levels!r}"
            ) from None
        if not only <= set(range(1, args.levels + 1)):
            raise UserError(f"--only-levels: levels must lie in 1..{args.levels}")
    trainer.run(max_hours=args.max_hours, max_jobs=args.max_jobs, only_levels=only)
    if args.export:
        trainer.export(args.export)
        print(f"exported ladder to {args.export}")
    return 0


def _load_ladder(spec: str, flag: str):
    """The base ladder of any model spec (``default``, a directory or bundle, ``zoo:``,
    ``random:``), for a trainer; zoo files are fetched / checked first (one-line errors)."""
    from hcf_ray.bundle import BundleSource

    model_spec(spec, flag)
    try:
        return BundleSource(spec).ladder()
    except (InputError, FileNotFoundError) as exc:
        raise UserError(f"{flag}: {exc}") from None


def _cmd_train_shared(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.train.shared import SharedRecipe, SharedTrainer

    torch.set_num_threads(args.threads)
    ladder = _load_ladder(args.init_from, "--init-from")
    try:
        recipe = SharedRecipe(
            anchor=args.anchor,
            iters=args.iters,
            batch=args.batch,
            crop=args.crop,
            lr=args.lr,
            gain_lr=args.gain_lr,
            val_every=args.val_every,
        )
    except InputError as exc:
        raise UserError(f"train shared: {exc}") from None
    try:
        trainer = SharedTrainer(
            args.workdir,
            args.data,
            ladder,
            args.val,
            recipe,
            max_val_images=args.max_val_images,
            device=torch_device(args),
        )
    except InputError as exc:
        raise UserError(f"train shared: {exc}") from None
    done = trainer.run(max_hours=args.max_hours)
    if args.export:
        trainer.export(args.export)
        print(f"exported the folded ladder to {args.export}")
    return 0 if done else 3


def _cmd_train_hcf(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.train.hcf import HCFRecipe, HCFTrainer

    torch.set_num_threads(args.threads)
    ladder = _load_ladder(args.ladder, "--ladder")
    try:
        recipe = HCFRecipe(
            phi_hidden=args.phi_hidden or None,
            phi_res=args.phi_res,
            phi_attention=args.attention,
            cache_crops=args.cache_crops,
            crop=args.crop,
            phase1_iters=args.phase1_iters,
            phase1_batch=args.phase1_batch,
            phase1_lr=args.phase1_lr,
            phase2_iters=args.phase2_iters,
            phase2_batch=args.phase2_batch,
            phase2_lr=args.phase2_lr,
            phase2_quant=args.quant,
        )
    except InputError as exc:
        raise UserError(f"train hcf: {exc}") from None
    init_phi, init_overlay = weights_dir(args.init_phi), weights_dir(args.init_overlay)
    try:
        trainer = HCFTrainer(
            ladder,
            args.workdir,
            args.data,
            recipe,
            init_phi=init_phi,
            device=torch_device(args),
            init_overlay=init_overlay,
        )
    except (InputError, FileNotFoundError) as exc:
        raise UserError(f"train hcf: {exc}") from None
    done = trainer.run(max_hours=args.max_hours, phase2=not args.skip_phase2)
    if args.export:
        try:
            trainer.export(args.export, ladder_spec=args.ladder)
        except InputError as exc:
            raise UserError(f"train hcf: --export: {exc}") from None
        print(
            f"exported φ modules{' and HCF overlay' if trainer.tuned else ''} and a reference "
            f"to the ladder {args.ladder!r} to {args.export}"
        )
    return 0 if done else 3


def _cmd_train_hyper(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from hcf_ray.bundle import load_bundle
    from hcf_ray.train.hyper import HyperRecipe, HyperTrainer

    torch.set_num_threads(args.threads)
    source = weights_dir(args.models)
    parsed = model_spec(source, "--models")
    try:
        bundle = load_bundle(source)
        recipe = HyperRecipe(
            iters=args.iters,
            maps_per_iter=args.maps_per_iter,
            lr=args.lr,
            flips=not args.no_flips,
            overlay=not args.no_overlay,
        )
        trainer = HyperTrainer(
            bundle,
            args.workdir,
            args.data,
            args.val,
            recipe,
            max_val_images=args.max_val_images,
            device=torch_device(args),
        )
    except (InputError, FileNotFoundError) as exc:
        raise UserError(f"train hyper: {exc}") from None
    done = trainer.run(max_hours=args.max_hours)
    if args.export:
        try:
            trainer.export(args.export, Path(source) if parsed.path is not None else None)
        except InputError as exc:
            raise UserError(f"train hyper: {exc}") from None
        print(
            f"exported the models with {len(trainer.state['done'])} tuned entropy models to {args.export}"
        )
    return 0 if done else 3


def _cmd_train_status(args: argparse.Namespace) -> int:
    import json

    from hcf_ray.train.status import workdir_status

    try:
        found = [workdir_status(d) for d in args.workdirs]
    except InputError as exc:
        raise UserError(f"train status: {exc}") from None
    for st in found:
        print(json.dumps(st.to_json()) if args.json else st.format())
    return 0
