"""``hcf-sim graph FILE``, the rule summary of ``validate``, ``summary.json``'s ``graph`` and
the geographic figure, on the hand-made ``tests/data/graphs/cli/small.gml``:

=========  ========================================  ==========================================
link       file edge(s)                              expected (by hand)
=========  ========================================  ==========================================
A–B        LinkSpeedRaw 1e9, no latency_ms           1000 Mbit/s; 1° of the equator:
                                                     6371 km·π/180 / 200 km/ms + 0.1 ms
B–Gamma    LinkLabel "OC-192", latency_ms 2.5        192 × 51.84 = 9953.28 Mbit/s; 2.5 ms
Gamma–D    bandwidth_mbps 40, latency_ms 7           40 Mbit/s; 7 ms
D–E        latency_ms 1 only                         100 Mbit/s (the default); 1 ms
A–E        LinkSpeed 10 G, latency_ms 3              10,000 Mbit/s; 3 ms
B–D (×2)   LinkSpeedRaw 1e9 + 1e9, latency 6 and 4   2000 Mbit/s (sum); 4 ms (the lower)
=========  ========================================  ==========================================

One link of six (17 %) uses a default: a warning. No model is loaded (the import check is
in tests/test_cli_start.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from hcf_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "data" / "graphs" / "cli" / "small.gml"
EQUATOR_DEGREE_MS = 6371.0 * math.pi / 180 / 200 + 0.1  # 1° of arc at 200 km/ms, + 0.1 ms hop

EXPECTED = {  # (a, b) sorted: (Mbit/s, ms, speed rule, latency rule, file edges)
    ("Alpha", "Beta"): (1000.0, EQUATOR_DEGREE_MS, "LinkSpeedRaw", "coordinates", 1),
    ("Beta", "Gamma"): (9953.28, 2.5, "LinkLabel", "latency_ms", 1),
    ("Delta", "Gamma"): (40.0, 7.0, "bandwidth_mbps", "latency_ms", 1),
    ("Delta", "Epsilon"): (100.0, 1.0, "default", "latency_ms", 1),
    ("Alpha", "Epsilon"): (10000.0, 3.0, "LinkSpeed", "latency_ms", 1),
    ("Beta", "Delta"): (2000.0, 4.0, "LinkSpeedRaw", "latency_ms", 2),
}
COORDS = {  # name: (lat, lon) as written
    "Alpha": (0.0, 0.0),
    "Beta": (0.0, 1.0),
    "Gamma": (1.0, 1.0),
    "Delta": (1.0, 0.0),
    "Epsilon": (-1.0, 0.0),
}
TOPOLOGY = """
name: small
codec: default
transport: latent
graph:
  file: {file}
flows:
  - name: f
    source: Alpha
    destinations: [{{node: Gamma, level: 1}}]
    methods: [hcf, drf, ssf]
    images: samples
    max_images: 1
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def links_by_pair(doc: dict) -> dict[tuple[str, str], dict]:
    return {tuple(sorted((x["src"], x["dst"]))): x for x in doc["links"]}


