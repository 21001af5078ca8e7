"""Quantization policies: where along a cascade the latent is quantized and transmitted.

This is the one file a policy author needs (with one of the examples in ``policies/``). A
policy turns a :class:`PolicyContext` into a :class:`PolicyVector` ``π = [π_start, …, π_target]``:

* ``π_k = 1``: after reaching level ``k`` the latent is quantized with the level-k entropy
  model, entropy-coded and sent over the next link; the receiver applies φ^inter_{k→k-1}.
* ``π_k = 0``: the latent stays unquantized inside the node; φ^intra_{k→k-1} is applied.
* ``π_target = 1`` always (the destination needs a bitstream), and ``Σ π_k = ctx.n_q``.

The context (see :class:`PolicyContext`) names the levels (``flow_source_level``,
``start_level``, ``target_level``, ``max_level``), the counts (``n_q``, ``num_hops``), and
inside the simulator the ``route`` (its hops' ``bandwidth_mbps``, ``latency_ms``, ``loss``,
``min_level``; ``route.nodes``, ``route.node_speed``), the flow's largest ``image_size`` and
three estimates priced like the simulator prices them: ``ctx.rate_model(level)`` (bytes),
``ctx.cost_model(ops, node)`` (seconds of compute) and ``ctx.transmit_s(level, hop)``.

In the simulator a route has ``ctx.num_hops`` links and ``ctx.n_q ≤ ctx.num_hops``
quantizations (the destination's ``n_q`` in the topology YAML; by default one per hop while
the levels allow it). :meth:`Policy.place` then spreads the vector's transmission levels over
the hops: a hop that carries the same level as the one before it is a relay forwarding the
bytes unchanged (no decode, no compute). The default placement drops levels as early as
possible (the i-th ``1`` of ``π`` on hop i, the target level on every remaining hop); override
``place`` to choose *which relays* do the work (:func:`all_placements` lists the choices).
On a multicast tree the links nearer the source are shared: they are planned first (for the
destination with the highest target level) and a later destination's policy only sees the
rest of its route, starting at the relay where it leaves the shared part — ``ctx.route`` then
has ``upstream_level`` set (what that relay received; ``ctx.start_level`` is one below it,
``ctx.flow_source_level`` stays the flow's), ``Hop.min_level`` says how low a hop may go so
that every destination further down the tree stays reachable, and ``Route.forks`` names the
relays whose stream also serves another destination.

Writing a policy::

    # my_policies.py
    from hcf_ray.policy import Policy, PolicyContext, PolicyVector

    class SlowestLinkLast(Policy):
        name = "slowest-link-last"

        def __init__(self, threshold_mbps: float = 20.0):   # args from the YAML
            self.threshold_mbps = threshold_mbps

        def choose(self, ctx: PolicyContext) -> PolicyVector:
            ...  # look at hop.bandwidth_mbps for hop in ctx.route, return a vector
            return PolicyVector.from_levels(ctx.start_level, ctx.target_level, [6, 2, 1])

and reference it from a topology YAML as ``policy: my_policies.py:SlowestLinkLast``, or with
constructor arguments as ``policy: {class: my_policies.py:SlowestLinkLast, args:
{threshold_mbps: 10}}``. A policy loaded from a file runs guarded: its import, ``__init__``,
``choose`` and ``place`` may take at most :func:`policy_timeout` seconds per call
(``$HCF_POLICY_TIMEOUT_S``, default 5; the first ``rate_model`` measurement is not counted),
and whatever goes wrong in them (an exception, ``sys.exit``, a missing or unknown constructor
argument, a result that is not a :class:`PolicyVector` or a list of 0/1 ints of the right
length) is a :class:`PolicyError` of one line, ``policy my_policies.py:12: ZeroDivisionError:
division by zero``, naming the line of the file where it was raised (for a refused result or
a bad call, the ``def`` line of the method or class). To also choose where the drops happen
on a route longer than ``n_q`` hops::

        def place(self, ctx, vector):           # levels per hop, e.g. (6, 6, 2, 1)
            ...

The old context names ``ctx.source_level`` (= ``start_level``) and ``ctx.hops``
(= ``num_hops``) still work but are deprecated.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import itertools
import numbers
import os
import signal
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


# -- the vector ------------------------------------------------------------------------------
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


def enumerate_policies(s: int, d: int, n_q: int) -> list[PolicyVector]:
    """The policy space Π(s, d; n_q) in lexicographic order, edge policy first."""
    check_levels(s, d)
    check_n_q(s, d, n_q)
    free = range(s, d, -1)  # levels s..d+1 may carry the other n_q-1 transmissions
    out = [PolicyVector.from_levels(s, d, (*c, d)) for c in itertools.combinations(free, n_q - 1)]
    return out


def _fitting(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    levels = tuple(levels)
    if not 1 <= len(levels) <= hops:
        raise ValueError(f"{len(levels)} transmission levels do not fit a route of {hops} hops")
    return levels


def place_early(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    """Levels per hop, dropping as early as possible: ``(6, 3)`` on 4 hops → ``(6, 3, 3, 3)``
    (the first relay does the work, later relays forward the level-3 bytes)."""
    levels = _fitting(levels, hops)
    return levels + (levels[-1],) * (hops - len(levels))


def place_late(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    """Levels per hop, dropping as late as possible: ``(6, 3)`` on 4 hops → ``(6, 6, 6, 3)``
    (the source's stream is forwarded until the last relay, which does the work)."""
    levels = _fitting(levels, hops)
    return (levels[0],) * (hops - len(levels)) + levels


def all_placements(
    levels: Sequence[int], hops: int, min_levels: Sequence[int | None] | None = None
) -> Iterator[tuple[int, ...]]:
    """Every way to spread ``levels`` (descending) over ``hops`` links, earliest drops first:
    ``(6, 3)`` on 3 hops → ``(6, 3, 3)``, ``(6, 6, 3)``. With ``min_levels`` (one per hop,
    e.g. ``[h.min_level for h in ctx.route]``) placements that put a level below a hop's
    minimum are left out."""
    levels = _fitting(levels, hops)
    for cuts in itertools.combinations(range(1, hops), len(levels) - 1):
        bounds = (0, *cuts, hops)
        out = tuple(lv for lv, a, b in zip(levels, bounds, bounds[1:]) for _ in range(a, b))
        if min_levels is None or all(m is None or lv >= m for lv, m in zip(out, min_levels)):
            yield out


def check_placement(vector: PolicyVector, hop_levels: Sequence[int], hops: int) -> None:
    """A placement must give every hop a level, never raise the level, and use exactly the
    vector's transmission levels (a repeated level = a relay forwarding the bytes)."""
    lv = tuple(hop_levels)
    if len(lv) != hops:
        raise ValueError(f"placement {list(lv)} gives {len(lv)} levels for a route of {hops} hops")
    if any(b > a for a, b in itertools.pairwise(lv)):
        raise ValueError(f"placement {list(lv)} raises the level along the route")
    if tuple(dict.fromkeys(lv)) != vector.transmission_levels:
        raise ValueError(
            f"placement {list(lv)} does not carry exactly the levels "
            f"{list(vector.transmission_levels)} of policy {vector}"
        )


# -- what a policy sees -----------------------------------------------------------------------
@dataclass(frozen=True)
class Hop:
    """One directed link of a route."""

    src: str
    dst: str
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0  # packet-loss probability; lost packets are resent (ARQ)
    min_level: int | None = None  # lowest level this hop may carry (multicast trees)


@dataclass(frozen=True)
class Route(Sequence):
    """The path one transmission chain takes: ``nodes[0]`` is the source (or the fork relay a
    later multicast destination's chain starts from, which already holds ``upstream_level``).

    A route is a sequence of its :class:`Hop` s: ``len(route)``, ``route[i]``, ``for hop in
    route`` (``route.hops`` is the same tuple)."""

    nodes: tuple[str, ...]
    hops: tuple[Hop, ...]
    node_resources: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    node_speed: Mapping[str, float] = field(default_factory=dict)  # op time is divided by it
    upstream_level: int | None = None
    # relays of this route where the flow's multicast tree branches off or another
    # destination sits: the stream they receive also serves someone else
    forks: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.hops)

    def __getitem__(self, i):
        return self.hops[i]

    def __iter__(self) -> Iterator[Hop]:
        return iter(self.hops)


