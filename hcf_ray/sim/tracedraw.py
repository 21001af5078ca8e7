"""A sweep's traced links: ``links: {trace: {files: GLOB, format: …, offset_s: [a, b]}}``.

The glob (``*``, ``?``, ``[…]``, ``**`` for any depth) is resolved against the sweep file's
folder like its other paths; the files it matches are sorted by path, and a glob that
matches none is an error naming it. Every link of a network (generated, or read from a
file) draws, in link order, from a stream seeded by the sweep's and the network's names (so
the same sweep draws the same links), one of the files and an offset uniform in
``offset_s`` (rounded to the millisecond); with ``share`` < 1 a link is traced with that
probability only. The stream is apart from the one that draws the network's latencies and
places its flow, so adding ``links.trace`` to a sweep changes its links' capacities and
nothing else. A drawn file is read once per sweep
(:func:`hcf_ray.sim.net.traces.read_trace`); a bad one is an error naming the file and line.

Each draw is named by the file as the sweep spells it (the glob's folder as written, then
the file's path under it), its sha256 and the offset: the network's entry in the sweep's
summary lists its links' draws, and every record lists those on its route.
"""

from __future__ import annotations

import glob
import os
import random
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hcf_ray.sim.config import (
    MAX_OFFSET_S,
    ConfigError,
    CsvCell,
    FilePath,
    Num,
    StrictModel,
    TraceConfig,
    check_csv_fields,
)

MAX_TRACE_FILES = 10_000  # files one glob may match
FIELD = "links.trace.files"
Offset = Annotated[float, Field(strict=True, ge=0, le=MAX_OFFSET_S)]


class TraceDraw(StrictModel):
    """``links.trace`` of a sweep: each link's capacity drawn from trace files instead of a
    constant bandwidth (see the module doc). ``format`` and, for ``csv``, ``column``,
    ``step_s``, ``where`` apply to every file; ``loop`` as in a topology's ``trace``."""

    files: FilePath  # a glob, resolved against the sweep file's folder
    format: Literal["pensieve", "mahimahi", "csv"]
    offset_s: tuple[Offset, Offset] = (0.0, 0.0)
    loop: bool = Field(True, strict=True)
    column: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    step_s: Num | None = Field(None, gt=0, le=3_600_000.0)
    where: dict[Annotated[str, Field(min_length=1, max_length=200)], CsvCell] | None = None
    share: Num = Field(1.0, ge=0, le=1)  # probability that a link is traced

    @field_validator("offset_s")
    @classmethod
    def _ordered(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        if v[0] > v[1]:
            raise ValueError(f"range [{v[0]:g}, {v[1]:g}] is reversed (give [low, high])")
        return v

    @model_validator(mode="after")
    def _csv_fields(self) -> TraceDraw:
        return check_csv_fields(self)


class TraceDeck:
    """The files of a :class:`TraceDraw`, matched once, and the draws of links from them."""

    def __init__(self, spec: TraceDraw, as_written=lambda v: v):
        self.spec = spec
        pattern = spec.files
        self.files = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not self.files and not glob.has_magic(pattern) and os.path.isfile(pattern):
            self.files = [pattern]  # a name with glob characters that is a file as written
        if not self.files:
            what = "matches no file" if glob.has_magic(pattern) else "not found"
            raise ConfigError(f"{as_written(pattern)!r} {what}", FIELD)
        if len(self.files) > MAX_TRACE_FILES:
            raise ConfigError(f"more than {MAX_TRACE_FILES} files match; narrow the glob", FIELD)
        here, shown = _static_dir(pattern), _static_dir(as_written(pattern))
        self.names = {
            f: os.path.normpath(os.path.join(shown, os.path.relpath(f, here))) for f in self.files
        }
        self._sha: dict[str, str] = {}

    def link(self, rng: random.Random) -> tuple[TraceConfig, dict[str, Any]] | None:
        """One link's draw from ``rng``: its trace config and how records name it; None: the
        link is not traced (``share`` < 1)."""
        spec = self.spec
        if spec.share < 1.0 and rng.random() >= spec.share:
            return None
        path = self.files[rng.randrange(len(self.files))]
        lo, hi = spec.offset_s
        offset = round(rng.uniform(lo, hi), 3) if hi > lo else float(lo)
        trace = TraceConfig(
            file=path,
            format=spec.format,
            offset_s=offset,
            loop=spec.loop,
            column=spec.column,
            step_s=spec.step_s,
            where=spec.where,
        )
        return trace, {"file": self.names[path], "sha256": self.sha256(trace), "offset_s": offset}

    def sha256(self, trace: TraceConfig) -> str:
        """The file's sha256; reading it checks it (an error names the file and line)."""
        sha = self._sha.get(trace.file)
        if sha is None:
            from hcf_ray.sim.net.traces import TraceError, read_trace

            try:
                sha = read_trace(trace.file, trace.format, **trace.read_args()).sha256
            except TraceError as exc:
                msg = str(exc)
                if msg.startswith(trace.file):
                    msg = self.names[trace.file] + msg[len(trace.file) :]
                raise ConfigError(msg, FIELD) from None
            self._sha[trace.file] = sha
        return sha


def _static_dir(pattern: str) -> str:
    """The folder part of a glob before its first part with glob characters."""
    keep: list[str] = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        keep.append(part)
    return str(Path(*keep)) if keep else "."
