"""Errors every layer may raise and the command line reports as one line, and the exit codes.

A leaf module: it imports nothing from the package, so any layer (and every sub-CLI) can use
it without a cycle.
"""

from __future__ import annotations

import os
import warnings

EXIT_RUNTIME = 1  # a run failed (or an internal error)
EXIT_BAD_INPUT = 2  # bad input: one line on stderr, no traceback


class UserError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


class RunError(Exception):
    """A run that failed (an actor died, a placement timed out): one line, exit code 1."""


def quiet_warnings() -> None:
    """Silence the third-party warnings a command-line user cannot act on."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
