"""Where a training work dir stands (``hcf-sim train status``), read from its files alone.

Long runs live in work dirs across sessions and machines; this answers "what is done, what
is next, how long did it take, what did it last measure" without starting a trainer (no
images are loaded, no model is built). Every trainer is recognised by its own files:

* ladder: ``state.json`` with ``done``/``trained`` and ``level{k}.ckpt`` per level;
* hcf: ``state.json`` with ``phase1_done``/``phase2_done``;
* shared: ``state.json`` with ``it`` beside ``shared.ckpt``;
* hyper: ``state.json`` with ``models`` and ``jobs`` (entropy-model fine-tuning);
* pcf-tail: ``recipe.json`` beside ``pcf.ckpt``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hcf_ray.train.resume import STATE

LOG = "train.log.jsonl"


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

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def to_json(self) -> dict:
        return {**asdict(self), "finished": self.finished}

    def format(self) -> str:
        hours = "" if self.hours is None else f", {self.hours:.2f} h"
        state = "finished" if self.finished else f"{self.done} of {self.total} {self.unit}"
        out = [f"{self.path}: {self.kind} trainer, {state}{hours}"]
        out += [f"  {line}" for line in self.lines]
        if self.last is not None:
            out.append(f"  last log record: {_brief(self.last)}")
        if self.validation:
            out.append("  last validation (real bitstreams):")
            for level, v in sorted(self.validation.items(), key=lambda kv: -int(kv[0])):
                where = f"  ({v['at']})" if "at" in v else ""
                out.append(f"    level {level}: {v['bpp']:.4f} bpp  {v['psnr']:.2f} dB{where}")
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


def workdir_status(path: str | Path) -> WorkdirStatus:
    """Status of one work dir; ValueError when it is not one of the trainers'."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: no such work dir")
    state_path = path / STATE
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{state_path}: not valid JSON ({exc.msg})") from None
        if "models" in state and "val" in state:
            return _hyper(path, state)
        if "trained" in state:
            return _ladder(path, state)
        if "phase1_done" in state:
            return _hcf(path, state)
        if "it" in state:
            return _shared(path, state)
    if (path / "recipe.json").is_file():
        return _pcf(path)
    raise ValueError(f"{path}: not a training work dir (no {STATE} or recipe.json of a trainer)")


def _log(path: Path) -> list[dict]:
    log = path / LOG
    if not log.is_file():
        return []
    records = []
    for line in log.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: the others still count
            continue
    return records


def _ckpt_iteration(ckpt: Path) -> dict | None:
    """A checkpoint's position (``job``/``it``), or None when there is none yet."""
    if not ckpt.is_file():
        return None
    import torch

    data = torch.load(ckpt, map_location="cpu", weights_only=False)
    return {k: data[k] for k in ("job", "it") if k in data}


def _ladder(path: Path, state: dict) -> WorkdirStatus:
    from hcf_ray.train.ladder import LadderRecipe, ladder_jobs

    recipe = LadderRecipe.from_json(state["recipe"])
    jobs = ladder_jobs(recipe)
    only = state.get("only_levels")  # a parallel --only-levels run: its own levels' jobs
    if only is not None:
        jobs = [job for job in jobs if job[1] in only]
    done = set(state["done"])
    pending = [(name, level, stage) for name, level, stage in jobs if name not in done]
    lines = [
        f"{recipe.arch} N={recipe.N} M={recipe.M}, levels 1..{recipe.levels}, "
        f"quant {recipe.quant}; trained levels {sorted(state['trained']) or 'none'}"
    ]
    if only is not None:
        lines.append(f"this work dir trains levels {', '.join(map(str, only))} (--only-levels)")
    if pending:
        name, level, stage = pending[0]
        ck = _ckpt_iteration(path / f"level{level}.ckpt")
        at = ck["it"] if ck and ck.get("job") == name else 0
        lines.append(
            f"next job {name}: level {level}, it {at} of {stage.iters} "
            f"(batch {stage.batch} x {stage.crop}^2, lr {stage.lr:g})"
        )
    log = _log(path)
    validation = {}
    for rec in log:
        if "val" in rec and "level" in rec:
            validation[str(rec["level"])] = {**rec["val"], "at": f"{rec['job']} it {rec['it']}"}
    return WorkdirStatus(
        str(path),
        "ladder",
        state.get("hours"),
        len(jobs) - len(pending),
        len(jobs),
        "jobs",
        lines,
        log[-1] if log else None,
        validation,
    )


