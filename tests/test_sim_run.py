"""The simulator on the shared Ray cluster: Ray transport changes nothing, a relay forks one
transmission into two levels, latent transport gives the same pixels, a dead actor is named."""

from pathlib import Path

import pytest
from configs import flows_on_small_photos
from simcheck import in_process, read_records, sha

from hcf_ray.bundle import load_bundle
from hcf_ray.cascade import CascadeEngine
from hcf_ray.images import load_image
from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import build_scenario
from hcf_ray.sim.work.backend import PoolBackend

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"
FAST = RunOptions(warmup=False, check_transport=False, timeout_s=300)


def scenario(name: str, max_images: int = 2, **update):
    cfg = load_config(ROOT / "topologies" / f"{name}.yaml")
    flows = flows_on_small_photos(cfg)
    cfg = cfg.model_copy(update={"codec": CODEC, "flows": flows, **update})
    return build_scenario(cfg, max_images=max_images)


@pytest.fixture(scope="module")
def engine():
    bundle = load_bundle(CODEC)
    return CascadeEngine(bundle.ladder, bundle.phis)


@pytest.fixture(scope="module")
def line_actors(ray_session):
    sc = scenario("line")
    backend = PoolBackend(sc.codec.spec, None, timeout_s=300)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def line_run(line_actors, tmp_path_factory):
    sc = scenario("line")
    out = tmp_path_factory.mktemp("line")
    summary = run_simulation(sc, out, backend=line_actors, options=FAST)
    return sc, summary, read_records(out)


def test_ray_transport_is_bit_identical_to_in_process(line_run, engine):
    sc, summary, records = line_run
    assert summary["status"] == "ok"
    assert len(records) == 2 * 3  # 2 images x 3 methods x 1 destination
    required = {"flow", "destination", "image", "method", "policy", "source_level"}
    required |= {"target_level", "bpp", "psnr", "ms_ssim_db", "latency_s", "hops", "nodes"}
    for rec in records:
        assert required <= set(rec)
        ref = in_process(engine, sc, rec)
        # what the destination decoded is exactly what the in-process cascade produces
        assert rec["recon_sha256"] == sha(ref.x_hat)
        # and what the engine compiles by itself, without the simulator's planner: the edge
        # policy with one quantization per hop (3 hops, levels 6 → 2), or SSF at level 2
        x = load_image(next(p for p in sc.flows[0].images if p.name == rec["image"]))
        if rec["method"] == "ssf":
            direct = engine.run(x, "ssf", 2, 2)
        else:
            direct = engine.run(x, rec["method"], 6, 2, policy="edge", n_q=3)
        assert sha(direct.x_hat) == rec["recon_sha256"] and rec["bpp"] == direct.bpp()
        # per-hop bytes are the lengths of the bitstreams that crossed each link
        assert [h["bytes"] for h in rec["hops"]] == [len(t.bitstream) for t in ref.transmissions]
        assert [h["level"] for h in rec["hops"]] == [t.level for t in ref.transmissions]
        assert rec["bpp"] == pytest.approx(ref.bpp())
        assert rec["latency_s"] > sum(h["tx_s"] for h in rec["hops"])
        assert set(rec["nodes"]) == {"camera", "r1", "r2", "screen"}
        assert all({"compute_s", "flops"} <= set(n) for n in rec["nodes"].values())
    hcf = [r for r in records if r["method"] == "hcf"]
    assert hcf[0]["nodes"]["r1"]["ops"][:2] == ["decode[6]", "phi_inter[6]"]
    assert hcf[0]["nodes"]["camera"]["flops"] > 0
    # link accounting: every image crosses every link once per method
    assert summary["links"]["hcf"]["r1->r2"]["messages"] == 2
    assert summary["links"]["hcf"]["r1->r2"]["bytes"] == sum(r["hops"][1]["bytes"] for r in hcf)


def test_relays_forward_when_n_q_is_below_the_hop_count(line_actors, tmp_path, engine):
    """n_q=2 on a 3-hop route: r1 re-quantizes at the target level, r2 forwards those bytes
    untouched (no compute), and the destination decodes exactly the 2-quantization cascade."""
    cfg = load_config(ROOT / "topologies" / "line.yaml")
    flows = [cfg.flows[0].model_copy(update={"n_q": 2, "methods": ["hcf", "drf"]})]
    cfg = cfg.model_copy(update={"codec": CODEC, "flows": flows})
    sc = build_scenario(cfg, max_images=1)
    summary = run_simulation(sc, tmp_path, backend=line_actors, options=FAST)
    assert summary["status"] == "ok"
    records = read_records(tmp_path)
    assert {r["method"] for r in records} == {"hcf", "drf"}
    for rec in records:
        assert [h["level"] for h in rec["hops"]] == [6, 2, 2]
        assert rec["hops"][2]["bytes"] == rec["hops"][1]["bytes"]  # the same stream
        assert rec["nodes"]["r2"]["ops"] == [] and rec["nodes"]["r2"]["flops"] == 0
        ref = in_process(engine, sc, rec)
        assert rec["recon_sha256"] == sha(ref.x_hat)
        x = load_image(sc.flows[0].images[0])
        direct = engine.run(x, rec["method"], 6, 2, policy="edge", n_q=2)
        assert sha(direct.x_hat) == rec["recon_sha256"]  # = the cascade without the relay
        assert rec["bpp"] == pytest.approx(direct.bpp())
    links = summary["links"]["hcf"]
    assert links["r2->screen"]["bytes"] == links["r1->r2"]["bytes"]


def test_latent_transport_gives_the_same_reconstruction(line_run, line_actors, tmp_path, engine):
    sc, _, records = line_run
    latent = scenario("line", transport="latent")
    summary = run_simulation(latent, tmp_path, backend=line_actors, options=FAST)
    assert summary["transport"] == "latent"
    by_key = {(r["image"], r["method"]): r for r in records}
    for rec in read_records(tmp_path):
        assert rec["transport"] == "latent"
        assert rec["recon_sha256"] == by_key[rec["image"], rec["method"]]["recon_sha256"]
        est = in_process(engine, sc, rec, "latent")
        assert rec["bpp"] == pytest.approx(est.bpp())  # entropy estimate, not coded bytes
