"""Where a result came from: the source tree's git commit (``summary.json``'s provenance).

A leaf module (it imports nothing from the package), so the report and the run pipeline can
both use it without importing each other.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit() -> str | None:
    """The commit the package's source tree is checked out at; None outside a git tree."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
