"""Where a training work dir stands (``hcf-sim train status``), read from its files alone.

Long runs live in work dirs across sessions and machines; this answers "what is done, what
is next, how long did it take, what did it last measure" without starting a trainer (no
images are loaded, no model is built). Every trainer writes the same ``state.json`` block
(:mod:`hcf_ray.train.base`): its kind, progress, phase, time, detail lines, last validation
and the name of its JSON-lines log; nothing here knows a trainer's own layout.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hcf_ray.errors import InputError
from hcf_ray.train.resume import LOG, STATE, STATE_FORMAT, read_log


@dataclass
class WorkdirStatus:
    path: str
    kind: str  # "ladder", "hcf", "shared", "hyper" or "pcf-tail"
    hours: float | None
    done: int  # finished units (jobs, transitions + levels, iterations)
    total: int
    unit: str  # what done/total count
    lines: list[str] = field(default_factory=list)  # human-readable details
    last: dict | None = None  # the log's last record
    validation: dict[str, dict] = field(default_factory=dict)  # level -> {bpp, psnr, ...}
    phase: str | None = None  # what the trainer was doing ("finished" once done)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def to_json(self) -> dict:
        return {**asdict(self), "finished": self.finished}

    def format(self) -> str:
        hours = "" if self.hours is None else f", {self.hours:.2f} h"
        state = "finished" if self.finished else f"{self.done} of {self.total} {self.unit}"
        out = [f"{self.path}: {self.kind} trainer, {state}{hours}"]
        if self.phase is not None and not self.finished:
            out.append(f"  phase: {self.phase}")
        out += [f"  {line}" for line in self.lines]
        if self.last is not None:
            out.append(f"  last log record: {_brief(self.last)}")
        if self.validation:
            out.append("  last validation (real bitstreams):")
            for label, v in sorted(self.validation.items(), key=_label_order):
                where = f"  ({v['at']})" if "at" in v else ""
                name = f"level {label}" if label.isdigit() else label
                out.append(f"    {name}: {v['bpp']:.4f} bpp  {v['psnr']:.2f} dB{where}")
        return "\n".join(out)


_BRIEF_KEYS = ("job", "phase", "transition", "level", "it", "loss", "bpp", "mse", "intra", "inter")


def _brief(rec: dict) -> str:
    """The log record's position and training figures, without validation tables."""
    parts = []
    for key in _BRIEF_KEYS:
        if key in rec:
            v = rec[key]
            parts.append(f"{key} {v:.4g}" if isinstance(v, float) else f"{key} {v}")
    return ", ".join(parts)


def _label_order(item: tuple[str, dict]) -> tuple:
    label = item[0]
    return (0, -int(label), "") if label.isdigit() else (1, 0, label)


def workdir_status(path: str | Path) -> WorkdirStatus:
    """Status of one work dir; ValueError when it is not one a trainer wrote."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such work dir")
    state_path = path / STATE
    if not state_path.is_file():
        if (path / "recipe.json").is_file():  # pcf-tail work dirs had no state.json before
            raise InputError(_older(path))
        raise InputError(f"{path}: not a training work dir (no {STATE} of a trainer)")
    try:
        state = json.loads(state_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{state_path}: not valid JSON ({exc.msg})") from None
    if not isinstance(state, dict) or "recipe" not in state:
        raise InputError(f"{path}: not a training work dir (no {STATE} of a trainer)")
    if state.get("format") != STATE_FORMAT or "trainer" not in state:
        raise InputError(_older(path))
    progress = state["progress"]
    seconds = state.get("seconds")
    log = read_log(path / state.get("log", LOG))
    return WorkdirStatus(
        str(path),
        state["trainer"],
        None if seconds is None else seconds / 3600,
        progress["done"],
        progress["total"],
        progress["unit"],
        list(state.get("lines", [])),
        log[-1] if log else None,
        dict(state.get("validation", {})),
        state.get("phase"),
    )


def _older(path: Path) -> str:
    return (
        f"{path}: written by an older version of hcf-sim; run its train command once "
        f"(it resumes and rewrites {STATE}) to see its status"
    )
