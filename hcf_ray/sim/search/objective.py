"""The objective of a search: ``max|min METRIC [s.t. METRIC (<=|>=) BOUND [and ...]]``,
a BOUND being a number or ``policy:NAME`` (a listed policy's own value of that metric), the
metrics it may name, and the Pareto order over (PSNR ↑, bpp ↓, latency ↓, energy ↓)."""

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
    "energy_j": "busy energy of the flow's compute per image (J): each job busy_w / cores of "
    "its node per second it computes",
}
# the Pareto axes: (metric, +1: higher is better)
FRONT = (("psnr", 1), ("bpp", -1), ("latency_ms", -1), ("energy_j", -1))
FRONT_TEXT = "PSNR ↑, bpp ↓, latency ↓, energy ↓"  # how tables and figures name the axes
TIE_ORDER = ("psnr", "bpp", "latency_ms", "energy_j", "link_bytes", "compute_ms")
GRAMMAR = (
    "max|min METRIC [s.t. METRIC (<=|>=) BOUND [and METRIC (<=|>=) BOUND ...]], "
    "BOUND a NUMBER or policy:NAME (that listed policy's own METRIC here)"
)
POLICY_BOUND = "policy:"


class SearchError(ValueError):
    """A search that cannot be set up as asked (one line)."""


# a listed policy's metrics per (policy name, method); None: it has none (infeasible, failed)
PolicyMetrics = Mapping[tuple[str, str], Mapping[str, float] | None]


@dataclass(frozen=True)
class Constraint:
    """``metric op value``; with ``policy`` set, the bound is that listed policy's own value
    of ``metric`` with the candidate's method (``value`` is then unused)."""

    metric: str
    op: str  # "<=" or ">="
    value: float = math.nan
    policy: str | None = None

    def bound(self, method: str, policies: PolicyMetrics | None) -> float | None:
        """The bound for a candidate of ``method``: None when the policy has no metrics."""
        if self.policy is None:
            return self.value
        got = (policies or {}).get((self.policy, method))
        return None if got is None else got[self.metric]

    def holds(
        self, metrics: Mapping[str, float], method: str = "", policies: PolicyMetrics | None = None
    ) -> bool:
        bound = self.bound(method, policies)
        if bound is None:
            return False
        x = metrics[self.metric]
        return x <= bound if self.op == "<=" else x >= bound

    def __str__(self) -> str:
        bound = f"{POLICY_BOUND}{self.policy}" if self.policy else f"{self.value:g}"
        return f"{self.metric} {self.op} {bound}"


@dataclass(frozen=True)
class Objective:
    """``max|min METRIC`` subject to constraints (all of them, inclusive bounds)."""

    sense: str  # "max" or "min"
    metric: str
    constraints: tuple[Constraint, ...] = ()

    @property
    def policies(self) -> list[str]:
        """The listed policies whose values bound it (``policy:NAME``), in order."""
        return list(dict.fromkeys(c.policy for c in self.constraints if c.policy))

    def admits(
        self, metrics: Mapping[str, float], method: str = "", policies: PolicyMetrics | None = None
    ) -> bool:
        return all(c.holds(metrics, method, policies) for c in self.constraints)

    def pick(
        self, candidates: Iterable[Candidate], policies: PolicyMetrics | None = None
    ) -> Candidate | None:
        """The best admitted candidate. Ties (every placement of one vector has the same PSNR
        and bpp) go to higher PSNR, then lower bpp, latency, energy (the front axes, so a
        pick bounded on front axes only is on the front), link bytes, compute, then the first
        in enumeration order."""
        sign = -1.0 if self.sense == "max" else 1.0
        admitted = [
            c
            for c in candidates
            if c.metrics is not None and self.admits(c.metrics, c.method, policies)
        ]
        if not admitted:
            return None
        return min(
            admitted,
            key=lambda c: (
                sign * c.metrics[self.metric],
                *(-c.metrics[m] if m == "psnr" else c.metrics[m] for m in TIE_ORDER),
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
    """Parse ``max|min METRIC [s.t. METRIC (<=|>=) BOUND [and ...]]`` (see :data:`GRAMMAR`);
    anything else is a :class:`SearchError` of one line. Whether a ``policy:NAME`` is listed
    is checked once the policies are known (:func:`check_policies`)."""
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
            if num.startswith(POLICY_BOUND):
                ref = num[len(POLICY_BOUND) :]
                if not ref:
                    raise fail(f"{num!r} names no policy")
                constraints.append(Constraint(name, op, policy=ref))
            else:
                if not _NUMBER.fullmatch(num):
                    raise fail(f"{num!r} is neither a number nor {POLICY_BOUND}NAME")
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


def check_policies(objective: Objective | None, listed: Iterable[str], where: str) -> None:
    """Every ``policy:NAME`` of ``objective`` names a policy of ``listed`` (those of
    ``where``, e.g. a target's title); a :class:`SearchError` of one line if not."""
    if objective is None:
        return
    names = list(listed)
    for name in objective.policies:
        if name not in names:
            have = ", ".join(names) if names else "none: give policies: in the YAML or --policies"
            raise SearchError(
                f"--objective {str(objective)!r}: {POLICY_BOUND}{name} names no listed policy "
                f"of {where} (listed: {have})"
            )


def dominates(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """``a`` is at least as good as ``b`` on every front axis and better on one."""
    ge = all(sign * a[m] >= sign * b[m] for m, sign in FRONT)
    return ge and any(sign * a[m] > sign * b[m] for m, sign in FRONT)


def pareto_flags(points: Sequence[Mapping[str, float]]) -> list[bool]:
    """True for every point no other point dominates."""
    return [not any(dominates(q, p) for q in points if q is not p) for p in points]
