"""Sweeps over real networks: ``graphs:`` globs, seeded sampling per seed, files imported once,
source/destination placement (random, degree, hop) and the records' ``graph`` tag."""

import itertools
import json
from pathlib import Path

import networkx as nx
import pytest
import yaml

import hcf_ray.sim.graphio as graphio
from hcf_ray.sim.config import ConfigError
from hcf_ray.sim.sweep import load_sweep, run_sweep

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ZOO = Path(__file__).parent / "data" / "topologyzoo" / "gml"
CODEC = "random:mbt2018-mean:16:24:6"


def _sweep(tmp_path, graphs, **extra) -> Path:
    data = {
        "name": "real",
        "codec": CODEC,
        "transport": "latent",
        "graphs": graphs,
        "seeds": [0],
        "flow": {"destinations": 2, "levels": [1, 4], "max_images": 1},
        "policies": ["edge"],
        "methods": ["hcf"],
        "actors": 2,
        **extra,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _gml(path: Path, nodes: list[str], edges: list[tuple[str, str]], attrs=None) -> Path:
    """A small Topology-Zoo-style GML file (no coordinates, no speeds)."""
    attrs = attrs or {}
    lines = ["graph [", "  directed 0"]
    for i, n in enumerate(nodes):
        extra = "".join(f" {k} {v}" for k, v in attrs.get(n, {}).items())
        lines.append(f'  node [ id {i} label "{n}"{extra} ]')
    for u, v in edges:
        lines.append(f"  edge [ source {nodes.index(u)} target {nodes.index(v)} ]")
    path.write_text("\n".join([*lines, "]"]) + "\n")
    return path


def _placed(sweep) -> list[tuple[str, list[str]]]:
    return [(n["source"], [d["node"] for d in n["destinations"]]) for n in sweep.networks]


def test_twenty_zoo_files_sweep_twice_gives_the_same_records(ray_session, tmp_path):
    from PIL import Image

    from hcf_ray.images import sample_images

    images = tmp_path / "images"  # one small photo keeps the codec work short
    images.mkdir()
    Image.open(sample_images()[0]).crop((0, 0, 96, 64)).save(images / "0.png")
    files = sorted(ZOO.glob("*.gml"))
    assert len(files) >= 20
    # 20 files named one by one (the first 20 of the shipped copies, by name)
    flow = {"destinations": 1, "levels": [1, 4], "max_images": 1, "images": "images"}
    path = _sweep(tmp_path, {"files": [str(f) for f in files[:20]]}, flow=flow)
    a, b = load_sweep(path), load_sweep(path)
    assert [n["graph"] for n in a.networks] == [f.name for f in files[:20]]
    assert _placed(a) == _placed(b)
    cache = tmp_path / "cache"
    run_sweep(a, tmp_path / "one", timeout_s=300, cache_dir=cache)
    run_sweep(b, tmp_path / "two", timeout_s=300, cache_dir=cache)
    one, two = (
        [json.loads(x) for x in (tmp_path / d / "sweep_results.jsonl").read_text().splitlines()]
        for d in ("one", "two")
    )
    assert len(one) == len(two) == 20
    strip = [{k: v for k, v in r.items() if k != "wall"} for r in one]
    assert strip == [{k: v for k, v in r.items() if k != "wall"} for r in two]
    assert {r["graph"] for r in one} == {f.name for f in files[:20]}
    for r in one:
        assert r["generator"] == "graph" and r["status"] == "ok"
        assert r["network"] == f"graph-{Path(r['graph']).stem}-s0"
        assert r["path"][0] == r["source"] and r["destination"] in r["destinations"]


def test_sampling_is_seeded_per_seed_and_files_are_imported_once(tmp_path, monkeypatch):
    path = _sweep(tmp_path, {"files": [str(ZOO / "*.gml")], "sample": 3}, seeds=[0, 1])
    first, again = load_sweep(path), load_sweep(path)

    def per_seed(sweep):
        return {s: [n["graph"] for n in sweep.networks if n["seed"] == s] for s in (0, 1)}

    assert per_seed(first) == per_seed(again)
    assert all(len(v) == 3 for v in per_seed(first).values())
    assert per_seed(first)[0] != per_seed(first)[1]
    # 2 files, 3 seeds, no sample: every file in every seed, each file read once
    calls = []
    real = graphio.import_network
    monkeypatch.setattr(graphio, "import_network", lambda *a: calls.append(a[1]) or real(*a))
    two = [str(ZOO / "Geant2009.gml"), str(ZOO / "Nsfnet.gml")]
    sweep = load_sweep(_sweep(tmp_path, {"files": two}, seeds=[0, 1, 2]))
    assert [(n["graph"], n["seed"]) for n in sweep.networks] == [
        (g, s) for s in (0, 1, 2) for g in ("Geant2009.gml", "Nsfnet.gml")
    ]
    assert sorted(map(str, calls)) == sorted(two)


def test_globs_resolve_against_the_sweep_folder(tmp_path):
    nets = tmp_path / "nets"
    nets.mkdir()
    _gml(nets / "tri.gml", ["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")])
    sweep = load_sweep(_sweep(tmp_path, {"files": ["nets/*.gml"]}))
    assert [n["file"] for n in sweep.networks] == [str((nets / "tri.gml").resolve())]