class PolicyEnvironment:
    """What the simulator knows besides the route: the image size, the codec's level rates
    (``level_bpp``, measured on first use, for :meth:`PolicyContext.rate_model`) and the
    nodes' devices (for :meth:`PolicyContext.cost_model`). Made by the scenario; a policy reads it through its
    context. ``devices`` maps node → an object with ``seconds(ops, height, width)`` (a
    :class:`hcf_ray.sim.net.pricing.Device`); ``node_speed`` node → speed factor."""

    def __init__(
        self,
        image_size: tuple[int, int] | None = None,
        devices: Mapping[str, Any] | None = None,
        node_speed: Mapping[str, float] | None = None,
        level_bpp: Callable[[], Mapping[int, float]] | None = None,
    ):
        self.image_size = _image_size(image_size)
        self.devices = dict(devices or {})
        self.node_speed = dict(node_speed or {})
        self._level_bpp = level_bpp
        self._table: dict[int, float] | None = None
        self._lock = threading.Lock()

    def level_bpp(self) -> dict[int, float]:
        """Mean bpp per level of the codec, measured on first use (seconds with real models,
        then cached on disk: :func:`hcf_ray.level_rates.level_bpp`)."""
        with self._lock:
            if self._table is None:
                with untimed():  # not charged to the policy's time limit
                    if self._level_bpp is None:
                        raise LookupError("rate_model: no codec is known here")
                    table = self._level_bpp()
                self._table = {int(k): float(v) for k, v in table.items()}
            return dict(self._table)


