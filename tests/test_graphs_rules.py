"""The node and link rules of graph import, one hand-made GML file per rule
(tests/data/graphs/), every expected number computed by hand in the comments."""

import math
from pathlib import Path

import pytest
import yaml

from hcf_ray.cli import main
from hcf_ray.graphs import GraphError, read_network
from hcf_ray.graphs.rules import NODE_ID_PATTERN, ImportOptions
from hcf_ray.sim.config import NODE_ID_PATTERN as CONFIG_NODE_ID_PATTERN
from hcf_ray.sim.config import ConfigError, load_config
from hcf_ray.sim.topology import build_topology

DATA = Path(__file__).parent / "data" / "graphs"
# one degree of a great circle: 2π · 6371 km / 360
DEGREE_KM = 2 * math.pi * 6371.0 / 360  # 111.19492664455873


def links(name: str, **options) -> dict:
    net = read_network(DATA / name, options or None)
    return {(x.src, x.dst): x for x in net.links}


def needs_speeds():
    """Rules 4a/4b parse free text with hcf_ray.graphs.speeds (a separate module)."""
    import hcf_ray.graphs.speeds  # noqa: F401  (must be there: no skip)


def test_the_node_id_charset_is_the_configs():
    assert NODE_ID_PATTERN == CONFIG_NODE_ID_PATTERN


# -- speed ---------------------------------------------------------------------------------
def test_speed_1_bandwidth_mbps_first():
    (x,) = links("speed_bandwidth_mbps.gml").values()
    assert (x.bandwidth_mbps, x.bandwidth_from) == (250.0, "bandwidth_mbps")


def test_speed_2_link_speed_raw():
    (x,) = links("speed_linkspeedraw.gml").values()
    assert (x.bandwidth_mbps, x.bandwidth_from) == (2500.0, "LinkSpeedRaw")  # 2.5e9 bit/s


def test_speed_3_link_speed_and_units():
    got = links("speed_linkspeed.gml")
    assert (got["A", "B"].bandwidth_mbps, got["A", "B"].bandwidth_from) == (622.0, "LinkSpeed")
    assert got["B", "C"].bandwidth_mbps == pytest.approx(2500.0)  # 2.5 G


def test_speed_4a_link_label():
    needs_speeds()
    got = links("speed_linklabel.gml")
    assert {x.bandwidth_from for x in got.values()} == {"LinkLabel"}
    # OC-n = n × 51.84 Mbit/s: 192 × 51.84 (LinkLabel before LinkType's STM-1)
    assert got["A", "B"].bandwidth_mbps == pytest.approx(9953.28)
    # STM-n = n × 155.52 Mbit/s, twice: 2 × 64 × 155.52
    assert got["B", "C"].bandwidth_mbps == pytest.approx(19906.56)
    # a range takes its lower bound: 1 Gbit/s, and says so
    assert got["C", "D"].bandwidth_mbps == pytest.approx(1000.0)
    assert "1-20Gbps" in got["C", "D"].detail


def test_speed_4b_link_type():
    needs_speeds()
    (x,) = links("speed_linktype.gml").values()
    assert x.bandwidth_from == "LinkType"
    assert x.bandwidth_mbps == pytest.approx(48 * 51.84)  # OC-48: 2488.32


def test_speed_5_default():
    (x,) = links("speed_default.gml", bandwidth_mbps=40.0).values()
    assert (x.bandwidth_mbps, x.bandwidth_from) == (40.0, "default")
    net = read_network(DATA / "speed_default.gml")
    assert net.links[0].bandwidth_mbps == 100.0  # the documented default
    assert "1 of 1 links use the default speed" in net.warnings


# -- latency -------------------------------------------------------------------------------
def test_latency_from_coordinates():
    (x,) = links("latency_coordinates.gml").values()
    # defaults: 111.19492664 km × 1.0 / 200 km/ms + 0.1 ms per hop = 0.65597463 ms
    assert x.latency_from == "coordinates"
    assert x.latency_ms == pytest.approx(0.655974633, abs=1e-6)
    (y,) = links(
        "latency_coordinates.gml", route_factor=1.5, km_per_ms=200.0, per_hop_ms=0.25
    ).values()
    # 111.19492664 × 1.5 / 200 + 0.25 = 0.83396195 + 0.25
    assert y.latency_ms == pytest.approx(1.083961950, abs=1e-6)
    assert y.latency_ms == pytest.approx(DEGREE_KM * 1.5 / 200 + 0.25, abs=1e-6)


def test_latency_from_the_edge_then_fixed():
    (x,) = links("latency_edge.gml").values()
    assert (x.latency_ms, x.latency_from) == (7.5, "latency_ms")
    (y,) = links("latency_edge.gml", latency_ms=3.0).values()
    assert (y.latency_ms, y.latency_from) == (3.0, "fixed")


