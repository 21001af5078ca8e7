"""The codec pipeline of ``run``, ``sweep`` and ``search``: units → requests → codec work
(cached) → priced units or error records, with one progress reporter.

A *unit* is one flow × image × method of a scenario. The commands differ only in which
scenarios (worlds) they hand in: a run's one scenario, a sweep's generated networks, a
search's candidate worlds. For each unit :class:`CodecPipeline` builds the request (the
image's content hash names its lineage in the cache), lets :class:`~hcf_ray.sim.work.
codecwork.CodecWork` compute the branches that are neither cached nor in flight, prices the
result on the scenario's devices (:func:`~hcf_ray.sim.world.price_unit`) or turns a failure
into error records (one per destination), and reports progress through :class:`Progress`.

:func:`simulate_in_tasks` then runs many worlds' event simulations as Ray tasks (a sweep's
networks, a search's candidates); a run simulates its few worlds in-process.
"""

from __future__ import annotations

import os
import pickle
import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from hcf_ray.sim.scenario import Scenario
from hcf_ray.sim.work.cache import file_sha256
from hcf_ray.sim.work.codecwork import CodecWork, UnitRequest, UnitResult
from hcf_ray.sim.world import PricedUnit, WorldResult, WorldSpec, price_unit

Log = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


@dataclass
class RunOptions:
    """How ``run``, ``sweep`` and ``search`` execute (none of it changes a record)."""

    max_in_flight: int = 8
    timeout_s: float = 600.0  # any single wait on Ray
    check_transport: bool = True  # run: closing note, bitstream vs latent bpp on one image
    warmup: bool = True  # timing: measured — one untimed pass per flow × method first
    progress: bool = False  # a progress bar (on a terminal)
    on_unit: Callable[[int, int], None] | None = None  # (done, total) after each unit
    say: Callable[[str], None] | None = None  # one line per phase (and units k/N every 5 s
    # when there is no progress bar)
    cache_dir: str | Path | None = None  # codec-work cache on disk (default: OUT/cache)
    pool_size: int | None = None  # placement: pool — actors (default: one per CPU)
    resume: bool = False  # complete the records already in the output folder
    overwrite: bool = False  # replace them (once the new ones exist)
    retries: int = 2  # resubmissions of a unit whose work was lost to a crash
    health_every_s: float = 10.0  # ping every actor this often (and at the end)


class Progress:
    """Progress of ``total`` steps: a bar on a terminal (``bar``), otherwise one line through
    ``say`` at most every ``every_s`` seconds; ``on_step(done, total)`` after each step."""

    def __init__(
        self,
        total: int,
        say: Log | None = None,
        bar: bool = False,
        what: str = "codec work",
        unit: str = "unit",
        every_s: float = 5.0,
        on_step: Callable[[int, int], None] | None = None,
    ):
        from tqdm import tqdm

        self.total = total
        self.done = 0
        self.what, self.unit = what, unit
        self.every_s = every_s
        self._say = say or _quiet
        self._bar_on = bar
        self._bar = tqdm(total=total, disable=not bar, unit=unit, leave=False)
        self._on_step = on_step
        self._said = time.monotonic()

    def say(self, msg: str) -> None:
        self._say(msg)

    def step(self, n: int = 1, notify: bool = True) -> None:
        """``n`` more steps done (``notify``: call ``on_step``; skipped work does not)."""
        self.done += n
        self._bar.update(n)
        if not self._bar_on and time.monotonic() - self._said > self.every_s:
            self._say(f"{self.what}: {self.done}/{self.total} {self.unit}s done")
            self._said = time.monotonic()
        if notify and self._on_step:
            self._on_step(self.done, self.total)

    def close(self) -> None:
        self._bar.close()


# -- units ------------------------------------------------------------------------------------
@dataclass
class Unit:
    seq: int
    flow: str
    method: str
    image: Path
    image_index: int
    release_s: float


def units_of(scenario: Scenario) -> list[Unit]:
    """Every flow × image × method, released at ``image index · interval``, ordered by
    release time, flow and image (``seq`` is the position)."""
    units = []
    for f in scenario.flows:
        for i, img in enumerate(f.images):
            for m in f.methods:
                units.append(Unit(0, f.spec.name, m, img, i, i * f.interval_s))
    order = {f.spec.name: f.index for f in scenario.flows}
    units.sort(key=lambda u: (u.release_s, order[u.flow], u.image_index))
    for seq, u in enumerate(units):
        u.seq = seq
    return units