_ENV_ATTR = "_hcf_policy_environment"


def bind_environment(policy: Policy, env: PolicyEnvironment | None) -> Policy:
    """Attach the simulator's environment to a resolved policy (the scenario does this; the
    contexts the planner builds for this policy then carry it)."""
    object.__setattr__(policy, _ENV_ATTR, env)
    return policy


def environment_of(policy: Policy) -> PolicyEnvironment | None:
    return getattr(policy, _ENV_ATTR, None)


def _image_size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    h, w = (int(v) for v in value)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")
    return h, w


@dataclass(frozen=True, init=False)
class PolicyContext:
    """Everything a policy may base its decision on (read-only).

    Levels and counts:

    * ``flow_source_level`` — the level the flow's source starts from (``source_level`` in the
      YAML, else the codec's top level);
    * ``start_level`` — the top level of the vector this policy returns, ``π = [π_start, …,
      π_target]``. It is the flow's source level, except for a later destination of a
      multicast tree: its chain starts at the fork relay, which already holds level
      ``route.upstream_level`` from the shared part of the tree, and ``start_level`` is one
      below it (the relay must drop at least one level to plan anything);
    * ``target_level`` — the destination's level (the last hop carries it);
    * ``n_q`` — quantizations the vector must have (``Σπ``; fixed by the YAML's ``n_q`` or
      by default one per hop while the levels allow it);
    * ``num_hops`` — links of the route this policy plans (``≥ n_q``; without a route: n_q);
    * ``max_level`` — the codec's top level (None outside the simulator).

    Inside the simulator (None outside it):

    * ``route`` — a :class:`Route`: ``route.nodes``, per hop ``bandwidth_mbps``,
      ``latency_ms``, ``loss``, ``min_level``; ``route.node_speed`` / ``node_resources``;
    * ``image_size`` — ``(H, W)`` of the largest image the flow sends (the costs below are
      priced for it);
    * ``flow`` — the flow's config entry.

    Estimates (inside the simulator): :meth:`rate_model` (bytes of a level's bitstream),
    :meth:`cost_model` (seconds of ops on a node, priced as the simulator prices them),
    :meth:`transmit_s` (seconds to send a level over a hop).

    Deprecated aliases, kept for old policies: ``source_level`` (= ``start_level``) and
    ``hops`` (= ``num_hops``).
    """

    start_level: int
    target_level: int
    n_q: int  # quantizations (= transmissions of a new level) the vector must have
    route: Route | None = None  # set inside the simulator
    flow: Any = None  # the flow config (simulator), for policies that want more
    max_level: int | None = None
    num_hops: int | None = None  # links on the route (None: n_q, one transmission per hop)
    flow_source_level: int | None = None  # None: start_level
    image_size: tuple[int, int] | None = None
    environment: PolicyEnvironment | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        start_level: int | None = None,
        target_level: int | None = None,
        n_q: int | None = None,
        route: Route | None = None,
        flow: Any = None,
        max_level: int | None = None,
        num_hops: int | None = None,
        *,
        flow_source_level: int | None = None,
        image_size: tuple[int, int] | None = None,
        environment: PolicyEnvironment | None = None,
        source_level: int | None = None,  # deprecated: start_level
        hops: int | None = None,  # deprecated: num_hops
    ):
        start_level = _alias(start_level, source_level, "start_level", "source_level")
        num_hops = _alias(num_hops, hops, "num_hops", "hops")
        if start_level is None or target_level is None or n_q is None:
            raise TypeError("PolicyContext needs start_level, target_level and n_q")
        if image_size is None and environment is not None:
            image_size = environment.image_size
        values = {
            "start_level": int(start_level),
            "target_level": int(target_level),
            "n_q": int(n_q),
            "route": route,
            "flow": flow,
            "max_level": max_level,
            "num_hops": num_hops,
            "flow_source_level": start_level if flow_source_level is None else flow_source_level,
            "image_size": _image_size(image_size),
            "environment": environment,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        check_levels(self.start_level, self.target_level, self.max_level)
        check_n_q(self.start_level, self.target_level, self.n_q)
        if self.num_hops is None:
            object.__setattr__(self, "num_hops", len(route.hops) if route else self.n_q)
        if self.num_hops < self.n_q:
            raise ValueError(
                f"n_q={self.n_q} quantizations need at least {self.n_q} hops; "
                f"the route has {self.num_hops}"
            )

    # deprecated names -----------------------------------------------------------------------
    @property
    def source_level(self) -> int:
        """Deprecated: :attr:`start_level` (the top of *this* chain's vector, which for a later
        multicast destination is not the flow's source level; see :attr:`flow_source_level`)."""
        return self.start_level

    @property
    def hops(self) -> int:
        """Deprecated: :attr:`num_hops`."""
        return self.num_hops

    # estimates ------------------------------------------------------------------------------
    def _env(self, what: str) -> PolicyEnvironment:
        if self.environment is None:
            raise LookupError(f"{what} is only available inside the simulator")
        return self.environment

    def _size(self, what: str) -> tuple[int, int]:
        if self.image_size is None:
            raise LookupError(f"{what}: the image size is not known here")
        return self.image_size

    def rate_model(self, level: int, pixels: int | None = None) -> float:
        """Estimated bytes of a level-``level`` bitstream of an image of ``pixels`` pixels
        (default: ``image_size``): the codec's mean bpp of that level on the shipped sample
        images × pixels / 8 (:func:`hcf_ray.level_rates.level_bpp`; measured on the first
        call of a run, seconds with real models, then cached on disk — not counted against
        the policy's time limit)."""
        table = self._env("rate_model").level_bpp()
        if level not in table:
            raise ValueError(f"rate_model: no level {level}; the codec has levels {sorted(table)}")
        if pixels is None:
            h, w = self._size("rate_model")
            pixels = h * w
        return table[level] * float(pixels) / 8.0

    def cost_model(self, op: str | Sequence[str], node: str) -> float:
        """Simulated seconds of cost-profile op(s) on ``node`` for an ``image_size`` image,
        exactly as the simulator prices them: profile seconds / device throughput / node speed.

        Op keys (:mod:`hcf_ray.sim.net.costs`): ``analysis[k]`` (g_a at level k, the source),
        ``encode[k]`` (Q/E: quantize and entropy-code level k before a send), ``decode[k]``
        (entropy-decode level k after a receive), ``phi_inter[k]`` (the φ of level k→k-1 right
        after a link), ``phi_intra[k]`` (φ of k→k-1 inside a node), ``synthesis[k]`` (g_s at
        the destination). Raises ValueError for an op the node's profile lacks."""
        env = self._env("cost_model")
        if node not in env.devices:
            raise ValueError(f"cost_model: unknown node {node!r}")
        ops = (op,) if isinstance(op, str) else tuple(op)
        h, w = self._size("cost_model")
        return env.devices[node].seconds(ops, h, w) / env.node_speed.get(node, 1.0)

    def transmit_s(self, level: int, hop: Hop) -> float:
        """Estimated seconds from the first bit of a level-``level`` stream entering ``hop``
        until it has arrived: rate_model bytes (plus expected retransmissions, /(1 - loss))
        × 8 / bandwidth + latency. Queueing behind other traffic is not included."""
        wire = self.rate_model(level) / (1.0 - hop.loss)
        return wire * 8.0 / (hop.bandwidth_mbps * 1e6) + hop.latency_ms / 1000.0


def _alias(value, old, name: str, old_name: str):
    if old is None:
        return value
    if value is not None and value != old:
        raise TypeError(f"PolicyContext: give {name} or its old name {old_name}, not both")
    return old


# -- policies ---------------------------------------------------------------------------------
class Policy(ABC):
    """Subclass and implement :meth:`choose`; return a vector or a list of 0/1 bits."""

    name: ClassVar[str] = "policy"

    @abstractmethod
    def choose(self, ctx: PolicyContext) -> PolicyVector | Sequence[int]: ...

    def __call__(self, ctx: PolicyContext) -> PolicyVector:
        out = self.choose(ctx)
        vec = (
            out
            if isinstance(out, PolicyVector)
            else PolicyVector(ctx.start_level, ctx.target_level, _int_list(out, "choose()"))
        )
        if (vec.source_level, vec.target_level) != (ctx.start_level, ctx.target_level):
            raise ValueError(
                f"policy {self.name!r} returned a vector for s={vec.source_level}, "
                f"d={vec.target_level}; expected s={ctx.start_level}, d={ctx.target_level}"
            )
        if vec.n_q != ctx.n_q:
            raise ValueError(
                f"policy {self.name!r} returned {vec} with {vec.n_q} transmissions; "
                f"the context needs n_q={ctx.n_q}"
            )
        return vec

    def place(self, ctx: PolicyContext, vector: PolicyVector) -> Sequence[int]:
        """Level sent over each of the route's ``ctx.num_hops`` links (source side first).

        Default: drop as early as possible (:func:`place_early`). A repeated level is a relay
        forwarding the bytes it received; override to pick the relays that do the work."""
        return place_early(vector.transmission_levels, ctx.num_hops)

    def hop_levels(self, ctx: PolicyContext) -> tuple[int, ...]:
        """:meth:`choose` + :meth:`place`, checked: the level each hop carries."""
        vec = self(ctx)
        levels = _int_list(self.place(ctx, vec), "place()", bits=False)
        try:
            check_placement(vec, levels, ctx.num_hops)
        except ValueError as exc:
            raise ValueError(f"policy {self.name!r}: {exc}") from None
        return levels

    def vector(self, s: int, d: int, n_q: int, max_level: int | None = None) -> PolicyVector:
        return self(PolicyContext(s, d, n_q, max_level=max_level))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EdgePolicy(Policy):
    """Edge quantization (Eq. 16): ``[1]*(n_q-1) + [0]*(s-d+1-n_q) + [1]``."""

    name = "edge"

    def choose(self, ctx: PolicyContext) -> Sequence[int]:
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        return [1] * (n - 1) + [0] * (s - d + 1 - n) + [1]


class LatePolicy(Policy):
    """All quantizations at the end of the cascade: ``[0]*(s-d+1-n_q) + [1]*n_q``."""

    name = "late"

    def choose(self, ctx: PolicyContext) -> Sequence[int]:
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        return [0] * (s - d + 1 - n) + [1] * n


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
    """A fixed vector given by the user, e.g. ``[0, 1, 0, 1]``."""

    name = "explicit"

    def __init__(self, bits: Sequence[int]):
        self.bits = tuple(int(b) for b in bits)

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        return PolicyVector(ctx.start_level, ctx.target_level, self.bits)

    def __repr__(self) -> str:
        return f"ExplicitPolicy({list(self.bits)})"


BUILTIN_POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (EdgePolicy, LatePolicy, UniformPolicy)
}


