"""One simulated world: priced codec work → discrete-event network → result records.

A *world* is one method's copy of the network (methods are alternative systems, not
competing traffic); the flows of that method share its links and nodes. For every unit
(flow × image) of the world, :func:`price_unit` turns the plan and the unit's codec results
into a :class:`~hcf_ray.sim.net.events.WorkUnit` — each job's segments priced on its node's
device (``timing: profile``) or taken from the actors' wall clock (``timing: measured``) —
plus everything its records need that does not depend on time. :func:`simulate_world` runs
the event network and fills in the times. Both are pure functions of plain data, so a sweep
runs its worlds as Ray tasks.

Every hop of a record carries ``link``, ``bytes``, ``start_s``, ``end_s`` (last bit sent),
``arrive_s`` and ``mean_mbps`` (the capacity the message saw). A hop over a link whose
capacity changes (a trace, background load: ``LinkSpec.capacity``) also carries ``trace``
(file, sha256, format, offset_s, loop) and ``background`` where they apply. A destination whose path holds a message that no
capacity will ever carry gets an error record (``status: "error"``) naming the link.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hcf_ray.sim.net.events import EventNetwork, LinkModel, NodeModel, WorkBranch, WorkJob, WorkUnit
from hcf_ray.sim.net.pricing import Device, slice_ops

if TYPE_CHECKING:  # this module stays torch-free: sweeps import it in Ray tasks
    from hcf_ray.sim.planner import FlowPlan


@dataclass
class PricedUnit:
    """A unit ready for the event network, with the time-independent parts of its records."""

    seq: int
    work: WorkUnit
    records: list[dict]  # one per destination; times filled in by finish_records
    chains: list[tuple[tuple[int, int], ...]]
    link_bytes: float = 0.0
    flops: int = 0
    energy_j: float = 0.0


@dataclass
class WorldSpec:
    """Plain data describing one world's network (picklable, for Ray tasks)."""

    name: str
    links: dict[tuple[str, str], LinkModel]
    nodes: dict[str, NodeModel]
    seed: int | str = 0


@dataclass
class WorldResult:
    units: list[tuple[int, list[dict]]]  # (unit seq, its records), in unit order
    stats: dict
    per_unit: list[dict] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        return [r for _, recs in self.units for r in recs]


def world_spec(
    name: str, topology, devices: Mapping[str, Device], seed, faults: Sequence = ()
) -> WorldSpec:
    """The event network of one world; ``faults``' virtual outages included."""
    from hcf_ray.sim.faults import outages

    link_down, node_down = outages(faults)
    links = {
        (u, v): LinkModel(
            ln.bandwidth_mbps,
            ln.latency_ms,
            ln.loss,
            link_down.get((u, v), ()),
            getattr(ln, "capacity", None),
        )
        for (u, v), ln in topology.links.items()
    }
    nodes = {
        n: NodeModel(
            cores=spec.cores,
            speed=spec.speed,
            busy_w=devices[n].busy_w,
            idle_w=devices[n].idle_w,
            down=node_down.get(n, ()),
        )
        for n, spec in topology.nodes.items()
    }
    return WorldSpec(name, links, nodes, seed)


