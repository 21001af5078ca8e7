"""Ladder levels as CompressAI checkpoints, the files CompressAI's own tools read.

``python -m compressai.utils.eval_model checkpoint IMAGES -a ARCH -p FILE`` takes the
checkpoint's ``state_dict`` entry, builds the architecture's model with ``from_state_dict``
(the widths N, M are read off the weight shapes) and, unless ``--no-update`` is given,
rebuilds the entropy coder's tables with ``update(force=True)``. ``from_state_dict`` needs the
entropy models' table buffers (``_quantized_cdf``, ``_offset``, ``_cdf_length`` and the
Gaussian conditional's ``scale_table``) in the state dict. hcf-sim's own level files leave
them out, as data derived from the weights (:data:`hcf_ray.codecs.ladder._DERIVED`), so
CompressAI cannot read those; a checkpoint written here holds every entry of the model's
state dict, floating-point values in float32.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from hcf_ray.atomic import atomic_path
from hcf_ray.codecs.ladder import ARCHITECTURES
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.errors import InputError

SUFFIX = ".pth.tar"
FORMAT = "hcf-sim-compressai/1"


def checkpoint_name(level: int) -> str:
    """``level{k}.pth.tar``: eval_model names its results after the file name, less the
    suffix."""
    return f"level{int(level)}{SUFFIX}"


def checkpoint_paths(out_dir: str | Path, levels: Iterable[int]) -> list[Path]:
    return [Path(out_dir) / checkpoint_name(k) for k in levels]


class OutputError(InputError):
    """A checkpoint that cannot be written where asked (one line naming the path)."""


def check_writable(paths: Iterable[Path], overwrite: bool = False) -> None:
    """Refuse (one :class:`OutputError` line) when a file exists and ``overwrite`` is off, or
    when the folder is an existing file."""
    for path in paths:
        if path.parent.exists() and not path.parent.is_dir():
            raise OutputError(f"{path.parent} is a file, not a folder")
        if path.is_dir():
            raise OutputError(f"{path} is a folder")
        if path.exists() and not overwrite:
            raise OutputError(f"{path} already exists (pass --overwrite to replace it)")


def compressai_checkpoint(codec: LevelCodec) -> dict:
    """The checkpoint of one level: ``state_dict`` (what eval_model loads) and what the
    level is (``arch``: the ``-a`` to give eval_model; ``level``; ``lambda``)."""
    state = {}
    for key, value in codec.model.state_dict().items():
        value = value.detach().cpu()
        state[key] = (value.float() if value.is_floating_point() else value).clone()
    return {
        "format": FORMAT,
        "arch": codec.arch,
        "level": codec.level,
        "lambda": codec.lmbda,
        "state_dict": state,
    }


def check_checkpoint(checkpoint: dict) -> None:
    """Build the model the way eval_model does and compare every entry: a file that loads
    differently is an error here, not a surprise later."""
    arch = checkpoint["arch"]
    if arch not in ARCHITECTURES:
        raise InputError(f"level {checkpoint['level']}: no CompressAI architecture {arch!r}")
    state = checkpoint["state_dict"]
    rebuilt = ARCHITECTURES[arch].from_state_dict(state).state_dict()
    if set(rebuilt) != set(state) or any(not torch.equal(rebuilt[k], state[k]) for k in state):
        raise InputError(f"level {checkpoint['level']}: CompressAI rebuilds a different {arch}")


def write_checkpoint(codec: LevelCodec, path: str | Path) -> Path:
    """Write (through a temporary file and a rename) the checked checkpoint of ``codec``."""
    checkpoint = compressai_checkpoint(codec)
    check_checkpoint(checkpoint)
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)
