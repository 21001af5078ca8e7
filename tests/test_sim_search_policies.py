"""``hcf-sim search``: energy as a Pareto axis, listed policies as references and as bounds of
the objective (``policy:NAME``).

Expected values are computed here by hand (levels of edge/late, dominance, the pick), never
copied from the library's output."""

import json
import os
from pathlib import Path

import pytest
import yaml
from PIL import Image

from hcf_ray.cli import main
from hcf_ray.images import sample_images
from hcf_ray.sim.driver import RunOptions
from hcf_ray.sim.scenario import load_scenario
from hcf_ray.sim.search import (
    FRONT,
    SearchError,
    check_policies,
    dominates,
    format_search,
    pareto_flags,
    parse_cli_policies,
    parse_objective,
    plan_search,
    run_search,
    search_json,
)
from hcf_ray.sim.work.cache import CodecCache

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"

# a policy that always asks for more quantizations than the 3-hop route holds
TOO_MANY = """
from hcf_ray.policy import Policy, PolicyVector

class TooMany(Policy):
    name = "too-many"

    def choose(self, ctx):
        return PolicyVector(ctx.start_level, ctx.target_level, [1] * (ctx.start_level - ctx.target_level + 1))
"""
LATE_FILE = """
from hcf_ray.policy import LatePolicy

class MyLate(LatePolicy):
    name = "my-late"
"""
BROKEN = """
from hcf_ray.policy import Policy

class Broken(Policy):
    def choose(self, ctx):
        raise RuntimeError("no plan today")
"""


def point(psnr, bpp, lat, energy):
    return {
        "psnr": psnr,
        "bpp": bpp,
        "latency_ms": lat,
        "energy_j": energy,
        "link_bytes": 1000.0,
        "compute_ms": 10.0,
    }


# -- pure: the order -------------------------------------------------------------------------
def test_energy_is_a_front_axis():
    a = point(30.0, 0.5, 100.0, 2.0)
    b = point(30.0, 0.5, 100.0, 1.0)  # only better in energy
    c = point(29.0, 0.6, 120.0, 3.0)  # worse on every axis than a
    assert dominates(b, a) and not dominates(a, b)
    assert pareto_flags([a, b, c]) == [False, True, False]
    d = point(29.0, 0.6, 120.0, 0.5)  # worse but on energy: on the front now
    assert pareto_flags([a, b, d]) == [False, True, True]
    assert ("energy_j", -1) in FRONT


def test_objective_with_a_policy_bound():
    o = parse_objective("max psnr s.t. energy_j <= policy:tight and latency_ms <= 90")
    assert o.policies == ["tight"]
    assert str(o) == "max psnr s.t. energy_j <= policy:tight and latency_ms <= 90"
    lo, hi = point(30.0, 0.5, 80.0, 1.0), point(31.0, 0.6, 80.0, 3.0)

    class C:  # the fields Objective.pick reads
        def __init__(self, i, m):
            self.id, self.method, self.metrics = i, "hcf", m

    cands = [C(1, lo), C(2, hi)]
    assert o.pick(cands, {("tight", "hcf"): point(0, 0, 0, 2.0)}).id == 1
    assert o.pick(cands, {("tight", "hcf"): point(0, 0, 0, 3.0)}).id == 2
    assert o.pick(cands, {("tight", "hcf"): None}) is None  # the policy has no value here
    assert o.pick(cands, {("tight", "drf"): point(0, 0, 0, 9.0)}) is None  # another method's
    with pytest.raises(SearchError, match="policy:tight names no listed policy"):
        check_policies(o, ["edge", "late"], "line → screen")
    for bad in ("max psnr s.t. energy_j <= policy:", "max psnr s.t. energy_j <= polcy:x"):
        with pytest.raises(SearchError, match="--objective"):
            parse_objective(bad)


def test_cli_policy_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    """On the command line a policy file is found from the current directory (in a YAML,
    from the YAML's folder: tests/test_topology_config.py)."""
    (tmp_path / "mine.py").write_text(TOO_MANY)
    monkeypatch.chdir(tmp_path)
    (spec, shown), (ref, _) = parse_cli_policies(
        ["mine.py:TooMany", "{name: t, class: mine.py:TooMany}"]
    )
    assert spec == f"{tmp_path.resolve() / 'mine.py'}:TooMany"
    assert shown(spec) == "mine.py:TooMany"
    assert (ref.name, ref.cls) == ("t", spec)
    with pytest.raises(SearchError, match=r"^--policies\[0\] '\{class: 3\}'"):
        parse_cli_policies(["{class: 3}"])


