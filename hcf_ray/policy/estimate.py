"""What :meth:`PolicyContext.estimate <hcf_ray.policy.PolicyContext.estimate>` answers and the
device model a policy sees for each node of its route (``ctx.route.devices``).

The pricing itself is the simulator's (:mod:`hcf_ray.sim.chain_estimate`); this module only
holds the plain values the policy package hands to policies, and the rule that turns the
``nbytes`` argument of ``estimate`` into bytes per hop."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeDevice:
    """The hardware model of one node, as the simulator prices and charges it.

    * ``name`` — the device's name (a key of the topology's ``devices`` table, ``<node>-device``
      for an inline device, ``default`` when the node names none);
    * ``cores`` — the node's ``cores``: jobs it runs at once, and the divisor of its power
      per job (a job computing ``t`` seconds is charged ``busy_w / cores · t`` joules);
    * ``speed`` — the node's ``speed``: an op's profile seconds are divided by it;
    * ``throughput`` — the device's ``throughput``: an op's profile seconds are divided by it
      too (op seconds on the node = profile seconds / throughput / speed);
    * ``busy_w`` / ``idle_w`` — the device's power with every core busy / idle (W)."""

    name: str
    cores: int
    speed: float
    throughput: float
    busy_w: float
    idle_w: float

    def job_energy_j(self, compute_s: float) -> float:
        """Busy energy of one job that computes ``compute_s`` on-node seconds:
        ``busy_w / cores × compute_s`` (what records and ``search`` count)."""
        return self.busy_w / self.cores * compute_s


@dataclass(frozen=True)
class Estimate:
    """A plan priced like the simulator prices it (see :meth:`PolicyContext.estimate`).

    * ``latency_s`` — seconds from the chain's start (the release of the image at the source,
      or its arrival at the fork relay a later multicast destination's chain starts from)
      until the destination has reconstructed it;
    * ``energy_j`` — busy energy of the chain's compute (Σ over its jobs of ``busy_w / cores
      × on-node seconds``, as ``hcf-sim search`` counts ``energy_j``);
    * ``link_bytes`` — payload bytes over the chain's links (Σ over hops; retransmissions
      not counted, as ``search`` counts ``link_bytes``);
    * ``compute_s`` — on-node compute seconds of the chain (Σ over its jobs)."""

    latency_s: float
    energy_j: float
    link_bytes: float
    compute_s: float


# a chain pricer: (context, level per hop, bytes per hop) → Estimate; the simulator's is
# hcf_ray.sim.chain_estimate.estimate_chain, handed over by PolicyEnvironment
Pricer = Callable[..., Estimate]


def hop_bytes(
    levels: Sequence[int],
    nbytes: Sequence[float] | Mapping[int, float] | None,
    rate: Callable[[int], float],
) -> tuple[float, ...]:
    """Payload bytes of every hop: ``nbytes[i]`` for a sequence (one entry per hop),
    ``nbytes[level]`` for a mapping, else ``rate(level)``. A hop that carries the level of
    the hop before it forwards the same bytes, so its entry must equal that hop's."""
    levels = tuple(int(x) for x in levels)
    if nbytes is None:
        table = {lv: float(rate(lv)) for lv in dict.fromkeys(levels)}
        out = tuple(table[lv] for lv in levels)
    elif isinstance(nbytes, Mapping):
        missing = [lv for lv in dict.fromkeys(levels) if lv not in nbytes]
        if missing:
            raise ValueError(f"estimate: nbytes has no entry for level(s) {missing}")
        out = tuple(float(nbytes[lv]) for lv in levels)
    else:
        out = tuple(float(b) for b in nbytes)
        if len(out) != len(levels):
            raise ValueError(
                f"estimate: {len(out)} nbytes entries for {len(levels)} hops (one per hop)"
            )
        for i in range(1, len(levels)):
            if levels[i] == levels[i - 1] and out[i] != out[i - 1]:
                raise ValueError(
                    f"estimate: hop {i} forwards level {levels[i]} from hop {i - 1}, so it "
                    f"carries the same bytes ({out[i - 1]:g}), not {out[i]:g}"
                )
    for i, b in enumerate(out):
        if not (math.isfinite(b) and b >= 0):
            raise ValueError(f"estimate: bytes of hop {i} must be a finite number >= 0: {b!r}")
    return out
