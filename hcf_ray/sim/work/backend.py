"""Where codec work runs: a pool of actors sized from the cluster, or one actor per node.

Like Flower's Ray transport, a :class:`Backend` hides how jobs reach actors:

* :class:`PoolBackend` (``placement: pool``, the default): one actor per CPU of the Ray
  cluster (and a fraction of a GPU each where the cluster has GPUs); every virtual node's
  jobs are multiplexed onto it round-robin. A 150-node topology costs as many actors as the
  machine has cores. Each actor loads a model on the first job that needs it and, past
  ``model_budget_mb``, drops the models used longest ago
  (:class:`~hcf_ray.sim.work.models.ModelCache`).
* :class:`DedicatedBackend` (``placement: dedicated``): one actor per topology node with that
  node's ``num_cpus`` / ``num_gpus`` / custom ``resources``, so a topology can be pinned onto
  real machines of a cluster.

With ``timing: profile`` where a job ran does not change any result; it only changes the
``wall`` block (where, how long on the host).

Faults: actors are restarted by Ray after a crash (``max_restarts``); the driver resubmits
the units that were in flight (:mod:`~hcf_ray.sim.work.codecwork`). A pool actor whose call
failed is taken out of the rotation until it answers a ping again, so the work of a lost
machine moves to the actors that remain. :meth:`Backend.health` pings every actor, so the
death of an actor that only forwards (and so is never called) is noticed too.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

from hcf_ray.sim.planner import Job, ModelNeeds
from hcf_ray.sim.pool import ActorSet, WorkerSpec
from hcf_ray.sim.work.shipping import ship_codec


class Backend(ABC):
    actors: ActorSet

    @abstractmethod
    def actor_for(self, job: Job):
        """The actor handle that runs ``job``."""

    def submit(self, job: Job, payload, image, size, transport: str) -> tuple[list, str]:
        """Run ``job`` remotely; returns (one ObjectRef per branch plus the stats ref, the
        name of the actor that runs it)."""
        name = self.actor_name_for(job)
        actor = self.actors.handles[name]
        refs = actor.run_job.options(num_returns=len(job.branches) + 1).remote(
            job, payload, image, size, transport
        )
        return list(refs), name

    def actor_name_for(self, job: Job) -> str:
        return self.actors.mapping[job.node]

    def suspect(self, actor: str) -> None:  # noqa: B027 - optional hook
        """A call to ``actor`` failed (it died, or its machine did); by default nothing:
        Ray restarts it and the next call waits for it."""

    def health(self, timeout_s: float = 10.0) -> list[dict]:
        """Ping every actor (``timeout_s`` for all of them together); returns events for
        actors that died, do not answer, or were restarted since the last check (a new
        pid)."""
        import ray
        from ray.exceptions import RayActorError, RayError

        events = []
        refs = {name: h.info.remote() for name, h in self.actors.handles.items()}
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
        for name, ref in refs.items():
            if ref not in ready:
                events.append({"actor": name, "event": "unresponsive", "cause": "no answer"})
                continue
            before = self.actors.info.get(name, {}).get("pid")
            try:
                info = ray.get(ref)
            except RayActorError as exc:
                events.append({"actor": name, "event": "dead", "cause": _first(exc)})
                continue
            except RayError as exc:
                events.append({"actor": name, "event": "failed", "cause": _first(exc)})
                continue
            if before is not None and info.get("pid") != before:
                events.append(
                    {"actor": name, "event": "restarted", "pid_before": before, "pid": info["pid"]}
                )
            self.actors.info[name] = {**self.actors.info.get(name, {}), **info}
        return events

    @abstractmethod
    def prepare(self, needs: Mapping[str, ModelNeeds]) -> dict[str, dict]:
        """Load the models each virtual node's jobs need; returns per-actor info."""

    def actor_name(self, node: str) -> str:
        return self.actors.mapping.get(node, node)

    def close(self) -> None:
        self.actors.close()


class DedicatedBackend(Backend):
    """One actor per topology node, with that node's Ray resources."""

    def __init__(
        self,
        workers: list[WorkerSpec],
        codec: str,
        phi_dir,
        timeout_s,
        log=None,
        plans=(),
        transport: str = "bitstream",
    ):
        shipped = ship_codec(codec, phi_dir)  # the driver's model files, for other machines
        self.actors = ActorSet(workers, shipped, phi_dir, timeout_s, log)
        if plans:  # each node's actor now runs on a known device: refuse mixed CPU/GPU coding
            from hcf_ray.sim.mixed_devices import check_devices
            from hcf_ray.sim.pool import SimulationError

            device_of = {name: info.get("device", "cpu") for name, info in self.actors.info.items()}
            try:
                check_devices(plans, device_of, transport)
            except ValueError as exc:
                self.actors.close()
                raise SimulationError(str(exc)) from None

    def actor_for(self, job: Job):
        return self.actors.actor(job.node)

    def prepare(self, needs: Mapping[str, ModelNeeds]) -> dict[str, dict]:
        return self.actors.prepare(needs)


