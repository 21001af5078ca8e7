"""What a learned policy sees of one destination's route, as numbers (numpy only).

One function builds the observation both for the training environment
(:class:`hcf_ray.gym.env.CascadeEnv`) and for an exported policy deciding inside the
simulator (``DIR/policy.py:LearnedPolicy``): :func:`route_view` reads a
:class:`~hcf_ray.policy.PolicyContext`, :func:`observe` and :func:`action_mask` turn a view
and the levels chosen so far into the observation vector and the mask.

Actions (one per hop, source side first): ``0`` forwards, i.e. the hop carries the current
level (on the first hop: the chain's start level, sent as it is); ``k ≥ 1`` quantizes to
level ``k`` (below the current level) and the hop carries ``k``. A mask entry is 1 when the
action leaves at least one way to finish the route with exactly ``ctx.n_q`` distinct levels,
ending at the target level and respecting every hop's ``min_level``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Route slots of the observation. Routes of the shipped sweeps have at most 11 hops (12-node
# networks; with the default n_q a destination is at most s - d + 1 <= 6 hops away), the
# shipped topologies at most 10; 16 leaves room. A longer route is not learned: the
# environment skips such destinations and an exported policy decides them as `edge` does.
MAX_HOPS = 16
# Levels an action can name (1..MAX_LEVEL). The shipped ladder and the zoo ladders have 6;
# the simulator allows 64 (hcf_ray.sim.config.MAX_LEVEL), which would make the action space
# mostly masked. A chain starting above 16 is handled like a long route.
MAX_LEVEL = 16
N_ACTIONS = MAX_LEVEL + 1  # 0: forward; k: quantize to level k

# Per route slot (slot 0 = the hop about to be decided, then the hops after it).
HOP_FEATURES = (
    "present",  # 1 for a hop of the route, 0 for padding
    "log10_bandwidth",  # log10(capacity at the decision time, Mbit/s) / 3
    "latency",  # latency_ms / 100
    "min_level",  # the hop's min_level / MAX_LEVEL (0: none)
    "log2_speed",  # log2(sending node's speed × its device's throughput) / 4
    "busy_w",  # sending node's device busy power, W / 100
    "idle_w",  # its idle power, W / 100
)
SCALARS = (
    "current_level",  # / MAX_LEVEL (before the first hop: the start level)
    "target_level",  # / MAX_LEVEL
    "start_level",  # / MAX_LEVEL
    "hops_left",  # hops still to decide, this one included, / MAX_HOPS
    "quantizations_left",  # distinct levels still to use, / MAX_LEVEL
    "log2_pixels",  # log2(image pixels) / 24 (0: unknown)
)
OBS_SIZE = len(SCALARS) + MAX_HOPS * len(HOP_FEATURES)
OBS_BOUND = 10.0  # every feature is clipped to [-OBS_BOUND, OBS_BOUND]


@dataclass(frozen=True)
class RouteView:
    """The numbers of one decision: the chain's levels and, per hop, what the route shows."""

    start_level: int
    target_level: int
    n_q: int
    bandwidth_mbps: tuple[float, ...]
    latency_ms: tuple[float, ...]
    min_level: tuple[int, ...]  # 0: none
    speed: tuple[float, ...]  # sending node's speed × device throughput
    busy_w: tuple[float, ...]
    idle_w: tuple[float, ...]
    pixels: int = 0

    @property
    def num_hops(self) -> int:
        return len(self.bandwidth_mbps)

    @property
    def fits(self) -> bool:
        """Whether the observation can hold this decision (route and levels in range)."""
        return 1 <= self.num_hops <= MAX_HOPS and self.start_level <= MAX_LEVEL


def route_view(ctx) -> RouteView:
    """The view of a :class:`~hcf_ray.policy.PolicyContext`. Devices are read as the simulator
    resolved them (:func:`hcf_ray.sim.devices.resolve_devices`, handed to policies through
    their environment); a context without a route (outside the simulator) shows hops of
    unknown speed (zeros)."""
    hops = ctx.num_hops
    route = ctx.route
    pixels = 0
    if ctx.image_size is not None:
        pixels = int(ctx.image_size[0]) * int(ctx.image_size[1])
    if route is None or len(route) != hops:
        zeros = (0.0,) * hops
        return RouteView(
            ctx.start_level, ctx.target_level, ctx.n_q, zeros, zeros, (0,) * hops, zeros,
            zeros, zeros, pixels,
        )  # fmt: skip
    devices = getattr(route, "devices", None) or (
        ctx.environment.devices if ctx.environment is not None else {}
    )
    speed, busy, idle = [], [], []
    for node in route.nodes[:-1]:
        dev = devices.get(node)
        speed.append(
            float(route.node_speed.get(node, 1.0)) * float(getattr(dev, "throughput", 1.0))
        )
        busy.append(float(getattr(dev, "busy_w", 0.0)))
        idle.append(float(getattr(dev, "idle_w", 0.0)))
    return RouteView(
        ctx.start_level,
        ctx.target_level,
        ctx.n_q,
        tuple(float(h.capacity_mbps) for h in route),
        tuple(float(h.latency_ms) for h in route),
        tuple(int(h.min_level or 0) for h in route),
        tuple(speed),
        tuple(busy),
        tuple(idle),
        pixels,
    )


