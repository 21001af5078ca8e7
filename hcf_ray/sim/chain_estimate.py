"""One chain of a policy's context priced by the simulator's own code
(:meth:`hcf_ray.policy.PolicyContext.estimate`).

The plan (a level per hop) goes the way a run's plan goes: the method's stages
(:meth:`hcf_ray.methods.Method.stages`), the planner's jobs (:func:`~hcf_ray.sim.planner.
merge_stages`), the pricing of their segments on the nodes' devices
(:func:`~hcf_ray.sim.world.price_unit`) and the event network
(:func:`~hcf_ray.sim.world.simulate_world`), on a world made of the route alone: no other
image, flow, background load or outage. Its numbers are the record's (``latency_s``) and the
search's per-unit metrics (``energy_j``, ``link_bytes``, ``compute_s``).

A later multicast destination's chain starts at its fork relay, which already holds
``route.upstream_level``: its stages are those of a chain whose first hop carries that level,
less the first node, so the relay's job starts by decoding the level it holds, released at
the decision time. Bytes: the payload of each hop plus the framing the run's payloads put
on the wire (:func:`framing_bytes`). Loss: the expected cost of the simulator's
retransmissions (each lost packet resent until it arrives: ``bytes / (1 − loss)`` on
average), priced as the hop's capacity × ``(1 − loss)`` with no random draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hcf_ray.bitstream import BaselinePayload, Bitstream
from hcf_ray.methods import get_method
from hcf_ray.policy.estimate import Estimate
from hcf_ray.sim.net.events import LinkModel, NodeModel
from hcf_ray.sim.net.traces import ConstantCapacity, SharedCapacity
from hcf_ray.sim.planner import DestinationPlan, FlowPlan, merge_stages
from hcf_ray.sim.world import WorldSpec, price_unit, simulate_world

DEFAULT_METHOD = "hcf"  # a route that names no method (a context made outside plan_flow)
# strings of a learned level's bitstream: hcf_ray.codecs.level.NUM_STRINGS ([y, z]), not
# imported from there to keep planning free of torch
LEARNED_STRINGS = 2


def estimate_chain(
    ctx, levels: Sequence[int], nbytes: Sequence[float], transport: str = "bitstream"
) -> Estimate:
    """``ctx``'s route sending ``levels[i]`` (``nbytes[i]`` payload bytes, plus the framing
    of the run's ``transport``: :func:`framing_bytes`) over hop ``i``, priced as a run prices
    it (see the module docstring)."""
    route, env = ctx.route, ctx.environment
    if ctx.image_size is None:
        raise LookupError("estimate: the image size is not known here")
    missing = [x for x in route.nodes if x not in route.devices or x not in env.devices]
    if missing:
        raise LookupError(f"estimate: no device known for node(s) {missing}")
    method = get_method(route.method or DEFAULT_METHOD)
    levels = tuple(levels)
    d = ctx.target_level
    held = route.upstream_level
    if held is None:
        s = ctx.start_level
        stages = method.stages(s, d, levels)
    else:  # the fork relay holds `held`: the chain of a first hop carrying it, less its source
        s = held
        stages = method.stages(held, d, (held, *levels))[1:]
    path = tuple(route.nodes)
    jobs, chains = merge_stages([(path, stages)])
    dest = DestinationPlan(path[-1], d, "", path, levels, None, chains[0])
    plan = FlowPlan("", method.name, path[0], s, jobs, (dest,))
    infos = {}
    for i, (j, b) in enumerate(chains[0]):
        sent = float(nbytes[i]) if i < len(levels) else 0.0
        wire = sent + framing_bytes(method, levels[i], transport) if i < len(levels) else 0.0
        infos[j, b] = {
            "bytes": sent,
            "wire_bytes": wire,
            "psnr": math.nan,
            "ms_ssim_db": math.nan,
            "recon_sha256": "",
            "measured_s": 0.0,
        }
    devs = route.devices
    priced = price_unit(
        0,
        plan,
        infos,
        ctx.image_size,
        env.devices,
        {x: devs[x].speed for x in path},
        {x: devs[x].cores for x in path},
        "profile",
        {"flow": ""},
        ctx.now_s,
    )
    nodes = {
        x: NodeModel(devs[x].cores, devs[x].speed, devs[x].busy_w, devs[x].idle_w) for x in path
    }
    links = {(h.src, h.dst): _link(h) for h in route.hops}
    result = simulate_world(WorldSpec("estimate", links, nodes, 0), [priced])
    record = result.units[0][1][0]
    unit = result.per_unit[0]
    return Estimate(
        latency_s=record.get("latency_s", math.inf),  # an error record: a stalled message
        energy_j=unit["energy_j"],
        link_bytes=unit["link_bytes"],
        compute_s=unit["compute_s"],
    )


def framing_bytes(method, level: int, transport: str) -> float:
    """Bytes a message puts on a link besides its payload, as the simulation's payloads count
    them (``wire_nbytes`` − ``nbytes``): a baseline's header; a learned level's bitstream
    header and string lengths with ``transport: bitstream``; nothing with ``transport:
    latent`` (the payload is the entropy estimate alone)."""
    if method.is_baseline:
        return float(BaselinePayload(method.name, level, (1, 1), b"").wire_nbytes)
    if transport == "latent":
        return 0.0
    return float(Bitstream(level, (b"",) * LEARNED_STRINGS, (1, 1), (1, 1)).wire_nbytes)


def _link(hop) -> LinkModel:
    """The hop as the event network's link, idle: its own capacity (background left out),
    now unless the topology lets policies see the future, with the expected retransmissions
    as a share (1 − loss) of it."""
    keep = 1.0 - hop.loss
    cap = hop._capacity
    if cap is None:
        return LinkModel(hop.bandwidth_mbps * keep, hop.latency_ms)
    own = cap.root if isinstance(cap, SharedCapacity) else cap
    if hop.oracle:
        return LinkModel(hop.bandwidth_mbps, hop.latency_ms, capacity=_share(own, keep))
    mbps = own.at_mbps(hop.now_s) * keep
    if mbps > 0:
        return LinkModel(mbps, hop.latency_ms)
    return LinkModel(hop.bandwidth_mbps, hop.latency_ms, capacity=ConstantCapacity(0.0))


def _share(cap, keep: float):
    return cap if keep == 1.0 else SharedCapacity(cap, 1.0 - keep)
