"""Errors every layer may raise and the command line reports as one line, and the exit codes.

A leaf module: it imports nothing from the package, so any layer (and every sub-CLI) can use
it without a cycle.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

EXIT_RUNTIME = 1  # a run failed (or an internal error)
EXIT_BAD_INPUT = 2  # bad input: one line on stderr, no traceback


class UserError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


class InputError(ValueError):
    """The library's "bad input" (a file, a spec, an argument out of range): the command
    line turns it, and only it, into a :class:`UserError`. A plain ``ValueError`` from deep
    inside (a shape mismatch, a bad unpacking) is a bug, reported as an internal error.
    A ``ValueError`` so that callers that catch ``ValueError`` keep working."""


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; a file that is not JSON is an :class:`InputError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def read_manifest(folder: str | Path, name: str, what: str) -> Any:
    """``folder/name`` read as JSON; missing: ``FileNotFoundError`` naming it as ``what``."""
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {what} manifest")
    return read_json(path)


class RunError(Exception):
    """A run that failed (an actor died, a placement timed out): one line, exit code 1."""


def quiet_warnings() -> None:
    """Silence the third-party warnings a command-line user cannot act on."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