def price_unit(
    seq: int,
    plan: FlowPlan,
    infos: Mapping[tuple[int, int], dict],
    size: tuple[int, int],
    devices: Mapping[str, Device],
    speeds: Mapping[str, float],
    cores: Mapping[str, int],
    timing: str,
    base: Mapping[str, Any],
    release_s: float,
    measured_segments: Mapping[int, Sequence[float]] | None = None,
) -> PricedUnit:
    """Price one unit: segment durations per job and the static fields of its records."""
    h, w = size
    jobs: list[WorkJob] = []
    payload: dict[tuple[int, int], dict] = {}
    seg_ops: dict[int, list[tuple[str, ...]]] = {}
    seg_s: dict[int, list[float]] = {}
    for job in plan.jobs:
        dev = devices[job.node]
        ops = [slice_ops(job.branches[s.branch].stage, s.start, s.stop) for s in job.segments]
        seg_ops[job.index] = ops
        if timing == "profile" or not job.segments:
            durations = [dev.seconds(o, h, w) for o in ops]
        else:
            durations = list(measured_segments[job.index])
        seg_s[job.index] = durations
        branches = []
        for b, br in enumerate(job.branches):
            if br.forward:
                info = payload[job.input]
                final = None
            else:
                info = infos[job.index, b]
                final = next(i for i, s in enumerate(job.segments) if s.branch == b and s.final)
            payload[job.index, b] = info
            nbytes = float(info.get("bytes", 0.0)) if br.targets else 0.0
            wire = float(info.get("wire_bytes", nbytes)) if br.targets else 0.0
            branches.append(WorkBranch(tuple(br.targets), final, nbytes, wire))
        jobs.append(WorkJob(job.index, job.node, job.input, tuple(durations), tuple(branches)))
    work = WorkUnit(seq, release_s, tuple(jobs))

    records, chains = [], []
    for d in plan.destinations:
        nodes = {}
        for node, (j, b) in zip(d.path, d.chain):
            job = plan.jobs[j]
            segs = [] if job.branches[b].forward else job.branch_path(b)
            ops = [op for k in segs for op in seg_ops[j][k]]
            dev = devices[node]
            compute = sum(seg_s[j][k] for k in segs) / speeds[node]
            nodes[node] = {
                "device": dev.name,
                "ops": ops,
                "compute_s": compute,
                "flops": dev.flops(ops, h, w),
                "peak_mem_mb": dev.peak_mb(ops, h, w),
                "energy_j": dev.busy_w / cores[node] * compute,
            }
        final = infos[d.chain[-1]]
        last_payload = payload[d.chain[-2]]
        rec = {
            **base,
            "destination": d.node,
            "policy": d.policy,
            "source_level": plan.source_level,
            "target_level": d.level,
            "bpp": last_payload["bytes"] * 8.0 / (h * w),
            "psnr": final["psnr"],
            "ms_ssim_db": final["ms_ssim_db"],
            "path": list(d.path),
            "levels": list(d.levels),
            "total_bytes": sum(payload[c]["bytes"] for c in d.chain[:-1]),
            "nodes": nodes,
            "compute_s": sum(n["compute_s"] for n in nodes.values()),
            "flops": sum(n["flops"] for n in nodes.values()),
            "energy_j": sum(n["energy_j"] for n in nodes.values()),
            "recon_sha256": final["recon_sha256"],
            "image_size": [h, w],
            "wall": {
                "measured_s": {
                    node: (0.0 if plan.jobs[j].branches[b].forward else infos[j, b]["measured_s"])
                    for node, (j, b) in zip(d.path, d.chain)
                },
            },
        }
        records.append(rec)
        chains.append(d.chain)
    unit_flops = sum(
        devices[job.node].flops(o, h, w) for job in plan.jobs for o in seg_ops[job.index]
    )
    unit_energy = sum(
        devices[job.node].busy_w / cores[job.node] * sum(seg_s[job.index]) / speeds[job.node]
        for job in plan.jobs
    )
    link_bytes = sum(br.nbytes * len(br.targets) for j in jobs for br in j.branches)
    return PricedUnit(seq, work, records, chains, link_bytes, unit_flops, unit_energy)


_ERROR_KEYS = (
    "flow",
    "destination",
    "image",
    "method",
    "policy",
    "source_level",
    "target_level",
    "transport",
    "timing",
    "path",
    "levels",
)


def _stalled_record(rec: dict, chain, timing) -> dict | None:
    """The error record of a destination whose path holds a stalled message; None if none."""
    for i, (u, v) in enumerate(zip(rec["path"], rec["path"][1:])):
        j, b = chain[i]
        tr = timing.transfers.get((j, b, v))
        if tr is None or tr.stalled:
            link = f"{u}->{v}"
            at = "" if tr is None else f" ({_num(tr.wire_bytes)} bytes from t={tr.start_s:.6g} s)"
            out = {k: rec[k] for k in _ERROR_KEYS if k in rec}
            out.update(
                status="error",
                cause=f"link {link}: no capacity will ever carry the message{at}",
                stalled_link=link,
            )
            return out
    return None


def _traced_hop(hop: dict, cap) -> None:
    src = cap.source
    if src is not None:
        hop["trace"] = src
    bg = getattr(cap, "background", None)
    if bg is not None:
        hop["background"] = bg


