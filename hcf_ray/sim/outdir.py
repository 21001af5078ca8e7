"""Output folders that never lose results.

A run or sweep writes into one folder (``--out``):

* a **new** folder, or an empty one, is used as it is;
* a folder that already holds results is refused unless ``resume`` or ``overwrite`` is asked:
  nothing that exists is ever truncated by accident;
* **resume** keeps every complete record already there and appends only the missing ones. A
  record is keyed by (network, flow, destination, image, method, policy), the policy as the
  config wrote it (``policy_spec``; records written before policies were named hold it as
  ``policy``) and, in a run of several policies, the record's ``world``. A torn last line
  (the process was killed while writing it) is detected and dropped;
* **overwrite** writes the new records to a staging file and replaces the old ones only when
  the new run has finished, so an interrupted overwrite leaves the old results intact.

What produced the results (``run.json``). A folder's ``run.json`` holds ``schema`` (the
version of ``run.json`` and of the records, :data:`SCHEMA`; every record carries it too as
``"schema"``), ``config_sha256`` (the parsed config, whose paths are absolute, and the
options that change records) and ``inputs``: ``{file: sha256}`` of every file the run reads
(the config file, ``graph.file``, policy and method files, every image sent, the codec's
files, the cost profiles; :mod:`hcf_ray.sim.inputs` lists them, named as the config spells
them). ``resume`` completes a folder only when all three match; otherwise it is refused with
one line that says why, naming the first changed file, and nothing in the folder changes:

* ``out/: input changed since these results: zoo/abilene.gml (sha256 differs); …``;
* a folder written with another schema, or by an older hcf-sim (``run.json`` without
  ``schema``), or without a readable ``run.json`` at all, cannot be completed: its records
  are not comparable with the new ones. ``--overwrite`` or another ``--out`` starts afresh.

Files named differently but with the same contents (the config given as ``./x.yaml`` rather
than ``x.yaml``, a run started from another folder) are the same inputs. A search's folder
(``hcf-sim search --resume``) follows the same rules. An overwrite removes ``run.json`` while
it swaps the old files for the new ones, so a crash in between leaves a folder that
``--resume`` refuses rather than one it would complete with the wrong records.

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
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hcf_ray.atomic import atomic_write_text

MANIFEST = "run.json"
# version of run.json and of the records (a folder whose run.json has no "schema" is version 1)
SCHEMA = 2
KEY_FIELDS = ("network", "flow", "destination", "image", "method", "policy")
SYNC_EVERY_S = 1.0  # longest stretch of appended records not yet fsync'd


class OutputError(ValueError):
    """The output folder cannot be used as asked (one line, names the folder)."""


def record_key(rec: dict) -> tuple:
    key = [rec.get(k) for k in KEY_FIELDS]
    key[-1] = rec.get("policy_spec", key[-1])  # older records: the spelling was "policy"
    if rec.get("world") is not None:  # a run of several policies: one world per policy
        key[-1] = (rec["world"], key[-1])
    return tuple(key)


def config_digest(config: Any) -> str:
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def manifest(digest: str, inputs: Mapping[str, str]) -> dict:
    """The ``run.json`` of results produced by a config of ``digest`` from ``inputs``."""
    return {"schema": SCHEMA, "config_sha256": digest, "inputs": dict(inputs)}


def identity_problem(
    folder: Path, digest: str, inputs: Mapping[str, str], same: str = "config"
) -> str | None:
    """Why the results in ``folder`` cannot be completed by a run of the config ``digest``
    reading ``inputs`` (one line naming the folder, see the module doc), or None. ``same``:
    what the digest covers, as the message names it."""
    from hcf_ray.sim.config import show

    again = "use --overwrite or another --out"
    try:
        old = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return (
            f"{folder}: holds results but no {MANIFEST}, so what produced them is unknown; {again}"
        )
    except (OSError, ValueError):
        old = None
    if not isinstance(old, dict):
        return f"{folder}: {MANIFEST} is unreadable, so what produced these results is unknown; {again}"
    schema = old.get("schema")
    if schema is None:
        return (
            f"{folder}: written by an older hcf-sim ({MANIFEST} has no schema; this version "
            f"writes schema {SCHEMA}); complete it with that version, or {again}"
        )
    if schema != SCHEMA or type(schema) is not int:
        return (
            f"{folder}: written with results schema {show(schema, 20)} (this hcf-sim writes "
            f"schema {SCHEMA}); complete it with the version that wrote it, or {again}"
        )
    if old.get("config_sha256") != digest:
        return (
            f"{folder} was produced by a different {same}; --resume needs the same {same} (or "
            "use --overwrite, or another --out)"
        )
    before = old.get("inputs")
    if not isinstance(before, dict):
        return f"{folder}: {MANIFEST} lists no inputs, so what produced these results is unknown; {again}"
    changed = changed_input(before, inputs)
    if changed is not None:
        return f"{folder}: input changed since these results: {changed}; {again}"
    return None


def changed_input(old: Mapping[str, Any], new: Mapping[str, str]) -> str | None:
    """The first input file that differs between ``old`` and ``new`` (``{file: sha256}``)
    and how, e.g. ``graph.gml (sha256 differs)``; None when they hold the same contents
    (files spelled differently but equal count as the same)."""
    from hcf_ray.sim.inputs import MISSING

    for name, sha in new.items():
        if name in old and old[name] != sha:
            return f"{_clip(name)} ({'missing' if sha == MISSING else 'sha256 differs'})"
    added = {k: v for k, v in new.items() if k not in old}
    gone = {k: v for k, v in old.items() if k not in new}
    if Counter(added.values()) == Counter(gone.values()):
        return None
    for k, v in added.items():
        if v not in gone.values():
            return f"{_clip(k)} (not an input of these results)"
    for k, v in gone.items():
        if v not in added.values():
            return f"{_clip(str(k))} (an input of these results, not of this run)"
    return f"{_clip(next(iter(added or gone)))} (inputs differ)"


def _clip(name: str, limit: int = 100) -> str:
    """A file name for a one-line message: printable, its tail kept when too long."""
    from hcf_ray.sim.config import one_line

    name = one_line(name)
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


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
        inputs: Mapping[str, str] | None = None,
    ):
        """``config``: what the records are a function of besides files (its digest is kept);
        ``inputs``: ``{file: sha256}`` of the files read (:mod:`hcf_ray.sim.inputs`)."""
        if resume and overwrite:
            raise OutputError("--resume and --overwrite exclude each other")
        self.path = Path(path)
        self.records_name = records_name
        self.final = self.path / records_name
        self.digest = config_digest(config)
        self.inputs = dict(inputs or {})
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
            problem = identity_problem(p, self.digest, self.inputs)
            if problem is not None:
                raise OutputError(problem)
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
            write_json_atomic(self.path / MANIFEST, manifest(self.digest, self.inputs))
        self._sink = RecordSink(target)
        return self

    def _staging(self) -> Path:
        return self.path / f".{self.records_name}.new"

    # -- writing -----------------------------------------------------------------------------
    def is_done(self, rec_or_key: dict | tuple) -> bool:
        key = rec_or_key if isinstance(rec_or_key, tuple) else record_key(rec_or_key)
        return key in self.done

    def append(self, records: Iterable[dict]) -> int:
        """Append the records not already present, each with ``"schema"``; returns how many
        were written."""
        assert self._sink is not None, "open() first"
        n = 0
        for rec in records:
            key = record_key(rec)
            if key in self.done:
                continue
            rec = {"schema": SCHEMA, **rec}
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
            # no run.json while old and new files are swapped: a crash in between leaves a
            # folder that --resume refuses rather than one it would complete wrongly
            (self.path / MANIFEST).unlink(missing_ok=True)
            for staged in sorted(self.path.glob(".*.new")):
                os.replace(staged, self.path / staged.name[1:-4])
            write_json_atomic(self.path / MANIFEST, manifest(self.digest, self.inputs))
