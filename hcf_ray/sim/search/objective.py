"""The objective of a search: ``max|min METRIC [s.t. METRIC (<=|>=) NUMBER [and ...]]``,
the metrics it may name, and the Pareto order over (PSNR ↑, bpp ↓, latency ↓)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hcf_ray.sim.search.space import Candidate

METRICS = {
    "psnr": "PSNR at the destination (dB), mean over the images",
    "bpp": "bits per pixel arriving at the destination, mean over the images",
    "latency_ms": "end-to-end latency to the destination (ms), mean over the images",
    "link_bytes": "bytes on the flow's links per image (shared links counted once)",
    "compute_ms": "compute of the flow per image (ms, shared work counted once)",
    "energy_j": "busy energy of the flow's compute per image (J)",
}
FRONT = (("psnr", 1), ("bpp", -1), ("latency_ms", -1))  # (metric, +1: higher is better)
GRAMMAR = "max|min METRIC [s.t. METRIC (<=|>=) NUMBER [and METRIC (<=|>=) NUMBER ...]]"


class SearchError(ValueError):
    """A search that cannot be set up as asked (one line)."""


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    value: float

    def holds(self, metrics: Mapping[str, float]) -> bool:
        x = metrics[self.metric]
        return x <= self.value if self.op == "<=" else x >= self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Objective:
    """``max|min METRIC`` subject to constraints (all of them, inclusive bounds)."""

    sense: str  # "max" or "min"
    metric: str
    constraints: tuple[Constraint, ...] = ()

    def admits(self, metrics: Mapping[str, float]) -> bool:
        return all(c.holds(metrics) for c in self.constraints)

    def pick(self, candidates: Iterable[Candidate]) -> Candidate | None:
        """The best admitted candidate. Ties (every placement of one vector has the same PSNR
        and bpp) go to higher PSNR, then lower bpp, latency, link bytes, compute, energy,
        then the first in enumeration order."""
        sign = -1.0 if self.sense == "max" else 1.0
        admitted = [c for c in candidates if c.metrics is not None and self.admits(c.metrics)]
        if not admitted:
            return None
        return min(
            admitted,
            key=lambda c: (
                sign * c.metrics[self.metric],
                *(-c.metrics[m] if m == "psnr" else c.metrics[m] for m in METRICS),
                c.id,
            ),
        )

    def __str__(self) -> str:
        text = f"{self.sense} {self.metric}"
        if self.constraints:
            text += " s.t. " + " and ".join(map(str, self.constraints))
        return text


_TOKENS = re.compile(r"<=|>=|[<>=!]+|[^\s<>=!]+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_objective(text: str) -> Objective:
    """Parse ``max|min METRIC [s.t. METRIC (<=|>=) NUMBER [and ...]]`` (see :data:`GRAMMAR`);
    anything else is a :class:`SearchError` of one line."""
    tokens = _TOKENS.findall(text or "")

    def fail(why: str) -> SearchError:
        shown = " ".join(tokens) if len(text) > 80 else text
        return SearchError(f"--objective {shown!r}: {why}; expected {GRAMMAR}")

    def metric(tok: str | None) -> str:
        if tok is None:
            raise fail("a metric is missing")
        if tok not in METRICS:
            raise fail(f"unknown metric {tok!r} (metrics: {', '.join(METRICS)})")
        return tok

    if not tokens:
        raise fail("it is empty")
    if tokens[0] not in ("max", "min"):
        raise fail(f"it starts with {tokens[0]!r}, not 'max' or 'min'")
    sense = tokens[0]
    goal = metric(tokens[1] if len(tokens) > 1 else None)
    rest = tokens[2:]
    constraints: list[Constraint] = []
    if rest:
        if rest[0] != "s.t.":
            raise fail(f"{rest[0]!r} after the metric, where 's.t.' or the end belongs")
        rest = rest[1:]
        if not rest:
            raise fail("'s.t.' is followed by no constraint")
        while True:
            if len(rest) < 3:
                raise fail(f"constraint {' '.join(rest)!r} is incomplete")
            name, op, num = rest[:3]
            name = metric(name)
            if op not in ("<=", ">="):
                raise fail(f"{op!r} is not a comparison (use <= or >=)")
            if not _NUMBER.fullmatch(num):
                raise fail(f"{num!r} is not a number")
            value = float(num)
            if not math.isfinite(value):
                raise fail(f"{num!r} is not a finite number")
            constraints.append(Constraint(name, op, value))
            rest = rest[3:]
            if not rest:
                break
            if rest[0] != "and" or len(rest) == 1:
                raise fail(f"{rest[0]!r} after a constraint, where 'and' + a constraint belongs")
            rest = rest[1:]
    return Objective(sense, goal, tuple(constraints))


def dominates(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """``a`` is at least as good as ``b`` on every front axis and better on one."""
    ge = all(sign * a[m] >= sign * b[m] for m, sign in FRONT)
    return ge and any(sign * a[m] > sign * b[m] for m, sign in FRONT)


def pareto_flags(points: Sequence[Mapping[str, float]]) -> list[bool]:
    """True for every point no other point dominates."""
    return [not any(dominates(q, p) for q in points if q is not p) for p in points]
