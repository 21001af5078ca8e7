"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The data goes to a temporary file in the target's own directory (a rename is only atomic
within one file system), is flushed to disk, and then replaces the target with
:func:`os.replace`. On any failure the temporary file is removed and the target is left as
it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, fsync: bool = True) -> Iterator[Path]:
    """A temporary path next to ``path``; whatever is written there replaces ``path`` when the
    ``with`` block ends without an exception (for writers that want a file name, such as
    matplotlib's ``savefig``). Missing parent directories are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path, fsync=False) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(
    path: str | Path, text: str, encoding: str = "utf-8", fsync: bool = True
) -> Path:
    """Write ``text`` to ``path`` atomically (``encoding``, default UTF-8); returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def _new_temp(path: Path) -> Path:
    """A new empty file ``.NAME.RANDOM.tmp`` beside ``path``, created with the permissions a
    plain ``open`` would give (0o666 less the umask; ``tempfile.mkstemp`` would make it
    private, and the rename would carry that over to the target)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