class PolicyReturnError(ValueError, TypeError):
    """A policy returned something that is not a vector (or levels) at all (reported as a
    TypeError; a ValueError for the planner, which reports bad vectors alike)."""


def _int_list(out: Any, what: str, bits: bool = True) -> tuple[int, ...]:
    """``out`` as a tuple of ints: a list/tuple (or array) of integers, never a string, a
    bool, None or a single number."""
    expected = "a PolicyVector or a list of 0/1 ints" if bits else "a list of levels (ints)"
    if hasattr(out, "tolist") and not isinstance(out, str | bytes):
        out = out.tolist()
    if not isinstance(out, list | tuple | range):
        raise PolicyReturnError(
            f"{what} returned {type(out).__name__} {_show(out)}; expected {expected}"
        )
    bad = [b for b in out if not isinstance(b, numbers.Integral) or isinstance(b, bool)]
    if bad:
        raise PolicyReturnError(
            f"{what} returned {_show(list(out))}, which holds {type(bad[0]).__name__} "
            f"{_show(bad[0])}; expected {expected}"
        )
    return tuple(int(b) for b in out)


def _show(value: Any, limit: int = 50) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show_path(path: str, limit: int = 100) -> str:
    """A file path for a message: quoted, printable; a long one keeps its end (the name)."""
    text = _show(path, 10**6)
    return text if len(text) <= limit else "…" + text[len(text) - limit + 1 :]


