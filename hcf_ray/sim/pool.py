"""Connecting to Ray and creating the node actors (one per topology node, or a reusable pool).

Resources per actor come from the node config: ``num_cpus``, ``num_gpus`` (``auto`` shares
the cluster's GPUs evenly among the nodes and means CPU when the cluster has none) and
custom resources, which pin a node to the machines started with that resource
(``ray start --resources='{"edge": 4}'``). Every wait has a timeout: an actor that cannot
be placed is reported by name with what it asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from hcf_ray.policy._usercode import neutral_cwd
from hcf_ray.sim.actors import NodeActor, actor_options
from hcf_ray.sim.planner import ModelNeeds
from hcf_ray.sim.ray_address import probe, requested, resolve

# Ray starts its workers at niceness 15 by default, so that they yield to the driver. Here the
# actors are the simulation's work and the driver mostly waits for them: on a busy machine a
# niced actor got a fraction of the CPU an in-process run gets. A local instance started
# here runs its actors at the driver's priority; a cluster joined keeps its own setting.
WORKER_NICENESS = 0


class SimulationError(RuntimeError):
    """A failure while simulating (actor died, placement impossible); one line."""


def connect(
    address: str | None = None, num_cpus: int | None = None, log_dir: str | Path | None = None
) -> bool:
    """Use the running Ray session, join the cluster at ``address`` (else ``RAY_ADDRESS``),
    or start a new local instance (actors at niceness :data:`WORKER_NICENESS`).

    A local instance is started with ``address="local"``: a ``ray_current_cluster`` file
    left by an earlier ``ray start`` is never followed. A cluster to join is first probed
    (:mod:`hcf_ray.sim.ray_address`): one that cannot be found or does not answer within
    :data:`~hcf_ray.sim.ray_address.PROBE_TIMEOUT_S` seconds is an
    :class:`~hcf_ray.sim.ray_address.AddressError` (one line), not a wait of minutes.

    Ray stays quiet: the workers' output is not forwarded to this process
    (``log_to_driver=False``) and, with ``log_dir``, Ray's own log lines go to
    ``log_dir/ray.log`` instead of the terminal (while joining, also what Ray's C++ core
    prints). Returns True when this call started or connected (the caller should shut it
    down).
    """
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    target = requested(address)
    gcs = None
    if target is not None:
        gcs = resolve(target)
        if not gcs.startswith("ray://"):
            probe(gcs, target)
    kwargs: dict = {"include_dashboard": False, "log_to_driver": False}
    log_file = None
    if log_dir is not None:
        # absolute: the folder is opened again inside neutral_cwd(), which changes the cwd
        log_file = Path(log_dir).resolve() / "ray.log"
        _ray_log_to(log_file)
        kwargs["configure_logging"] = False
    else:
        kwargs["logging_level"] = logging.ERROR
    try:
        with neutral_cwd():  # Ray puts the current folder on its workers' sys.path
            if gcs is not None:
                with _stderr_to(log_file), _env(JOIN_ENV):
                    ray.init(address=gcs, **kwargs)
            else:  # a new local instance, whatever ray_current_cluster says
                ray.init(
                    address="local",
                    num_cpus=num_cpus,
                    _system_config={"worker_niceness": WORKER_NICENESS},
                    **kwargs,
                )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = str(target) if target is not None else "a local Ray instance"
        raise SimulationError(f"cannot connect to {where}: {_first_line(exc)}") from None
    return True


# While joining: one attempt at the GCS (the probe has found it), not Ray's 20 of about 40 s
# each; a value the user set is kept.
JOIN_ENV = {"RAY_gcs_server_port_wait_time_s": "1"}


@contextlib.contextmanager
def _env(values: Mapping[str, str]):
    """Environment variables set for the block (those already set are kept)."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextlib.contextmanager
