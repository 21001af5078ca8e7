"""The discrete-event network model (SimPy): FIFO links, multi-core nodes, incremental runs.

Pure Python + SimPy. One event queue is shared by every unit of work (an image of one flow
and one method) of a world, so the queues of different images and flows interact the way
they would on a real network. Times are seconds of virtual time. :mod:`hcf_ray.sim.world`
builds the units (priced by :mod:`hcf_ray.sim.net.pricing`) and runs them here.

Input
-----
A :class:`WorkUnit` mirrors a :class:`~hcf_ray.sim.planner.FlowPlan` for one image: its
:class:`WorkJob` s (one per node and incoming stream, parents before children) and, per job,
its :class:`WorkBranch` es (one output stream each, sent to one or more children).

Semantics
---------
*Jobs.* A unit's source jobs (``input is None``) become ready at ``release_s``; any other job
becomes ready when its input transmission (``input = (job, branch)``, the copy sent to this
job's node) arrives. A job with segments requests ONE core of its node; a node with ``cores``
cores is a ``simpy.Resource(capacity=cores)``, served FIFO in request order. It holds that
core while its segments run back to back, segment ``i`` taking ``segments[i] / node.speed``
seconds; the end of segment ``i`` makes ready every branch with ``final_segment == i``, and
the core is released when the last segment ends. A job without segments needs no core
(start = end = ready, compute 0); its branches must be forwards.

*Branches.* A forward branch (``final_segment is None``) is ready when its job is ready. A
ready branch is sent, in the order of ``targets``, on the link ``job.node -> target`` for
every target (one transmission per link). At one instant, a job first sends its forward
branches (in branch order) and then requests its core.

*Links.* One FIFO server per direction (``simpy.Resource(capacity=1)``)::

    start  = when the link is free, in request order     queue = start - ready
    tx     = wire · 8 / (bandwidth_mbps · 1e6)            (the link is held during tx only)
    end    = start + tx                                   (the last bit sent)
    arrive = end + latency_ms / 1000                      (propagation does not hold the link;
                                                            several messages can be in flight)

``wire`` is the branch's ``wire_bytes`` (``nbytes`` when None) plus retransmissions.

*Capacity that changes.* A link with a ``capacity`` (:mod:`hcf_ray.sim.net.traces`: a trace,
or a share left by background traffic) ignores ``bandwidth_mbps``: ``end =
capacity.tx_end(start, wire)``, the first instant at which the capacity integrated from
``start`` carries ``wire`` bytes (for a Mahimahi trace: the delivery opportunity that
carries the last packet; the next message on the link starts with the opportunity after
it), and ``tx = end - start``. Zero capacity holds the message (and the link) until
capacity returns. A message that no capacity will ever carry (``end`` is infinite) is
*stalled*: it releases the link at once, never arrives, and nothing that depends on it
runs; its :class:`TransferTiming` has ``stalled=True`` and infinite ``end_s``/``arrive_s``,
and its unit lists the link in ``UnitTiming.stalled`` (and completes when everything else
has). ``mean_mbps`` of a transfer is the capacity it saw, ``wire·8/(end − start)``
(``bandwidth_mbps`` on a constant link; the capacity at ``start`` when ``end == start``).

*Outages* (``down`` intervals ``[from_s, to_s)``, from a topology's ``faults``). A message
that reaches the head of its link's queue while the link is down waits for the end of the
outage (holding the link, so the FIFO order is kept); a message already being sent when an
outage begins is not affected. Nodes likewise: a job that gets a core while its node is down
starts when the outage ends; a running job finishes.

*Loss* is link-layer ARQ (retransmission), not an expected-time correction: the message is
cut into 1500-byte packets (the last one possibly shorter; at least one packet), each packet is lost
with probability ``loss`` and every lost copy is resent at once, adding its size to ``wire``
(so the extra is a whole number of packets). The draws come from one seeded stream per
directed link, ``random.Random(f"{seed}:{u}->{v}")``, consumed in the order transmissions
start on that link. With ``loss == 0`` no random number is drawn.

*Ties.* Requests made at the same instant are served in the order they were made; all such
orders follow from the event order, which is deterministic: at an instant, the units released
then start first (in submission order), before any other event of that instant; SimPy then
processes events in the order they were scheduled. No wall clock, no hash-dependent order: the
same inputs and seed always give the same timings.

*Completion.* A unit is complete when all its jobs have finished and all its transmissions
have arrived (stalled ones, and what depends on them, excepted); ``done_s`` is that instant.

Incremental use
---------------
:class:`EventNetwork` lets a driver submit units in release order while it still computes
later ones::

    net = EventNetwork(links, nodes, seed)
    done = []
    for unit in units:                         # in release order, computed on the way
        done += net.run(until=unit.release_s)  # every event strictly before this release
        net.submit(unit)
    done += net.run()                          # drain

``run(until=t)`` processes every event strictly before ``t`` and leaves the clock at exactly
``t`` (events at ``t`` wait for the next call); ``run()`` processes everything. Advancing like
this gives exactly the timings of :func:`simulate` (all units at once). One caveat: ``run()``
processes the events of its last instant; a unit submitted afterwards with ``release_s`` equal
to that instant starts after them (in one batch it would have started before them).

Stats
-----
:meth:`EventNetwork.stats` has the shape of ``VirtualNetwork.stats()``, over the activity that
has finished so far (a message counts once its serialisation ends, a job once its last segment
ends); ``horizon_s`` is the latest such end or arrival (the whole run once drained). Only links
and nodes that were used are listed (a node is used once it has run a job with segments).
A link with stalled messages also reports ``stalled`` (their count).
Node energy: a node draws ``idle_w`` when idle and ``busy_w`` when all its cores are busy,
linearly in between, so over the horizon ``energy_j = idle_w·horizon + (busy_w − idle_w)·
busy_core_s/cores``, split into ``busy_j = busy_w·busy_core_s/cores`` and ``idle_j =
idle_w·(horizon − busy_core_s/cores)``; ``utilisation = busy_core_s / (horizon·cores)``, with
``busy_core_s = compute_s`` (on-node seconds).
"""

