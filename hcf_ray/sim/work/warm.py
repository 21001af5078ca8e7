"""Warm actor pools: successive runs in one process reuse their pool actors.

Starting a pool actor costs seconds (a new process imports torch and CompressAI and loads its
models); a script, notebook or test that runs many small simulations one after another pays
that for every run. Inside :func:`warm_pools`, the pool a run closes is kept instead of
killed, and the next run on the same Ray session, codec bundle and pool shape takes it over::

    from hcf_ray.sim.work.warm import warm_pools

    with warm_pools():
        for path in topologies:
            run_simulation(load_scenario(path), out / path.stem)

Records do not change: every run still computes its codec work afresh (the codec cache is
per run unless one is passed in), on actors that hold the same deterministic models. Only
the ``wall`` block shows the difference (no actor start-up, models already resident).

A kept pool holds its CPUs. So that other actors can always be placed, any new set of actors
(a dedicated run, a pool of another shape) first closes the idle kept pools; a pool whose
actors were suspected of dying during its run is closed, not kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from hcf_ray.sim.pool import on_new_actors
from hcf_ray.sim.work.backend import Backend, PoolBackend

_state: dict = {"depth": 0, "idle": {}}  # idle: key -> PoolBackend


@contextlib.contextmanager
def warm_pools() -> Iterator[None]:
    """Keep closed pools for the next run until the outermost ``with`` exits."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            close_idle()


def close_idle() -> None:
    """Close every kept pool that no run is using."""
    idle, _state["idle"] = _state["idle"], {}
    for pool in idle.values():
        pool.close()


on_new_actors(close_idle)


def _session() -> str:
    import ray

    return ray.get_runtime_context().get_job_id()


def open_pool(
    codec: str,
    phi_dir,
    timeout_s: float,
    size: int | None = None,
    log: Callable[[str], None] | None = None,
    model_budget_mb: float | None = None,
) -> Backend:
    """A :class:`PoolBackend`; inside :func:`warm_pools` a kept one of the same shape when
    there is one (its actors answered a health check), returned to the keep on close."""
    if not _state["depth"]:
        return PoolBackend(codec, phi_dir, timeout_s, size, log, model_budget_mb)
    key = (_session(), codec, str(phi_dir), size, model_budget_mb)
    pool = _state["idle"].pop(key, None)
    if pool is not None and not _healthy(pool):
        pool.close()
        pool = None
    if pool is None:  # (creating its actors closes the idle pools: their CPUs are needed)
        pool = PoolBackend(codec, phi_dir, timeout_s, size, log, model_budget_mb)
    pool.timeout_s = timeout_s
    pool.actors.timeout_s = timeout_s
    return _Kept(pool, key)


def _healthy(pool: PoolBackend) -> bool:
    try:
        return all(e["event"] == "restarted" for e in pool.health(timeout_s=10.0))
    except Exception:  # the session behind it is gone
        return False


class _Kept(Backend):
    """A borrowed pool: every call goes to the pool; ``close`` keeps it for the next run."""

    def __init__(self, pool: PoolBackend, key: tuple):
        self._pool = pool
        self._key = key
        pool.reset()

    def __getattr__(self, name: str):
        return getattr(self._pool, name)

    @property
    def actors(self):  # type: ignore[override]
        return self._pool.actors

    def actor_for(self, job):
        return self._pool.actor_for(job)

    def actor_name_for(self, job) -> str:
        return self._pool.actor_name_for(job)

    def submit(self, job, payload, image, size, transport: str):
        return self._pool.submit(job, payload, image, size, transport)

    def suspect(self, actor: str) -> None:
        self._pool.suspect(actor)

    def health(self, timeout_s: float = 10.0) -> list[dict]:
        return self._pool.health(timeout_s)

    def prepare(self, needs):
        return self._pool.prepare(needs)

    def actor_name(self, node: str) -> str:
        return self._pool.actor_name(node)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if pool.had_suspects or not _state["depth"] or self._key in _state["idle"]:
            pool.close()
        else:
            _state["idle"][self._key] = pool
