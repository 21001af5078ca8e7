"""The policy vector ``π`` and the policy space Π(s, d; n_q)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyVector:
    """``π = [π_s, π_{s-1}, …, π_d]`` with validation (paper Eq. 8–10, 16)."""

    source_level: int
    target_level: int
    bits: tuple[int, ...]

    def __post_init__(self) -> None:
        s, d = self.source_level, self.target_level
        object.__setattr__(self, "bits", tuple(int(b) for b in self.bits))
        check_levels(s, d)
        if len(self.bits) != s - d + 1:
            raise ValueError(
                f"policy vector {list(self.bits)} has length {len(self.bits)}; "
                f"s={s}, d={d} needs length s-d+1 = {s - d + 1}"
            )
        if any(b not in (0, 1) for b in self.bits):
            raise ValueError(f"policy vector {list(self.bits)} must contain only 0 and 1")
        if self.bits[-1] != 1:
            raise ValueError(
                f"policy vector {list(self.bits)}: π_d (last entry) must be 1, the target "
                "level is always transmitted"
            )

    @classmethod
    def from_levels(cls, s: int, d: int, levels: Sequence[int]) -> PolicyVector:
        """Vector from the set of transmission levels, e.g. ``(6, 1)`` → ``[1,0,0,0,0,1]``."""
        check_levels(s, d)
        bad = [k for k in levels if not d <= k <= s]
        if bad:
            raise ValueError(f"transmission levels {bad} are outside {d}..{s}")
        chosen = set(levels)
        return cls(s, d, tuple(1 if k in chosen else 0 for k in range(s, d - 1, -1)))

    def pi(self, level: int) -> int:
        if not self.target_level <= level <= self.source_level:
            raise ValueError(f"level {level} outside {self.target_level}..{self.source_level}")
        return self.bits[self.source_level - level]

    @property
    def n_q(self) -> int:
        return sum(self.bits)

    @property
    def transmission_levels(self) -> tuple[int, ...]:
        """Levels at which a transmission happens, from the source side (descending)."""
        s = self.source_level
        return tuple(s - i for i, b in enumerate(self.bits) if b)

    def __str__(self) -> str:
        return "[" + ",".join(map(str, self.bits)) + "]"


def enumerate_policies(s: int, d: int, n_q: int) -> list[PolicyVector]:
    """The policy space Π(s, d; n_q) in lexicographic order, edge policy first."""
    check_levels(s, d)
    check_n_q(s, d, n_q)
    free = range(s, d, -1)  # levels s..d+1 may carry the other n_q-1 transmissions
    out = [PolicyVector.from_levels(s, d, (*c, d)) for c in itertools.combinations(free, n_q - 1)]
    return out


def all_placements(
    levels: Sequence[int], hops: int, min_levels: Sequence[int | None] | None = None
) -> Iterator[tuple[int, ...]]:
    """Every way to spread ``levels`` (descending) over ``hops`` links, earliest drops first:
    ``(6, 3)`` on 3 hops → ``(6, 3, 3)``, ``(6, 6, 3)``. With ``min_levels`` (one per hop,
    e.g. ``[h.min_level for h in ctx.route]``) placements that put a level below a hop's
    minimum are left out."""
    levels = fitting(levels, hops)
    for cuts in itertools.combinations(range(1, hops), len(levels) - 1):
        bounds = (0, *cuts, hops)
        out = tuple(lv for lv, a, b in zip(levels, bounds, bounds[1:]) for _ in range(a, b))
        if min_levels is None or all(m is None or lv >= m for lv, m in zip(out, min_levels)):
            yield out


# -- checks the package shares (not part of the author's API) -------------------------------
def check_levels(s: int, d: int, max_level: int | None = None) -> None:
    if d < 1:
        raise ValueError(f"target level d={d} must be >= 1")
    if s < d:
        raise ValueError(f"source level s={s} is below target level d={d} (need s >= d)")
    if max_level is not None and s > max_level:
        raise ValueError(f"source level s={s} is above the ladder's top level {max_level}")


def check_n_q(s: int, d: int, n_q: int) -> None:
    if not 1 <= n_q <= s - d + 1:
        raise ValueError(
            f"n_q={n_q} quantizations impossible for s={s}, d={d}: need 1 <= n_q <= {s - d + 1}"
        )


def fitting(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    levels = tuple(levels)
    if not 1 <= len(levels) <= hops:
        raise ValueError(f"{len(levels)} transmission levels do not fit a route of {hops} hops")
    return levels