def test_json_holds_every_node_link_and_rule_count(capsys):
    code, out, err = run(capsys, "graph", str(SMALL), "--json")
    assert code == 0
    doc = json.loads(out)
    assert {n["name"]: (n["lat"], n["lon"]) for n in doc["nodes"]} == COORDS
    for n in doc["nodes"]:
        assert n["label"] == n["name"] and n["role"] == "router"
    links = links_by_pair(doc)
    assert set(links) == set(EXPECTED)
    for pair, (mbps, ms, bw_from, lat_from, members) in EXPECTED.items():
        x = links[pair]
        assert x["bandwidth_mbps"] == pytest.approx(mbps, rel=1e-9), pair
        assert x["latency_ms"] == pytest.approx(ms, abs=1e-6), pair  # rounded to the ns
        assert (x["bandwidth_from"], x["latency_from"], x["members"]) == (
            bw_from,
            lat_from,
            members,
        )
    s = doc["summary"]
    assert s["bandwidth_from"] == {
        "LinkLabel": 1,
        "LinkSpeed": 1,
        "LinkSpeedRaw": 2,
        "bandwidth_mbps": 1,
        "default": 1,
    }
    assert s["latency_from"] == {"coordinates": 1, "latency_ms": 5}
    assert (s["nodes"], s["links"], s["parallel_merged"]) == (5, 6, 1)
    rows = [
        {k: x[k] for k in ("src", "dst", "bandwidth_mbps", "latency_ms", "bandwidth_from",
                           "latency_from", "detail", "members", "directed")}
        for x in doc["links"]
    ]  # fmt: skip
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":")).encode()
    assert doc["link_table_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert "1 of 6 links (17 %) use a default" in err  # stderr: stdout is the JSON alone


def test_text_lists_nodes_links_and_the_summary(capsys):
    code, out, _ = run(capsys, "graph", str(SMALL))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"network {SMALL} (gml): 5 nodes, 6 links"
    assert any(line.split()[:4] == ["Beta", "Gamma", "9953.28", "2.500"] for line in lines)
    row = next(line for line in lines if line.split()[:2] == ["Alpha", "Beta"])
    assert row.split()[2:6] == ["1000", f"{EQUATOR_DEGREE_MS:.3f}", "LinkSpeedRaw", "coordinates"]
    assert (
        "  6 links by speed rule: LinkSpeedRaw 2, LinkLabel 1, LinkSpeed 1, bandwidth_mbps 1, "
        "default 1" in lines
    )
    assert "  6 links by latency rule: latency_ms 5, coordinates 1" in lines


def ring(tmp_path: Path, n: int, defaults: int) -> Path:
    """A ring of ``n`` links; the first ``defaults`` of them have no speed."""
    nodes = "".join(f'  node [ id {i} label "r{i}" ]\n' for i in range(n))
    edges = "".join(
        f"  edge [ source {i} target {(i + 1) % n} latency_ms 1"
        + ("" if i < defaults else " LinkSpeedRaw 1000000")
        + " ]\n"
        for i in range(n)
    )
    p = tmp_path / f"ring{n}_{defaults}.gml"
    p.write_text(f"graph [\n{nodes}{edges}]\n")
    return p


@pytest.mark.parametrize(
    ("n", "defaults", "warned"),
    [(10, 1, False), (10, 2, True), (20, 2, False), (20, 3, True), (10, 0, False)],
)
def test_a_warning_when_more_than_a_tenth_of_links_use_a_default(
    tmp_path, capsys, n, defaults, warned
):
    code, _, err = run(capsys, "graph", str(ring(tmp_path, n, defaults)))
    assert code == 0
    line = f"hcf-sim: warning: {defaults} of {n} links ({100 * defaults / n:.0f} %) use a default"
    assert (line in err) is warned, err
    assert ("warning" in err) is warned


def test_yaml_output_is_a_topology_validate_loads(tmp_path, capsys):
    out_yaml = tmp_path / "small.yaml"
    code, out, err = run(capsys, "graph", str(SMALL), "--format", "yaml", "--out", str(out_yaml))
    assert code == 0 and out == ""
    text = out_yaml.read_text()
    assert text.startswith(f"# Imported from {SMALL} (gml)")
    code, out, err = run(capsys, "validate", str(out_yaml))
    assert code == 0, err
    assert out.startswith(f"ok: {out_yaml}: 5 nodes, 12 directed links, 1 flow(s)")
    code, out, _ = run(capsys, "graph", str(out_yaml), "--json")
    assert code == 0
    again = links_by_pair(json.loads(out))
    assert set(again) == set(EXPECTED)
    for pair, (mbps, ms, *_) in EXPECTED.items():
        x = again[pair]
        assert x["bandwidth_mbps"] == pytest.approx(mbps, rel=1e-9)
        assert x["latency_ms"] == pytest.approx(ms, abs=1e-6)
        assert x["bandwidth_from"] == x["latency_from"] == "yaml"


def test_a_topology_yaml_with_graph_applies_its_options_and_own_links(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(
        TOPOLOGY.format(file=SMALL)
        + "links:\n  - {src: Alpha, dst: Gamma, bandwidth_mbps: 5, latency_ms: 9}\n"
    )
    text = cfg.read_text().replace("  file:", "  bandwidth_mbps: 25\n  file:")
    cfg.write_text(text)
    code, out, _ = run(capsys, "graph", str(cfg), "--json")
    assert code == 0
    links = links_by_pair(json.loads(out))
    assert links["Delta", "Epsilon"]["bandwidth_mbps"] == 25.0  # graph.bandwidth_mbps applies
    own = links["Alpha", "Gamma"]
    assert (own["bandwidth_mbps"], own["latency_ms"], own["bandwidth_from"]) == (5.0, 9.0, "yaml")
    assert len(links) == 7


def test_validate_prints_the_rule_summary(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(TOPOLOGY.format(file=SMALL))
    code, out, err = run(capsys, "validate", str(cfg))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"ok: {cfg}: 5 nodes, 12 directed links")
    assert (
        "  graph: 6 links by speed rule: LinkSpeedRaw 2, LinkLabel 1, LinkSpeed 1, "
        "bandwidth_mbps 1, default 1" in lines
    )
    assert "  graph: 6 links by latency rule: latency_ms 5, coordinates 1" in lines
    assert f"hcf-sim: warning: {cfg}: 1 of 6 links (17 %) use a default" in err


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("broken.gml", "graph [ node [ id 0 ", "broken.gml"),
        ("notes.txt", "just some words\n", "unknown graph format"),
        ("missing.gml", None, "missing.gml"),
        ("bad.yaml", "name: x\nflows: 3\n", "flows"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, name, text, says):
    p = tmp_path / name
    if text is not None:
        p.write_text(text)
    code, out, err = run(capsys, "graph", str(p))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("hcf-sim: error: "), err
    assert says in err and len(err) <= 260


# -- the geographic figure ------------------------------------------------------------------
def test_plot_writes_pdf_and_png_byte_identical_twice(tmp_path, capsys):
    code, _, err = run(capsys, "graph", str(SMALL), "--plot", str(tmp_path / "a" / "net.pdf"))
    assert code == 0, err
    code, _, _ = run(capsys, "graph", str(SMALL), "--plot", str(tmp_path / "b" / "net"))
    assert code == 0
    for ext in ("pdf", "png"):
        a, b = tmp_path / "a" / f"net.{ext}", tmp_path / "b" / f"net.{ext}"
        assert a.stat().st_size > 1000
        assert a.read_bytes() == b.read_bytes(), ext
    assert (tmp_path / "a" / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "a" / "net.pdf").read_bytes()[:5] == b"%PDF-"


def _net():
    from hcf_ray.graphs import read_network

    return read_network(SMALL)


def test_the_figure_draws_routes_quantizations_and_defaults():
    import pandas as pd

    from hcf_ray.sim.figures import geo_figure

    records = [  # hand-made: hcf drops 6 → 3 at Beta; drf at Beta and Delta; ssf never
        {"method": "hcf", "image": "a.png", "path": ["Alpha", "Beta", "Gamma"], "levels": [6, 3]},
        {"method": "drf", "image": "a.png", "path": ["Alpha", "Beta", "Delta", "Gamma"],
         "levels": [6, 4, 1]},
        {"method": "ssf", "image": "a.png", "path": ["Alpha", "Beta", "Gamma"], "levels": [1, 1]},
        {"method": "hcf", "image": "b.png", "path": ["Alpha", "Epsilon"], "levels": [6]},
    ]  # fmt: skip
    fig = geo_figure(_net(), pd.DataFrame(records))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "longitude (degrees)" and ax.get_ylabel() == "latitude (degrees)"
    marks = [line for line in ax.lines if line.get_marker() == "D"]
    assert len(marks) == 3  # Beta (hcf), Beta and Delta (drf)
    texts = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("L"))
    assert texts == ["L1", "L3", "L4"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "default speed or latency\n(1 of 6 links)" in legend
    assert {"hcf route", "drf route", "ssf route"} <= set(legend)
    assert {"  100 Mbit/s", "  1 Gbit/s", "  10 Gbit/s"} <= set(legend)
    dashed = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    assert len(dashed) == 1 and len(dashed[0].get_segments()) == 1  # Delta–Epsilon
    assert "routes of a.png" in ax.get_title()


def test_quantized_at_is_where_the_level_drops():
    from hcf_ray.graphs.figure import quantized_at

    assert quantized_at(["s", "a", "b", "d"], [6, 6, 3]) == [("b", 6, 3)]
    assert quantized_at(["s", "a", "b", "d"], [6, 4, 1]) == [("a", 6, 4), ("b", 4, 1)]
    assert quantized_at(["s", "d"], [6]) == []


def test_a_run_keeps_its_network_and_plot_draws_the_map(tmp_path):
    """summary.json's ``graph`` (as the driver writes it) and ``hcf-sim plot``'s geo figure,
    on records the simulator's own functions make (no Ray, no codec: tests/test_figures.py)."""
    from test_figures import simulate, write_jsonl

    from hcf_ray.sim import figures
    from hcf_ray.sim.driver import graph_section
    from hcf_ray.sim.scenario import load_scenario

    cfg = tmp_path / "t.yaml"
    cfg.write_text(TOPOLOGY.format(file=SMALL))
    sc = load_scenario(cfg)
    summary = {"resolved_config": sc.config.model_dump(mode="json")}
    graph_section(sc, summary)
    g = summary["graph"]
    assert g["summary"]["bandwidth_from"]["default"] == 1 and g["summary"]["links"] == 6
    canonical = json.dumps(g["links"], sort_keys=True, separators=(",", ":")).encode()
    assert g["link_table_sha256"] == hashlib.sha256(canonical).hexdigest()

    out = tmp_path / "run"
    out.mkdir()
    write_jsonl(out / "results.jsonl", simulate(sc))
    (out / "summary.json").write_text(json.dumps(summary))
    written = figures.plot_run(out, ("png",))
    assert out / "figures" / "geo.png" in written
    first = (out / "figures" / "geo.png").read_bytes()
    assert figures.plot_run(out, ("png",)) == written
    assert (out / "figures" / "geo.png").read_bytes() == first


def test_plot_of_a_network_without_coordinates_is_refused_first(tmp_path, capsys):
    code, out, err = run(capsys, "graph", str(ring(tmp_path, 3, 0)), "--plot", str(tmp_path / "m"))
    assert code == 2 and out == ""  # refused before anything is printed
    said = f"--plot: {tmp_path / 'ring3_0.gml'}: no node has coordinates: nothing to draw on a map"
    assert err == f"hcf-sim: error: {said}\n"
    assert not list(tmp_path.glob("m.*"))