def test_latency_from_neighbour_centroid():
    net = read_network(DATA / "latency_neighbours.gml")
    c = next(n for n in net.nodes if n.name == "C")
    # the centroid of (0°, 0°) and (0°, 20°) is (0°, 10°)
    assert c.coords_from == "neighbours"
    assert (c.lat, c.lon) == (pytest.approx(0.0, abs=1e-9), pytest.approx(10.0))
    for x in net.links:
        # 10° = 1111.9492664 km: / 200 + 0.1 = 5.65974633 ms
        assert x.latency_from == "estimated-coordinates"
        assert x.latency_ms == pytest.approx(5.659746332, abs=1e-6)
    assert "1 node(s) placed at the centroid of their located neighbours" in net.warnings


def test_latency_default_without_coordinates():
    got = links("latency_default.gml", default_latency_ms=9.0)
    assert (got["D", "E"].latency_ms, got["D", "E"].latency_from) == (9.0, "default")
    assert got["A", "B"].latency_from == "coordinates"
    net = read_network(DATA / "latency_default.gml")
    assert net.links[1].latency_ms == 5.0  # the documented default
    assert [n.coords_from for n in net.nodes] == ["file", "file", "none", "none"]
    assert net.components == [["A", "B"], ["D", "E"]]


# -- parallel links ------------------------------------------------------------------------
def test_parallel_links_sum_by_default():
    got = links("parallel.gml")
    ab = got["A", "B"]
    # 1 + 1 + 2.5 Gbit/s; the lowest latency is the edge's own 0.3 ms
    assert (ab.bandwidth_mbps, ab.members) == (4500.0, 3)
    assert (ab.latency_ms, ab.latency_from) == (0.3, "latency_ms")
    assert ab.detail.count("Mbit/s") == 3 and "2500" in ab.detail
    bc = got["B", "C"]  # 1000 + the 100 Mbit/s default: the weaker rule is named
    assert (bc.bandwidth_mbps, bc.bandwidth_from) == (1100.0, "default")
    assert read_network(DATA / "parallel.gml").summary()["parallel_merged"] == 3


def test_parallel_links_with_or_without_multigraph_declared(tmp_path):
    text = (DATA / "parallel.gml").read_text()
    want = read_network(DATA / "parallel.gml").links
    for header in ("graph [\n  multigraph 1", "graph [\n  multigraph 0", "graph [ multigraph 1"):
        path = tmp_path / "p.gml"
        path.write_text(text.replace("graph [", header, 1))
        assert read_network(path).links == want, header


def test_parallel_links_fastest():
    got = links("parallel.gml", parallel="fastest")
    ab = got["A", "B"]
    # the 2.5 Gbit/s edge with its own latency: 111.19492664 / 200 + 0.1
    assert (ab.bandwidth_mbps, ab.members) == (2500.0, 3)
    assert ab.latency_ms == pytest.approx(0.655974633, abs=1e-6)
    assert got["B", "C"].bandwidth_mbps == 1000.0


# -- nodes ---------------------------------------------------------------------------------
def test_names_node_by_node():
    net = read_network(DATA / "names.gml")
    assert [(n.name, n.label) for n in net.nodes] == [
        ("0", "Paris"),
        ("1", "Paris"),
        ("2", ""),
        ("3", "None"),
        ("Lyon", "Lyon"),
        ("Cafe _ Bar", "Café & Bar"),
    ]


def test_utf8_and_latin1_labels(tmp_path):
    text = 'graph [\n node [ id 0 label "São Paulo" ]\n node [ id 1 label "Köln" ]\n'
    text += " edge [ source 0 target 1 ]\n]\n"
    for encoding in ("utf-8", "latin-1"):
        path = tmp_path / f"{encoding}.gml"
        path.write_bytes(text.encode(encoding))
        net = read_network(path)
        assert [(n.name, n.label) for n in net.nodes] == [
            ("Sao Paulo", "São Paulo"),
            ("Koln", "Köln"),
        ]


def test_hyperedges_contracted():
    net = read_network(DATA / "hyperedge.gml")
    assert [n.name for n in net.nodes] == ["A", "B", "C"]
    got = {(x.src, x.dst): x for x in net.links}
    assert set(got) == {("A", "B"), ("A", "C"), ("B", "C")}
    # through the medium: the slower edge (A's 1 Gbit/s), latency from A and B themselves
    assert got["A", "B"].bandwidth_mbps == 1000.0
    assert got["A", "B"].latency_ms == pytest.approx(DEGREE_KM / 200 + 0.1, abs=1e-6)
    assert got["A", "C"].latency_ms == pytest.approx(3 * DEGREE_KM / 200 + 0.1, abs=1e-6)
    assert "via hyperedge H" in got["A", "C"].detail
    assert got["B", "C"].bandwidth_mbps == 2500.0  # the direct link stays as it is