from __future__ import annotations

import functools
import heapq
import math
import random
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from hcf_ray.sim.net.traces import Capacity

MTU_BYTES = 1500


# -- input ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkModel:
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0  # per-packet loss probability (1500-byte packets), resent at once
    down: tuple[tuple[float, float], ...] = ()  # outages [from_s, to_s): no message starts
    capacity: Capacity | None = None  # changing capacity (bandwidth_mbps ignored); None: constant


@dataclass(frozen=True)
class NodeModel:
    cores: int = 1
    speed: float = 1.0  # compute seconds are divided by this
    busy_w: float = 0.0  # power with every core busy
    idle_w: float = 0.0  # power with every core idle
    down: tuple[tuple[float, float], ...] = ()  # outages [from_s, to_s): no job starts


@dataclass(frozen=True)
class WorkBranch:
    targets: tuple[str, ...]  # children this output is sent to (one transmission per link)
    final_segment: int | None  # segment whose end makes it ready; None: forward (job's input)
    nbytes: float = 0.0  # payload bytes (stats)
    wire_bytes: float | None = None  # bytes serialised before loss (None: nbytes)


@dataclass(frozen=True)
class WorkJob:
    index: int
    node: str
    input: tuple[int, int] | None  # (job, branch) sent to this node; None: the unit's release
    segments: tuple[float, ...]  # speed-1.0 seconds, run back to back on one core
    branches: tuple[WorkBranch, ...]


@dataclass(frozen=True)
class WorkUnit:
    key: Hashable  # opaque id, e.g. (flow, method, image index)
    release_s: float
    jobs: tuple[WorkJob, ...]  # parents before children


# -- output -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransferTiming:
    src: str
    dst: str
    ready_s: float
    start_s: float
    tx_s: float
    queue_s: float
    arrive_s: float
    nbytes: float
    wire_bytes: float  # serialised, retransmissions included
    end_s: float = math.nan  # last bit sent (inf: stalled)
    mean_mbps: float = math.nan  # capacity the message saw
    stalled: bool = False  # no capacity will ever carry it


@dataclass(frozen=True)
class JobTiming:
    node: str
    ready_s: float
    start_s: float
    end_s: float
    queue_s: float
    segment_end_s: tuple[float, ...]
    compute_s: float  # on-node seconds (after speed)