def _stderr_to(path: Path | None):
    """File descriptor 2 appended to ``path`` (None: discarded) for the block: what Ray's
    C++ core prints while connecting stays off the terminal."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr to redirect
        yield
        return
    target = os.open(path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _ray_log_to(path: Path) -> None:
    """Send the ``ray`` loggers of this process to ``path`` (and nowhere else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("ray")
    for h in list(logger.handlers):
        if getattr(h, "_hcf_sim", False):
            logger.removeHandler(h)
    handler = logging.FileHandler(path)
    handler._hcf_sim = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    num_cpus: float
    num_gpus: float | str
    resources: Mapping[str, float]


_before_new_actors: list[Callable[[], None]] = []


def on_new_actors(hook: Callable[[], None]) -> None:
    """Call ``hook`` before any new set of actors is created (warm pools close their idle
    actors there, so that the new ones can be placed)."""
    if hook not in _before_new_actors:
        _before_new_actors.append(hook)


def release_idle_actors() -> None:
    """Free the CPUs that idle kept actors hold (before new actors or Ray tasks need them)."""
    for hook in _before_new_actors:
        hook()


class ActorSet:
    """Named node actors; ``mapping`` says which actor runs each topology node."""

    def __init__(
        self,
        workers: list[WorkerSpec],
        codec: str,
        phi_dir: str | None = None,
        timeout_s: float = 300.0,
        log: Callable[[str], None] | None = None,
        model_budget_mb: float | None = None,
    ):
        release_idle_actors()
        self.timeout_s = timeout_s
        self.handles: dict[str, object] = {}
        self.info: dict[str, dict] = {}
        self.mapping: dict[str, str] = {w.name: w.name for w in workers}
        cluster = ray.cluster_resources()
        gpus = float(cluster.get("GPU", 0))
        asked = [w.name for w in workers if isinstance(w.num_gpus, float) and w.num_gpus > 0]
        if asked and gpus == 0 and log:
            log(f"no GPU in the Ray cluster: {', '.join(asked)} run on CPU")
        share = min(1.0, gpus / max(len(workers), 1)) if gpus else 0.0
        cpus = sum(w.num_cpus for w in workers)
        if cpus > float(cluster.get("CPU", 0)) + 1e-9:
            raise SimulationError(
                f"the topology's nodes ask for {cpus:g} CPUs in total but the Ray cluster has "
                f"{cluster.get('CPU', 0):g}; lower num_cpus (node_defaults or per node)"
            )
        token = uuid.uuid4().hex[:6]
        for w in workers:
            for key in w.resources:
                if key not in cluster:
                    raise SimulationError(
                        f"node {w.name!r} needs resource {key!r}, which no machine in the Ray "
                        f"cluster has (start one with: ray start --resources='{{\"{key}\": 1}}')"
                    )
            ngpu = share if w.num_gpus == "auto" else (float(w.num_gpus) if gpus else 0.0)
            opts = actor_options(w.num_cpus, round(ngpu, 4), dict(w.resources))
            # shown by the dashboard and `ray list actors`: the topology node (placement:
            # dedicated) or pool slot it serves, and this actor set's id
            opts["name"] = f"hcf-sim {w.name} {token}"
            self.handles[w.name] = NodeActor.options(**opts).remote(
                w.name, codec, phi_dir, 1, model_budget_mb
            )
        self._wait_ready(workers)

    def _wait_ready(self, workers: list[WorkerSpec]) -> None:
        refs = {w.name: self.handles[w.name].info.remote() for w in workers}
        _ready, pending = ray.wait(
            list(refs.values()), num_returns=len(refs), timeout=self.timeout_s
        )
        if pending:
            late = [w for w in workers if refs[w.name] in pending]
            w = late[0]
            self.close()
            raise SimulationError(
                f"node {w.name!r} could not be placed within {self.timeout_s:.0f} s: it asks "
                f"for {w.num_cpus} CPU, {w.num_gpus} GPU, resources {dict(w.resources)}; "
                f"the cluster has {_resources_line()}"
            )
        for w in workers:
            self.info[w.name] = self.get(refs[w.name], node=w.name)

    def refresh(self) -> None:
        """Ask every actor for its info again (peak memory grows during a run)."""
        refs = {name: h.info.remote() for name, h in self.handles.items()}
        for name, ref in refs.items():
            with contextlib.suppress(SimulationError):
                self.info[name] = {**self.info.get(name, {}), **self.get(ref, node=name)}

    def assign(self, mapping: Mapping[str, str]) -> None:
        """Run topology node ``n`` on actor ``mapping[n]`` (sweeps reuse one pool)."""
        self.mapping = dict(mapping)

    def actor(self, node: str):
        return self.handles[self.mapping[node]]

    def prepare(self, needs: Mapping[str, ModelNeeds], eager: bool = True) -> dict[str, dict]:
        """Check each actor's bundle; with ``eager`` load the models its nodes need now."""
        per_actor: dict[str, ModelNeeds] = {}
        for node, need in needs.items():
            name = self.mapping[node]
            per_actor[name] = per_actor.get(name, ModelNeeds()) | need
        refs = {name: self.handles[name].prepare.remote(n, eager) for name, n in per_actor.items()}
        return {name: self.get(ref, node=name) for name, ref in refs.items()}

    def get(self, ref, node: str | None = None):
        try:
            return ray.get(ref, timeout=self.timeout_s)
        except GetTimeoutError:
            raise SimulationError(
                f"node {node!r} did not answer within {self.timeout_s:.0f} s"
            ) from None
        except RayActorError as exc:
            raise SimulationError(
                f"node {node!r}: actor died ({actor_death_reason(exc)})"
            ) from None
        except RayTaskError as exc:
            raise SimulationError(f"node {node!r}: {task_error_cause(exc)}") from None

    def close(self) -> None:
        for h in self.handles.values():
            with contextlib.suppress(Exception):  # already dead
                ray.kill(h)
        self.handles.clear()


def _resources_line() -> str:
    res = ray.available_resources()
    keep = {k: round(v, 2) for k, v in res.items() if not k.startswith(("node:", "memory"))}
    keep.pop("object_store_memory", None)
    return f"{keep} available"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colour and cursor codes in Ray's texts
MAX_CAUSE = 160  # characters of a cause quoted in a one-line message


def plain(text: str) -> str:
    """``text`` without ANSI escape codes."""
    return _ANSI.sub("", text)


def _clip(text: str, limit: int = MAX_CAUSE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(exc: BaseException | str) -> str:
    text = plain(str(exc)).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if isinstance(exc, BaseException) else ""


def _last_line(text: str) -> str:
    """The last line of a traceback: the exception raised and its message."""
    lines = [ln.strip() for ln in plain(text).splitlines() if ln.strip().strip("^~")]
    return lines[-1] if lines else ""


def actor_death_reason(exc: BaseException) -> str:
    """Why an actor died, in one line: for an actor that failed while starting (its
    constructor raised, or its module did not import in the worker) the exception it raised,
    taken from the end of Ray's traceback."""
    text = plain(str(exc))
    if getattr(exc, "actor_init_failed", False) or "raised in its creation task" in text:
        cause = _last_line(text.partition("raised in its creation task")[2] or text)
        return _clip(f"it failed while starting: {cause or type(exc).__name__}")
    for marker in ("The actor died because", "The actor is dead because", "died because"):
        if marker in text:
            return _clip(_first_line(text[text.index(marker) :]).rstrip("."))
    return _clip(_first_line(exc))


def task_error_cause(exc: RayTaskError) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, RayTaskError):
        return _clip(f"{type(cause).__name__}: {_first_line(cause)}")
    return _clip(_last_line(str(exc)) or type(exc).__name__)
