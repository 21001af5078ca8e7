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
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

from hcf_ray.sim.planner import Job, ModelNeeds
from hcf_ray.sim.pool import ActorSet, WorkerSpec


class Backend(ABC):
    actors: ActorSet

    @abstractmethod
    def actor_for(self, job: Job):
        """The actor handle that runs ``job``."""

    def submit(self, job: Job, payload, image, size, transport: str) -> list:
        """Run ``job`` remotely; returns one ObjectRef per branch plus the stats ref."""
        actor = self.actor_for(job)
        refs = actor.run_job.options(num_returns=len(job.branches) + 1).remote(
            job, payload, image, size, transport
        )
        return list(refs)

    @abstractmethod
    def prepare(self, needs: Mapping[str, ModelNeeds]) -> dict[str, dict]:
        """Load the models each virtual node's jobs need; returns per-actor info."""

    def actor_name(self, node: str) -> str:
        return self.actors.mapping.get(node, node)

    def close(self) -> None:
        self.actors.close()


class DedicatedBackend(Backend):
    """One actor per topology node, with that node's Ray resources."""

    def __init__(self, workers: list[WorkerSpec], codec: str, phi_dir, timeout_s, log=None):
        self.actors = ActorSet(workers, codec, phi_dir, timeout_s, log)

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
        self.actors = ActorSet(workers, codec, phi_dir, timeout_s, log, model_budget_mb)
        self._names = [w.name for w in workers]
        self._next = itertools.cycle(self._names)

    def actor_for(self, job: Job):
        return self.actors.handles[next(self._next)]

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

    def __init__(self, factory: Callable[[], Backend]):
        self._factory = factory
        self._backend: Backend | None = None
        self._needs: Mapping[str, ModelNeeds] = {}
        self.info: dict[str, dict] = {}

    @property
    def started(self) -> bool:
        return self._backend is not None

    def _get(self) -> Backend:
        if self._backend is None:
            self._backend = self._factory()
            self.info = self._backend.prepare(self._needs)
        return self._backend

    @property
    def actors(self):  # type: ignore[override]
        return self._get().actors

    def actor_for(self, job: Job):
        return self._get().actor_for(job)

    def submit(self, job: Job, payload, image, size, transport: str) -> list:
        return self._get().submit(job, payload, image, size, transport)

    def prepare(self, needs: Mapping[str, ModelNeeds]) -> dict[str, dict]:
        self._needs = dict(needs)
        return self.info

    def actor_name(self, node: str) -> str:
        return self._backend.actor_name(node) if self._backend else "-"

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