@dataclass(frozen=True)
class UnitTiming:
    key: Hashable
    release_s: float
    done_s: float
    jobs: Mapping[int, JobTiming]
    branch_ready_s: Mapping[tuple[int, int], float]
    transfers: Mapping[tuple[int, int, str], TransferTiming]  # (job, branch, target)
    stalled: tuple[str, ...] = ()  # links "u->v" of stalled messages (what follows never ran)


# -- internals --------------------------------------------------------------------------------
class _Clock(simpy.Environment):
    def advance_to(self, t: float) -> None:
        """Process every event strictly before ``t``, then set the clock to exactly ``t``.

        (``Environment.run(until=t)`` would stop at ``now + (t - now)``, which can miss ``t``
        by one ulp; an exact clock keeps releases, and so incremental and batch runs, equal.)
        """
        while self.peek() < t:
            self.step()
        self._now = t


@dataclass
class _Link:
    model: LinkModel
    env: simpy.Environment
    seed: str  # of the link's loss stream
    bytes: float = 0.0
    wire_bytes: float = 0.0
    messages: int = 0
    busy_s: float = 0.0
    queue_s: float = 0.0
    max_queue_s: float = 0.0
    stalled: int = 0  # messages no capacity will ever carry
    cursor: Any = None  # the capacity's state after the last message (Mahimahi: opportunity)

    # the FIFO server and the loss stream are made when first used: most links of a world
    # carry nothing, and seeding a stream by name costs more than simulating a message
    @functools.cached_property
    def server(self) -> simpy.Resource:
        return simpy.Resource(self.env, capacity=1)

    @functools.cached_property
    def rng(self) -> random.Random:
        return random.Random(self.seed)

    def retransmitted(self, wire: float) -> float:
        if self.model.loss <= 0:
            return 0.0
        extra = 0.0
        packets = max(1, math.ceil(wire / MTU_BYTES))
        for i in range(packets):
            size = min(MTU_BYTES, wire - i * MTU_BYTES)
            while self.rng.random() < self.model.loss:
                extra += size
        return extra

    def stats(self, horizon_s: float) -> dict:
        out = {
            "bytes": self.bytes,
            "wire_bytes": self.wire_bytes,
            "messages": self.messages,
            "busy_s": self.busy_s,
            "utilisation": self.busy_s / horizon_s if horizon_s > 0 else 0.0,
            "mean_queue_s": self.queue_s / self.messages if self.messages else 0.0,
            "max_queue_s": self.max_queue_s,
        }
        if self.stalled:
            out["stalled"] = self.stalled
        return out


@dataclass
class _Node:
    model: NodeModel
    env: simpy.Environment
    compute_s: float = 0.0  # on-node (speed-scaled) busy core-seconds
    measured_s: float = 0.0  # speed-1.0 seconds
    jobs: int = 0
    wait_s: float = 0.0

    @functools.cached_property
    def cores(self) -> simpy.Resource:
        return simpy.Resource(self.env, capacity=int(self.model.cores))

    def stats(self, horizon_s: float) -> dict:
        m = self.model
        busy = self.compute_s / m.cores  # seconds of the whole node busy
        busy_j = m.busy_w * busy
        idle_j = m.idle_w * (horizon_s - busy)
        return {
            "compute_s": self.compute_s,
            "measured_s": self.measured_s,
            "jobs": self.jobs,
            "mean_wait_s": self.wait_s / self.jobs if self.jobs else 0.0,
            "utilisation": busy / horizon_s if horizon_s > 0 else 0.0,
            "cores": m.cores,
            "busy_j": busy_j,
            "idle_j": idle_j,
            "energy_j": busy_j + idle_j,
        }