def _hcf(path: Path, state: dict) -> WorkdirStatus:
    from hcf_ray.train.hcf import HCFRecipe

    recipe = HCFRecipe(**state["recipe"])
    p1, p2 = state["phase1_done"], state["phase2_done"]
    log = _log(path)
    # transitions s..2 and target levels s-1..1 (work dirs from before session 7 do not
    # store s: what is done bounds it from below)
    s = state.get("source_level") or max(p1 + [k + 1 for k in p2], default=0)
    total = 2 * (s - 1) if s else 0
    lines = [
        f"phi hidden {recipe.phi_hidden} x {recipe.phi_res} blocks; phase 1 "
        f"{recipe.phase1_iters} it/transition, phase 2 {recipe.phase2_iters} it/level "
        f"(quant {recipe.phase2_quant})",
        f"phase 1 done: {', '.join(f'{k}->{k - 1}' for k in p1) or 'none'}; "
        f"phase 2 done: levels {', '.join(map(str, p2)) or 'none'}",
    ]
    for key in ("phi_init", "overlay_init"):
        if state.get(key):
            lines.append(f"{key.replace('_', ' ')}: {state[key]}")
    return WorkdirStatus(
        str(path),
        "hcf",
        state.get("seconds", 0.0) / 3600,
        len(p1) + len(p2),
        total,
        "transitions + levels",
        lines,
        log[-1] if log else None,
    )


def _shared(path: Path, state: dict) -> WorkdirStatus:
    recipe = state["recipe"]
    log = _log(path)
    validation = {}
    for rec in log:
        if "val" in rec:
            validation = {k: {**v, "at": f"it {rec['it']}"} for k, v in rec["val"].items()}
    lines = [
        f"anchor level {recipe['anchor']}, batch {recipe['batch']} x {recipe['crop']}^2, "
        f"lr {recipe['lr']:g}, gain lr {recipe['gain_lr']:g}"
    ]
    return WorkdirStatus(
        str(path),
        "shared",
        state.get("hours"),
        state["it"],
        recipe["iters"],
        "iterations",
        lines,
        log[-1] if log else None,
        validation,
    )


def _hyper(path: Path, state: dict) -> WorkdirStatus:
    recipe, done = state["recipe"], state["done"]
    jobs = state.get("jobs") or done  # the job list is stored since the first release
    lines = [
        f"models {state['models']}; {recipe['iters']} it/level of {recipe['maps_per_iter']} "
        f"whole-image latents, lr {recipe['lr']:g} (cosine)",
        f"done: {', '.join(done) or 'none'}",
    ]
    pending = [job for job in jobs if job not in done]
    if pending:
        ck = _ckpt_iteration(path / "job.ckpt")
        at = ck["it"] if ck and ck.get("job") == pending[0] else 0
        lines.append(f"next job {pending[0]}: it {at} of {recipe['iters']}")
    for job, v in state.get("val", {}).items():
        if "before" in v and "after" in v:
            b, a = v["before"], v["after"]
            lines.append(
                f"{job}: {b['bpp']:.4f} bpp {b['psnr']:.2f} dB -> {a['bpp']:.4f} bpp "
                f"{a['psnr']:.2f} dB ({100 * (a['bpp'] / b['bpp'] - 1):+.2f} % rate)"
            )
    log = _log(path)
    return WorkdirStatus(
        str(path),
        "hyper",
        state.get("hours"),
        len(done),
        len(jobs),
        "jobs",
        lines,
        log[-1] if log else None,
    )


def _pcf(path: Path) -> WorkdirStatus:
    stored = json.loads((path / "recipe.json").read_text())
    recipe = stored["recipe"]
    ck = _ckpt_iteration(path / "pcf.ckpt")
    log = _log(path)
    lines = [
        f"N={recipe['N']} M={recipe['M']}, groups of {recipe['group_size']}, "
        f"batch {recipe['batch']} x {recipe['crop']}^2, lr {recipe['lr']:g}"
    ]
    if stored.get("warm_start"):
        lines.append(f"warm start: {stored['warm_start']}")
    return WorkdirStatus(
        str(path),
        "pcf-tail",
        None,
        ck["it"] if ck else 0,
        recipe["iters"],
        "iterations",
        lines,
        log[-1] if log else None,
    )