class PoolBackend(Backend):
    """A fixed pool of actors; virtual nodes are multiplexed onto it round-robin."""

    def __init__(
        self,
        codec: str,
        phi_dir,
        timeout_s: float,
        size: int | None = None,
        log: Callable[[str], None] | None = None,
        model_budget_mb: float | None = None,
    ):
        import ray

        res = ray.cluster_resources()
        cpus = max(1, int(res.get("CPU", 1)))
        n = max(1, size or cpus)
        per_cpu = min(1.0, cpus / n)
        gpus = float(res.get("GPU", 0))
        gpu = round(min(1.0, gpus / n), 4) if gpus else 0.0
        workers = [WorkerSpec(f"pool{i}", per_cpu, gpu, {}) for i in range(n)]
        shipped = ship_codec(codec, phi_dir)  # the driver's model files, for other machines
        self.actors = ActorSet(workers, shipped, phi_dir, timeout_s, log, model_budget_mb)
        self._names = [w.name for w in workers]
        self._next = itertools.cycle(self._names)
        self._out: dict[str, object] = {}  # suspected actor -> its pending ping
        self.timeout_s = timeout_s
        self.had_suspects = False  # a call failed during this run

    def reset(self) -> None:
        """Start the next run on these actors (see :mod:`~hcf_ray.sim.work.warm`): the same
        round-robin order as a new pool, no suspects."""
        self._out.clear()
        self._next = itertools.cycle(self._names)
        self.had_suspects = False

    def actor_for(self, job: Job):
        return self.actors.handles[self.actor_name_for(job)]

    def actor_name_for(self, job: Job) -> str:
        self._readmit()
        deadline = time.monotonic() + self.timeout_s
        while len(self._out) == len(self._names):  # every actor is out: wait for one
            if time.monotonic() > deadline:
                from hcf_ray.sim.pool import SimulationError

                raise SimulationError(f"no pool actor answered within {self.timeout_s:.0f} s")
            time.sleep(0.2)
            self._readmit()
        while True:
            name = next(self._next)
            if name not in self._out:
                return name

    def suspect(self, actor: str) -> None:
        self.had_suspects = True
        if actor in self.actors.handles and actor not in self._out:
            self._out[actor] = self.actors.handles[actor].info.remote()

    def _readmit(self) -> None:
        if not self._out:
            return
        import ray
        from ray.exceptions import RayError

        for name, ref in list(self._out.items()):
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                continue
            try:
                ray.get(ref)
                del self._out[name]  # restarted and answering
            except RayError:
                self._out[name] = self.actors.handles[name].info.remote()  # ask again

    def prepare(self, needs: Mapping[str, ModelNeeds]) -> dict[str, dict]:
        union = ModelNeeds()
        for need in needs.values():
            union = union | need
        self.actors.assign({name: name for name in self._names})
        info = self.actors.prepare({name: union for name in self._names}, eager=False)
        # every virtual node runs on any pool actor: name the pool in the placement
        self.actors.mapping = {node: "pool" for node in needs}
        return info

    def actor_name(self, node: str) -> str:
        return "pool"


class LazyBackend(Backend):
    """Creates its backend on the first job: a run whose codec work is all cached starts no
    actor and loads no model."""

    def __init__(self, factory: Callable[[], Backend], say: Callable[[str], None] | None = None):
        self._factory = factory
        self._say = say
        self._backend: Backend | None = None
        self._needs: Mapping[str, ModelNeeds] = {}
        self.info: dict[str, dict] = {}

    @property
    def started(self) -> bool:
        return self._backend is not None

    def _get(self) -> Backend:
        if self._backend is None:
            if self._say:
                self._say("starting the actors (models load on first use)")
            self._backend = self._factory()
            self.info = self._backend.prepare(self._needs)
            if self._say:
                n = len(self._backend.actors.handles)
                self._say(f"{n} actor(s) ready")
        return self._backend

    @property
    def actors(self):  # type: ignore[override]
        return self._get().actors

    def actor_for(self, job: Job):
        return self._get().actor_for(job)

    def submit(self, job: Job, payload, image, size, transport: str) -> tuple[list, str]:
        return self._get().submit(job, payload, image, size, transport)

    def suspect(self, actor: str) -> None:
        if self._backend is not None:
            self._backend.suspect(actor)

    def health(self, timeout_s: float = 10.0) -> list[dict]:
        return self._backend.health(timeout_s) if self._backend is not None else []

    def prepare(self, needs: Mapping[str, ModelNeeds]) -> dict[str, dict]:
        self._needs = dict(needs)
        return self.info

    def actor_name(self, node: str) -> str:
        return self._backend.actor_name(node) if self._backend else "-"

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def _first(exc: BaseException) -> str:
    from hcf_ray.sim.pool import actor_death_reason

    return actor_death_reason(exc)
