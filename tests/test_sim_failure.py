"""An actor that dies mid-run: one-line error naming the node, results already written kept."""

import json
from pathlib import Path

import pytest
import ray
import yaml

from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, node_workers, run_simulation
from hcf_ray.sim.pool import SimulationError
from hcf_ray.sim.scenario import build_scenario
from hcf_ray.sim.work.backend import DedicatedBackend

CODEC = "random:mbt2018-mean"


def read_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_dead_actor_is_named_and_results_are_kept(ray_session, tmp_path):
    cfg = {
        "name": "pair",
        "codec": CODEC,
        "nodes": [{"id": "cam"}, {"id": "screen"}],
        "links": [{"src": "cam", "dst": "screen", "bandwidth_mbps": 10}],
        "flows": [
            {
                "source": "cam",
                "destinations": [{"node": "screen", "level": 3}],
                "methods": ["ssf"],
            }
        ],
    }
    path = tmp_path / "pair.yaml"
    path.write_text(yaml.safe_dump(cfg))
    sc = build_scenario(*load_config(path), max_images=3)
    backend = DedicatedBackend(node_workers(sc), sc.codec.spec, None, timeout_s=300)

    def kill_after_first(done, total):
        if done == 1:
            ray.kill(backend.actors.handles["screen"])

    opts = RunOptions(warmup=False, check_transport=False, max_in_flight=1, timeout_s=120)
    opts.on_unit = kill_after_first
    try:
        with pytest.raises(SimulationError) as err:
            run_simulation(sc, tmp_path / "out", backend=backend, options=opts)
    finally:
        backend.close()
    msg = str(err.value)
    assert "node 'screen'" in msg and "actor died" in msg and "\n" not in msg
    assert len(read_records(tmp_path / "out")) == 1  # what finished before the crash
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "failed" and "screen" in summary["error"]
