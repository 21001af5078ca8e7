"""Warm pools: runs in one process reuse the pool actors of the run before (the test session
runs inside ``warm_pools``), with the records of fresh actors, and give the CPUs back when
other actors need them."""

import json

import pytest
import ray
import yaml
from configs import LINE, on_small_photos

from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import build_scenario
from hcf_ray.sim.work import warm

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

OPTS = dict(check_transport=False, warmup=False, timeout_s=120)


def _scenario(tmp_path, name: str, **changes):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(on_small_photos({**LINE, **changes})))
    return build_scenario(load_config(path), max_images=1)


def _pids(out) -> set[int]:
    actors = json.loads((out / "summary.json").read_text())["wall"]["placement"]["actors"]
    return {a["pid"] for a in actors.values()}


def _records(out) -> list[dict]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "wall"} for x in lines]


def test_a_second_run_reuses_the_pool_and_gives_the_same_records(ray_session, tmp_path):
    sc = _scenario(tmp_path, "line")
    run_simulation(sc, tmp_path / "a", options=RunOptions(**OPTS))
    assert len(warm._state["idle"]) == 1  # kept, not killed
    summary = run_simulation(sc, tmp_path / "b", options=RunOptions(**OPTS))
    assert _pids(tmp_path / "a") == _pids(tmp_path / "b")  # the very same processes
    # each started cheaper: its CompressAI was imported without torchvision / torch_geometric
    (kept,) = warm._state["idle"].values()
    infos = ray.get([h.info.remote() for h in kept.actors.handles.values()])
    assert [i["compressai_lean"] for i in infos] == [True, True]
    assert summary["wall"]["cache"]["misses"] > 0  # and the work was computed again
    assert _records(tmp_path / "a") == _records(tmp_path / "b")


def test_new_actors_and_ray_tasks_get_the_cpus_of_an_idle_pool(ray_session, tmp_path):
    """An idle kept pool holds every CPU of the test cluster; a dedicated run (three actors)
    must still be placed, and it closes the kept pool first."""
    sc = _scenario(tmp_path, "line")
    run_simulation(sc, tmp_path / "pooled", options=RunOptions(**OPTS))
    assert warm._state["idle"] and ray.available_resources().get("CPU", 0) < 1
    dedicated = _scenario(tmp_path, "dedicated", placement="dedicated")
    summary = run_simulation(dedicated, tmp_path / "dedicated", options=RunOptions(**OPTS))
    assert summary["status"] == "ok" and not warm._state["idle"]
    assert _records(tmp_path / "pooled") == _records(tmp_path / "dedicated")


def test_outside_warm_pools_a_run_closes_its_actors(ray_session, tmp_path):
    sc = _scenario(tmp_path, "line")
    depth = warm._state["depth"]
    warm.close_idle()
    warm._state["depth"] = 0  # as in a process that never entered warm_pools
    try:
        run_simulation(sc, tmp_path / "cold", options=RunOptions(**OPTS))
        assert not warm._state["idle"]
    finally:
        warm._state["depth"] = depth
