"""Pricing codec work: the ops a plan's stage slices run, and what they cost on a device.

Every step of a :class:`~hcf_ray.cascade.Stage` maps to the cost-profile ops of the real
system, whatever the simulation's ``transport``: step 0 receives (``decode[k]``, the entropy
decoder of level k; nothing at the source), steps 1..n are the stage's ops (``analysis[k]``,
``phi_inter[k]`` / ``phi_intra[k]`` for the transition k→k-1, ``synthesis[k]``,
``pixels8``) and the last step sends (``encode[k]``: hyper-analysis and entropy coding;
nothing at the destination). A baseline's stage costs its ops only (``{name}:encode[k]``,
``{name}:relay[k]`` for a drop into level k, ``{name}:decode[k]``). ``transport: latent`` only shortcuts the simulation's own
entropy coding; the simulated nodes are still priced as coding real bitstreams.

A node's :class:`Device` prices an op at ``profile.seconds(op, h, w) / throughput``; the
event network then divides by the node's ``speed``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from hcf_ray.sim.net.costs import CostProfile


@dataclass(frozen=True)
class Device:
    """A node's hardware model: the profile that prices its ops, a throughput scale, power."""

    name: str
    profile: CostProfile
    throughput: float = 1.0
    busy_w: float = 0.0
    idle_w: float = 0.0
    # (quantity, ops, height, width) → total: a sweep prices the same slices again and again
    _totals: dict = field(default_factory=dict, compare=False, repr=False)

    def seconds(self, ops: Iterable[str], height: int, width: int) -> float:
        return self._total("seconds", tuple(ops), height, width) / self.throughput

    def flops(self, ops: Iterable[str], height: int, width: int) -> int:
        return int(self._total("flops", tuple(ops), height, width))

    def _total(self, quantity: str, ops: tuple[str, ...], height: int, width: int) -> float:
        key = (quantity, ops, height, width)
        total = self._totals.get(key)
        if total is None:
            price = getattr(self.profile, quantity)
            total = self._totals[key] = sum(price(op, height, width) for op in ops)
        return total

    def peak_mb(self, ops: Iterable[str], height: int, width: int) -> float:
        return max((self.profile.peak_mb(op, height, width) for op in ops), default=0.0)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "profile": self.profile.label,
            "profile_sha256": self.profile.sha256,
            "throughput": self.throughput,
            "busy_w": self.busy_w,
            "idle_w": self.idle_w,
        }


def op_key(op) -> str:
    """The cost-profile key of a cascade :class:`~hcf_ray.cascade.Op`."""
    if op.kind == "phi":
        return f"phi_{op.variant}[{op.level}]"
    if op.kind == "pixels8":
        return "pixels8"
    if op.kind in ("encode", "relay", "decode"):  # a baseline's op: name:kind[level]
        return f"{op.variant}:{op.kind}[{op.level}]"
    return f"{op.kind}[{op.level}]"


def step_ops(stage, step: int) -> tuple[str, ...]:
    """Profile ops of one step of a stage (0 receive, 1..n ops, n+1 send)."""
    if stage.is_forward:
        return ()
    n = len(stage.ops)
    if getattr(stage, "baseline", None) is not None:  # parsing / sending bytes: free
        return (op_key(stage.ops[step - 1]),) if 1 <= step <= n else ()
    if step == 0:
        return () if stage.receive is None else (f"decode[{stage.receive}]",)
    if step <= n:
        return (op_key(stage.ops[step - 1]),)
    if step == n + 1:
        return () if stage.send is None else (f"encode[{stage.send}]",)
    raise ValueError(f"step {step} outside a stage of {n + 2} steps")


@functools.lru_cache(maxsize=1 << 16)  # stages are frozen; a sweep slices the same ones often
def slice_ops(stage, start: int, stop: int) -> tuple[str, ...]:
    """Profile ops of steps ``[start, stop)`` of a stage (a planner Segment)."""
    return tuple(op for step in range(start, stop) for op in step_ops(stage, step))


def stage_ops(stage) -> tuple[str, ...]:
    return slice_ops(stage, 0, len(stage.ops) + 2) if not stage.is_forward else ()
