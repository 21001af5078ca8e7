"""A multicast tree on Ray: one relay serves two destinations at different levels from a single
incoming transmission (HCF's hierarchy), end to end through ``hcf-sim run``."""

import json
from pathlib import Path

import yaml
from configs import on_small_photos
from simcheck import in_process, read_records, sha

from hcf_ray.bundle import load_bundle
from hcf_ray.cascade import CascadeEngine
from hcf_ray.cli import main
from hcf_ray.images import load_image
from hcf_ray.policy import PolicyVector
from hcf_ray.sim.config import load_config
from hcf_ray.sim.scenario import build_scenario

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"


def test_tree_relay_serves_two_levels_from_one_transmission(ray_session, tmp_path, capsys):
    data = yaml.safe_load((ROOT / "topologies" / "tree.yaml").read_text())
    data["codec"] = CODEC
    data["flows"][0]["methods"] = ["hcf", "ssf"]
    data = on_small_photos(data)  # the claim is about the tree, not image size
    cfg = tmp_path / "tree.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--max-images", "2"]) == 0
    printed = capsys.readouterr().out
    assert (
        "flow multicast" in printed and "hcf" in printed and "note: transport=bitstream" in printed
    )
    records = read_records(out)
    hcf = [r for r in records if r["method"] == "hcf"]
    for image in {r["image"] for r in hcf}:
        hq, phone = (
            next(r for r in hcf if r["image"] == image and r["destination"] == d)
            for d in ("hq", "phone")
        )
        # the same camera→relay transmission (same bytes, same instant) feeds both
        assert hq["hops"][0] == phone["hops"][0]
        assert (hq["hops"][0]["src"], hq["hops"][0]["dst"]) == ("camera", "relay")
        # ... and the relay sends two different levels onwards
        assert (hq["hops"][1]["level"], phone["hops"][1]["level"]) == (4, 5)
        assert (hq["target_level"], phone["target_level"]) == (4, 1)
        # the decode and φinter[6→5] at the relay are shared by both branches
        assert hq["nodes"]["relay"]["ops"][:2] == phone["nodes"]["relay"]["ops"][:2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["links"]["hcf"]["camera->relay"]["messages"] == 2  # one per image
    assert summary["nodes"]["hcf"]["relay"]["jobs"] == 2  # one relay job per image
    # SSF has no in-network recompression: the shared link carries both levels (simulcast)
    assert summary["links"]["ssf"]["camera->relay"]["messages"] == 4
    # Ray placed every node actor; the forked cascade still decodes bit-exactly
    assert set(summary["wall"]["placement"]["nodes"]) == {"camera", "relay", "hq", "edge", "phone"}
    sc = build_scenario(load_config(cfg), max_images=2)
    bundle = load_bundle(CODEC)
    eng = CascadeEngine(bundle.ladder, bundle.phis)
    for rec in hcf:
        assert rec["recon_sha256"] == sha(in_process(eng, sc, rec).x_hat)
        # independently of the planner (no merged jobs, no forks, no forwarding relays): the
        # engine's own program for the levels this destination's hops carried
        levels = tuple(dict.fromkeys(h["level"] for h in rec["hops"]))
        vec = PolicyVector.from_levels(rec["source_level"], rec["target_level"], levels)
        flow = sc.flows[0]
        x = load_image(next(p for p in flow.images if p.name == rec["image"]))
        direct = eng.run(x, "hcf", rec["source_level"], rec["target_level"], policy=vec)
        assert sha(direct.x_hat) == rec["recon_sha256"] and rec["bpp"] == direct.bpp()
