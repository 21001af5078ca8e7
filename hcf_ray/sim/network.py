"""The virtual-clock network model: FIFO links and serial nodes, no sleeping (pure Python).

Link (one per direction), per message, in the order messages are handed to it::

    start  = max(ready, link.free_at)        # FIFO: wait for the previous message
    tx     = wire_bytes · 8 / bandwidth       # serialisation
    arrive = start + tx + latency             # propagation
    link.free_at = start + tx

``loss`` is a per-packet loss probability (1500-byte packets): lost packets are resent at
once, so a lossy link costs extra serialisation time and bytes (link-layer ARQ; a seeded
random stream per link keeps runs reproducible).

Node: one operation at a time. A job that becomes ready at ``t`` starts at
``max(t, node.free_at)`` and runs for its measured compute time divided by the node's speed
factor.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MTU_BYTES = 1500


@dataclass(frozen=True)
class Transfer:
    start_s: float
    tx_s: float
    arrive_s: float
    queue_s: float
    wire_bytes: float  # bytes serialised, retransmissions included


@dataclass
class LinkClock:
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    free_at: float = 0.0
    bytes: float = 0.0  # payload bytes delivered
    wire_bytes: float = 0.0  # bytes serialised (with retransmissions)
    messages: int = 0
    busy_s: float = 0.0
    queue_s: float = 0.0
    max_queue_s: float = 0.0

    def send(self, ready_s: float, nbytes: float, wire_bytes: float | None = None) -> Transfer:
        wire = float(nbytes if wire_bytes is None else wire_bytes)
        wire += self._retransmitted(wire)
        start = max(ready_s, self.free_at)
        tx = wire * 8.0 / (self.bandwidth_mbps * 1e6)
        self.free_at = start + tx
        wait = start - ready_s
        self.bytes += nbytes
        self.wire_bytes += wire
        self.messages += 1
        self.busy_s += tx
        self.queue_s += wait
        self.max_queue_s = max(self.max_queue_s, wait)
        return Transfer(start, tx, start + tx + self.latency_ms / 1000.0, wait, wire)

    def _retransmitted(self, wire: float) -> float:
        if self.loss <= 0:
            return 0.0
        extra = 0.0
        packets = max(1, math.ceil(wire / MTU_BYTES))
        for i in range(packets):
            size = min(MTU_BYTES, wire - i * MTU_BYTES)
            while self.rng.random() < self.loss:
                extra += size
        return extra

    def stats(self, horizon_s: float) -> dict:
        return {
            "bytes": self.bytes,
            "wire_bytes": self.wire_bytes,
            "messages": self.messages,
            "busy_s": self.busy_s,
            "utilisation": self.busy_s / horizon_s if horizon_s > 0 else 0.0,
            "mean_queue_s": self.queue_s / self.messages if self.messages else 0.0,
            "max_queue_s": self.max_queue_s,
        }


@dataclass
class NodeClock:
    speed: float = 1.0
    free_at: float = 0.0
    compute_s: float = 0.0  # virtual (speed-scaled)
    measured_s: float = 0.0
    jobs: int = 0
    wait_s: float = 0.0

    def run(self, ready_s: float, measured_s: float) -> tuple[float, float]:
        """Start and end of a job of ``measured_s`` seconds on this node."""
        start = max(ready_s, self.free_at)
        seconds = measured_s / self.speed
        self.free_at = start + seconds
        self.compute_s += seconds
        self.measured_s += measured_s
        self.jobs += 1
        self.wait_s += start - ready_s
        return start, start + seconds

    def stats(self, horizon_s: float) -> dict:
        return {
            "compute_s": self.compute_s,
            "measured_s": self.measured_s,
            "jobs": self.jobs,
            "mean_wait_s": self.wait_s / self.jobs if self.jobs else 0.0,
            "utilisation": self.compute_s / horizon_s if horizon_s > 0 else 0.0,
        }


class VirtualNetwork:
    """Clocks of every link and node of one simulated world (one method)."""

    def __init__(
        self,
        links: Iterable[tuple[str, str, float, float, float]],
        speeds: Mapping[str, float],
        seed: int = 0,
    ):
        self.links = {
            (u, v): LinkClock(bw, lat, loss, random.Random(f"{seed}:{u}->{v}"))
            for u, v, bw, lat, loss in links
        }
        self.nodes = {n: NodeClock(speed) for n, speed in speeds.items()}
        self.horizon_s = 0.0

    @classmethod
    def of(cls, topology, seed: int = 0) -> VirtualNetwork:
        links = [
            (u, v, ln.bandwidth_mbps, ln.latency_ms, ln.loss)
            for (u, v), ln in topology.links.items()
        ]
        return cls(links, {n: spec.speed for n, spec in topology.nodes.items()}, seed)

    def transmit(
        self, u: str, v: str, ready_s: float, nbytes: float, wire_bytes: float | None = None
    ) -> Transfer:
        t = self.links[u, v].send(ready_s, nbytes, wire_bytes)
        self.horizon_s = max(self.horizon_s, t.arrive_s)
        return t

    def compute(self, node: str, ready_s: float, measured_s: float) -> tuple[float, float]:
        start, end = self.nodes[node].run(ready_s, measured_s)
        self.horizon_s = max(self.horizon_s, end)
        return start, end

    def totals(self) -> tuple[float, float]:
        """(payload bytes over all links, virtual compute seconds over all nodes) so far."""
        return (
            sum(c.bytes for c in self.links.values()),
            sum(c.compute_s for c in self.nodes.values()),
        )

    def stats(self) -> dict:
        h = self.horizon_s
        return {
            "horizon_s": h,
            "links": {f"{u}->{v}": c.stats(h) for (u, v), c in self.links.items() if c.messages},
            "nodes": {n: c.stats(h) for n, c in self.nodes.items() if c.jobs},
        }