@dataclass(frozen=True)
class Progress:
    """The levels chosen so far (one per decided hop)."""

    levels: tuple[int, ...] = ()

    def current_level(self, view: RouteView) -> int:
        return self.levels[-1] if self.levels else view.start_level

    def used(self) -> int:
        return len(set(self.levels))


def next_level(view: RouteView, done: Progress, action: int) -> int:
    """The level the next hop carries under ``action`` (0: the current level)."""
    return done.current_level(view) if action == 0 else int(action)


def action_mask(view: RouteView, done: Progress) -> np.ndarray:
    """1.0 for each action that can still be completed to a valid plan (float32, N_ACTIONS)."""
    mask = np.zeros(N_ACTIONS, dtype=np.float32)
    i = len(done.levels)
    if i >= view.num_hops:
        return mask
    cur = done.current_level(view)
    for action in range(N_ACTIONS):
        if action and action >= cur:
            continue
        level = next_level(view, done, action)
        new = not done.levels or level != cur
        if _completes(view, i, level, done.used() + new):
            mask[action] = 1.0
    return mask


def _completes(view: RouteView, i: int, level: int, used: int) -> bool:
    return _feasible(view.num_hops, view.target_level, view.n_q, view.min_level, i, level, used)


@lru_cache(maxsize=65536)
def _feasible(hops, target, n_q, mins, i, level, used) -> bool:
    """Hop ``i`` carries ``level`` with ``used`` distinct levels so far: can hops i+1.. finish
    the route (non-increasing, ≥ their min_level, last = target, n_q distinct levels)?"""
    if level < target or level < mins[i] or used > n_q:
        return False
    if i == hops - 1:
        return level == target and used == n_q
    if level - target < n_q - used or hops - 1 - i < n_q - used:
        return False
    return any(
        _feasible(hops, target, n_q, mins, i + 1, nxt, used + (nxt != level))
        for nxt in range(level, target - 1, -1)
    )


def observe(view: RouteView, done: Progress) -> np.ndarray:
    """The observation vector (float32, OBS_SIZE): :data:`SCALARS`, then :data:`MAX_HOPS`
    slots of :data:`HOP_FEATURES` for the hops from the one about to be decided on."""
    i = len(done.levels)
    left = view.num_hops - i
    out = np.zeros(OBS_SIZE, dtype=np.float64)
    out[: len(SCALARS)] = (
        done.current_level(view) / MAX_LEVEL,
        view.target_level / MAX_LEVEL,
        view.start_level / MAX_LEVEL,
        left / MAX_HOPS,
        (view.n_q - done.used()) / MAX_LEVEL,
        math.log2(view.pixels) / 24.0 if view.pixels > 0 else 0.0,
    )
    width = len(HOP_FEATURES)
    for slot in range(min(left, MAX_HOPS)):
        h = i + slot
        base = len(SCALARS) + slot * width
        out[base : base + width] = (
            1.0,
            math.log10(max(view.bandwidth_mbps[h], 1e-3)) / 3.0,
            view.latency_ms[h] / 100.0,
            view.min_level[h] / MAX_LEVEL,
            math.log2(max(view.speed[h], 1e-3)) / 4.0 if view.speed[h] > 0 else 0.0,
            view.busy_w[h] / 100.0,
            view.idle_w[h] / 100.0,
        )
    return np.clip(out, -OBS_BOUND, OBS_BOUND).astype(np.float32)


def all_plans(view: RouteView) -> list[tuple[int, ...]]:
    """Every per-hop level tuple the mask allows, in action order (forward first, then the
    highest level)."""
    out: list[tuple[int, ...]] = []

    def walk(done: Progress) -> None:
        if len(done.levels) == view.num_hops:
            out.append(done.levels)
            return
        mask = action_mask(view, done)
        for action in np.flatnonzero(mask):
            walk(Progress((*done.levels, next_level(view, done, int(action)))))

    walk(Progress())
    return out
