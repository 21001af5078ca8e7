"""Sweeps: generated networks × policies × methods on one reusable actor pool."""

import json

import pandas as pd
import pytest
import yaml
from configs import small_photos

from hcf_ray.sim.sweep import load_sweep, run_sweep

SWEEP = {
    "name": "mini",
    "codec": "random:mbt2018-mean",
    "transport": "latent",
    "generators": [
        {"kind": "balanced_tree", "params": {"r": 2, "h": 2}},
        {"kind": "barabasi_albert", "params": {"n": 6, "m": 2}},
    ],
    "seeds": [0],
    "flow": {"destinations": 2, "levels": [1, 3], "max_images": 1, "images": small_photos()},
    "policies": ["edge", "late"],
    "methods": ["hcf", "ssf"],
    "actors": 2,
}


def test_sweep_reuses_actors_and_aggregates(ray_session, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    sweep = load_sweep(path)
    assert [n["generator"] for n in sweep.networks] == ["balanced_tree", "barabasi_albert"]
    assert all(len(n["destinations"]) == 2 for n in sweep.networks)
    summary = run_sweep(sweep, tmp_path / "out", timeout_s=300)
    # hcf for 2 policies + ssf once, per network
    assert summary["worlds"] == 2 * 3
    assert set(summary["by_method_policy"]) == {"hcf/edge", "hcf/late", "ssf/-"}
    for stats in summary["by_method_policy"].values():
        assert stats["networks"] == 2 and stats["bpp"]["n"] == stats["n"] == 4
        assert {"mean", "std"} <= set(stats["latency_s"])
    # every world's codec work ran on the same pool of two actors
    assert len({a["pid"] for a in summary["wall"]["actors"].values()}) == 2
    lines = (tmp_path / "out" / "sweep_results.jsonl").read_text().splitlines()
    assert len(lines) == summary["records"] == 12
    assert {"network", "generator", "seed"} <= set(json.loads(lines[0]))
    # the summary's statistics are those of the records, recomputed here with pandas
    df = pd.DataFrame([json.loads(x) for x in lines])
    df["group"] = df["method"] + "/" + df["policy"]
    for metric in ("bpp", "psnr", "latency_s", "compute_s", "total_bytes"):
        by = df.groupby("group")[metric]
        for key, stats in summary["by_method_policy"].items():
            assert stats[metric]["mean"] == pytest.approx(by.mean()[key], rel=1e-12)
            assert stats[metric]["std"] == pytest.approx(by.std(ddof=0)[key], rel=1e-9, abs=1e-15)
            assert stats[metric]["max"] == by.max()[key] and stats[metric]["min"] == by.min()[key]
    by_gen = df.groupby(df["generator"] + "/" + df["group"])["latency_s"].mean()
    for key, stats in summary["by_generator"].items():
        assert stats["latency_s"]["mean"] == pytest.approx(by_gen[key], rel=1e-12)


def test_sweep_n_q_admits_routes_longer_than_the_levels(tmp_path):
    """Without n_q a 7-node path fits only destinations ≤ s-d+1 hops away; with n_q=2 any
    node is a candidate and the relays beyond the second quantization forward (no Ray)."""
    data = {
        **SWEEP,
        "generators": [{"kind": "path", "params": {"n": 7}}],
        "flow": {"destinations": 1, "levels": [5, 5], "max_images": 1},
        "policies": ["edge"],
        "methods": ["hcf"],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    legacy = load_sweep(path)
    (dest,) = legacy.networks[0]["destinations"]
    assert int(dest["node"]) <= 2  # levels 6→5 hold at most 2 quantizations, one per hop
    data["flow"]["n_q"] = 2
    data["seeds"] = [0, 1, 2, 3]
    path.write_text(yaml.safe_dump(data))
    sweep = load_sweep(path)
    far = [w for w in sweep.worlds if int(w.scenario.flows[0].spec.destinations[0].node) > 2]
    assert far, "n_q=2 should admit a destination more than 2 hops away"
    for w in far:
        (d,) = w.scenario.plan("flow", "hcf").destinations
        assert d.levels == (6,) + (5,) * (len(d.levels) - 1)  # one drop, then forwards


def test_sweep_worlds_share_one_parse_of_the_shipped_profile(tmp_path):
    """Building a sweep reads the shipped cost profile once for all its worlds; each world's
    devices carry that profile (the file's own SHA-256, computed here) (no Ray)."""
    import hashlib

    from hcf_ray.sim.net.costs import DEFAULT_PROFILE

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "seeds": [0, 1]}))
    sweep = load_sweep(path)
    assert len(sweep.worlds) == 2 * 2 * 3
    profiles = {id(d.profile) for w in sweep.worlds for d in w.scenario.devices.values()}
    assert len(profiles) == 1
    profile = sweep.worlds[0].scenario.devices["0"].profile
    assert profile.sha256 == hashlib.sha256(DEFAULT_PROFILE.read_bytes()).hexdigest()
