"""The Internet Topology Zoo's own files (tests/data/topologyzoo: 200 networks, CC BY 4.0, see
its README) imported from GML and from GraphML.

The expected counts come from a scan of the raw GML text written here (regular expressions
over the Zoo's one-key-per-line layout), not from the importer; the single numbers were
checked by hand in the files (the comments say how)."""

import math
import re
from collections import Counter
from pathlib import Path

import pytest

from hcf_ray.graphs import read_network

ZOO = Path(__file__).parent / "data" / "topologyzoo"
NAMES = sorted(p.stem for p in (ZOO / "gml").glob("*.gml"))
_BLOCK = re.compile(r"^  (node|edge) \[\n(.*?)\n  \]", re.M | re.S)
_KEY = re.compile(r"^    (\w+) (.*)$", re.M)


def scan(name: str) -> tuple[dict, list[dict]]:
    """Nodes (id → attributes) and edges of a Zoo GML file, values as written."""
    nodes, edges = {}, []
    for kind, body in _BLOCK.findall((ZOO / "gml" / f"{name}.gml").read_text("latin-1")):
        attrs = dict(_KEY.findall(body))
        if kind == "node":
            nodes[attrs["id"]] = attrs
        else:
            edges.append(attrs)
    return nodes, edges


def expected_counts(name: str) -> Counter:
    """Links per speed rule and per latency rule, with hyperedges kept as nodes (so every
    file link is a link): parallel edges are one link; its speed rule is LinkSpeedRaw when
    every member has one, LinkSpeed when every member has LinkSpeedRaw or LinkSpeed +
    LinkSpeedUnits, else a text or default rule ("other"). Latency: "coordinates" when both
    ends have Latitude and Longitude, "default" when an end's connected part has no located
    node, else "estimated"."""
    nodes, edges = scan(name)
    pairs: dict[frozenset, list[dict]] = {}
    for e in edges:
        if e["source"] != e["target"]:
            pairs.setdefault(frozenset((e["source"], e["target"])), []).append(e)
    located = {n for n, a in nodes.items() if "Latitude" in a and "Longitude" in a}
    part = {n: n for n in nodes}  # union-find over the links

    def root(n):
        while part[n] != n:
            n = part[n]
        return n

    for pair in pairs:
        a, b = (root(n) for n in pair)
        part[a] = b
    lit = {root(n) for n in located}
    counts = Counter()
    for pair, members in pairs.items():
        rules = {
            "raw" if "LinkSpeedRaw" in m else "speed" if "LinkSpeedUnits" in m else "other"
            for m in members
        }
        speed = "LinkSpeedRaw" if rules == {"raw"} else "other" if "other" in rules else "LinkSpeed"
        counts[f"bandwidth:{speed}"] += 1
        if pair <= located:
            counts["latency:coordinates"] += 1
        elif root(next(iter(pair))) in lit:
            counts["latency:estimated"] += 1
        else:
            counts["latency:default"] += 1
    return counts


def counts_of(net) -> Counter:
    rename = {"LinkLabel": "other", "LinkType": "other", "default": "other"}
    counts = Counter()
    for x in net.links:
        counts[f"bandwidth:{rename.get(x.bandwidth_from, x.bandwidth_from)}"] += 1
        latency = "estimated" if x.latency_from == "estimated-coordinates" else x.latency_from
        counts[f"latency:{latency}"] += 1
    return counts


def test_the_zoo_is_shipped_with_its_attribution():
    assert len(NAMES) == 200
    assert sorted(p.stem for p in (ZOO / "graphml").glob("*.graphml")) == NAMES
    assert (
        "Creative Commons" in (ZOO / "LICENSE").read_text()
        or "CC BY" in (ZOO / "LICENSE").read_text()
    )
    assert "Topology Zoo" in (ZOO / "README.md").read_text()


def test_the_shipped_copy_is_the_shared_data_set():
    import hashlib

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "networks" / "topologyzoo"
    if not shared.is_dir():
        pytest.skip("no shared data folder beside the repository")
    for p in sorted(shared.rglob("*")):
        if p.is_file():
            copy = ZOO / p.relative_to(shared)
            assert (
                hashlib.sha256(copy.read_bytes()).digest()
                == hashlib.sha256(p.read_bytes()).digest()
            ), p.name