def test_hyperedges_kept_compute_nothing():
    net = read_network(DATA / "hyperedge.gml", {"hyperedges": "keep"})
    h = next(n for n in net.nodes if n.name == "H")
    assert (h.role, h.computes, h.transit, h.coords_from) == (
        "hyperedge",
        False,
        True,
        "neighbours",
    )
    # the centroid of three equator points at 0°, 1° and 3°: about 4/3°
    assert h.lon == pytest.approx(4 / 3, abs=1e-3)
    assert len(net.links) == 4


def test_a_kept_hyperedge_only_forwards(tmp_path):
    """A → C crosses the kept medium H (A–H–C is 3°, A–H–B–C longer): a plan that codes at H
    is refused in one line naming H; with one quantization (n_q 1) H forwards and it plans."""
    from hcf_ray.sim.scenario import build_scenario

    flow = {"source": "A", "destinations": [{"node": "C", "level": 2}], "source_level": 4}
    flow.update(methods=["hcf"], max_images=1)
    cfg = {
        "codec": "random:mbt2018-mean",
        "graph": {"file": str(DATA / "hyperedge.gml"), "hyperedges": "keep"},
        "flows": [flow],
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as err:
        build_scenario(load_config(path))
    assert "node 'H' is a hyperedge node" in str(err.value) and "\n" not in str(err.value)
    flow["n_q"] = 1
    path.write_text(yaml.safe_dump(cfg))
    plan = build_scenario(load_config(path)).plan("flow0", "hcf")
    assert [j.node for j in plan.jobs] == ["A", "H", "C"]
    assert not plan.jobs[1].segments  # H forwards


def test_external_nodes_are_not_transit(tmp_path):
    net = read_network(DATA / "external.gml")
    x = next(n for n in net.nodes if n.name == "X")
    assert (x.role, x.transit, x.computes) == ("external", False, False)
    cfg = {
        "codec": "random:mbt2018-mean",
        "graph": {"file": str(DATA / "external.gml")},
        "flows": [{"source": "A", "destinations": [{"node": "B", "level": 1}]}],
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cfg))
    topo = build_topology(load_config(path))
    assert topo.imported is not None and topo.imported.format == "gml"
    # A-X-B is 2° (0.2 ms shorter) but X is another operator's: the route goes round by C
    assert topo.multicast_tree("A", ["B"]).paths["B"] == ("A", "C", "B")
    assert topo.multicast_tree("A", ["X"]).paths["X"] == ("A", "X")  # an end is fine
    cfg["graph"]["external_transit"] = True
    path.write_text(yaml.safe_dump(cfg))
    topo = build_topology(load_config(path))
    assert topo.multicast_tree("A", ["B"]).paths["B"] == ("A", "X", "B")


def test_a_flow_across_disconnected_parts_names_them(tmp_path):
    cfg = {
        "codec": "random:mbt2018-mean",
        "graph": {"file": str(DATA / "latency_default.gml")},
        "flows": [{"source": "A", "destinations": [{"node": "D", "level": 1}]}],
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cfg))
    topo = build_topology(load_config(path))
    with pytest.raises(ValueError, match="2 disconnected parts; 'D' is in one of 2 node"):
        topo.multicast_tree("A", ["D"])


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("net.txt", "hello\n", "unknown graph format"),
        ("broken.gml", 'graph [\n node [ id 0 label "a" ]\n', "cannot read"),
        ("twice.gml", "graph [\n node [ id 0 ]\n node [ id 0 ]\n]\n", "duplicated"),
        ("broken.graphml", "<graphml><graph><node id='a'/></graph", "cannot read"),
        (
            "twice.graphml",
            "<graphml><graph><node id='a'/><node id='a'/><edge source='a' target='a'/>"
            "</graph></graphml>",
            "node id 'a' is duplicated",
        ),
    ],
)
def test_bad_graph_files_are_one_line(tmp_path, capsys, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(GraphError) as err:
        read_network(path)
    line = str(err.value)
    assert str(path) in line and expected in line and "\n" not in line
    cfg = {
        "codec": "random:mbt2018-mean",
        "graph": {"file": name},
        "flows": [{"source": "a", "destinations": [{"node": "b", "level": 1}]}],
    }
    yml = tmp_path / "t.yaml"
    yml.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"graph\.file"):
        build_topology(load_config(yml))
    capsys.readouterr()
    assert main(["validate", str(yml)]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and name in err_lines[0] and expected in err_lines[0]


def test_bad_options():
    with pytest.raises(GraphError, match="parallel"):
        ImportOptions.of({"parallel": "max"})
    with pytest.raises(GraphError, match="km_per_ms"):
        ImportOptions.of({"km_per_ms": 0})
    with pytest.raises(GraphError, match="per_hop_ms"):
        ImportOptions.of({"per_hop_ms": -1})
    with pytest.raises(GraphError, match="default_latency_ms"):
        ImportOptions.of({"default_latency_ms": "soon"})
    assert ImportOptions.of({"latency_ms": None, "per_hop_ms": 0}).per_hop_ms == 0