class ImageStore:
    """Image sizes from file headers; pixels loaded and ``ray.put`` once, only when needed."""

    def __init__(self):
        self._refs: dict[Path, Any] = {}
        self._sizes: dict[Path, tuple[int, int]] = {}

    def size(self, path: Path) -> tuple[int, int]:
        if path not in self._sizes:
            from PIL import Image

            with Image.open(path) as im:
                w, h = im.size
            self._sizes[path] = (int(h), int(w))
        return self._sizes[path]

    def ref(self, path: Path):
        if path not in self._refs:
            from hcf_ray.images import load_image

            x = load_image(path)
            self._sizes[path] = (int(x.shape[-2]), int(x.shape[-1]))
            self._refs[path] = ray.put(x.numpy())
        return self._refs[path]


def bundle_hash(scenario: Scenario) -> str:
    from hcf_ray.bundle_id import bundle_sha256

    return bundle_sha256(scenario.codec.spec, scenario.codec.phi_dir)


def record_base(scenario: Scenario, u: Unit) -> dict:
    """The fields every record of a unit starts with."""
    return {
        "flow": u.flow,
        "image": u.image.name,
        "method": u.method,
        "transport": scenario.transport,
        "timing": scenario.timing,
        # transport: latent sends no bitstream; its bytes are entropy estimates
        "estimated_bytes": scenario.transport == "latent",
        "status": "ok",
    }


def error_records(scenario: Scenario, u: Unit, status: str, cause: str) -> list[dict]:
    """One record per destination of a unit that produced no result."""
    plan = scenario.plan(u.flow, u.method)
    return [
        {
            "flow": u.flow,
            "destination": d.node,
            "image": u.image.name,
            "method": u.method,
            "policy": d.policy,
            "source_level": plan.source_level,
            "target_level": d.level,
            "transport": scenario.transport,
            "timing": scenario.timing,
            "status": status,
            "cause": cause,
        }
        for d in plan.destinations
    ]


def name_policies(scenario: Scenario, records: list[dict], world: str | None = None) -> list[dict]:
    """``records`` with their policy named (in place, and returned): ``policy`` becomes the
    policy's name (:func:`hcf_ray.sim.scenario.policy_name`; ``-`` or the method's own for
    methods that use no configured policy), followed by ``policy_args`` (the config's args),
    ``policy_sha256`` (a file policy's file; null for built-in ones) and ``policy_spec`` (the
    policy as the config wrote it, e.g. ``p.py:P(deadline_ms=80)``; records before the
    names held it as ``policy``, and output folders still key records by it). ``world``:
    the world's name in a run of several policies (records then carry ``world`` too)."""
    dests = {(f.spec.name, d.node): d for f in scenario.flows for d in f.spec.destinations}
    for i, rec in enumerate(records):
        spec = rec.get("policy")
        d = dests.get((rec.get("flow"), rec.get("destination")))
        own = d is not None and _uses_policy(rec.get("method"))
        named = {
            "policy": (d.name or spec) if own else spec,
            "policy_args": dict(d.args) if own else None,
            "policy_sha256": d.sha256 if own else None,
            "policy_spec": spec,
        }
        if world is not None:
            named["world"] = world
        out: dict = {}
        for key, value in rec.items():
            if key == "policy":
                out.update(named)
            elif key not in named:
                out[key] = value
        records[i] = out
    return records


def _uses_policy(method: str | None) -> bool:
    from hcf_ray.methods import get_method

    try:
        return bool(method) and get_method(method).uses_policy
    except ValueError:
        return False


def price_result(scenario: Scenario, u: Unit, res: UnitResult, images: ImageStore) -> PricedUnit:
    """One unit's codec results priced on its scenario's devices (see :mod:`hcf_ray.sim.world`)."""
    nodes = scenario.topology.nodes
    return price_unit(
        u.seq,
        scenario.plan(u.flow, u.method),
        res.infos,
        images.size(u.image),
        scenario.devices,
        {n: spec.speed for n, spec in nodes.items()},
        {n: spec.cores for n, spec in nodes.items()},
        scenario.timing,
        record_base(scenario, u),
        u.release_s,
        res.segment_s,
    )


