"""A real two-raylet local Ray cluster: one run's node actors land on both machines, pinned by
custom resources, and ``hcf-sim run --address`` joins the existing cluster. Runs in a
subprocess so the shared test cluster is not disturbed."""

import json
import os
import subprocess
import sys
import textwrap

import yaml

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from ray.cluster_utils import Cluster
    from hcf_ray.cli import main

    cfg, out = sys.argv[1], sys.argv[2]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "resources": {"site_a": 4}, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, resources={"site_b": 4})
    cluster.wait_for_nodes()
    try:
        rc = main(["run", cfg, "--out", out, "--address", cluster.address, "--timeout", "180"])
    finally:
        cluster.shutdown()
    summary = json.load(open(out + "/summary.json"))
    print("RESULT " + json.dumps({"rc": rc, "placement": summary["placement"],
                                  "records": summary["records"]}))
    """
)


def test_actors_of_one_run_are_placed_on_both_raylets(tmp_path):
    topo = {
        "name": "two-sites",
        "codec": "random:mbt2018-mean",
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
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cfg), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=540,
        env=env,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(line[len("RESULT ") :])
    assert result["rc"] == 0 and result["records"] == 2
    where = {node: p["ray_node_id"] for node, p in result["placement"].items()}
    assert len(set(where.values())) == 2  # both raylets host node actors of this run
    assert where["camera"] == where["relay"] != where["screen"]  # pinned by resources
    assert len({p["pid"] for p in result["placement"].values()}) == 3  # one actor per node