@dataclass
class _UnitRun:
    unit: WorkUnit
    seq: int
    remaining: int  # jobs + transmissions not finished yet
    children: dict[tuple[int, int, str], list[WorkJob]]
    jobs: dict[int, JobTiming] = field(default_factory=dict)
    branch_ready: dict[tuple[int, int], float] = field(default_factory=dict)
    transfers: dict[tuple[int, int, str], TransferTiming] = field(default_factory=dict)
    done_s: float | None = None
    stalled: list[str] = field(default_factory=list)

    def timing(self) -> UnitTiming:
        u = self.unit
        if self.stalled:  # only what ran
            return UnitTiming(
                key=u.key,
                release_s=u.release_s,
                done_s=self.done_s,
                jobs={j.index: self.jobs[j.index] for j in u.jobs if j.index in self.jobs},
                branch_ready_s={
                    (j.index, b): self.branch_ready[j.index, b]
                    for j in u.jobs
                    for b in range(len(j.branches))
                    if (j.index, b) in self.branch_ready
                },
                transfers={
                    (j.index, b, t): self.transfers[j.index, b, t]
                    for j in u.jobs
                    for b, br in enumerate(j.branches)
                    for t in br.targets
                    if (j.index, b, t) in self.transfers
                },
                stalled=tuple(dict.fromkeys(self.stalled)),
            )
        return UnitTiming(
            key=u.key,
            release_s=u.release_s,
            done_s=self.done_s,
            jobs={j.index: self.jobs[j.index] for j in u.jobs},
            branch_ready_s={
                (j.index, b): self.branch_ready[j.index, b]
                for j in u.jobs
                for b in range(len(j.branches))
            },
            transfers={
                (j.index, b, t): self.transfers[j.index, b, t]
                for j in u.jobs
                for b, br in enumerate(j.branches)
                for t in br.targets
            },
        )


def _wait_up(env: simpy.Environment, down: tuple[tuple[float, float], ...]):
    """Wait while ``env.now`` lies in an outage (outages may touch or overlap)."""
    moved = True
    while moved:
        moved = False
        for a, b in down:
            if a <= env.now < b:
                yield env.timeout(b - env.now)
                moved = True


def _finite(x: float, what: str, low: float = 0.0, strict: bool = False) -> None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and (v > low if strict else v >= low)):
        raise ValueError(f"{what} must be a finite number {'>' if strict else '>='} {low}: {x!r}")