# -- user policies from files -----------------------------------------------------------------
POLICY_TIMEOUT_S = 5.0  # seconds one call into a user policy may take
POLICY_TIMEOUT_ENV = "HCF_POLICY_TIMEOUT_S"


def policy_timeout() -> float:
    """Seconds an import, ``__init__``, ``choose`` or ``place`` of a policy file may take:
    ``$HCF_POLICY_TIMEOUT_S`` if set to a positive number, else :data:`POLICY_TIMEOUT_S`."""
    try:
        value = float(os.environ.get(POLICY_TIMEOUT_ENV, ""))
    except ValueError:
        return POLICY_TIMEOUT_S
    return value if 0 < value < 1e6 else POLICY_TIMEOUT_S


class PolicyError(Exception):
    """A policy file failed or misbehaved; ``str`` is one line
    ``policy FILE[:LINE]: TYPE: message``. Not a ValueError: a broken policy is never taken
    for an infeasible plan. ``original`` is the exception raised in the user's code."""

    def __init__(self, message: str, file: str = "", original: BaseException | None = None):
        super().__init__(message)
        self.file = file
        self.original = original


@dataclass(frozen=True)
class _Source:
    shown: str  # the file as the spec names it
    real: str  # its resolved path (the code objects' co_filename)


class _Timeout(BaseException):
    """Raised into user code when its time is up (not an Exception: ``except Exception`` in
    the policy does not swallow it)."""


