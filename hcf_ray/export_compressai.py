"""``hcf-sim export-compressai``: the base ladder of any model spec as CompressAI checkpoints.

:func:`export_compressai` writes ``OUT/level{k}.pth.tar`` for every level k = 1..s of the
spec's base ladder (what ``hcf-sim eval --methods ssf`` codes with), in the format of
:mod:`hcf_ray.codecs.export`; CompressAI reads each one with
``python -m compressai.utils.eval_model checkpoint IMAGES -a ARCH -p OUT/level{k}.pth.tar``.
The file format lives with the codecs; this module only adds the model specs (which the
codecs layer cannot import) and the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hcf_ray.errors import InputError, UserError

EVAL_MODEL = "python -m compressai.utils.eval_model"


def export_compressai(spec: str, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write one CompressAI checkpoint per level of ``spec``'s base ladder into ``out_dir``
    (created when missing) and return their paths. Nothing is written when a file exists and
    ``overwrite`` is off (an :class:`InputError`, like a bad spec)."""
    from hcf_ray.bundle import BundleSource
    from hcf_ray.codecs.export import check_writable, checkpoint_paths, write_checkpoint

    source = BundleSource(spec)  # a bad spec: one SpecError line, nothing loaded yet
    paths = checkpoint_paths(out_dir, source.levels)
    check_writable(paths, overwrite)
    for level, path in zip(source.levels, paths):
        write_checkpoint(source.level(level), path)
    return paths


def eval_model_command(arch: str, paths: list[Path], images: str = "IMAGES") -> str:
    """The command line that evaluates the written checkpoints with CompressAI."""
    return f"{EVAL_MODEL} checkpoint {images} -a {arch} -p " + " ".join(map(str, paths))


# -- command line -----------------------------------------------------------------------------
def add_export_command(subparsers) -> argparse.ArgumentParser:
    """Register ``hcf-sim export-compressai --models SPEC --out DIR [--overwrite]``."""
    p = subparsers.add_parser(
        "export-compressai",
        help="write the ladder's levels as checkpoints CompressAI's eval_model reads",
    )
    p.add_argument(
        "--models",
        default="default",
        help="the models: 'default', a model directory (or a bundle exported by train hcf), "
        "zoo:ARCH[@Q1-Q2] or random:ARCH[:N[:M[:LEVELS]]]",
    )
    p.add_argument("--out", required=True, help="folder for level1.pth.tar, level2.pth.tar, ...")
    p.add_argument("--overwrite", action="store_true", help="replace existing checkpoint files")
    p.set_defaults(func=_cmd_export)
    return p


def _cmd_export(args: argparse.Namespace) -> int:
    from hcf_ray.codecs.export import OutputError
    from hcf_ray.model_spec import SpecError, parse_spec

    try:
        arch = parse_spec(args.models).arch
    except SpecError as exc:
        raise UserError(f"--models: {exc}") from None
    try:
        paths = export_compressai(args.models, args.out, args.overwrite)
    except OutputError as exc:  # names the file
        raise UserError(str(exc)) from None
    except (InputError, FileNotFoundError) as exc:
        raise UserError(f"--models: {exc}") from None
    except (PermissionError, NotADirectoryError, FileExistsError) as exc:  # --out unusable
        raise UserError(f"--out: {exc}") from None
    for path in paths:
        print(f"wrote {path}")
    print(f"evaluate with: {eval_model_command(arch, paths)}")
    return 0
