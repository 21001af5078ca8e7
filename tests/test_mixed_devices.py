"""The mixed-device rule (hcf_ray.sim.mixed_devices) and GPU scheduling with Ray's logical
GPU resources (no CUDA needed: an actor given a logical GPU still computes on the CPU)."""

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from configs import on_small_photos
from simcheck import run_script

from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.mixed_devices import check_devices, coded_links, mixed_device_links
from hcf_ray.sim.scenario import build_scenario

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """camera → r1 → r2 → screen, level 6 → 2, n_q = 2: r1 re-codes, r2 forwards."""
    cfg = yaml.safe_load((ROOT / "topologies" / "line.yaml").read_text())
    cfg["codec"] = "random:mbt2018-mean"
    cfg["flows"][0]["methods"] = ["hcf", "drf", "ssf", "pcf-j2k"]
    cfg["flows"][0]["n_q"] = 2
    path = tmp_path_factory.mktemp("line") / "line.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return build_scenario(load_config(path), max_images=1)


def test_coded_links_skip_forwarding_relays(line):
    assert coded_links(line.plan("line", "hcf")) == [("camera", "r1"), ("r1", "screen")]
    assert coded_links(line.plan("line", "ssf")) == [("camera", "screen")]
    assert coded_links(line.plan("line", "pcf-j2k")) == []  # the baselines code on the CPU


def test_a_gpu_coder_and_a_cpu_decoder_are_refused(line):
    plans = list(line.plans.values())
    cpu = dict.fromkeys(("camera", "r1", "r2", "screen"), "cpu")
    check_devices(plans, cpu)  # all on CPU
    check_devices(plans, dict.fromkeys(cpu, "cuda:0"))  # all on GPU
    # only the forwarding relay r2 on a GPU: it decodes nothing
    check_devices(plans, {**cpu, "r2": "cuda"})
    mixed = {**cpu, "r1": "cuda"}
    bad = {(p.method, a, b) for p, a, b in mixed_device_links(plans, mixed)}
    assert bad == {
        ("hcf", "camera", "r1"),
        ("hcf", "r1", "screen"),
        ("drf", "camera", "r1"),
        ("drf", "r1", "screen"),
    }
    with pytest.raises(ValueError) as err:
        check_devices(plans, mixed)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) <= 260
    assert msg.startswith(
        "flow line (hcf): node 'camera' (cpu) entropy-codes what node 'r1' (cuda)"
    )
    check_devices(plans, mixed, transport="latent")  # ŷ itself crosses: nothing to decode


SCRIPT = textwrap.dedent(
    """
    import json, sys, ray
    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.driver import RunOptions, run_simulation
    from hcf_ray.sim.scenario import build_scenario

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             _system_config={"worker_niceness": 0})  # as hcf-sim starts its actors
    sc = build_scenario(load_config(sys.argv[1]), max_images=1)
    opts = RunOptions(warmup=False, check_transport=False, timeout_s=120)
    summary = run_simulation(sc, sys.argv[2], options=opts)
    print("RESULT " + json.dumps({"status": summary["status"],
                                  "placement": summary["wall"]["placement"]}))
    """
)


def bits(out: Path) -> list:
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return sorted((r["method"], r["bpp"], r["psnr"], r["recon_sha256"]) for r in rows)


def test_logical_gpus_are_scheduled_and_the_cpu_side_stays_bit_exact(ray_session, tmp_path):
    """A fresh Ray instance with one logical GPU (its own process): the node asking
    num_gpus: 1 gets it (its actor computes on the CPU, there is no CUDA), the others get
    none; the records are those of a run on the CPU pool (the test cluster, no GPU), bit for
    bit."""
    cfg = yaml.safe_load((ROOT / "topologies" / "line.yaml").read_text())
    cfg["codec"] = "random:mbt2018-mean"
    cfg["flows"][0]["methods"] = ["hcf", "ssf"]
    cfg = on_small_photos(cfg)  # the claim is about devices, not image size
    cfg["node_defaults"] = {"num_cpus": 0.25, "num_gpus": 0}
    cfg["nodes"][1]["num_gpus"] = 1  # r1
    cfg["placement"] = "dedicated"
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dedicated = run_script(SCRIPT, path, tmp_path / "dedicated")
    assert dedicated["status"] == "ok"
    actors = dedicated["placement"]["actors"]
    assert dedicated["placement"]["nodes"]["r1"] == "r1"
    assert actors["r1"]["gpu_ids"] and actors["r1"]["device"] == "cpu"
    assert all(not actors[n]["gpu_ids"] for n in ("camera", "r2", "screen"))
    cfg["placement"] = "pool"
    pooled = tmp_path / "pool.yaml"
    pooled.write_text(yaml.safe_dump(cfg))
    sc = build_scenario(load_config(pooled), max_images=1)
    opts = RunOptions(warmup=False, check_transport=False, timeout_s=120)
    summary = run_simulation(sc, tmp_path / "pool", options=opts)
    assert summary["status"] == "ok"
    assert all(not a["gpu_ids"] for a in summary["wall"]["placement"]["actors"].values())
    got = bits(tmp_path / "dedicated")
    assert len(got) == 2 and got == bits(tmp_path / "pool")
