"""With ``timing: profile`` a run's records are a function of its inputs: the same in two
runs, at any concurrency, with a CPU burner beside it, and whichever other methods run.
Only the ``wall`` block may differ. (Local vs ``--address`` is in test_real_cluster.py.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from configs import flows_on_small_photos

from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import build_scenario
from hcf_ray.sim.work.backend import PoolBackend

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"


def scenario(methods=None, **update):
    cfg = load_config(ROOT / "topologies" / "mesh.yaml")
    flows = flows_on_small_photos(cfg)
    cfg = cfg.model_copy(update={"codec": CODEC, "flows": flows, **update})
    return build_scenario(cfg, max_images=2, methods=methods)


def run(tmp: Path, name: str, methods=None, backend=None, **options) -> list[dict]:
    opts = RunOptions(check_transport=False, timeout_s=300, **options)
    summary = run_simulation(scenario(methods), tmp / name, backend=backend, options=opts)
    assert summary["status"] == "ok"
    return read(tmp / name)


def read(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def without_wall(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall"} for r in records]


@pytest.fixture(scope="module")
def reference(ray_session, tmp_path_factory):
    """The first run, on actors of its own (started and closed by the run)."""
    tmp = tmp_path_factory.mktemp("det")
    return tmp, run(tmp, "first")


@pytest.fixture(scope="module")
def pool(reference):
    """One actor pool that the later runs of this module share: each run still computes
    every op afresh (its own codec cache), only the actors' start-up is paid once."""
    sc = scenario()
    backend = PoolBackend(sc.codec.spec, None, timeout_s=300)
    yield backend
    backend.close()


def test_two_runs_give_identical_records(reference, pool):
    tmp, first = reference
    second = run(tmp, "second", backend=pool)
    wall = json.loads((tmp / "second" / "summary.json").read_text())["wall"]
    assert wall["cache"]["misses"] > 0 and wall["cache"]["disk_hits"] == 0
    assert len(first) == 2 * (2 + 1) * 3  # images x destinations x methods
    assert without_wall(second) == without_wall(first)
    # the records do hold real timing information
    assert all(r["latency_s"] > 0 and r["compute_s"] > 0 for r in first)
    assert all("measured_s" in r["wall"] for r in first)


def test_concurrency_does_not_change_records(reference, pool):
    tmp, first = reference
    one = run(tmp, "inflight1", backend=pool, max_in_flight=1)
    eight = run(tmp, "inflight8", backend=pool, max_in_flight=8)
    assert without_wall(one) == without_wall(first) == without_wall(eight)


def test_a_methods_records_do_not_depend_on_the_other_methods(reference, pool):
    tmp, first = reference
    alone = run(tmp, "hcf_only", methods=["hcf"], backend=pool)
    assert without_wall(alone) == without_wall([r for r in first if r["method"] == "hcf"])


def test_a_cpu_burner_beside_the_run_changes_nothing(reference, pool):
    """Every op is computed afresh (new cache) while a busy loop competes for the CPU; the
    pool is started before the burner only to keep Ray's own start-up out of the contention."""
    tmp, first = reference
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        burned = run(tmp, "burned", backend=pool)
        wall = json.loads((tmp / "burned" / "summary.json").read_text())["wall"]
    finally:
        burner.kill()
        burner.wait()
    assert wall["cache"]["misses"] > 0 and wall["cache"]["disk_hits"] == 0
    assert without_wall(burned) == without_wall(first)


def test_measured_timing_is_kept_and_labelled(pool, tmp_path):
    """The wall-clock path still works; its records say which timing produced them."""
    sc = scenario(methods=["hcf"], timing="measured")
    opts = RunOptions(check_transport=False, timeout_s=300, warmup=False)
    summary = run_simulation(sc, tmp_path, backend=pool, options=opts)
    recs = read(tmp_path)
    assert summary["timing"] == "measured" and {r["timing"] for r in recs} == {"measured"}
    for r in recs:
        for node, n in r["nodes"].items():
            # measured: a node's compute is its wall clock ÷ its speed
            speed = sc.topology.nodes[node].speed
            assert n["compute_s"] == pytest.approx(r["wall"]["measured_s"][node] / speed)
