"""An actor that dies while starting: the user gets one plain line that names the cause.

Ray's own text for such a death is a coloured, multi-line traceback whose first line ends
before the exception; the simulator's message must carry the exception itself.
"""

from __future__ import annotations

import importlib
import sys

import pytest

MISSING = "hcf_sim_module_absent_from_workers"


def _start(monkeypatch, cls):
    """Start one node actor of class ``cls`` through ActorSet; the error message it gives."""
    import ray

    from hcf_ray.sim import pool
    from hcf_ray.sim.actors import MAX_RESTARTS

    remote = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0)(cls)
    monkeypatch.setattr(pool, "NodeActor", remote)
    with pytest.raises(pool.SimulationError) as info:
        pool.ActorSet([pool.WorkerSpec("cam1", 0.5, 0.0, {})], "random:mbt2018-mean", None, 120)
    return str(info.value)


def _check(msg: str, cause: str) -> None:
    assert "\n" not in msg and "\r" not in msg
    assert "\x1b[" not in msg
    assert len(msg) <= 200
    assert msg.startswith("node 'cam1': ")
    assert cause in msg


def test_constructor_error_names_the_exception(ray_session, monkeypatch):
    from hcf_ray.sim.actors import NodeWorker

    class RefusingWorker(NodeWorker):
        def __init__(self, *args, **kwargs):
            raise ValueError("the φ folder /nowhere cannot be read")

    msg = _start(monkeypatch, RefusingWorker)
    _check(msg, "ValueError: the φ folder /nowhere cannot be read")


def test_module_that_does_not_import_in_the_worker(ray_session, monkeypatch, tmp_path):
    # a module the driver imports from a folder only it has on sys.path: the worker must import
    # it to build the actor, and cannot
    (tmp_path / f"{MISSING}.py").write_text(
        "from hcf_ray.sim.actors import NodeWorker\n\n\nclass Worker(NodeWorker):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(MISSING)
    try:
        msg = _start(monkeypatch, module.Worker)
    finally:
        sys.modules.pop(MISSING, None)
    _check(msg, f"No module named '{MISSING}'")
