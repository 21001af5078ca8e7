"""A real two-raylet local Ray cluster: one run's node actors land on both machines, pinned by
custom resources, and ``hcf-sim run --address`` joins the existing cluster. Runs in a
subprocess so the shared test cluster is not disturbed."""

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from simcheck import run_script

from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import load_scenario

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from ray.cluster_utils import Cluster
    from hcf_ray.cli import main

    cfg, out, pooled, pooled_out = sys.argv[1:5]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "resources": {"site_a": 4}, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, resources={"site_b": 4})
    cluster.wait_for_nodes()
    try:
        rc = main(["run", cfg, "--out", out, "--address", cluster.address, "--timeout", "180"])
        rc2 = main(["run", pooled, "--out", pooled_out, "--address", cluster.address,
                    "--max-images", "1"])
    finally:
        cluster.shutdown()
    summary = json.load(open(out + "/summary.json"))
    where = summary["wall"]["placement"]
    placement = {n: where["actors"][a] for n, a in where["nodes"].items()}
    print("RESULT " + json.dumps({"rc": rc, "rc2": rc2, "placement": placement,
                                  "records": summary["records"]}))
    """
)


def test_actors_of_one_run_are_placed_on_both_raylets(ray_session, tmp_path):
    """Dedicated placement pins node actors to raylets; a pooled run through ``--address``
    gives exactly the records of the same run on the local test cluster."""
    topo = {
        "name": "two-sites",
        "codec": "random:mbt2018-mean",
        "placement": "dedicated",
        "nodes": [
            {"id": "camera", "resources": {"site_a": 1}},
            {"id": "relay", "resources": {"site_a": 1}},
            {"id": "screen", "resources": {"site_b": 1}},
        ],
        "links": [
            {"src": "camera", "dst": "relay", "bandwidth_mbps": 100, "latency_ms": 2},
            {"src": "relay", "dst": "screen", "bandwidth_mbps": 10, "latency_ms": 20},
        ],
        "flows": [
            {
                "source": "camera",
                "destinations": [{"node": "screen", "level": 2}],
                "methods": ["hcf", "ssf"],
                "max_images": 1,
            }
        ],
    }
    cfg = tmp_path / "two_sites.yaml"
    cfg.write_text(yaml.safe_dump(topo))
    mesh = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    mesh["codec"] = "random:mbt2018-mean"
    pooled = tmp_path / "mesh.yaml"
    pooled.write_text(yaml.safe_dump(mesh))
    result = run_script(
        SCRIPT, cfg, tmp_path / "out", pooled, tmp_path / "cluster_mesh", timeout=540
    )
    assert result["rc"] == 0 and result["records"] == 2
    where = {node: p["ray_node_id"] for node, p in result["placement"].items()}
    assert len(set(where.values())) == 2  # both raylets host node actors of this run
    assert where["camera"] == where["relay"] != where["screen"]  # pinned by resources
    assert len({p["pid"] for p in result["placement"].values()}) == 3  # one actor per node
    # the same pooled run locally: identical records apart from their wall-clock blocks
    assert result["rc2"] == 0
    sc = load_scenario(pooled, max_images=1)
    run_simulation(sc, tmp_path / "local_mesh", options=RunOptions(check_transport=False))

    def records(out):
        lines = (tmp_path / out / "results.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if k != "wall"} for x in lines]

    assert records("cluster_mesh") == records("local_mesh")
    assert len(records("local_mesh")) == 2 * 3 + 1 * 3  # (tv, phone) + tv, 3 methods