def test_degree_placement_takes_the_hub(tmp_path):
    # H links A, B, C, D (degree 4); A-B, D-E; so A, B, D have 2 links, C and E one
    nodes = ["A", "B", "C", "D", "E", "H"]
    edges = [("H", "A"), ("H", "B"), ("H", "C"), ("H", "D"), ("A", "B"), ("D", "E")]
    _gml(tmp_path / "hub.gml", nodes, edges)
    sweep = load_sweep(
        _sweep(
            tmp_path,
            {"files": ["hub.gml"], "placement": {"source": "degree"}},
            seeds=[0, 1, 2, 3],
        )
    )
    assert [src for src, _ in _placed(sweep)] == ["H"] * 4
    for _, dests in _placed(sweep):
        assert len(dests) == 2 and "H" not in dests


def test_degree_ties_go_to_the_first_name(tmp_path):
    # a square with the diagonal Alpha-Gamma: Alpha and Gamma have 3 links, Beta and Delta 2
    square = [("Alpha", "Beta"), ("Beta", "Gamma"), ("Gamma", "Delta"), ("Delta", "Alpha")]
    _gml(tmp_path / "sq.gml", ["Delta", "Gamma", "Beta", "Alpha"], [*square, ("Alpha", "Gamma")])
    sweep = load_sweep(_sweep(tmp_path, {"files": ["sq.gml"], "placement": {"source": "degree"}}))
    assert _placed(sweep)[0][0] == "Alpha"


def test_hop_placement_puts_destinations_at_the_hop_distance(tmp_path):
    line = ["n0", "n1", "n2", "n3", "n4", "n5", "n6"]  # a path: hop distance |i - j|
    _gml(tmp_path / "line.gml", line, list(itertools.pairwise(line)))
    graphs = {"files": ["line.gml"], "placement": {"source": "hop", "hops": [2]}}
    sweep = load_sweep(_sweep(tmp_path, graphs, seeds=list(range(6))))
    for src, dests in _placed(sweep):
        assert dests and all(abs(line.index(d) - line.index(src)) == 2 for d in dests)
    graphs["placement"]["hops"] = [1, 3]
    sweep = load_sweep(_sweep(tmp_path, graphs, seeds=list(range(6))))
    for src, dests in _placed(sweep):
        assert dests and all(abs(line.index(d) - line.index(src)) in (1, 3) for d in dests)


def test_non_computing_nodes_are_never_placed(tmp_path):
    # hub X is a shared medium (kept as a node: it runs no codec work), E another operator's
    nodes = ["X", "A", "B", "C", "E"]
    edges = [("X", "A"), ("X", "B"), ("X", "C"), ("A", "B"), ("C", "E")]
    attrs = {"X": {"hyperedge": 1}, "E": {"Internal": 0}}
    _gml(tmp_path / "hyper.gml", nodes, edges, attrs)
    graphs = {"files": ["hyper.gml"], "placement": {"source": "degree"}}
    sweep = load_sweep(_sweep(tmp_path, graphs, graph={"hyperedges": "keep"}, seeds=[0, 1, 2]))
    for src, dests in _placed(sweep):
        # A has links to X and B, B to X and A, C to X and E: the first name among them wins
        assert src == "A"
        # C is reached only across X, which cannot quantize: B is the one destination
        assert dests == ["B"]
    sweep = load_sweep(_sweep(tmp_path, {"files": ["hyper.gml"]}, seeds=list(range(8))))
    for src, dests in _placed(sweep):
        assert not {"E"} & {src, *dests}


def test_random_placement_is_seeded(tmp_path):
    g = nx.random_regular_graph(3, 12, seed=1)
    names = [f"r{i}" for i in g.nodes]
    _gml(tmp_path / "reg.gml", names, [(f"r{u}", f"r{v}") for u, v in g.edges])
    path = _sweep(tmp_path, {"files": ["reg.gml"]}, seeds=[0, 1, 2, 3, 4])
    a, b = _placed(load_sweep(path)), _placed(load_sweep(path))
    assert a == b
    assert len({src for src, _ in a}) > 1  # different seeds, different sources