def _call_limited(fn, args: tuple, timeout: float):
    """``fn(*args)``, interrupted after ``timeout`` seconds: by SIGALRM in the main thread
    (the previous handler and timer are restored), else from a watchdog thread (then a call
    that never returns keeps its daemon thread)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_alarm(fn, args, timeout)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="hcf-policy", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _Timeout
    if "error" in box:
        raise box["error"]
    return box["value"]


class _AlarmState:
    depth = 0  # calls into policy code guarded by SIGALRM, in the main thread


_ALARM = _AlarmState()


@contextmanager
def untimed():
    """Run a block inside a policy call without charging it to the policy's time limit (the
    SIGALRM guard is paused; off the main thread the watchdog keeps counting)."""
    if _ALARM.depth == 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _call_alarm(fn, args: tuple, timeout: float):
    def on_alarm(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    _ALARM.depth += 1
    outer, interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    if 0 < outer < timeout:  # someone else's alarm (e.g. pytest-timeout) is due first
        signal.setitimer(signal.ITIMER_REAL, outer)
    start = time.monotonic()
    try:
        return fn(*args)
    finally:
        _ALARM.depth -= 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer > 0:
            left = outer - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)


def _run_user(source: _Source, what: str, fn, *args, line: int | None = None):
    """Call into a policy file, guarded: every failure becomes one PolicyError. ``line``: the
    line to name when the failure is not raised from the file itself (e.g. the ``def`` of
    the method whose result was refused)."""
    limit = policy_timeout()
    try:
        return _call_limited(fn, args, limit)
    except _Timeout:
        raise PolicyError(
            f"policy {source.shown}: {what} did not return within {limit:g} s", source.shown
        ) from None
    except (KeyboardInterrupt, PolicyError):
        raise
    except BaseException as exc:  # anything, SystemExit included
        raise PolicyError(_describe(exc, source, what, line), source.shown, exc) from None


def _describe(exc: BaseException, source: _Source, what: str, fallback: int | None = None) -> str:
    """``policy FILE:LINE: TYPE: message``, LINE the deepest frame of the user's file (else
    ``fallback``)."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == source.real:
        line = exc.lineno
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == source.real:
            line = lineno
    line = line or fallback
    if isinstance(exc, SystemExit):
        msg = f"{what} called sys.exit({_show(exc.code)})"
    elif isinstance(exc, SyntaxError):
        msg = exc.msg or ""
    else:
        text = str(exc)
        msg = text.splitlines()[0] if text.strip() else ""
    kind = "TypeError" if isinstance(exc, PolicyReturnError) else type(exc).__name__
    where = f"{source.shown}:{line}" if line else source.shown
    return f"policy {where}: {kind}" + (f": {msg}" if msg else "")


