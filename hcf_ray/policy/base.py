"""The policy base class: subclass :class:`Policy` and implement ``decide(ctx)``.

A policy is asked once per destination of a flow: ``decide(ctx)`` gets a
:class:`~hcf_ray.policy.PolicyContext` and returns a :class:`Decision`:

* ``Decision.vector`` — ``π = [π_start, …, π_target]`` (a
  :class:`~hcf_ray.policy.PolicyVector` or a list of 0/1 ints) with ``Σπ = ctx.n_q``:
  ``π_k = 1`` quantizes, entropy-codes and sends the latent at level ``k`` over the next link;
  ``π_k = 0`` keeps it inside the node; ``π_target`` is always 1;
* ``Decision.levels`` (optional) — the level each of the route's ``ctx.num_hops`` links
  carries, source side first, e.g. ``(6, 6, 2, 1)``: it must use exactly the vector's
  transmission levels, never rise, and a repeated level is a relay forwarding the bytes
  unchanged. Left out, levels drop as early as the hops' ``min_level`` s allow.

:func:`~hcf_ray.policy.enumerate_policies` lists every vector and
:func:`~hcf_ray.policy.all_placements` every placement of one (respecting ``Hop.min_level``).

Older policies implement ``choose(ctx)`` (the vector) and optionally ``place(ctx, vector)``
(the levels); they keep working: the default ``decide`` calls ``choose`` then ``place``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from hcf_ray.policy._placement import check_placement, place_default
from hcf_ray.policy._values import PolicyReturnError, int_list, show
from hcf_ray.policy.context import PolicyContext
from hcf_ray.policy.vector import PolicyVector


@dataclass(frozen=True)
class Decision:
    """What a policy decides for one destination: the vector and, optionally, the level on
    each hop of its route, which must carry exactly the vector's transmission levels (None:
    drop as early as the hops' ``min_level`` s allow)."""

    vector: PolicyVector | Sequence[int]
    levels: Sequence[int] | None = None


class Policy(ABC):
    """Subclass and implement :meth:`decide` (or the older :meth:`choose`)."""

    name: ClassVar[str] = "policy"

    def _display_name(self) -> str:
        """How messages name this policy: its ``name``, else its class name."""
        return self.name if self.name != Policy.name else type(self).__name__

    @abstractmethod
    def decide(self, ctx: PolicyContext) -> Decision:
        """The vector (and optionally the level on every hop) for this destination.

        A policy that implements :meth:`choose` instead gets :meth:`choose` for the vector,
        then :meth:`place` for the levels."""
        return _decide_by_choosing(self, ctx)

    def choose(self, ctx: PolicyContext) -> PolicyVector | Sequence[int]:
        """Older API: the vector only. Default: the vector of :meth:`decide`."""
        return self.decide(ctx).vector

    def place(self, ctx: PolicyContext, vector: PolicyVector) -> Sequence[int]:
        """Older API: the level on each hop for ``vector``. Default: drop as early as
        possible (the i-th transmission level on hop i, the last level on the rest) while
        every hop keeps at least its ``min_level``."""
        return place_default(ctx, vector)

    # -- what the simulator calls (not meant to be overridden) -----------------------------
    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not _overrides(cls, "decide") and _overrides(cls, "choose"):
            cls.decide = _decide_by_choosing  # the older API: choose(), then place()

    def __call__(self, ctx: PolicyContext) -> PolicyVector:
        """The decision's vector, checked against the context."""
        if not _overrides(type(self), "decide"):
            return self._vector(ctx, self.choose(ctx), "choose()")
        return self._vector(ctx, self._decision(ctx).vector, "decide()")

    def hop_levels(self, ctx: PolicyContext) -> tuple[int, ...]:
        """:meth:`decide`, checked: the level each hop carries."""
        decision = self._decision(ctx)
        decides = _overrides(type(self), "decide")
        vector = self._vector(ctx, decision.vector, "decide()" if decides else "choose()")
        if decision.levels is None:
            return place_default(ctx, vector)
        levels = int_list(decision.levels, "decide()" if decides else "place()", bits=False)
        try:
            check_placement(vector, levels, ctx.num_hops)
        except ValueError as exc:
            raise ValueError(f"policy {self._display_name()!r}: {exc}") from None
        return levels

    def vector(self, s: int, d: int, n_q: int, max_level: int | None = None) -> PolicyVector:
        """The vector for a chain ``s → d`` with ``n_q`` quantizations (no route)."""
        return self(PolicyContext(s, d, n_q, max_level=max_level))

    def _decision(self, ctx: PolicyContext) -> Decision:
        out = self.decide(ctx)
        if isinstance(out, Decision):
            return out
        raise PolicyReturnError(
            f"decide() returned {type(out).__name__} {show(out)}; expected a Decision"
        )

    def _vector(self, ctx: PolicyContext, out, what: str) -> PolicyVector:
        if isinstance(out, PolicyVector):
            vec = out
        else:
            bits = int_list(out, what)
            s, d = ctx.start_level, ctx.target_level
            if any(b not in (0, 1) for b in bits):
                hint = ""
                if all(d <= b <= s for b in bits):  # it looks like levels
                    hint = " (levels? use PolicyVector.from_levels)"
                raise ValueError(f"{what} returned {list(bits)}, not 0/1 bits{hint}")
            vec = PolicyVector(s, d, bits)
        if (vec.source_level, vec.target_level) != (ctx.start_level, ctx.target_level):
            raise ValueError(
                f"policy {self._display_name()!r} returned a vector for s={vec.source_level}, "
                f"d={vec.target_level}; expected s={ctx.start_level}, d={ctx.target_level}"
            )
        if vec.n_q != ctx.n_q:
            raise ValueError(
                f"policy {self._display_name()!r} returned {vec} with {vec.n_q} transmissions; "
                f"the context needs n_q={ctx.n_q}"
            )
        return vec

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _decide_by_choosing(self: Policy, ctx: PolicyContext) -> Decision:
    vector = self._vector(ctx, self.choose(ctx), "choose()")
    return Decision(vector, self.place(ctx, vector))


def _overrides(cls: type, method: str) -> bool:
    """Whether ``cls`` implements ``method`` itself (not the base's default)."""
    return getattr(cls, method) not in (getattr(Policy, method), _decide_by_choosing)
