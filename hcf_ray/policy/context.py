"""What a policy sees: :class:`PolicyContext`, with the :class:`Route` (its :class:`Hop` s)
inside the simulator."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hcf_ray.errors import InputError
from hcf_ray.policy._environment import PolicyEnvironment, image_size_of
from hcf_ray.policy.estimate import Estimate, NodeDevice, hop_bytes
from hcf_ray.policy.vector import check_levels, check_n_q

PAST_WINDOW_S = 5.0  # default window of Hop.mean_capacity_mbps: the last 5 s before now


class FutureHidden(InputError):
    """A policy asked for a link's capacity after the decision time on a topology without
    ``oracle: true``."""


@dataclass(frozen=True)
class Hop:
    """One directed link of a route.

    ``bandwidth_mbps`` is the link's one representative figure: its constant speed, or for a
    link whose capacity changes over time (a ``trace``, a ``background`` load, ``demands``)
    the trace's mean share, the figure routes are computed on. What the link offers at a
    given time (simulation seconds; a flow's first image is released at ``now_s``, the time
    its policy decides at):

    * ``hop.capacity_mbps`` — the capacity at ``now_s`` (constant links: ``bandwidth_mbps``);
    * ``hop.mean_capacity_mbps(window_s=5.0)`` — its mean over the past ``window_s`` seconds,
      ``[now_s − window_s, now_s]`` (before the run starts a trace reads as its ``offset_s``
      and ``loop`` say: the earlier part of the trace, or its looped end);
    * ``hop.varies`` — whether the capacity changes over time (or is shared with background
      traffic);
    * ``hop.capacity_at(t)``, ``hop.mean_mbps(t0, t1)``, ``hop.tx_end_s(start_s, nbytes)``
      — any time up to ``now_s``; later times only when the topology sets ``oracle: true``
      (meant for upper bounds: a real sender does not know its link's future). Otherwise
      they raise :class:`FutureHidden`.
    """

    src: str
    dst: str
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0  # packet-loss probability; lost packets are resent (ARQ)
    min_level: int | None = None  # lowest level this hop may carry (multicast trees)
    now_s: float = 0.0  # the decision time, simulation seconds
    oracle: bool = False  # the topology lets policies see future capacities
    # the link's Capacity (hcf_ray.sim.net.traces); None: the constant bandwidth_mbps. Read
    # it through the methods below, which hide the future unless ``oracle`` is set.
    _capacity: Any = field(default=None, repr=False, compare=False)

    @property
    def varies(self) -> bool:
        """Whether the link's capacity changes over time or is shared (trace, background)."""
        return self._capacity is not None

    @property
    def capacity_mbps(self) -> float:
        """The capacity at the decision time ``now_s``, Mbit/s (0: the link sends nothing
        now)."""
        return self._at(self.now_s)

    def mean_capacity_mbps(self, window_s: float = PAST_WINDOW_S) -> float:
        """The mean capacity over the last ``window_s`` seconds, ``[now_s − window_s,
        now_s]``, Mbit/s (``window_s <= 0``: :attr:`capacity_mbps`)."""
        return self._mean(self.now_s - max(float(window_s), 0.0), self.now_s)

    def capacity_at(self, t: float) -> float:
        """The capacity at simulation time ``t``, Mbit/s; ``t > now_s`` needs ``oracle:
        true``."""
        self._check_future(t, "capacity_at")
        return self._at(t)

    def mean_mbps(self, t0: float, t1: float) -> float:
        """The mean capacity over ``[t0, t1]``, Mbit/s; ``t1 > now_s`` needs ``oracle:
        true``."""
        self._check_future(max(t0, t1), "mean_mbps")
        return self._mean(t0, t1)

    def tx_end_s(self, start_s: float, nbytes: float) -> float:
        """When ``nbytes`` sent from ``start_s`` on an idle link would have sent their last
        bit (losses aside; ``math.inf``: no capacity will ever carry them). On a link whose
        capacity varies it needs ``oracle: true`` (it reads the capacity after ``start_s``)."""
        self._check_future(math.inf, "tx_end_s")
        if self._capacity is None:
            return start_s + _seconds(nbytes * 8.0, self.bandwidth_mbps)
        return float(self._capacity.tx_end(start_s, nbytes))

    def _at(self, t: float) -> float:
        if self._capacity is None:
            return self.bandwidth_mbps
        return float(self._capacity.at_mbps(t))

    def _mean(self, t0: float, t1: float) -> float:
        if self._capacity is None:
            return self.bandwidth_mbps
        return float(self._capacity.mean_mbps(t0, t1))

    def _check_future(self, t: float, what: str) -> None:
        if t > self.now_s and not self.oracle and self._capacity is not None:
            raise FutureHidden(
                f"hop {self.src}->{self.dst}: set oracle: true in the topology to read the "
                f"capacity after the decision time ({what}; now {self.now_s:g} s)"
            )


def _seconds(bits: float, mbps: float) -> float:
    """Seconds to send ``bits`` at ``mbps`` (``math.inf`` at 0, never a division by zero)."""
    return bits / (mbps * 1e6) if mbps > 0 else math.inf


@dataclass(frozen=True)
class Route(Sequence):
    """The path one transmission chain takes: ``nodes[0]`` is the source (or the fork relay a
    later multicast destination's chain starts from, which already holds ``upstream_level``).

    A route is a sequence of its :class:`Hop` s: ``len(route)``, ``route[i]``, ``for hop in
    route`` (``route.hops`` is the same tuple). ``devices`` maps each node to its
    :class:`~hcf_ray.policy.estimate.NodeDevice` (cores, speed, throughput, power; empty
    outside the simulator); :meth:`src_device` / :meth:`dst_device` give a hop's ends'.
    ``method`` names the method the plan is for (``hcf``, ``drf``, a baseline, …; None
    outside the simulator), the one :meth:`PolicyContext.estimate` prices."""

    nodes: tuple[str, ...]
    hops: tuple[Hop, ...]
    node_resources: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    node_speed: Mapping[str, float] = field(default_factory=dict)  # op time is divided by it
    upstream_level: int | None = None
    # relays of this route where the flow's multicast tree branches off or another
    # destination sits: the stream they receive also serves someone else
    forks: frozenset[str] = frozenset()
    devices: Mapping[str, NodeDevice] = field(default_factory=dict)  # node → its device
    method: str | None = None  # the method being planned (what estimate prices)

    def src_device(self, i: int) -> NodeDevice:
        """The device of hop ``i``'s sending node (KeyError: not known here)."""
        return self.devices[self.hops[i].src]

    def dst_device(self, i: int) -> NodeDevice:
        """The device of hop ``i``'s receiving node (KeyError: not known here)."""
        return self.devices[self.hops[i].dst]

    def __len__(self) -> int:
        return len(self.hops)

    def __getitem__(self, i):
        return self.hops[i]

    def __iter__(self) -> Iterator[Hop]:
        return iter(self.hops)


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
      ``latency_ms``, ``loss``, ``min_level`` and the capacity over time
      (``capacity_mbps`` now, ``mean_capacity_mbps(window_s)`` over the past; future values
      only with ``oracle: true``: see :class:`Hop`); ``route.node_speed`` /
      ``node_resources``; ``route.method`` (the method being planned: ``hcf``, ``drf``, …);
    * ``route.devices`` — node → :class:`~hcf_ray.policy.estimate.NodeDevice`, the node's
      hardware as the simulator prices and charges it: ``name`` (the ``devices`` table's
      entry; ``default`` when the node names none), ``cores`` (the node's ``cores``: jobs it
      runs at once), ``speed`` (the node's ``speed``), ``throughput`` (the device's), and
      ``busy_w`` / ``idle_w`` (W). An op's seconds on the node are its cost-profile seconds
      / ``throughput`` / ``speed``; a job computing ``t`` on-node seconds is charged
      ``busy_w / cores × t`` joules. ``route.src_device(i)`` / ``route.dst_device(i)``: the
      devices at the ends of hop ``i``;
    * ``now_s`` — the decision time in simulation seconds (the release of the flow's first
      image);
    * ``image_size`` — ``(H, W)`` of the largest image the flow sends (the costs below are
      priced for it);
    * ``flow`` — the flow's config entry.

    Estimates (inside the simulator):

    * :meth:`estimate` ``(levels, nbytes=None)`` — a whole plan, ``levels[i]`` the level hop
      ``i`` carries, priced by the simulator's own code (the same stages, jobs, cost profile,
      links and event model as a run): an :class:`~hcf_ray.policy.estimate.Estimate` with
      ``latency_s``, ``energy_j`` (busy energy), ``link_bytes`` and ``compute_s``, on an
      otherwise idle network (no queueing behind other images or flows, no background
      traffic, no outages); see :meth:`estimate`;
    * :meth:`rate_model` (bytes of a level's bitstream), :meth:`cost_model` (seconds of ops on
      a node, priced as the simulator prices them), :meth:`transmit_s` (seconds to send a
      level over a hop) — the pieces, for policies that price parts of a plan themselves.

    Example: the plan of least latency among every placement of every vector::

        from hcf_ray.policy import all_placements, enumerate_policies

        mins = [hop.min_level for hop in ctx.route]
        plans = [
            (ctx.estimate(levels).latency_s, levels)
            for vector in enumerate_policies(ctx.start_level, ctx.target_level, ctx.n_q)
            for levels in all_placements(vector.transmission_levels, ctx.num_hops, mins)
        ]
        seconds, levels = min(plans)

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
            "image_size": image_size_of(image_size),
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

    def transmit_s(self, level: int, hop: Hop, start_s: float | None = None) -> float:
        """Estimated seconds from the first bit of a level-``level`` stream entering ``hop``
        until it has arrived: rate_model bytes (plus expected retransmissions, /(1 - loss))
        × 8 / capacity + latency, with the capacity the hop has at the decision time
        (:attr:`Hop.capacity_mbps`; ``bandwidth_mbps`` for a constant link; ``math.inf``
        when it is 0). With ``start_s`` on a topology with ``oracle: true``: the exact
        transmission from ``start_s`` over the link's future capacity
        (:meth:`Hop.tx_end_s`). Queueing behind other traffic is not included."""
        wire = self.rate_model(level) / (1.0 - hop.loss)
        if start_s is not None and hop.varies:
            tx = hop.tx_end_s(start_s, wire) - start_s
        else:
            tx = _seconds(wire * 8.0, hop.capacity_mbps)
        return tx + hop.latency_ms / 1000.0

    def estimate(
        self,
        levels: Sequence[int],
        nbytes: Sequence[float] | Mapping[int, float] | None = None,
    ) -> Estimate:
        """The plan that sends level ``levels[i]`` over hop ``i`` of :attr:`route`, priced by
        the simulator's own code for one ``image_size`` image released at :attr:`now_s`.

        The plan becomes the stages of ``route.method`` (the source's analysis, the φ or
        re-encoding where a relay drops the level, plain forwarding where it keeps it, the
        destination's synthesis), then the planner's jobs, priced on the nodes' devices
        (cost profile / throughput / speed) and run through the simulator's event network:
        exactly the numbers a run gives the destination's record, *on an otherwise idle
        network*: queueing behind other images and flows, background traffic (``background``
        loads, ``demands``: a link is priced at its own capacity) and outages (``faults``)
        are left out. Ops are priced with the cost profile, as ``timing: profile`` runs
        price them (a ``timing: measured`` run times them by the wall clock instead).

        A later destination of a multicast tree (``route.upstream_level`` set) is priced from
        its fork relay on: the relay already holds ``upstream_level`` and starts by decoding
        it (then φ^inter, …); ``latency_s`` counts from the stream's arrival at the relay,
        and the relay's work for other destinations is left out.

        Bytes per hop: ``nbytes`` — a sequence (the payload bytes of each hop; a hop that
        forwards the level of the hop before it carries the same bytes) or a mapping level →
        bytes — else :meth:`rate_model` of the hop's level; these are payload bytes (the
        records' hop ``bytes``), and each message also carries the framing a run puts on the
        wire (a bitstream's header and string lengths, 26 bytes, with ``transport:
        bitstream``; a baseline's header; none with ``transport: latent``). Lossy hops: the
        expected bytes of the simulator's retransmissions (every lost packet is resent until
        it arrives, so a loss ``p`` sends ``bytes / (1 − p)`` on average), i.e. the hop's
        capacity × (1 − p) for new bytes. Capacity: a constant link's ``bandwidth_mbps``; a link whose capacity
        changes is priced at its capacity at :attr:`now_s` (:attr:`Hop.capacity_mbps`,
        background left out), or, with ``oracle: true``, exactly over its trace from the time
        the message starts. ``latency_s`` is ``math.inf`` when a hop will never carry the
        message.

        Returns an :class:`~hcf_ray.policy.estimate.Estimate` (``latency_s``, ``energy_j``:
        busy energy ``Σ busy_w / cores × compute``, as ``hcf-sim search`` counts it,
        ``link_bytes``: payload bytes over the chain's hops, ``compute_s``). Raises
        ValueError for levels that do not fit the route (one per hop, never rising, at most
        :attr:`start_level`, the last one :attr:`target_level`) and LookupError outside the
        simulator (``hcf-sim check-policy``'s synthetic routes have no simulator). Each call
        simulates the chain (milliseconds; a context remembers the plans it priced), and
        counts against the policy's time limit."""
        env = self._env("estimate")
        if env.pricer is None or self.route is None:
            raise LookupError("estimate is only available inside the simulator")
        levels = tuple(int(x) for x in levels)
        self._check_plan(levels)
        sizes = hop_bytes(levels, nbytes, self.rate_model)
        memo = self.__dict__.setdefault("_estimates", {})  # a context prices a plan once
        if (levels, sizes) not in memo:
            memo[levels, sizes] = env.pricer(self, levels, sizes)
        return memo[levels, sizes]

    def _check_plan(self, levels: tuple[int, ...]) -> None:
        hops = len(self.route.hops)
        if len(levels) != hops:
            raise ValueError(f"estimate: {len(levels)} levels for a route of {hops} hops")
        if not levels:
            raise ValueError("estimate: the route has no hop")
        if levels[0] > self.start_level or levels[-1] != self.target_level:
            raise ValueError(
                f"estimate: levels {list(levels)} must start at most at level "
                f"{self.start_level} and end at the target level {self.target_level}"
            )
        if any(b > a for a, b in itertools.pairwise(levels)):
            raise ValueError(f"estimate: levels {list(levels)} rise along the route")

    @property
    def now_s(self) -> float:
        """The decision time, simulation seconds (the release of the flow's first image;
        0.0 outside the simulator)."""
        return self.route.hops[0].now_s if self.route and self.route.hops else 0.0


def _alias(value, old, name: str, old_name: str):
    if old is None:
        return value
    if value is not None and value != old:
        raise TypeError(f"PolicyContext: give {name} or its old name {old_name}, not both")
    return old
