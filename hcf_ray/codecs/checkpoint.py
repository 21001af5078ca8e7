"""Reading a model file a user handed us: a damaged or foreign file is bad input naming it."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from hcf_ray.errors import InputError


def read_state_dict(path: str | Path, map_location: str = "cpu") -> dict:
    """The state dict saved in ``path`` (``torch.save``, weights only). A file torch cannot
    read (truncated, not a checkpoint, not weights only) is an :class:`InputError` that names
    it; a missing file stays a ``FileNotFoundError``."""
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable checkpoint ({_first_line(exc)})") from None
    except pickle.UnpicklingError as exc:
        raise InputError(f"{path}: not a weights-only checkpoint ({_first_line(exc)})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