def test_gml_and_graphml_give_the_same_network_and_the_counts_per_rule():
    total = Counter()
    for name in NAMES:
        gml = read_network(ZOO / "gml" / f"{name}.gml")
        graphml = read_network(ZOO / "graphml" / f"{name}.graphml")
        assert (gml.format, graphml.format) == ("gml", "graphml")
        assert gml.nodes == graphml.nodes, name
        assert gml.links == graphml.links, name
        assert (gml.warnings, gml.components) == (graphml.warnings, graphml.components), name
        assert gml.link_table_sha256() == graphml.link_table_sha256(), name
        kept = read_network(ZOO / "gml" / f"{name}.gml", {"hyperedges": "keep"})
        expected = expected_counts(name)
        assert counts_of(kept) == expected, name
        total += expected
    # all 200 networks (hyperedges kept), as the scan above counts them: 8,712 links, of
    # which the Zoo's own speed fields give 2,591; 6,895 have both ends located
    assert total == {
        "bandwidth:LinkSpeedRaw": 2539,
        "bandwidth:LinkSpeed": 52,
        "bandwidth:other": 6121,
        "latency:coordinates": 6895,
        "latency:estimated": 1465,
        "latency:default": 352,
    }


def test_iij_speeds_from_link_labels():
    pytest.importorskip("hcf_ray.graphs.speeds")  # the speed-text table is its own module
    net = read_network(ZOO / "gml" / "Iij.gml")
    # Iij.gml: 66 edges, one parallel pair (6-30, both with LinkSpeedRaw), so 65 links;
    # 15 edges carry LinkSpeedRaw (14 links), the other 51 only an "STM-…" LinkLabel
    assert net.summary()["bandwidth_from"] == {"LinkLabel": 51, "LinkSpeedRaw": 14}
    nodes, edges = scan("Iij")
    name = {n: a["label"].strip('"') for n, a in nodes.items()}
    by_pair = {frozenset((x.src, x.dst)): x for x in net.links}
    seen = Counter()
    for e in edges:
        label = e.get("LinkLabel", "").strip('"')
        if label in ("STM-64", "STM-64x2"):
            x = by_pair[frozenset((name[e["source"]], name[e["target"]]))]
            assert x.bandwidth_from == "LinkLabel"
            # STM-64 = 64 × 155.52 Mbit/s = 9,953.28; ×2 = 19,906.56
            want = 9953.28 if label == "STM-64" else 19906.56
            assert x.bandwidth_mbps == pytest.approx(want, abs=1e-6), label
            seen[label] += 1
    assert seen == {"STM-64": 16, "STM-64x2": 10}


def test_a_latency_from_the_zoo_coordinates():
    net = read_network(ZOO / "gml" / "Iij.gml")
    link = next(x for x in net.links if {x.src, x.dst} == {"Sendai DC", "Shibuya DC"})
    # Iij.gml: Sendai DC at 31.81667 N 130.3 E, Shibuya DC at 35.65758 N 139.7049 E;
    # great circle by the spherical law of cosines (R = 6371 km): about 968.3 km;
    # / 200 km/ms + 0.1 ms per hop
    p1, p2 = math.radians(31.81667), math.radians(35.65758)
    dl = math.radians(139.7049 - 130.3)
    km = 6371.0 * math.acos(
        math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    )
    assert km == pytest.approx(968.3, abs=0.5)
    assert link.latency_from == "coordinates"
    assert link.latency_ms == pytest.approx(km / 200 + 0.1, abs=1e-6)


def test_parallel_links_are_summed():
    net = read_network(ZOO / "gml" / "Belnet2003.gml")
    # Belnet2003.gml: three 1 Gbit/s edges (LinkSpeedRaw 1e9) between ids 10 and 14
    # ("Global Internet" and "Brussel I A")
    link = next(x for x in net.links if {x.src, x.dst} == {"Global Internet", "Brussel I A"})
    assert (link.bandwidth_mbps, link.members, link.bandwidth_from) == (3000.0, 3, "LinkSpeedRaw")