@pytest.mark.parametrize(
    "graphs, extra, expected",
    [
        ({"files": ["none/*.gml"]}, {}, "graphs.files[0]: 'none/*.gml' matches no file"),
        ({"files": ["missing.gml"]}, {}, "graphs.files[0]: 'missing.gml' not found"),
        ({"files": ["bad.gml"]}, {}, "graphs.files: "),
        ({"files": ["line.gml"], "sample": 2}, {}, "graphs.sample: sample 2 is more than"),
        (
            {"files": ["line.gml"], "placement": {"source": "hop", "hops": [9]}},
            {},
            "graphs.placement: line.gml: no eligible destination",
        ),
        ({"files": ["line.gml"], "placement": {"source": "hop"}}, {}, "needs hops"),
        ({"files": ["line.gml"], "placement": {"hops": [1]}}, {}, "applies to source 'hop'"),
        (
            {"files": ["line.gml"]},
            {"graph": {"file": "x.gml"}},
            "graph.file: a sweep names its graph files under graphs.files",
        ),
        (None, {}, "no networks: give generators, graphs"),
    ],
)
def test_bad_graph_sweeps_are_one_line_errors(tmp_path, graphs, extra, expected):
    line = ["a", "b", "c"]
    _gml(tmp_path / "line.gml", line, list(itertools.pairwise(line)))
    (tmp_path / "bad.gml").write_text("graph [ node [ id 0 ")
    path = _sweep(tmp_path, graphs, **extra)
    if graphs is None:
        data = yaml.safe_load(path.read_text())
        del data["graphs"]
        path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    text = str(err.value)
    assert expected in text and "\n" not in text and str(path) in text


def test_shipped_zoo_examples_validate(capsys):
    from hcf_ray.cli import main

    root = Path(__file__).resolve().parents[1]
    gml = sorted(p.name for p in (root / "topologies" / "zoo").glob("*.gml"))
    assert {"Geant2009.gml", "Iij.gml", "Belnet2003.gml"} <= set(gml)
    assert main(["validate", str(root / "topologies" / "zoo_sweep.yaml")]) == 0
    out = capsys.readouterr().out
    # every GML file of topologies/zoo/ once per seed (2 seeds)
    assert f"sweep 'zoo-sweep', {2 * len(gml)} networks" in out
    assert main(["validate", str(root / "topologies" / "geant.yaml")]) == 0
    assert "34 nodes" in capsys.readouterr().out


def test_files_on_default_speeds_are_named_in_one_warning(tmp_path):
    # Nsfnet's links carry no speed but one LinkLabel; every Geant2009 link has LinkSpeedRaw
    files = [str(ZOO / "Geant2009.gml"), str(ZOO / "Nsfnet.gml")]
    sweep = load_sweep(_sweep(tmp_path, {"files": files}))
    (warning,) = [w for w in sweep.warnings if "graph files" in w]
    assert warning.startswith("1 of 2 graph files") and "Nsfnet.gml" in warning
    assert "Geant2009" not in warning
    shares = {n["graph"]: n["default_links"] for n in sweep.networks}
    assert shares["Geant2009.gml"] == 0 and shares["Nsfnet.gml"] > 0.1


def test_a_network_without_eligible_destination_is_an_error_or_skipped(tmp_path):
    # the routers A and B meet only through E, another operator's node (no transit)
    _gml(tmp_path / "split.gml", ["A", "E", "B"], [("A", "E"), ("E", "B")], {"E": {"Internal": 0}})
    line = ["a", "b", "c"]
    _gml(tmp_path / "line.gml", line, list(itertools.pairwise(line)))
    graphs = {"files": ["split.gml", "line.gml"]}
    with pytest.raises(ConfigError) as err:
        load_sweep(_sweep(tmp_path, graphs))
    assert "graphs.placement: split.gml: no eligible destination" in str(err.value)
    sweep = load_sweep(_sweep(tmp_path, {**graphs, "unplaceable": "skip"}))
    split, kept = sweep.networks
    assert split["graph"] == "split.gml" and split["skipped"] == 1 and split["source"] is None
    assert kept["graph"] == "line.gml" and kept["skipped"] == 0
    assert {w.network for w in sweep.worlds} == {"graph-line-s0"}
    assert any(w.startswith("1 network skipped:") and "graph-split-s0" in w for w in sweep.warnings)
