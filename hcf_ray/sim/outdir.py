"""Output folders that never lose results.

A run or sweep writes into one folder (``--out``):

* a **new** folder, or an empty one, is used as it is;
* a folder that already holds results is refused unless ``resume`` or ``overwrite`` is asked:
  nothing that exists is ever truncated by accident;
* **resume** keeps every complete record already there and appends only the missing ones. A
  record is keyed by (network, flow, destination, image, method, policy). A torn last line
  (the process was killed while writing it) is detected and dropped. The folder's
  ``run.json`` names the config it was produced with; resuming with another config is refused;
* **overwrite** writes the new records to a staging file and replaces the old ones only when
  the new run has finished, so an interrupted overwrite leaves the old results intact.

Records are appended one line per ``write`` on an ``O_APPEND`` descriptor, so a killed
process loses at most the line being written (the kernel keeps what was written). They are
fsync'd at most every :data:`SYNC_EVERY_S` seconds and when the file is closed: a crash of the
whole machine loses at most that last stretch of records, which ``--resume`` computes again.
(An fsync per record cost about 1 ms each, a third of a warm sweep's time.) JSON documents (``summary.json``) are written to
a temporary file and renamed over the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hcf_ray.atomic import atomic_write_text

MANIFEST = "run.json"
KEY_FIELDS = ("network", "flow", "destination", "image", "method", "policy")
SYNC_EVERY_S = 1.0  # longest stretch of appended records not yet fsync'd


class OutputError(ValueError):
    """The output folder cannot be used as asked (one line, names the folder)."""


def record_key(rec: dict) -> tuple:
    return tuple(rec.get(k) for k in KEY_FIELDS)


def config_digest(config: Any) -> str:
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dumps(obj: Any) -> str:
    """Strict JSON (no NaN/Infinity)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` through a temporary file and a rename."""
    text = json.dumps(obj, indent=2, default=str, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


def read_records(path: Path) -> tuple[list[dict], int]:
    """Complete records of a JSON-lines file and the byte length they span (a torn or
    unparsable tail is not counted)."""
    if not path.is_file():
        return [], 0
    data = path.read_bytes()
    records: list[dict] = []
    good = 0
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            break  # a torn last line: written without its newline
        try:
            records.append(json.loads(data[pos:end]))
        except ValueError:
            break
        pos = good = end + 1
    return records, good


class RecordSink:
    """Appends records one line at a time; fsync'd every :data:`SYNC_EVERY_S` and on close."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.written = 0
        self._synced = time.monotonic()

    def write(self, rec: dict) -> None:
        os.write(self._fd, (dumps(rec) + "\n").encode())
        self.written += 1
        if time.monotonic() - self._synced >= SYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)
        self._synced = time.monotonic()

    def write_all(self, records: Iterable[dict]) -> None:
        for rec in records:
            self.write(rec)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class OutputDir:
    """One run's (or sweep's) output folder; see the module doc for the rules."""

    def __init__(
        self,
        path: str | Path,
        records_name: str,
        config: Any,
        resume: bool = False,
        overwrite: bool = False,
    ):
        if resume and overwrite:
            raise OutputError("--resume and --overwrite exclude each other")
        self.path = Path(path)
        self.records_name = records_name
        self.final = self.path / records_name
        self.digest = config_digest(config)
        self.resume = resume
        self.overwrite = overwrite
        self.existing: list[dict] = []
        self.appended: list[dict] = []  # records this run wrote, in order
        self.done: set[tuple] = set()
        self._sink: RecordSink | None = None
        self._check()

    # -- opening -----------------------------------------------------------------------------
    def _check(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise OutputError(f"{p}: exists and is not a folder")
        busy = p.is_dir() and any(
            (p / n).exists() for n in (self.records_name, MANIFEST, "summary.json")
        )
        if busy and not (self.resume or self.overwrite):
            raise OutputError(
                f"{p} already holds results; use --resume to complete them or --overwrite to "
                "replace them"
            )
        if busy and self.resume:
            manifest = p / MANIFEST
            if manifest.is_file():
                try:
                    old = json.loads(manifest.read_text()).get("config_sha256")
                except ValueError:
                    old = None
                if old != self.digest:
                    raise OutputError(
                        f"{p} was produced by a different config; --resume needs the same "
                        "config (or use --overwrite, or another --out)"
                    )
            self.existing, _ = read_records(self.final)
            self.done = {record_key(r) for r in self.existing}

    def open(self) -> OutputDir:
        """Create the folder and the record file this run appends to."""
        self.path.mkdir(parents=True, exist_ok=True)
        if self.overwrite:
            staging = self._staging()
            staging.unlink(missing_ok=True)
            target = staging
        else:
            target = self.final
            if self.resume and target.is_file():
                _, good = read_records(target)
                if good != target.stat().st_size:
                    with target.open("r+b") as fh:  # drop the torn tail, keep every record
                        fh.truncate(good)
                        os.fsync(fh.fileno())
            write_json_atomic(self.path / MANIFEST, {"config_sha256": self.digest})
        self._sink = RecordSink(target)
        return self

    def _staging(self) -> Path:
        return self.path / f".{self.records_name}.new"

    # -- writing -----------------------------------------------------------------------------
    def is_done(self, rec_or_key: dict | tuple) -> bool:
        key = rec_or_key if isinstance(rec_or_key, tuple) else record_key(rec_or_key)
        return key in self.done

    def append(self, records: Iterable[dict]) -> int:
        """Append the records not already present; returns how many were written."""
        assert self._sink is not None, "open() first"
        n = 0
        for rec in records:
            key = record_key(rec)
            if key in self.done:
                continue
            self._sink.write(rec)
            self.appended.append(rec)
            self.done.add(key)
            n += 1
        return n

    def all_records(self) -> list[dict]:
        """Every record of this folder (what a finished run leaves): the ones kept by
        ``resume``, then the ones this run appended."""
        return [*self.existing, *self.appended]

    def write_json(self, name: str, obj: Any) -> None:
        if self.overwrite:  # published with the records in finish()
            write_json_atomic(self.path / f".{name}.new", obj)
        else:
            write_json_atomic(self.path / name, obj)

    def finish(self) -> None:
        """Close the record file; an overwrite now replaces the old results."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self.overwrite:
            for staged in sorted(self.path.glob(".*.new")):
                os.replace(staged, self.path / staged.name[1:-4])
            write_json_atomic(self.path / MANIFEST, {"config_sha256": self.digest})