def finish_records(
    unit: PricedUnit, timing, traced: Mapping[tuple[str, str], Any] | None = None
) -> list[dict]:
    """Fill the time-dependent fields of a unit's records from its event timing.
    ``traced``: the capacity of each link whose capacity changes (its hops say more)."""
    out = []
    for rec, chain in zip(unit.records, unit.chains):
        if timing.stalled:
            err = _stalled_record(rec, chain, timing)
            if err is not None:
                out.append(err)
                continue
        hops = []
        link_queue = tx = prop = 0.0
        for i, (u, v) in enumerate(zip(rec["path"], rec["path"][1:])):
            j, b = chain[i]
            tr = timing.transfers[j, b, v]
            hops.append(
                {
                    "src": u,
                    "dst": v,
                    "level": rec["levels"][i],
                    "bytes": _num(tr.nbytes),
                    "wire_bytes": _num(tr.wire_bytes),
                    "link": f"{u}->{v}",
                    "start_s": tr.start_s,
                    "tx_s": tr.tx_s,
                    "end_s": tr.end_s,
                    "queue_s": tr.queue_s,
                    "arrive_s": tr.arrive_s,
                    "mean_mbps": tr.mean_mbps,
                }
            )
            if traced and (u, v) in traced:
                _traced_hop(hops[-1], traced[u, v])
            link_queue += tr.queue_s
            tx += tr.tx_s
            prop += tr.arrive_s - tr.start_s - tr.tx_s
        node_queue = on_node = 0.0
        nodes = {}
        for node, (j, b) in zip(rec["path"], chain):
            jt = timing.jobs[j]
            n = dict(rec["nodes"][node])
            n["queue_s"] = jt.queue_s if n["ops"] else 0.0
            # virtual times on this node for this record's stream: ready, start, branch done
            n["ready_s"] = jt.ready_s
            n["start_s"] = jt.start_s if n["ops"] else jt.ready_s
            n["end_s"] = timing.branch_ready_s[j, b] if n["ops"] else jt.ready_s
            nodes[node] = n
            if n["ops"]:
                node_queue += jt.queue_s
                on_node += timing.branch_ready_s[j, b] - jt.start_s
        done = timing.branch_ready_s[chain[-1]]
        latency = done - timing.release_s
        full = {
            **{k: v for k, v in rec.items() if k != "wall"},
            "latency_s": latency,
            "release_s": timing.release_s,
            "done_s": done,
            "latency_breakdown": {
                "compute_s": on_node,
                "node_queue_s": node_queue,
                "link_queue_s": link_queue,
                "transmission_s": tx,
                "propagation_s": prop,
            },
            "hops": hops,
            "nodes": nodes,
            "wall": rec["wall"],
        }
        out.append(full)
    return out


def simulate_world(spec: WorldSpec, units: Sequence[PricedUnit]) -> WorldResult:
    """Run one world's event network over its priced units (in release order)."""
    net = EventNetwork(spec.links, spec.nodes, spec.seed)
    traced = {k: ln.capacity for k, ln in spec.links.items() if ln.capacity is not None}
    ordered = sorted(units, key=lambda u: (u.work.release_s, u.seq))
    timings = {}
    for u in ordered:
        net.submit(u.work)
    for t in net.run():
        timings[t.key] = t
    done: list[tuple[int, list[dict]]] = []
    per_unit = []
    for u in sorted(units, key=lambda u: u.seq):
        t = timings[u.seq]
        done.append((u.seq, finish_records(u, t, traced)))
        row = {
            "seq": u.seq,
            "flow": u.records[0]["flow"] if u.records else None,
            "link_bytes": u.link_bytes,
            "compute_s": sum(j.compute_s for j in t.jobs.values()),
            "flops": u.flops,
            "energy_j": u.energy_j,
            "latency_s": t.done_s - t.release_s,
        }
        if t.stalled:
            row["stalled"] = list(t.stalled)
        per_unit.append(row)
    return WorldResult(done, net.stats(), per_unit)


def _num(x: float) -> int | float:
    """Whole byte counts as ints (real bitstreams), estimates stay floats."""
    return int(x) if float(x).is_integer() else x


def simulate_batch(batch: Sequence[tuple[Any, WorldSpec, Sequence[PricedUnit]]]) -> dict:
    """Several worlds' event simulations (a sweep's Ray task): ``{key: WorldResult}``."""
    return {key: simulate_world(spec, units) for key, spec, units in batch}


def simulate_pickled(blob: bytes) -> bytes:
    """:func:`simulate_batch` on a pickled batch, its result pickled. The batch holds plain
    dataclasses of this package, which the standard pickler writes several times faster
    than Ray's cloudpickle, whose per-object hook runs in Python."""
    return pickle.dumps(simulate_batch(pickle.loads(blob)), protocol=pickle.HIGHEST_PROTOCOL)
