"""``hcf-sim search``: the policy space of one destination, its Pareto front, the objective.

Counts and fronts are checked against brute force computed here, not by the library."""

import itertools
import json
from pathlib import Path

import pytest
import yaml
from configs import on_small_photos
from PIL import Image

from hcf_ray.cli import main
from hcf_ray.images import sample_images
from hcf_ray.sim.driver import RunOptions
from hcf_ray.sim.scenario import load_scenario
from hcf_ray.sim.search import parse_objective, placements, plan_search, run_search
from hcf_ray.sim.work.cache import CodecCache

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"
S, D, HOPS, N_Q = 4, 1, 3, (2, 3)


@pytest.fixture(scope="module")
def small_images(tmp_path_factory):
    """Two small crops of the bundled photos (the tiny models then run in milliseconds)."""
    d = tmp_path_factory.mktemp("search_images")
    for i, p in enumerate(sample_images()[:2]):
        Image.open(p).convert("RGB").crop((0, 0, 128, 96)).save(d / f"crop{i}.png")
    return d


@pytest.fixture(scope="module")
def line_config(tmp_path_factory, small_images):
    """camera → r1 → r2 → screen, s=4, d=1."""
    data = {
        "name": "line4",
        "codec": CODEC,
        "transport": "latent",
        "nodes": [{"id": n} for n in ("camera", "r1", "r2", "screen")],
        "links": [
            {"src": "camera", "dst": "r1", "bandwidth_mbps": 20, "latency_ms": 2},
            {"src": "r1", "dst": "r2", "bandwidth_mbps": 2, "latency_ms": 10},
            {"src": "r2", "dst": "screen", "bandwidth_mbps": 10, "latency_ms": 3},
        ],
        "flows": [
            {
                "name": "line",
                "source": "camera",
                "source_level": S,
                "destinations": [{"node": "screen", "level": D}],
                "methods": ["hcf"],
                "policy": "edge",
                "images": str(small_images),
                "interval_ms": 50,
            }
        ],
    }
    path = tmp_path_factory.mktemp("search_line") / "line4.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def line_search(ray_session, line_config):
    sc = load_scenario(line_config, timing="profile")
    targets = plan_search(sc, methods=["hcf", "drf"], n_q=list(N_Q))
    cache = CodecCache()
    result = run_search(sc, targets, options=RunOptions(timeout_s=300), cache=cache)
    return sc, result, cache


# -- brute force, independent of the library ------------------------------------------------------
def brute_force_space(s: int, d: int, hops: int, n_q_values) -> list[tuple[tuple, tuple]]:
    """(π, levels per hop) pairs: π = [π_s..π_d] of 0/1 with π_d = 1 and Σπ = n_q; the hops
    carry π's levels in non-increasing order, each at least once, the last one d."""
    out = []
    for bits in itertools.product((0, 1), repeat=s - d + 1):
        if bits[-1] != 1 or sum(bits) not in n_q_values:
            continue
        levels = {s - i for i, b in enumerate(bits) if b}
        for per_hop in itertools.product(range(d, s + 1), repeat=hops):
            if any(b > a for a, b in itertools.pairwise(per_hop)):
                continue
            if set(per_hop) == levels and per_hop[-1] == d:
                out.append((bits, per_hop))
    return out


def better_or_equal(a: dict, b: dict) -> bool:
    return (
        a["psnr"] >= b["psnr"]
        and a["bpp"] <= b["bpp"]
        and a["latency_ms"] <= b["latency_ms"]
        and a["energy_j"] <= b["energy_j"]
    )


def dominated(a: dict, b: dict) -> bool:
    """b dominates a (over PSNR ↑, bpp ↓, latency ↓, energy ↓)."""
    return better_or_equal(b, a) and (
        b["psnr"] > a["psnr"]
        or b["bpp"] < a["bpp"]
        or b["latency_ms"] < a["latency_ms"]
        or b["energy_j"] < a["energy_j"]
    )


def by_hand_key(m: dict, metric: str, sign: int, cid: int) -> tuple:
    """The objective's order (sign -1: max): ties, as every placement of one vector has the
    same PSNR and bpp, go to higher PSNR, then lower bpp, latency, energy, bytes, compute."""
    rest = (m["bpp"], m["latency_ms"], m["energy_j"], m["link_bytes"], m["compute_ms"])
    return (sign * m[metric], -m["psnr"], *rest, cid)


def stages_to(plan, job: int, branch: int) -> tuple:
    """The computing stages from the source to (job, branch): the cascade's op sequence."""
    chain = []
    while True:
        j = plan.jobs[job]
        if not j.branches[branch].forward:
            chain.append(j.branches[branch].stage)
        if j.input is None:
            return tuple(reversed(chain))
        job, branch = j.input