def _def_line(source: _Source, obj: Any) -> int | None:
    """First line of a function (or class) when it is defined in the policy file."""
    if isinstance(obj, type):
        lines = [_def_line(source, v) for k, v in vars(obj).items() if callable(v)]
        lines = [n for n in lines if n]
        if not lines:
            return None
        try:  # the class statement itself
            return inspect.getsourcelines(obj)[1]
        except (OSError, TypeError):
            return min(lines)
    code = getattr(getattr(obj, "__func__", obj), "__code__", None)
    if code is not None and code.co_filename == source.real:
        return code.co_firstlineno
    return None


class UserPolicy(Policy):
    """A policy loaded from a file: every call into it runs through the guard."""

    def __init__(self, inner: Policy, source: _Source):
        self.inner = inner
        self.source = source
        name = getattr(type(inner), "name", None)
        self.name = name if isinstance(name, str) else type(inner).__name__

    def _line(self, method: str) -> int | None:
        return _def_line(self.source, getattr(type(self.inner), method, None))

    def _fail(self, exc: BaseException, what: str, method: str) -> PolicyError:
        return PolicyError(
            _describe(exc, self.source, what, self._line(method)), self.source.shown, exc
        )

    def choose(self, ctx: PolicyContext) -> PolicyVector | Sequence[int]:
        return _run_user(self.source, "choose()", self.inner.choose, ctx, line=self._line("choose"))

    def __call__(self, ctx: PolicyContext) -> PolicyVector:
        vec = _run_user(self.source, "choose()", self.inner, ctx, line=self._line("choose"))
        if not isinstance(vec, PolicyVector):
            err = PolicyReturnError(f"choose() returned {type(vec).__name__} {_show(vec)}")
            raise self._fail(err, "choose()", "choose")
        return vec

    def place(self, ctx: PolicyContext, vector: PolicyVector) -> Sequence[int]:
        return _run_user(
            self.source, "place()", self.inner.place, ctx, vector, line=self._line("place")
        )

    def hop_levels(self, ctx: PolicyContext) -> tuple[int, ...]:
        if type(self.inner).hop_levels is not Policy.hop_levels:  # the file overrides it
            out = _run_user(
                self.source,
                "hop_levels()",
                self.inner.hop_levels,
                ctx,
                line=self._line("hop_levels"),
            )
            method, what = "hop_levels", "hop_levels()"
        else:
            vec = self(ctx)
            out = self.place(ctx, vec)
            method, what = "place", "place()"
        try:
            levels = _int_list(out, what, bits=False)
            if method == "place":
                check_placement(vec, levels, ctx.num_hops)
            elif len(levels) != ctx.num_hops:
                raise ValueError(
                    f"hop_levels() gave {len(levels)} levels for a route of {ctx.num_hops} hops"
                )
        except ValueError as exc:
            raise self._fail(exc, what, method) from None
        return levels

    def __repr__(self) -> str:
        return f"UserPolicy({self.source.shown}:{type(self.inner).__name__})"


