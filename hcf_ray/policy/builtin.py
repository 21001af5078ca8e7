"""The built-in policies (paper §3): edge, late, uniform, and an explicit vector."""

from __future__ import annotations

from collections.abc import Sequence

from hcf_ray.policy._registry import register_policy
from hcf_ray.policy.base import Policy
from hcf_ray.policy.context import PolicyContext
from hcf_ray.policy.vector import PolicyVector


@register_policy
class EdgePolicy(Policy):
    """Edge quantization (Eq. 16): ``[1]*(n_q-1) + [0]*(s-d+1-n_q) + [1]``."""

    name = "edge"

    def choose(self, ctx: PolicyContext) -> Sequence[int]:
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        return [1] * (n - 1) + [0] * (s - d + 1 - n) + [1]


@register_policy
class LatePolicy(Policy):
    """All quantizations at the end of the cascade: ``[0]*(s-d+1-n_q) + [1]*n_q``."""

    name = "late"

    def choose(self, ctx: PolicyContext) -> Sequence[int]:
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        return [0] * (s - d + 1 - n) + [1] * n


@register_policy
class UniformPolicy(Policy):
    """Transmission levels spread evenly from s to d (n_q ≥ 2 includes both ends)."""

    name = "uniform"

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        if n == 1:
            return PolicyVector.from_levels(s, d, [d])
        levels = [s - round(i * (s - d) / (n - 1)) for i in range(n)]
        return PolicyVector.from_levels(s, d, levels)


class ExplicitPolicy(Policy):
    """A fixed vector given by the user, e.g. ``[0, 1, 0, 1]`` (a topology's 0/1 list)."""

    name = "explicit"

    def __init__(self, bits: Sequence[int]):
        self.bits = tuple(int(b) for b in bits)

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        return PolicyVector(ctx.start_level, ctx.target_level, self.bits)

    def __repr__(self) -> str:
        return f"ExplicitPolicy({list(self.bits)})"
