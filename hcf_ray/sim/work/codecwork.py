"""Codec work for many units (flow × method × image), computed once per lineage.

For every unit the driver derives the lineage key of each (job, branch) of its plan
(:mod:`hcf_ray.sim.work.cache`). A branch whose key is cached, or already being computed for
an earlier unit, is not computed again; a job runs remotely only for its missing branches
(the planner's segments are re-planned for that subset, so a fork still shares its common
prefix). Payloads move actor to actor as ObjectRefs; the driver receives small stats dicts.

Units are collected in submission order, so callers see results in a deterministic order
whatever ``max_in_flight`` is. With ``timing: measured`` nothing is taken from the cache:
every job of every unit runs, and its wall-clock segment times are kept.

Faults. A unit whose work was lost to the system (an actor or its machine died, an object was
lost, a wait timed out) is submitted again from its image, computing every branch afresh, up
to ``max_tries`` times; the actor that failed is reported to the backend. A unit that still
fails, or fails in its own right (a payload that does not verify, a model error), comes back
as a :class:`UnitResult` with ``error`` set, and the other units go on. ``failures`` lists
every failed try.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import (
    GetTimeoutError,
    ObjectLostError,
    OwnerDiedError,
    RayActorError,
    RayError,
    RayTaskError,
    WorkerCrashedError,
)

from hcf_ray.sim.planner import FlowPlan, Job, plan_segments
from hcf_ray.sim.pool import SimulationError, actor_death_reason, task_error_cause
from hcf_ray.sim.work.backend import Backend
from hcf_ray.sim.work.cache import CodecCache, lineage_keys, source_key


@dataclass
class UnitRequest:
    key: Any  # caller's id of the unit
    plan: FlowPlan
    image: Path
    image_sha256: str
    transport: str
    label: str = ""  # for error messages, e.g. "photo.png (cam1/hcf)"
    corrupt: dict[tuple[str, str], str] | None = None  # injected: link -> damage mode
    crash_at: str | None = None  # injected: the actor running this node's job dies


@dataclass
class UnitResult:
    key: Any
    infos: dict[tuple[int, int], dict]  # every computing branch: its result
    cached: dict[tuple[int, int], bool]  # taken from the cache (or shared with another unit)
    segment_s: dict[int, list[float]] = field(default_factory=dict)  # measured mode only
    error: str | None = None  # the unit failed: why (one line)
    tries: int = 1


@dataclass
class _Pending:
    stats_ref: Any
    payload_ref: Any
    branch: int  # index in the reduced job
    job: Job  # the reduced job that computes it
    node: str
    actor: str = ""


class UnitFailure(Exception):
    def __init__(self, cause: str, retriable: bool, actor: str = "", node: str = ""):
        super().__init__(cause)
        self.cause = cause
        self.retriable = retriable
        self.actor = actor
        self.node = node


SYSTEM_ERRORS = (RayActorError, ObjectLostError, OwnerDiedError, WorkerCrashedError)


class CodecWork:
    def __init__(
        self,
        backend: Backend,
        cache: CodecCache,
        bundle_sha256: str,
        images,
        timeout_s: float = 600.0,
        reuse: bool = True,
        max_tries: int = 3,
    ):
        self.backend = backend
        self.max_tries = max(1, max_tries)
        self.failures: list[dict] = []
        self.last_actor: dict[str, str] = {}  # node -> actor that last ran one of its jobs

        self.cache = cache
        self.bundle = bundle_sha256
        self.images = images
        self.timeout_s = timeout_s
        self.reuse = reuse
        self._pending: dict[str, _Pending] = {}

    def run(
        self,
        requests: Iterable[UnitRequest],
        max_in_flight: int = 8,
        on_result: Callable[[UnitResult], None] | None = None,
    ) -> list[UnitResult]:
        out: list[UnitResult] = []
        flight: deque = deque()
        it = iter(requests)
        exhausted = False
        while True:
            while not exhausted and len(flight) < max(1, max_in_flight):
                req = next(it, None)
                if req is None:
                    exhausted = True
                    break
                flight.append(self._submit(req))
            if not flight:
                break
            res = self._finish(*flight.popleft())
            if on_result:
                on_result(res)
            else:
                out.append(res)
        return out

    # -- one unit ----------------------------------------------------------------------------
    def _finish(self, req: UnitRequest, keys, own, tries: int = 1) -> UnitResult:
        """Collect a unit; resubmit it after a system failure, up to ``max_tries``."""
        while True:
            try:
                res = self._collect(req, keys, own)
                res.tries = tries
                return res
            except UnitFailure as f:
                for (j, b), p in own.items():
                    if self._pending.get(keys[j, b]) is p:
                        del self._pending[keys[j, b]]
                retry = f.retriable and tries < self.max_tries
                self.failures.append(
                    {
                        "unit": req.label or str(req.key),
                        "try": tries,
                        "node": f.node,
                        "actor": f.actor,
                        "cause": f.cause,
                        "retried": retry,
                    }
                )
                if f.actor:
                    self.backend.suspect(f.actor)
                if not retry:
                    return UnitResult(req.key, {}, {}, error=f.cause, tries=tries)
                tries += 1
                try:
                    req, keys, own = self._submit(req, fresh=True)
                except RayError as exc:
                    return UnitResult(req.key, {}, {}, error=_one_line(exc), tries=tries)

    def _submit(self, req: UnitRequest, fresh: bool = False):
        """Submit a unit's missing work; ``fresh``: compute every branch, sharing nothing (a
        retry, or a unit with injected faults)."""
        retry = fresh
        plan = req.plan
        src = source_key(self.bundle, req.image_sha256, req.transport)
        keys = lineage_keys(plan, src)
        fresh = fresh or bool(req.corrupt) or req.crash_at is not None
        compute = self._all_branches(plan) if fresh else self._to_compute(plan, keys)
        own: dict[tuple[int, int], _Pending] = {}
        outputs: dict[tuple[int, int], Any] = {}
        image_ref = None
        size = self.images.size(req.image)
        for job in plan.jobs:
            need = [b for b, br in enumerate(job.branches) if (job.index, b) in compute]
            if not need:
                continue
            if job.input is None or any(job.branches[b].destination for b in need):
                image_ref = image_ref or self.images.ref(req.image)
            inp = image_ref if job.input is None else self._payload(plan, keys, job.input, outputs)
            if req.corrupt and job.input is not None:
                mode = next(
                    (req.corrupt[h] for h in _hops_into(plan, job) if h in req.corrupt), None
                )
                if mode is not None:
                    inp = _damage.remote(inp, mode)
            branches = tuple(job.branches[b] for b in need)
            crash = req.crash_at == job.node and not retry
            reduced = Job(job.index, job.node, job.input, branches, plan_segments(branches), crash)
            img = image_ref if any(br.destination for br in branches) else None
            refs, actor = self.backend.submit(reduced, inp, img, size, req.transport)
            self.last_actor[job.node] = actor

            for i, b in enumerate(need):
                p = _Pending(refs[-1], refs[i], i, reduced, job.node, actor)
                own[job.index, b] = p
                outputs[job.index, b] = refs[i]
                if self.reuse and not fresh:
                    self._pending[keys[job.index, b]] = p
                self.cache.stats.misses += 1
                self.cache.stats.computed_keys.append(keys[job.index, b])
        return req, keys, own

    @staticmethod
    def _all_branches(plan: FlowPlan) -> set[tuple[int, int]]:
        return {
            (job.index, b)
            for job in plan.jobs
            for b, br in enumerate(job.branches)
            if not br.forward
        }

    def _to_compute(self, plan: FlowPlan, keys) -> set[tuple[int, int]]:
        """Branches to compute: not cached (or measured timing), plus cached parents whose
        payload a computed child needs but which is no longer held."""
        compute: set[tuple[int, int]] = set()
        chosen: set[str] = set()  # two children of one stream may run the same stage
        reused: dict[tuple[int, int], str] = {}  # branch -> the counter it was added to
        stats = self.cache.stats
        for job in plan.jobs:
            for b, br in enumerate(job.branches):
                if br.forward:
                    continue
                k = keys[job.index, b]
                if not self.reuse:
                    compute.add((job.index, b))
                elif k in self._pending or k in chosen:
                    stats.shared += 1
                    reused[job.index, b] = "shared"
                elif self.cache.info(k) is not None:
                    stats.hits += 1
                    reused[job.index, b] = "hits"
                else:
                    compute.add((job.index, b))
                    chosen.add(k)
        if not self.reuse:
            return compute
        for job in reversed(plan.jobs):  # children before parents
            if job.input is None or not any(
                (job.index, b) in compute for b in range(len(job.branches))
            ):
                continue
            parent = _computing_parent(plan, job.input)
            if parent is None or parent in compute:
                continue
            k = keys[parent]
            if k not in self._pending and self.cache.payload_ref(k) is None:
                # computed after all (its payload is not held): no longer a hit, nor shared
                # with the branch of this unit that computes the same stage
                compute.add(parent)
                counter = reused.pop(parent)
                setattr(stats, counter, getattr(stats, counter) - 1)
        return compute

    def _payload(self, plan: FlowPlan, keys, branch: tuple[int, int], outputs) -> Any:
        """The payload ref arriving over ``branch`` (forward branches pass their input)."""
        branch = _computing_parent(plan, branch)
        if branch in outputs:
            return outputs[branch]
        k = keys[branch]
        if k in self._pending:
            return self._pending[k].payload_ref
        ref = self.cache.payload_ref(k)
        if ref is None:
            raise SimulationError(f"internal: payload of {k[:12]} is neither cached nor computed")
        return ref

    def _collect(self, req: UnitRequest, keys, own: dict[tuple[int, int], _Pending]):
        plan = req.plan
        waiting: dict[int, _Pending] = {}  # id(stats ref) → the branch computing it
        for job in plan.jobs:
            for b, br in enumerate(job.branches):
                if br.forward:
                    continue
                p = own.get((job.index, b)) or self._pending.get(keys[job.index, b])
                if p is not None:
                    waiting[id(p.stats_ref)] = p
        stats_by_ref = self._get(list(waiting.values()), req)
        infos: dict[tuple[int, int], dict] = {}
        cached: dict[tuple[int, int], bool] = {}
        segment_s: dict[int, list[float]] = {}
        for job in plan.jobs:
            for b, br in enumerate(job.branches):
                if br.forward:
                    continue
                k = keys[job.index, b]
                p = own.get((job.index, b))
                cached[job.index, b] = p is None
                if p is None and k in self._pending:
                    p = self._pending[k]  # computed for an earlier unit, just finished
                if p is not None:
                    st = stats_by_ref[id(p.stats_ref)]
                    info = _branch_info(p, st)
                    if self.reuse:
                        payload = None
                        if self.cache.wants_payloads_on_disk() and br.targets:
                            payload = ray.get(p.payload_ref, timeout=self.timeout_s)
                        self.cache.put(k, info, p.payload_ref if br.targets else None, payload)
                        self._pending.pop(k, None)
                    infos[job.index, b] = info
                    if not self.reuse and (job.index, b) in own:
                        segment_s[job.index] = [s["s"] for s in st["segments"]]
                else:
                    infos[job.index, b] = self.cache.info(k)
        return UnitResult(req.key, infos, cached, segment_s)

    def _get(self, pending: list[_Pending], req: UnitRequest) -> dict[int, dict]:
        refs = [p.stats_ref for p in pending]
        if not refs:
            return {}
        try:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.timeout_s)
            if len(ready) < len(refs):
                raise GetTimeoutError
            values = ray.get(refs, timeout=self.timeout_s)
        except (RayError, GetTimeoutError):
            raise self._failure(pending, req) from None
        return {id(r): v for r, v in zip(refs, values)}

    def _failure(self, pending: list[_Pending], req: UnitRequest) -> UnitFailure:
        where = req.label or str(req.key)
        for p in pending:  # parents first: the first failure is the cause
            node = p.node
            try:
                ray.get(p.stats_ref, timeout=self.timeout_s)
            except RayActorError as exc:
                why = f"node {node!r}: actor died ({actor_death_reason(exc)}) while processing {where}"
                return UnitFailure(why, True, p.actor, node)
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                system = isinstance(cause, SYSTEM_ERRORS)
                why = f"node {node!r} failed on {where}: {task_error_cause(exc)}"
                return UnitFailure(why, system, p.actor, node)
            except GetTimeoutError:
                why = f"node {node!r} timed out after {self.timeout_s:.0f} s on {where}"
                return UnitFailure(why, True, p.actor, node)
            except SYSTEM_ERRORS as exc:
                why = f"node {node!r} lost work on {where}: {type(exc).__name__}"
                return UnitFailure(why, True, p.actor, node)
            except RayError as exc:
                why = f"node {node!r} failed on {where}: {type(exc).__name__}: {task_error_cause(exc)}"
                return UnitFailure(why, False, p.actor, node)
        return UnitFailure(f"unit {where} failed", True)


def _hops_into(plan: FlowPlan, job) -> list[tuple[str, str]]:
    """The links a job's input crossed since it was last computed: forward-only relays pass
    the same bytes on, so damage on any of those links reaches this job."""
    hops: list[tuple[str, str]] = []
    child, inp = job.node, job.input
    while inp is not None:
        parent = plan.jobs[inp[0]]
        hops.append((parent.node, child))
        if not parent.branches[inp[1]].forward:
            break
        child, inp = parent.node, parent.input
    return hops


@ray.remote(num_cpus=0)
def _damage(payload, mode: str):
    """An injected fault: the wire bytes crossing a link, damaged (``faults: corrupt``)."""
    from hcf_ray.sim.faults import corrupt_bytes

    if not isinstance(payload, bytes | bytearray):
        to_bytes = getattr(payload, "to_bytes", None)
        if to_bytes is None:
            return payload  # transport: latent carries no bitstream to damage
        payload = to_bytes()
    return corrupt_bytes(bytes(payload), mode)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _computing_parent(plan: FlowPlan, branch: tuple[int, int]) -> tuple[int, int] | None:
    """Follow forward branches up to the branch that produced the payload (None: the image)."""
    while branch is not None:
        job = plan.jobs[branch[0]]
        if not job.branches[branch[1]].forward:
            return branch
        branch = job.input
    return None


def _branch_info(p: _Pending, stats: dict) -> dict:
    info = dict(stats["outputs"][p.branch])
    segs = stats["segments"]
    info["measured_s"] = sum(segs[i]["s"] for i in p.job.branch_path(p.branch))
    info["worker"] = stats.get("worker")
    return info