def resolve_policy(
    spec: str | Sequence[int] | Mapping[str, Any] | Policy,
    args: Mapping[str, Any] | None = None,
    *,
    shown: str | None = None,
) -> Policy:
    """A policy from a built-in name, an explicit 0/1 list, ``path/to/file.py:ClassName`` (a
    :class:`UserPolicy`), or a mapping ``{"class": one of those names, "args": {...}}``.

    The file path is used as given (a relative one from the current directory; a topology's
    paths arrive resolved against its folder, :mod:`hcf_ray.sim.config`). ``shown``: how
    messages name the file policy (``file.py:ClassName`` as the user wrote it; default:
    ``spec``).

    ``args`` are passed to the class as keyword arguments (the YAML's ``policy: {class: …,
    args: {deadline_ms: 80}}``). Loading problems (no such file or class, bad arguments to a
    built-in) are ValueErrors; failures of the file's own code (its import, its
    ``__init__`` — a missing or unknown argument included —, later its ``choose``/``place``)
    are one-line :class:`PolicyError` s ``policy FILE:LINE: TYPE: message``."""
    if isinstance(spec, Policy):
        return spec
    if isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"class", "args"})
        if extra or "class" not in spec:
            raise ValueError(
                f"policy mapping needs 'class' (and optionally 'args'), got keys {sorted(spec)}"
            )
        if args is not None:
            raise ValueError("give args in the mapping or as a parameter, not both")
        return resolve_policy(spec["class"], spec.get("args") or {}, shown=shown)
    kwargs = dict(args or {})
    if isinstance(spec, str):
        if spec in BUILTIN_POLICIES:
            cls = BUILTIN_POLICIES[spec]
            try:
                return cls(**kwargs)
            except TypeError as exc:
                given = f" (args: {', '.join(kwargs)})" if kwargs else ""
                raise ValueError(f"policy {spec}: TypeError: {exc}{given}") from None
        if ":" in spec:
            cls, source = _load_policy(spec, shown)
            inner = _run_user(
                source,
                f"{cls.__name__}()",
                functools.partial(cls, **kwargs),
                line=_def_line(source, cls.__init__) or _def_line(source, cls),
            )
            if not isinstance(inner, Policy):
                raise PolicyError(
                    f"policy {source.shown}: {cls.__name__}() did not make a Policy",
                    source.shown,
                )
            return UserPolicy(inner, source)
        raise ValueError(
            f"unknown policy {_show(spec)}: use one of {', '.join(BUILTIN_POLICIES)}, a 0/1 "
            "list, or path/to/file.py:ClassName"
        )
    if kwargs:
        raise ValueError("an explicit 0/1 policy vector takes no args")
    return ExplicitPolicy(spec)


def load_policy_class(spec: str) -> type[Policy]:
    """Import ``ClassName`` from ``path/to/file.py`` (a relative path: from the current
    directory)."""
    return _load_policy(spec)[0]


_MODULES: dict[tuple, Any] = {}  # (file, mtime, size) → module: a file is imported once


def _load_policy(spec: str, shown: str | None = None) -> tuple[type[Policy], _Source]:
    path_str, _, cls_name = spec.rpartition(":")
    if not path_str or not cls_name.isidentifier():
        raise ValueError(f"policy {_show(spec)}: expected path/to/file.py:ClassName")
    name = (shown or "").rpartition(":")[0] or path_str  # the file as the user wrote it
    path = Path(path_str)
    try:
        found = path.is_file()
        stat = path.stat() if found else None
    except (OSError, ValueError):
        found, stat = False, None
    if not found or stat is None:
        raise ValueError(f"policy file {_show_path(path_str)} not found")
    real = str(path.resolve())
    source = _Source(name, real)
    key = (real, stat.st_mtime_ns, stat.st_size)
    module = _MODULES.get(key)
    if module is None:
        mod_name = f"hcf_user_policy_{abs(hash(real))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, real)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"policy file {_show(name)} cannot be imported (not a .py file?)")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            _run_user(source, "import", module_spec.loader.exec_module, module)
        except PolicyError:
            sys.modules.pop(mod_name, None)
            raise
        _MODULES[key] = module
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        found_here = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Policy) and v.__module__ == module.__name__
        )
        listed = ", ".join(found_here) if found_here else "no Policy classes"
        problem = (
            f"no class {cls_name!r} in {name}"
            if cls is None
            else f"{cls_name!r} in {name} is not a Policy subclass"
        )
        raise ValueError(f"{problem}; it defines: {listed}")
    return cls, source