# -- the network ------------------------------------------------------------------------------
class EventNetwork:
    """Links and nodes of one simulated world on one SimPy clock (see the module docstring)."""

    def __init__(
        self,
        links: Mapping[tuple[str, str], LinkModel],
        nodes: Mapping[str, NodeModel],
        seed: int | str = 0,
    ):
        self._env = _Clock()
        self._links: dict[tuple[str, str], _Link] = {}
        for (u, v), ln in links.items():
            name = f"{u}->{v}"
            if ln.capacity is None:
                _finite(ln.bandwidth_mbps, f"link {name}: bandwidth_mbps", strict=True)
            _finite(ln.latency_ms, f"link {name}: latency_ms")
            if not 0.0 <= ln.loss < 1.0:
                raise ValueError(f"link {name}: loss must be in [0, 1): {ln.loss!r}")
            self._links[u, v] = _Link(ln, self._env, f"{seed}:{u}->{v}")
        self._nodes: dict[str, _Node] = {}
        for n, nm in nodes.items():
            if isinstance(nm.cores, bool) or int(nm.cores) != nm.cores or nm.cores < 1:
                raise ValueError(f"node {n}: cores must be an integer >= 1: {nm.cores!r}")
            _finite(nm.speed, f"node {n}: speed", strict=True)
            _finite(nm.busy_w, f"node {n}: busy_w")
            _finite(nm.idle_w, f"node {n}: idle_w")
            self._nodes[n] = _Node(nm, self._env)
        self._pending: list[tuple[float, int, _UnitRun]] = []  # heap: (release, seq, unit)
        self._completed: list[_UnitRun] = []
        self._seq = 0
        self._horizon = 0.0

    @property
    def now(self) -> float:
        return self._env.now

    # -- submission -----------------------------------------------------------------------
    def submit(self, unit: WorkUnit) -> None:
        """Queue ``unit`` for release at ``unit.release_s`` (>= now); checks it first."""
        _finite(unit.release_s, f"unit {unit.key!r}: release_s")
        if unit.release_s < self.now:
            raise ValueError(
                f"unit {unit.key!r}: release_s {unit.release_s} is before now ({self.now})"
            )
        children = self._check(unit)
        remaining = sum(1 + sum(len(b.targets) for b in j.branches) for j in unit.jobs)
        run = _UnitRun(unit, self._seq, remaining, children)
        self._seq += 1
        if remaining == 0:  # nothing to do: complete at release
            run.done_s = unit.release_s
        heapq.heappush(self._pending, (unit.release_s, run.seq, run))

    def _check(self, unit: WorkUnit) -> dict[tuple[int, int, str], list[WorkJob]]:
        where = f"unit {unit.key!r}"
        seen: dict[int, WorkJob] = {}
        children: dict[tuple[int, int, str], list[WorkJob]] = {}
        for job in unit.jobs:
            at = f"{where} job {job.index}"
            if job.index in seen:
                raise ValueError(f"{at}: duplicate job index")
            if job.node not in self._nodes:
                raise ValueError(f"{at}: unknown node {job.node!r}")
            for s in job.segments:
                _finite(s, f"{at}: segment seconds")
            if job.input is not None:
                j, b = job.input
                parent = seen.get(j)
                if parent is None:
                    raise ValueError(f"{at}: input job {j} is not an earlier job of the unit")
                if not 0 <= b < len(parent.branches):
                    raise ValueError(f"{at}: input job {j} has no branch {b}")
                if job.node not in parent.branches[b].targets:
                    raise ValueError(f"{at}: input ({j}, {b}) is not sent to {job.node!r}")
                children.setdefault((j, b, job.node), []).append(job)
            for b, br in enumerate(job.branches):
                if br.final_segment is not None and not 0 <= br.final_segment < len(job.segments):
                    raise ValueError(
                        f"{at} branch {b}: final_segment {br.final_segment} out of range "
                        f"({len(job.segments)} segments)"
                    )
                _finite(br.nbytes, f"{at} branch {b}: nbytes")
                if br.wire_bytes is not None:
                    _finite(br.wire_bytes, f"{at} branch {b}: wire_bytes")
                if len(set(br.targets)) != len(br.targets):
                    raise ValueError(f"{at} branch {b}: repeated target in {br.targets}")
                for t in br.targets:
                    if (job.node, t) not in self._links:
                        raise ValueError(f"{at} branch {b}: unknown link {job.node}->{t}")
            seen[job.index] = job
        return children

    # -- running --------------------------------------------------------------------------
    def run(self, until: float | None = None) -> list[UnitTiming]:
        """Advance; the units completed during this call, in completion order (ties:
        submission order). ``until``: process events strictly before it (clock ends at
        ``until``); None: until no event remains."""
        return [r.timing() for r in self._run(until)]

    def _run(self, until: float | None) -> list[_UnitRun]:
        if until is not None:
            until = float(until)
            if math.isnan(until) or until < self.now:
                raise ValueError(f"run(until={until}): must be >= now ({self.now})")
        while self._pending and (until is None or self._pending[0][0] < until):
            release, _, run = heapq.heappop(self._pending)
            self._env.advance_to(release)
            self._start(run)
        if until is None:
            self._env.run()
        else:
            self._env.advance_to(until)
        done, self._completed = self._completed, []
        done.sort(key=lambda r: (r.done_s, r.seq))
        return done

    def _start(self, run: _UnitRun) -> None:
        if run.remaining == 0:
            self._horizon = max(self._horizon, self.now)
            self._completed.append(run)
            return
        for job in run.unit.jobs:
            if job.input is None:
                self._env.process(self._job(run, job))

    def _finish_one(self, run: _UnitRun) -> None:
        now = self.now
        self._horizon = max(self._horizon, now)
        run.remaining -= 1
        if run.remaining == 0:
            run.done_s = now
            self._completed.append(run)

    def _job(self, run: _UnitRun, job: WorkJob):
        env = self._env
        ready = env.now
        for b, br in enumerate(job.branches):
            if br.final_segment is None:
                self._send(run, job, b)
        ends: list[float] = []
        if job.segments:
            node = self._nodes[job.node]
            speed = node.model.speed
            with node.cores.request() as req:
                yield req
                yield from _wait_up(env, node.model.down)
                start = env.now
                for i, s in enumerate(job.segments):
                    yield env.timeout(s / speed)
                    ends.append(env.now)
                    for b, br in enumerate(job.branches):
                        if br.final_segment == i:
                            self._send(run, job, b)
            end = env.now
            compute = sum(s / speed for s in job.segments)
            node.compute_s += compute
            node.measured_s += sum(job.segments)
            node.jobs += 1
            node.wait_s += start - ready
        else:
            start = end = ready
            compute = 0.0
        run.jobs[job.index] = JobTiming(
            node=job.node,
            ready_s=ready,
            start_s=start,
            end_s=end,
            queue_s=start - ready,
            segment_end_s=tuple(ends),
            compute_s=compute,
        )
        self._finish_one(run)

    def _send(self, run: _UnitRun, job: WorkJob, b: int) -> None:
        """Branch ``b`` of ``job`` is ready now: queue it on the link to every target."""
        run.branch_ready[job.index, b] = self.now
        for target in job.branches[b].targets:
            link = self._links[job.node, target]
            req = link.server.request()  # joins the link's FIFO now, in target order
            self._env.process(self._transmit(run, job, b, target, link, req))

    def _transmit(self, run: _UnitRun, job: WorkJob, b: int, target: str, link: _Link, req):
        env = self._env
        br = job.branches[b]
        ready = env.now
        yield req
        yield from _wait_up(env, link.model.down)
        start = env.now
        base = float(br.nbytes if br.wire_bytes is None else br.wire_bytes)
        wire = base + link.retransmitted(base)
        cap = link.model.capacity
        if cap is None:
            tx = wire * 8.0 / (link.model.bandwidth_mbps * 1e6)
            mean = link.model.bandwidth_mbps
        else:
            end, cursor = cap.transmit(start, wire, link.cursor)
            if end == math.inf:
                link.server.release(req)
                self._stall(run, job, b, target, link, ready, start, wire)
                return
            link.cursor = cursor
            tx = end - start
            mean = wire * 8.0 / (tx * 1e6) if tx > 0 else cap.at_mbps(start)
        yield env.timeout(tx)
        end_s = env.now
        link.server.release(req)
        queue = start - ready
        link.bytes += br.nbytes
        link.wire_bytes += wire
        link.messages += 1
        link.busy_s += tx
        link.queue_s += queue
        link.max_queue_s = max(link.max_queue_s, queue)
        self._horizon = max(self._horizon, env.now)
        yield env.timeout(link.model.latency_ms / 1000.0)
        run.transfers[job.index, b, target] = TransferTiming(
            src=job.node,
            dst=target,
            ready_s=ready,
            start_s=start,
            tx_s=tx,
            queue_s=queue,
            arrive_s=env.now,
            nbytes=br.nbytes,
            wire_bytes=wire,
            end_s=end_s,
            mean_mbps=mean,
        )
        for child in run.children.get((job.index, b, target), ()):
            env.process(self._job(run, child))
        self._finish_one(run)

    def _stall(self, run, job, b, target, link, ready, start, wire) -> None:
        """A message no capacity will ever carry: record it, drop what depends on it."""
        br = job.branches[b]
        link.stalled += 1
        run.stalled.append(f"{job.node}->{target}")
        run.transfers[job.index, b, target] = TransferTiming(
            src=job.node,
            dst=target,
            ready_s=ready,
            start_s=start,
            tx_s=math.inf,
            queue_s=start - ready,
            arrive_s=math.inf,
            nbytes=br.nbytes,
            wire_bytes=wire,
            end_s=math.inf,
            mean_mbps=0.0,
            stalled=True,
        )

        def dependants(key) -> int:  # jobs and transmissions that wait on ``key``
            n = 0
            for child in run.children.get(key, ()):
                n += 1
                for cb, cbr in enumerate(child.branches):
                    for t in cbr.targets:
                        n += 1 + dependants((child.index, cb, t))
            return n

        run.remaining -= dependants((job.index, b, target))
        self._finish_one(run)

    # -- stats ----------------------------------------------------------------------------
    def stats(self) -> dict:
        h = self._horizon
        return {
            "horizon_s": h,
            "links": {
                f"{u}->{v}": c.stats(h)
                for (u, v), c in self._links.items()
                if c.messages or c.stalled
            },
            "nodes": {n: c.stats(h) for n, c in self._nodes.items() if c.jobs},
        }


def simulate(
    units: Iterable[WorkUnit],
    links: Mapping[tuple[str, str], LinkModel],
    nodes: Mapping[str, NodeModel],
    seed: int | str = 0,
) -> list[UnitTiming]:
    """Submit every unit, run to the end; timings in the order of ``units``."""
    net = EventNetwork(links, nodes, seed)
    units = list(units)
    for unit in units:
        net.submit(unit)
    by_seq = {r.seq: r.timing() for r in net._run(None)}
    return [by_seq[i] for i in range(len(units))]
