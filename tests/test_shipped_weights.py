"""The shipped default models: every part present, loadable, and inside the 50 MB budget."""

import itertools
import json

import pytest

from hcf_ray.bundle import OVERLAY_DIR, OVERLAY_MANIFEST, default_weights_dir, load_bundle
from hcf_ray.pcf.codec import default_pcf_dir

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

BUDGET_BYTES = 50_000_000


def test_shipped_weights_fit_the_budget():
    root = default_weights_dir()
    files = [p for p in root.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total < BUDGET_BYTES, f"{total / 1e6:.1f} MB shipped in {root}"
    names = {p.relative_to(root).as_posix() for p in files}
    # ladder, φ bank, HCF overlay and the progressive baseline all ship
    assert {"ladder.json", "phi.json", "phi.pt", f"{OVERLAY_DIR}/{OVERLAY_MANIFEST}"} <= names
    assert any(n.startswith("pcf/") for n in names)
    assert (default_pcf_dir() / "pcf.json").is_file()


def test_default_bundle_is_complete():
    bundle = load_bundle("default")
    assert bundle.ladder.levels == [1, 2, 3, 4, 5, 6]
    assert bundle.phis is not None and bundle.hcf_ladder is not None
    for k in range(2, 7):  # every transition k → k-1 has both variants
        bundle.phis.get(k, "inter")
        bundle.phis.get(k, "intra")
    meta = json.loads((default_weights_dir() / "ladder.json").read_text())
    assert meta["training"]["hours"] > 0  # trained in-project, with its recipe recorded


# -- integration: the shipped models behave as the acceptance says ----------------
@pytest.fixture(scope="module")
def shipped_curves():
    from hcf_ray.evaluate import evaluate
    from hcf_ray.images import sample_images

    return evaluate(load_bundle("default"), sample_images()[:2], ["ssf", "hcf", "hcf-late", "drf"])


def test_shipped_ladder_is_monotonic(shipped_curves):
    ssf = shipped_curves["ssf"]
    assert ssf.levels == [1, 2, 3, 4, 5, 6]
    assert all(a < b for a, b in itertools.pairwise(ssf.bpp)), ssf.bpp
    assert all(a < b for a, b in itertools.pairwise(ssf.psnr)), ssf.psnr


def test_shipped_hcf_beats_drf_and_edge_beats_late(shipped_curves):
    from hcf_ray.evaluate import bd_table

    rows = {(r["test"], r["anchor"]): r for r in bd_table(shipped_curves)}
    assert rows[("hcf", "drf")]["bd_rate_psnr_pct"] < 0
    assert rows[("hcf-late", "hcf")]["bd_psnr_db"] <= 0.0


def test_mesh_main_job_on_shipped_models(ray_session, tmp_path):
    """The README's main job (`hcf-sim run topologies/mesh.yaml`) on one image per flow: the
    Ray actors decode exactly what the in-process cascade decodes, with the trained models."""
    import hashlib
    from pathlib import Path

    from hcf_ray.images import load_image
    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.driver import RunOptions, run_simulation
    from hcf_ray.sim.scenario import build_scenario

    cfg = load_config(Path(__file__).resolve().parents[1] / "topologies" / "mesh.yaml")
    assert cfg.codec == "default"
    sc = build_scenario(cfg, max_images=1, methods=["hcf", "drf"])
    summary = run_simulation(sc, tmp_path, options=RunOptions(timeout_s=600, warmup=False))
    assert summary["status"] == "ok"
    assert summary["transport_check"]["same_reconstruction"]
    recs = [json.loads(r) for r in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["method"] for r in recs} == {"hcf", "drf"}
    engine = load_bundle("default").engine()
    for r in recs:
        assert r["bpp"] > 0 and r["psnr"] > 20  # trained models: a real picture arrives
        plan = sc.plan(r["flow"], r["method"])
        dest = next(d for d in plan.destinations if d.node == r["destination"])
        flow = next(f for f in sc.flows if f.spec.name == r["flow"])
        x = load_image(next(p for p in flow.images if p.name == r["image"]))
        ref = engine.execute(dest.program, x, "bitstream")
        assert r["recon_sha256"] == hashlib.sha256(ref.x_hat.numpy().tobytes()).hexdigest()
        assert [h["bytes"] for h in r["hops"]] == [len(t.bitstream) for t in ref.transmissions]
