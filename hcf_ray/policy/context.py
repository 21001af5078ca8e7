"""What a policy sees: :class:`PolicyContext`, with the :class:`Route` (its :class:`Hop` s)
inside the simulator."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hcf_ray.policy._environment import PolicyEnvironment, image_size_of
from hcf_ray.policy.vector import check_levels, check_n_q


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