# -- pure ---------------------------------------------------------------------------------------
def test_placements_match_brute_force():
    for levels, hops in [((6, 3), 4), ((6, 5, 3), 4), ((3,), 3), ((5, 4, 2, 1), 4)]:
        want = [
            p
            for p in itertools.product(levels, repeat=hops)
            if set(p) == set(levels) and list(p) == sorted(p, reverse=True)
        ]
        assert sorted(placements(levels, hops)) == sorted(want)
    assert placements((6, 3), 4)[0] == (6, 3, 3, 3)  # place early first
    assert placements((6, 3), 4)[-1] == (6, 6, 6, 3)  # place late last


def test_objective_grammar():
    o = parse_objective("max psnr s.t. latency_ms <= 80")
    assert (o.sense, o.metric, [(c.metric, c.op, c.value) for c in o.constraints]) == (
        "max",
        "psnr",
        [("latency_ms", "<=", 80.0)],
    )
    o = parse_objective("min link_bytes s.t. psnr>=30 and energy_j <= 1.5e-1")
    assert [(c.metric, c.op, c.value) for c in o.constraints] == [
        ("psnr", ">=", 30.0),
        ("energy_j", "<=", 0.15),
    ]
    assert str(parse_objective("min bpp")) == "min bpp"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "maximize psnr",
        "max",
        "max ssim",
        "max psnr latency_ms <= 80",
        "max psnr s.t.",
        "max psnr s.t. latency_ms < 80",
        "max psnr s.t. latency_ms <= fast",
        "max psnr s.t. latency_ms <= nan",
        "max psnr s.t. latency_ms <= 80 and",
        "max psnr s.t. latency_ms <= 80 or bpp <= 1",
    ],
)
def test_bad_objective_is_one_line_exit_2(bad, line_config, tmp_path, capsys):
    rc = main(["search", str(line_config), "--objective", bad, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("hcf-sim: error: --objective")
    assert not (tmp_path / "o").exists()


def test_refuses_a_non_empty_output_folder(line_config, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["search", str(line_config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err
    assert (out / "notes.txt").read_text() == "mine"


def test_tree_destinations_keep_the_shared_levels(tmp_path):
    """mesh: tv is planned first; phone shares three links with it, so only the placements
    that agree with tv's levels there are candidates, the others are listed as infeasible."""
    data = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    data["codec"] = CODEC
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(yaml.safe_dump(data))
    sc = load_scenario(cfg, max_images=1, timing="profile")
    (t,) = plan_search(sc, flow="cam1", destination="phone")
    tv = next(d for d in sc.plan("cam1", "hcf").destinations if d.node == "tv")
    assert t.candidates and all(c.levels[:3] == tv.levels[:3] for c in t.candidates)
    assert len(t.candidates) + len(t.infeasible) == len(brute_force_space(6, 1, 4, {1, 2, 3, 4}))
    assert all("tv" in x["reason"] for x in t.infeasible)


# -- on Ray -------------------------------------------------------------------------------------
def test_candidates_equal_brute_force_enumeration(line_search):
    _, result, _ = line_search
    (t,) = result.targets
    space = brute_force_space(S, D, HOPS, set(N_Q))
    assert len(space) == 9  # n_q=2: 3 vectors × 2 placements; n_q=3: 3 × 1
    got = {(m, c.vector.bits, c.levels) for c in t.candidates for m in [c.method]}
    assert got == {(m, bits, lv) for bits, lv in space for m in ("hcf", "drf")}
    assert len(t.candidates) == 2 * len(space) and not t.infeasible
    assert all(c.metrics is not None and c.error is None for c in t.candidates)


def test_front_is_exactly_the_non_dominated_set(line_search):
    _, result, _ = line_search
    (t,) = result.targets
    cands = t.candidates
    brute = [c for c in cands if not any(dominated(c.metrics, o.metrics) for o in cands)]
    assert {c.id for c in t.front} == {c.id for c in brute}
    for c in cands:
        if c.pareto:
            assert not any(dominated(c.metrics, o.metrics) for o in cands)
        else:
            assert any(dominated(c.metrics, f.metrics) for f in t.front)
            assert c.dominated_by and all(
                dominated(c.metrics, next(f for f in cands if f.id == i).metrics)
                for i in c.dominated_by
            )


def test_codec_work_is_shared_between_candidates(line_search):
    sc, result, cache = line_search
    (t,) = result.targets
    images = sc.flows[0].images
    occurrences = [
        (img.name, stages_to(c.plan, job.index, b))
        for c in t.candidates
        for img in images
        for job in c.plan.jobs
        for b, br in enumerate(job.branches)
        if not br.forward
    ]
    distinct = set(occurrences)
    stats = result.wall["cache"]
    assert stats["misses"] == stats["distinct_computed"] == len(distinct)
    assert stats["hits"] + stats["shared_in_flight"] + stats["misses"] == len(occurrences)
    assert len(distinct) < len(occurrences)  # candidates share prefixes
    assert cache.stats.misses == len(distinct)


def test_edge_and_late_are_located(line_search):
    _, result, _ = line_search
    (t,) = result.targets
    refs = {(r["policy"], r["n_q"], r["method"]): r for r in t.references}
    # edge n_q=2: [1,0,0,1] placed early on 3 hops
    edge = refs["edge", 2, "hcf"]
    assert edge["levels"] == [4, 1, 1]
    c = next(c for c in t.candidates if c.id == edge["candidate"])
    assert c.method == "hcf" and c.levels == (4, 1, 1)
    assert edge["position"] == ("front" if c.pareto else "dominated")
    assert refs["late", 3, "drf"]["levels"] == [3, 2, 1]


def test_objective_picks_the_candidate_computed_by_hand(line_search):
    _, result, _ = line_search
    (t,) = result.targets
    metrics = [c.metrics for c in t.candidates]
    lat = sorted(m["latency_ms"] for m in metrics)[len(metrics) // 2]
    psnr = sorted(m["psnr"] for m in metrics)[len(metrics) // 3]
    cases = [
        (f"max psnr s.t. latency_ms <= {lat!r}", lambda m: m["latency_ms"] <= lat, "psnr", -1),
        (f"min link_bytes s.t. psnr >= {psnr!r}", lambda m: m["psnr"] >= psnr, "link_bytes", 1),
        (
            f"min energy_j s.t. psnr >= {psnr!r} and latency_ms <= {lat!r}",
            lambda m: m["psnr"] >= psnr and m["latency_ms"] <= lat,
            "energy_j",
            1,
        ),
    ]
    for text, admits, metric, sign in cases:
        ok = [c for c in t.candidates if admits(c.metrics)]
        assert 0 < len(ok) < len(t.candidates), text  # the constraint binds
        best = min(ok, key=lambda c: by_hand_key(c.metrics, metric, sign, c.id))
        assert parse_objective(text).pick(t.candidates) is best, text
    # bounded only on front axes, the pick is on the front (ties never go to a dominated one)
    assert parse_objective(cases[0][0]).pick(t.candidates).pareto
    assert parse_objective("max psnr s.t. latency_ms <= 0").pick(t.candidates) is None


def test_cli_search_on_the_mesh(ray_session, tmp_path, capsys):
    data = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    data["codec"] = CODEC
    data["transport"] = "latent"
    data = on_small_photos(data)
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    objective = "min link_bytes s.t. psnr >= 0 and latency_ms <= 100000"
    args = ["search", str(cfg), "--max-images", "1", "--out", str(out), "--objective", objective]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert {"search.json", "search.pdf", "search.png"} <= {p.name for p in out.iterdir()}
    assert (out / "search.png").stat().st_size > 10_000
    doc = json.loads((out / "search.json").read_text())
    titles = [(t["flow"], t["destination"]) for t in doc["targets"]]
    assert titles == [("cam1", "tv"), ("cam1", "phone"), ("cam2", "tv")]
    for t in doc["targets"]:
        assert f"{t['flow']} → {t['destination']}" in printed
        cands = t["candidates"]
        front = [c for c in cands if c["pareto"]]
        assert [c["id"] for c in front] == t["front"]
        for c in front:  # every front point is printed as a row
            assert f" {c['id']} hcf" in printed
        # the objective, by hand: the least link bytes among those meeting the constraints
        ok = [
            c for c in cands if c["metrics"]["psnr"] >= 0 and c["metrics"]["latency_ms"] <= 100000
        ]
        best = min(ok, key=lambda c: by_hand_key(c["metrics"], "link_bytes", 1, c["id"]))
        assert t["chosen"]["id"] == best["id"]
        assert {r["policy"] for r in t["references"]} == {"edge", "late", "configured"}
    tv = doc["targets"][0]
    assert len(tv["candidates"]) == 20  # Σ C(3, n-1)·C(3, n-1), n = 1..4
    configured = next(r for r in tv["references"] if r["policy"] == "configured")
    assert (configured["label"], configured["levels"]) == ("edge", [6, 3, 3, 3])  # n_q: 2
    assert "edge n_q=2 = configured n_q=2" in printed
    # the output folder is now in use: a second search needs --overwrite
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_search_caches_in_out_and_resumes(ray_session, line_config, tmp_path, capsys):
    """By default the codec work goes to OUT/cache; ``--resume`` computes nothing again and
    gives the same candidates; another search is not resumed in that folder."""
    out = tmp_path / "s"
    args = ["search", str(line_config), "--out", str(out), "--n-q", "2", "--max-images", "1"]
    assert main(args) == 0
    first = json.loads((out / "search.json").read_text())
    cache = first["wall"]["cache"]
    assert Path(cache["directory"]) == out / "cache"
    assert cache["misses"] > 0
    # one result file per stage computed, on disk under OUT/cache
    assert len(list((out / "cache").rglob("*.json"))) == cache["distinct_computed"]
    capsys.readouterr()

    assert main(args) == 2  # the folder is in use
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume" in err

    assert main([*args, "--resume"]) == 0
    second = json.loads((out / "search.json").read_text())
    again = second["wall"]["cache"]
    assert again["misses"] == 0 and again["disk_hits"] > 0
    first.pop("wall"), second.pop("wall")
    assert second == first  # the same candidates, metrics, front and references
    capsys.readouterr()

    assert main([*args[:-4], "--n-q", "3", "--max-images", "1", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume needs the same config" in err