def codec_work(backend, cache, scenario, images, timeout_s: float, retries: int) -> CodecWork:
    """The codec work of ``scenario``'s units: each unit tried ``1 + retries`` times; cached
    stages reused unless the scenario times ops by measuring them (``timing: measured``)."""
    return CodecWork(
        backend,
        cache,
        bundle_hash(scenario),
        images,
        timeout_s,
        reuse=scenario.timing != "measured",
        max_tries=1 + max(0, retries),
    )


# -- the pipeline -----------------------------------------------------------------------------
@dataclass
class Item:
    """One unit of one world: ``world`` keys the results, ``label`` names it in messages."""

    world: Hashable
    scenario: Scenario
    unit: Unit
    label: str


@dataclass
class CodecResults:
    """What :meth:`CodecPipeline.run` produced, per world."""

    priced: dict[Hashable, list[PricedUnit]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[Hashable, dict[int, list[dict]]] = field(default_factory=lambda: defaultdict(dict))
    causes: dict[Hashable, str] = field(default_factory=dict)  # each world's first failure
    health: list[dict] = field(default_factory=list)  # actor events seen while running


class CodecPipeline:
    """Codec work of many units through one backend and one cache (see the module doc).

    ``scenario`` names the model bundle and the timing (every world of one pipeline shares
    them); ``watch_health`` pings the actors every ``options.health_every_s`` seconds."""

    def __init__(
        self,
        backend,
        cache,
        scenario: Scenario,
        options: RunOptions,
        log: Log | None = None,
        watch_health: bool = False,
    ):
        # A failed unit's later jobs fail too and are never fetched; the failure is already
        # an error record, so Ray's "unhandled error" dump for each of them is noise.
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
        self.backend = backend
        self.options = options
        self.log = log or _quiet
        self.images = ImageStore()
        self.work = codec_work(
            backend, cache, scenario, self.images, options.timeout_s, options.retries
        )
        self.watch_health = watch_health
        self.error_note = "error record written"  # logged after each failed unit
        self._shas: dict[Path, str] = {}

    @property
    def failures(self) -> list[dict]:
        """Every failed try (see :class:`~hcf_ray.sim.work.codecwork.CodecWork`)."""
        return self.work.failures

    def request(self, key: Hashable, item: Item) -> UnitRequest:
        u, sc = item.unit, item.scenario
        if u.image not in self._shas:
            self._shas[u.image] = file_sha256(u.image)
        sha = self._shas[u.image]
        return UnitRequest(key, sc.plan(u.flow, u.method), u.image, sha, sc.transport, item.label)

    def warm_up(self, requests: Iterable[UnitRequest]) -> None:
        """Run requests whose results are dropped (``timing: measured``: a first, untimed pass)."""
        self.work.run(list(requests), self.options.max_in_flight)

    def run(
        self,
        items: Sequence[Item],
        intro: str = "",
        progress: Progress | None = None,
        requests: Callable[[int, Item], UnitRequest] | None = None,
        on_item: Callable[[Item, CodecResults], None] | None = None,
    ) -> CodecResults:
        """Every item's codec work, priced as it completes (in submission order); a unit
        that fails after its retries gives error records, and the others go on.

        ``intro`` is said first; ``progress`` counts the units (default: a new
        :class:`Progress` of ``items`` from the options); ``requests`` builds an item's
        request (default :meth:`request`); ``on_item(item, results)`` is called after each
        item is priced or turned into error records, in submission order."""
        o = self.options
        progress = progress or Progress(len(items), o.say, o.progress, on_step=o.on_unit)
        if intro:
            progress.say(intro)
        out = CodecResults()
        make = requests or self.request
        last_health = time.monotonic()

        def on_result(res: UnitResult) -> None:
            nonlocal last_health
            item = items[res.key]
            if res.error is None:
                priced = price_result(item.scenario, item.unit, res, self.images)
                out.priced[item.world].append(priced)
            else:
                recs = error_records(item.scenario, item.unit, "error", res.error)
                out.errors[item.world][item.unit.seq] = recs
                out.causes.setdefault(item.world, res.error)
                self.log(f"{res.error} ({self.error_note})")
            if on_item is not None:
                on_item(item, out)
            progress.step()
            if self.watch_health and time.monotonic() - last_health > self.options.health_every_s:
                out.health += self.backend.health(timeout_s=2.0)
                last_health = time.monotonic()

        try:
            self.work.run(
                (make(k, item) for k, item in enumerate(items)),
                self.options.max_in_flight,
                on_result,
            )
        finally:
            progress.close()
        return out


def codec_cache(cache, cache_dir: str | Path | None, out_dir: str | Path | None):
    """``cache`` if given, else a :class:`~hcf_ray.sim.work.cache.CodecCache` in
    ``cache_dir``, else in ``out_dir/cache``, else in memory only."""
    from hcf_ray.sim.work.cache import CodecCache

    if cache is not None:
        return cache
    return CodecCache(cache_dir or (Path(out_dir) / "cache" if out_dir is not None else None))


# -- event simulation as Ray tasks ------------------------------------------------------------
WORLDS_PER_TASK = 64


class EventTasks:
    """Worlds' event simulations as Ray tasks of up to ``per_task`` worlds each, submitted
    while the caller is still pricing other worlds (the driver prices, the tasks simulate:
    both cores work). Results reach ``done`` in submission order.

    At most ``2 × CPUs`` tasks are in Ray at once; further batches wait in the driver (they
    hold the same objects the caller holds, no copies). With a thousand tasks pending, each
    ``.remote()`` and ``ray.wait`` took tens of milliseconds, and during a cold sweep the
    pool actors hold the CPUs, so nothing would drain them. A batch travels as bytes of the
    standard pickler (plain dataclasses of this package, written several times faster than
    by Ray's cloudpickle, whose per-object hook runs in Python)."""

    def __init__(self, done: Callable[[Hashable, WorldResult], None], per_task=WORLDS_PER_TASK):
        from hcf_ray.sim.pool import release_idle_actors
        from hcf_ray.sim.world import simulate_pickled

        release_idle_actors()  # kept pool actors would hold the CPUs these tasks need
        self._task = ray.remote(num_cpus=1, max_retries=3)(simulate_pickled)
        self._done = done
        self._per_task = per_task
        self._limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        self._batch: list[tuple[Hashable, WorldSpec, Sequence[PricedUnit]]] = []
        self._queued: deque[list] = deque()  # full batches not yet in Ray
        self._sent: deque[tuple[list[Hashable], Any]] = deque()  # (keys, ref), in order

    def submit(self, key: Hashable, spec: WorldSpec, units: Sequence[PricedUnit]) -> None:
        self._batch.append((key, spec, units))
        if len(self._batch) >= self._per_task:
            self._queued.append(self._batch)
            self._batch = []
            self.collect()

    def _pump(self) -> None:
        while self._queued and len(self._sent) < self._limit:
            batch = self._queued.popleft()
            blob = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
            self._sent.append(([k for k, _, _ in batch], self._task.remote(blob)))

    def collect(self, wait: bool = False) -> None:
        """Hand on the results back so far, in order, and send queued batches into the
        freed slots (``wait``: until every batch is done)."""
        while True:
            self._pump()
            if not self._sent:
                return
            if wait:
                ready = 1
            else:
                refs = [ref for _, ref in self._sent]
                back = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0])
                ready = next((k for k, r in enumerate(refs) if r not in back), len(refs))
                if not ready:
                    return
            for _ in range(ready):
                keys, ref = self._sent.popleft()
                part = pickle.loads(ray.get(ref))
                for key in keys:
                    self._done(key, part[key])

    def finish(self) -> None:
        from hcf_ray.sim.pool import release_idle_actors

        release_idle_actors()  # a pool kept since the tasks started would hold their CPUs
        if self._batch:
            self._queued.append(self._batch)
            self._batch = []
        self.collect(wait=True)


def simulate_in_tasks(
    worlds: Sequence[tuple[Hashable, WorldSpec, Sequence[PricedUnit]]],
    done: Callable[[Hashable, WorldResult], None],
    per_task: int = WORLDS_PER_TASK,
) -> None:
    """Worlds' event simulations in Ray tasks of up to ``per_task`` worlds each; every
    world's result is handed to ``done`` in the given order as soon as its batch is back."""
    tasks = EventTasks(done, per_task)
    for key, spec, units in worlds:
        tasks.submit(key, spec, units)
    tasks.finish()
