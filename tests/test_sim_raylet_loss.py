"""A raylet lost mid-run on a real two-raylet cluster: the pool actor it hosted is taken out
of the rotation, the units it lost are computed again on the raylet that remains, and the
records equal those of a run without the loss. Runs in a subprocess (its own cluster); random
models, as the claim is about scheduling, and the lossy run takes over the clean run's pool
actors (a warm pool) instead of starting its own."""

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from configs import on_small_photos
from simcheck import run_script

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import ray
    from ray.cluster_utils import Cluster
    from hcf_ray.sim.driver import RunOptions, run_simulation
    from hcf_ray.sim.scenario import load_scenario
    from hcf_ray.sim.work.warm import warm_pools

    cfg, out = sys.argv[1:3]
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False,
                                      # actors at niceness 0, as hcf-sim starts them
                                      "_system_config": {"worker_niceness": 0}})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    sc = load_scenario(cfg, max_images=2)
    opts = dict(warmup=False, check_transport=False, timeout_s=120, max_in_flight=4)
    pools = warm_pools()
    pools.__enter__()  # the lossy run reuses the clean run's pool actors
    try:
        clean = run_simulation(sc, out + "/clean", options=RunOptions(**opts))
        hosts = {a["ray_node_id"] for a in clean["wall"]["placement"]["actors"].values()}

        def lose_raylet(done, total):
            if done == 2:
                cluster.remove_node(worker, allow_graceful=False)

        lost = run_simulation(sc, out + "/lost", options=RunOptions(**opts, on_unit=lose_raylet))
    finally:
        pools.__exit__(None, None, None)
        ray.shutdown()
        cluster.shutdown()
    print("RESULT " + json.dumps({"hosts": len(hosts), "status": lost["status"],
                                  "faults": lost["wall"]["faults"], "records": lost["records"]}))
    """
)


def rows(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "wall"} for x in lines]


def test_losing_a_raylet_mid_run_keeps_every_record(tmp_path):
    mesh = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    mesh["codec"] = "random:mbt2018-mean"
    mesh = on_small_photos(mesh)  # the claim is about losing a machine, not image size
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(yaml.safe_dump(mesh))
    result = run_script(SCRIPT, cfg, tmp_path)
    assert result["hosts"] == 2  # the pool used both raylets before the loss
    assert result["status"] == "ok" and result["records"] == 18
    faults = result["faults"]
    assert faults["retries"] >= 1 and all(t["retried"] for t in faults["tries"])
    assert rows(tmp_path / "lost" / "results.jsonl") == rows(tmp_path / "clean" / "results.jsonl")
