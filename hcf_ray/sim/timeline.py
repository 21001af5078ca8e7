"""One image's virtual timeline: measured job stats + plan → per-destination latency and hops.

Jobs are scheduled parents first. A job is ready when its input stream arrives (the image's
release time at the source); it occupies its node for its measured compute time ÷ the
node's speed; a branch's output is ready when the last segment it depends on ends (a fork
runs its branches one after another, transmissions before local reconstruction); each
output is then queued on the link to every child it is sent to. Forwarded streams leave as
soon as they arrive. Images are handed to the clocks in submission order, so link and node
FIFOs are resolved in that order (see :mod:`hcf_ray.sim.driver`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hcf_ray.sim.network import Transfer, VirtualNetwork
from hcf_ray.sim.planner import FlowPlan


@dataclass
class DestinationTiming:
    node: str
    done_s: float
    latency_s: float
    hops: list[dict]
    nodes: dict[str, dict]
    final: dict  # metrics reported by the destination (psnr, ms_ssim_db, recon_sha256)
    payload: dict  # the level-d payload it decoded (level, bytes, wire_bytes)


def schedule(
    plan: FlowPlan,
    stats: Mapping[int, dict],
    net: VirtualNetwork,
    release_s: float,
) -> list[DestinationTiming]:
    speed = {n: c.speed for n, c in net.nodes.items()}
    ready_at: dict[tuple[int, int], float] = {}
    payload: dict[tuple[int, int], dict] = {}
    transfers: dict[tuple[int, int], dict[str, Transfer]] = {}
    for job in plan.jobs:
        ready = release_s if job.input is None else transfers[job.input][job.node].arrive_s
        seg_end: list[float] = []
        st = stats.get(job.index)
        if job.computes:
            measured = [seg["s"] for seg in st["segments"]]
            start, _ = net.compute(job.node, ready, sum(measured))
            t = start
            for m in measured:
                t += m / speed[job.node]
                seg_end.append(t)
        for b, br in enumerate(job.branches):
            key = (job.index, b)
            if br.forward:
                ready_at[key] = ready
                payload[key] = payload[job.input]
            else:
                final = job.branch_path(b)[-1]
                ready_at[key] = seg_end[final]
                payload[key] = st["outputs"][b]
            info = payload[key]
            transfers[key] = {
                child: net.transmit(
                    job.node, child, ready_at[key], info["bytes"], info["wire_bytes"]
                )
                for child in br.targets
            }
    out = []
    for dest in plan.destinations:
        chain = dest.chain
        hops = []
        for i, (u, v) in enumerate(zip(dest.path, dest.path[1:])):
            tr = transfers[chain[i]][v]
            info = payload[chain[i]]
            hops.append(
                {
                    "src": u,
                    "dst": v,
                    "level": info["level"],
                    "bytes": info["bytes"],
                    "wire_bytes": tr.wire_bytes,
                    "start_s": tr.start_s,
                    "tx_s": tr.tx_s,
                    "queue_s": tr.queue_s,
                    "arrive_s": tr.arrive_s,
                }
            )
        nodes = {}
        for node, (j, b) in zip(dest.path, chain):
            job = plan.jobs[j]
            segs = [] if job.branches[b].forward else job.branch_path(b)
            st = stats.get(j)
            measured = sum(st["segments"][k]["s"] for k in segs) if segs else 0.0
            nodes[node] = {
                "compute_s": measured / speed[node],
                "measured_s": measured,
                "flops": sum(st["segments"][k]["flops"] for k in segs) if segs else 0,
                "ops": [op for k in segs for op in st["segments"][k]["ops"]],
            }
        last_j, last_b = chain[-1]
        done = ready_at[chain[-1]]
        out.append(
            DestinationTiming(
                node=dest.node,
                done_s=done,
                latency_s=done - release_s,
                hops=hops,
                nodes=nodes,
                final=stats[last_j]["outputs"][last_b],
                payload=payload[chain[-2]],
            )
        )
    return out
