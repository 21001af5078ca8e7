"""``hcf-sim`` command line: a thin layer over the library.

Exit codes: 0 success, 1 runtime failure, 2 bad input (config, files, arguments).
"""

from __future__ import annotations

import argparse
import sys

from hcf_ray.demo_models import print_notice

# one class whether this module runs as ``python -m hcf_ray.cli`` or is imported
from hcf_ray.errors import (
    EXIT_BAD_INPUT,
    EXIT_RUNTIME,
    InputError,
    RunError,
    UserError,
    quiet_warnings,
)
from hcf_ray.policy.cli import add_check_policy_command
from hcf_ray.sim.cli import add_sim_commands


# -- train ------------------------------------------------------------------------------
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


def _device(args: argparse.Namespace) -> str:
    """``--device``: ``auto`` is CUDA when torch sees a GPU, else the CPU."""
    import torch

    if args.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise UserError(
            f"--device: expected cpu, cuda, cuda:N or auto, got {args.device!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: torch sees no CUDA device on this machine")
    return str(device)


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
        trainer = LadderTrainer(args.workdir, args.data, args.val, recipe, device=_device(args))
    except InputError as exc:
        raise UserError(f"train ladder: {exc}") from None
    if args.init_from:
        try:
            trainer.import_ladder(_weights_dir(args.init_from))
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


def _weights_dir(spec: str | None) -> str | None:
    """A trainer's ``--init-*`` directory: ``default`` names the shipped weights."""
    if spec != "default":
        return spec
    from hcf_ray.bundle import default_weights_dir

    return str(default_weights_dir())


def _model_spec(spec: str, flag: str):
    """``spec`` parsed (:mod:`hcf_ray.model_spec`), or a one-line UserError naming ``flag``."""
    from hcf_ray.model_spec import SpecError, parse_spec

    try:
        return parse_spec(spec)
    except SpecError as exc:
        raise UserError(f"{flag}: {exc}") from None


MODEL_SPECS = (
    "model spec: 'default', a model directory (or a bundle exported by train hcf), "
    "zoo:ARCH[@Q1-Q2] (CompressAI pretrained, from torch hub's cache) or "
    "random:ARCH[:N[:M[:LEVELS]]]"
)


def _load_ladder(spec: str, flag: str):
    """The base ladder of any model spec (``default``, a directory or bundle, ``zoo:``,
    ``random:``), for a trainer; zoo files are fetched / checked first (one-line errors)."""
    from hcf_ray.bundle import BundleSource

    _model_spec(spec, flag)
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
            device=_device(args),
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
    init_phi, init_overlay = _weights_dir(args.init_phi), _weights_dir(args.init_overlay)
    try:
        trainer = HCFTrainer(
            ladder,
            args.workdir,
            args.data,
            recipe,
            init_phi=init_phi,
            device=_device(args),
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
    source = _weights_dir(args.models)
    parsed = _model_spec(source, "--models")
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
            device=_device(args),
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


def _cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from hcf_ray.bundle import load_bundle
    from hcf_ray.evaluate import bd_table, evaluate, format_tables, reference_rows, write_results
    from hcf_ray.images import image_files

    torch.set_num_threads(args.threads)
    _model_spec(args.models, "--models")
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
    device = _device(args)
    _model_spec(args.models, "--models")
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hcf-sim", description=__doc__.splitlines()[0])
    p.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of an error as well (bad input is otherwise one line)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    add_check_policy_command(sub)

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

    from hcf_ray.pcf.cli import add_pcf_commands

    add_pcf_commands(tsub)
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
    add_sim_commands(sub)

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

    from hcf_ray.analysis.cli import add_report_command

    add_report_command(sub)
    from hcf_ray.export_compressai import add_export_command

    add_export_command(sub)
    return p


def _error_line(exc: BaseException, prefix: str = "hcf-sim: error: ", suffix: str = "") -> str:
    """One printable line of at most MAX_LINE characters (plus the length of the config
    file's name when the message starts with it: a file name is never cut)."""
    from hcf_ray.sim.config import MAX_LINE, one_line

    text = one_line(str(exc))
    cause = exc.__cause__ or exc.__context__
    source = one_line(getattr(cause, "source", "") or "")
    extra = len(source) if source and text.startswith(source) else 0
    return one_line(prefix + text, MAX_LINE + extra - len(suffix)) + suffix


def _print_traceback(exc: BaseException) -> None:
    """--debug: the tracebacks of ``exc`` and of what it was raised from (also when raised
    ``from None``), the user's own code (a policy file) first."""
    import traceback

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain and len(chain) < 20:
        chain.append(e)
        e = getattr(e, "original", None) or e.__cause__ or e.__context__
    for e in reversed(chain):
        traceback.print_exception(type(e), e, e.__traceback__, chain=False, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 success, 1 runtime failure (or an internal error), 2 bad input with one
    line on stderr and no traceback. ``--debug`` (anywhere on the line) prints the
    traceback as well."""
    quiet_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if debug:
            _print_traceback(exc)
        print(_error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunError as exc:
        if debug:
            _print_traceback(exc)
        print(_error_line(exc), file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print("hcf-sim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: one line, the traceback with --debug
        if debug:
            _print_traceback(exc)
        print(
            _error_line(
                exc,
                f"hcf-sim: internal error: {type(exc).__name__}: ",
                "" if debug else " (--debug shows the traceback)",
            ),
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