# -- planned, no Ray ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_crop(tmp_path_factory):
    d = tmp_path_factory.mktemp("search_policy_images")
    Image.open(sample_images()[0]).convert("RGB").crop((0, 0, 128, 96)).save(d / "crop.png")
    return d


def line_yaml(folder: Path, images: Path, policies: list) -> Path:
    """camera → r1 → r2 → screen, levels 4 → 1, every node with a power model."""
    data = {
        "name": "line4e",
        "codec": CODEC,
        "transport": "latent",
        "devices": {"box": {"busy_w": 40.0, "idle_w": 5.0}},
        "node_defaults": {"device": "box"},
        "nodes": [{"id": n} for n in ("camera", "r1", "r2", "screen")],
        "links": [
            {"src": "camera", "dst": "r1", "bandwidth_mbps": 20, "latency_ms": 2},
            {"src": "r1", "dst": "r2", "bandwidth_mbps": 2, "latency_ms": 10},
            {"src": "r2", "dst": "screen", "bandwidth_mbps": 10, "latency_ms": 3},
        ],
        "policies": policies,
        "flows": [
            {
                "name": "line",
                "source": "camera",
                "source_level": 4,
                "destinations": [{"node": "screen", "level": 1}],
                "methods": ["hcf"],
                "images": str(images),
            }
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "line4e.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_listed_policies_are_planned_on_the_destination(tmp_path, one_crop):
    (tmp_path / "pols").mkdir()
    (tmp_path / "pols" / "late.py").write_text(LATE_FILE)
    cfg = line_yaml(tmp_path / "cfg", one_crop, ["edge", "late", "../pols/late.py:MyLate"])
    sc = load_scenario(cfg, timing="profile")
    (t,) = plan_search(sc, n_q=[3])
    got = {p.name: p for p in t.policies}
    assert list(got) == ["edge", "late", "my-late"]
    # 3 hops, one quantization each: edge π = [1,1,0,1] keeps the high levels (4, 3), late
    # π = [0,1,1,1] the low ones (3, 2)
    assert got["edge"].levels == {"hcf": (4, 3, 1)} and got["edge"].n_q == {"hcf": 3}
    assert got["late"].levels == got["my-late"].levels == {"hcf": (3, 2, 1)}
    assert got["my-late"].where == "policies[2]"
    assert got["my-late"].label == "../pols/late.py:MyLate"  # the YAML's spelling

    # --policies replaces the YAML's list; a vector the route cannot hold is infeasible there;
    # a failing policy is one line naming its place
    (tmp_path / "broken.py").write_text(BROKEN)
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        cli = parse_cli_policies(
            ["uniform", "{name: vec, class: [1, 1, 1, 1]}", "broken.py:Broken"]
        )
    finally:
        os.chdir(here)
    with pytest.raises(SearchError) as err:
        plan_search(sc, n_q=[3], policies=cli)
    msg = str(err.value)
    assert msg.startswith("--policies[2]: policy broken.py") and "\n" not in msg
    (t,) = plan_search(sc, n_q=[3], policies=cli[:2])
    assert [p.name for p in t.policies] == ["uniform", "vec"]
    assert t.policies[1].levels == {} and "4 hops" in t.policies[1].infeasible["hcf"]
    # two of one name are refused
    with pytest.raises(SearchError, match="both named 'edge'"):
        plan_search(sc, n_q=[3], policies=parse_cli_policies(["edge", "edge"]))


# -- on Ray ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def energy_search(ray_session, tmp_path_factory, one_crop):
    folder = tmp_path_factory.mktemp("search_policies")
    cfg = line_yaml(folder, one_crop, ["edge", "late"])
    sc = load_scenario(cfg, timing="profile")
    targets = plan_search(sc, n_q=[3])
    objective = parse_objective("max psnr s.t. energy_j <= policy:late")
    result = run_search(
        sc, targets, objective, options=RunOptions(timeout_s=300), cache=CodecCache()
    )
    return result


def test_listed_policies_are_located_and_bound_the_objective(energy_search):
    result = energy_search
    (t,) = result.targets
    by_levels = {c.levels: c for c in t.candidates}
    assert all(c.metrics["energy_j"] > 0 for c in t.candidates)  # the nodes have power
    refs = {r["policy"]: r for r in t.references if r.get("listed")}
    assert set(refs) == {"edge", "late"}
    late = by_levels[3, 2, 1]
    assert refs["late"]["candidate"] == late.id
    assert refs["late"]["position"] == ("front" if late.pareto else "dominated")
    assert refs["edge"]["candidate"] == by_levels[4, 3, 1].id
    # the pick, by hand: highest PSNR among those with no more energy than late's candidate
    bound = late.metrics["energy_j"]
    ok = [c for c in t.candidates if c.metrics["energy_j"] <= bound]
    best = min(
        ok,
        key=lambda c: (
            -c.metrics["psnr"],
            c.metrics["bpp"],
            c.metrics["latency_ms"],
            c.metrics["energy_j"],
            c.metrics["link_bytes"],
            c.metrics["compute_ms"],
            c.id,
        ),
    )
    assert t.chosen is best
    doc = search_json(result)
    assert doc["front_axes"] == {
        "psnr": "max",
        "bpp": "min",
        "latency_ms": "min",
        "energy_j": "min",
    }
    (td,) = doc["targets"]
    assert [p["name"] for p in td["policies"]] == ["edge", "late"]
    assert td["chosen"]["id"] == best.id
    printed = format_search(result)
    assert "energy ↓" in printed and "policy late n_q=3" in printed


def test_cli_search_with_policies(energy_search, tmp_path, one_crop, capsys):
    """--policies replaces the YAML's list; the table, search.json and figure name them; a
    bound on a policy that is not listed is exit 2 before any work; one whose n_q is not
    searched gives no bound, and the output says why."""
    cfg = line_yaml(tmp_path / "cfg", one_crop, ["edge"])
    out = tmp_path / "out"
    base = ["search", str(cfg), "--n-q", "2", "--out", str(out)]
    bad = [*base, "--objective", "max psnr s.t. energy_j <= policy:nope"]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "policy:nope names no listed policy" in err
    assert not out.exists()
    args = [*base, "--policies", "late", "{name: two, class: edge}"]
    assert main([*args, "--objective", "min energy_j s.t. psnr >= policy:late"]) == 0
    printed = capsys.readouterr().out
    assert "energy ↓" in printed and "energy J" in printed
    assert "policy late n_q=3" in printed and "policy two n_q=3" in printed
    doc = json.loads((out / "search.json").read_text())
    (t,) = doc["targets"]
    assert [p["name"] for p in t["policies"]] == ["late", "two"]
    why = "policy late (hcf) gives no bound here: not searched (n_q=3 is not searched)"
    assert f"objective min energy_j s.t. psnr >= policy:late: {why}\n" in printed
    assert t["chosen"] == {"id": None, "reason": why}
    assert {r["position"] for r in t["references"] if r.get("listed")} == {"not searched"}
    assert (out / "search.png").stat().st_size > 10_000 and (out / "search.pdf").exists()


def test_search_figure_draws_energy_and_names_listed_policies(tmp_path):
    """A search.json made by hand: energy vs latency beside PSNR vs bpp, a listed policy
    labelled by its name, the paper's references by their short tags."""
    from hcf_ray.sim import figures

    def cand(cid, psnr, bpp, lat, energy, pareto, refs=()):
        m = {**point(psnr, bpp, lat, energy), "link_bytes": 1e3 * cid}
        return {"id": cid, "method": "hcf", "metrics": m, "pareto": pareto, "references": refs}

    doc = {
        "name": "line",
        "objective": "max psnr s.t. energy_j <= policy:frugal",
        "front_axes": {"psnr": "max", "bpp": "min", "latency_ms": "min", "energy_j": "min"},
        "targets": [
            {
                "flow": "line",
                "destination": "screen",
                "source_level": 4,
                "target_level": 1,
                "hops": 3,
                "methods": ["hcf"],
                "candidates": [
                    cand(1, 30.0, 0.5, 20.0, 3.0, True, ["edge n_q=2"]),
                    cand(2, 29.0, 0.4, 25.0, 1.0, True, ["frugal n_q=2"]),
                    cand(3, 28.0, 0.6, 30.0, 4.0, False),
                ],
                "policies": [{"name": "frugal"}],
                "chosen": {"id": 2},
            }
        ],
    }
    fig = figures.search_figure(doc)
    energy = [ax for ax in fig.axes if ax.get_ylabel().startswith("energy")]
    assert len(energy) == 1 and "(J" in energy[0].get_ylabel()
    assert energy[0].get_xlabel().startswith("latency")
    assert sorted(energy[0].collections[-1].get_offsets()[0]) == [1.0, 25.0]  # the pick: #2
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("hcf frugal" in s for s in labels) and any("hcf E2" in s for s in labels)
    assert "energy ↓" in fig._suptitle.get_text()
    paths = figures.plot_search(doc, tmp_path)
    assert [p.name for p in paths] == ["search.pdf", "search.png"]
