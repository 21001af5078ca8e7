"""SNDlib native and XML files read into the raw graph. The files under
tests/data/graphs/sndlib/ are written by hand in SNDlib's published formats (SNDlib's own
files are licensed for academic use only and are not shipped); expected values are read off
those files by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcf_ray.graphs.errors import GraphError
from hcf_ray.graphs.sndlib import read_sndlib

DATA = Path(__file__).parent / "data" / "graphs" / "sndlib"

# four-cities.{txt,xml}, by hand: link id -> (ends, Mbit/s or None, rule)
LINKS = {
    "L1": ({"Berlin", "Hamburg"}, 2500.0, "sndlib:capacity"),  # pre-installed 2500
    "L2": ({"Hamburg", "Cologne"}, 2488.0, "sndlib:module"),  # modules 155/622/2488: largest
    "L3": ({"Cologne", "Munich"}, None, None),  # neither: the default applies later
    "L4": ({"Munich", "Berlin"}, 622.0, "sndlib:capacity"),  # capacity wins over a module
    "L5": ({"Berlin", "Hamburg"}, 40.0, "sndlib:module"),  # a parallel link, kept
}
COORDS = {  # node -> (longitude, latitude) as written
    "Berlin": (13.40, 52.52),
    "Hamburg": (9.99, 53.55),
    "Cologne": (6.96, 50.94),
    "Munich": (11.58, 48.14),
}


@pytest.mark.parametrize(
    ("name", "fmt"), [("four-cities.txt", "sndlib-native"), ("four-cities.xml", "sndlib-xml")]
)
def test_four_cities(name, fmt):
    g = read_sndlib(DATA / name)
    assert g.graph["format"] == fmt
    assert g.is_multigraph() and not g.is_directed()
    assert list(g.nodes) == ["Berlin", "Hamburg", "Cologne", "Munich"]
    for node, (lon, lat) in COORDS.items():
        d = g.nodes[node]
        assert d["label"] == node
        assert (d["Longitude"], d["Latitude"]) == (lon, lat)
    edges = {d["sndlib_id"]: (u, v, d) for u, v, d in g.edges(data=True)}
    assert set(edges) == set(LINKS)
    for lid, (ends, mbps, rule) in LINKS.items():
        u, v, d = edges[lid]
        assert {u, v} == ends
        assert d.get("bandwidth_mbps") == mbps
        assert d.get("bandwidth_from") == rule
    # D1: 12.5 x routing unit 1; D2: 3.25 x routing unit 2 = 6.5
    assert g.graph["demands"] == [
        {"src": "Berlin", "dst": "Munich", "value_mbps": 12.5},
        {"src": "Hamburg", "dst": "Cologne", "value_mbps": 6.5},
    ]
    assert g.graph["sndlib_meta"]["unit"] == "MBITPERSEC"
    assert g.graph["coordinates"].startswith("longitude/latitude")


def test_native_and_xml_agree():
    a, b = read_sndlib(DATA / "four-cities.txt"), read_sndlib(DATA / "four-cities.xml")
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert sorted(map(repr, a.edges(data=True))) == sorted(map(repr, b.edges(data=True)))
    assert a.graph["demands"] == b.graph["demands"]


def test_pixel_coordinates_are_not_geographic():
    g = read_sndlib(DATA / "pixel.xml")
    assert g.nodes["N1"]["x"] == 10.0 and g.nodes["N1"]["y"] == 20.0
    assert not any("Latitude" in d or "Longitude" in d for _, d in g.nodes(data=True))
    assert "x" not in g.nodes["N3"]  # no <coordinates>
    assert "pixel" in g.graph["coordinates"]
    assert "demands" not in g.graph


def test_out_of_bounds_coordinates_are_not_geographic():
    g = read_sndlib(DATA / "off-map.txt")
    assert not any("Latitude" in d for _, d in g.nodes(data=True))
    assert g.nodes["b"]["x"] == 250.0
    assert "node 'b'" in g.graph["coordinates"]


def test_nodes_all_at_one_point_are_not_geographic(tmp_path):
    f = tmp_path / "zero.txt"
    f.write_text(
        "?SNDlib native format; type: network; version: 1.0\n"
        "NODES (\n a ( 0.0 0.0 )\n b ( 0.0 0.0 )\n)\nLINKS (\n l ( a b ) 0 0 0 0 ( )\n)\n"
    )
    g = read_sndlib(f)
    assert "Latitude" not in g.nodes["a"]
    assert "one point" in g.graph["coordinates"]


def test_through_read_network():
    from hcf_ray.graphs import read_network

    net = read_network(DATA / "four-cities.txt")
    assert net.format == "sndlib-native"
    summary = net.summary()
    # L1 + L5 merged into one link; L3 has no speed
    assert summary["links"] == 4
    assert summary["bandwidth_from"]["default"] == 1
    assert summary["bandwidth_from"]["sndlib:module"] == 1
    assert net.demands[1]["value_mbps"] == 6.5
    xml = read_network(DATA / "four-cities.xml")
    assert xml.link_table() == net.link_table()


HEADER = "?SNDlib native format; type: network; version: 1.0\n"
NATIVE_BAD = [
    ("NODES (\n a ( 1 2 )\n)\nLINKS (\n)\n", 1, "not an SNDlib native network"),
    (
        HEADER + "NODES (\n a ( 1 2 )\n b ( 1 2 )\n)\nLINKS (\n l ( a q ) 0 0 0 0 ( )\n)\n",
        7,
        "unknown node 'q'",
    ),
    (HEADER + "NODES (\n a ( 1 2 )\n a ( 3 4 )\n)\nLINKS (\n)\n", 4, "node 'a' defined twice"),
    (
        HEADER + "NODES (\n a ( 1 2 )\n b ( 1 2 )\n)\nLINKS (\n l ( a b ) fast 0 0 0 ( )\n)\n",
        7,
        "not a number: 'fast'",
    ),
    (
        HEADER + "NODES (\n a ( 1 2 )\n b ( 1 2 )\n)\nLINKS (\n l ( a b ) -5 0 0 0 ( )\n)\n",
        7,
        "below 0",
    ),
    (
        HEADER + "NODES (\n a ( 1 2 )\n b ( 1 2 )\n)\nLINKS (\n l ( a b ) nan 0 0 0 ( )\n)\n",
        7,
        "not a number",
    ),
    (
        HEADER + "NODES (\n a ( 1 2 )\n b ( 1 2 )\n)\nLINKS (\n l ( a b ) 1 0 0 0 ( 10 )\n)\n",
        7,
        "module capacity without a cost",
    ),
    (HEADER + "NODES (\n a ( 1 2 )\n)\nLINKS (\n l ( a a ) 1 0 0 0 ( )\n)\n", 6, "to itself"),
    (HEADER + "NODES (\n a ( 1 2 )\n", 3, "ends inside NODES"),
    (HEADER + "NODES (\n a ( 1 2 )\n)\nCABLES (\n)\n", 5, "unknown section 'CABLES'"),
    (HEADER + "NODES (\n a ( 1 2 )\n)\n", None, "no LINKS section"),
    ("?SNDlib native format; type: model; version: 1.0\n", 1, "not an SNDlib native network"),
    (
        HEADER
        + "NODES (\n a ( 1 2 )\n b ( 1 2 )\n)\nLINKS (\n)\nDEMANDS (\n d ( a z ) 1 5 UNLIMITED\n)\n",
        9,
        "demand 'd': unknown node 'z'",
    ),
]


@pytest.mark.parametrize(("text", "line", "words"), NATIVE_BAD)
def test_broken_native_files(tmp_path, text, line, words):
    f = tmp_path / "net.txt"
    f.write_text(text)
    with pytest.raises(GraphError) as err:
        read_sndlib(f)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) <= 200 + len(str(f))
    assert msg.startswith(f"{f}:{line}: " if line else f"{f}: "), msg
    assert words in msg


XML_HEAD = '<?xml version="1.0"?>\n<network xmlns="http://sndlib.zib.de/network">\n'
XML_BAD = [
    (XML_HEAD + "<networkStructure>\n<nodes>\n<node id='a'>\n</nodes>", 6, "not well-formed XML"),
    ('<?xml version="1.0"?>\n<graphml/>\n', 2, "not an SNDlib <network>"),
    (XML_HEAD + "</network>\n", 2, "no <networkStructure>"),
    (
        XML_HEAD
        + "<networkStructure>\n<nodes>\n<node id='a'/>\n<node id='b'/>\n</nodes>\n<links>\n"
        "<link id='l'>\n<target>b</target>\n</link>\n</links>\n</networkStructure>\n</network>\n",
        9,
        "link 'l': no <source>",
    ),
    (
        XML_HEAD + "<networkStructure>\n<nodes>\n<node id='a'>\n<coordinates><x>east</x><y>1</y>"
        "</coordinates>\n</node>\n</nodes>\n<links/>\n</networkStructure>\n</network>\n",
        6,
        "node 'a': <x>: not a number",
    ),
    (
        '<?xml version="1.0"?>\n<!DOCTYPE network [<!ENTITY a "aaaa">]>\n'
        '<network xmlns="http://sndlib.zib.de/network"/>\n',
        2,
        "DOCTYPE",
    ),
    ('<?xml version="1.0" encoding="no-such-code"?>\n<network/>\n', 1, "no-such-code"),
]


@pytest.mark.parametrize(("text", "line", "words"), XML_BAD)
def test_broken_xml_files(tmp_path, text, line, words):
    f = tmp_path / "net.xml"
    f.write_text(text)
    with pytest.raises(GraphError) as err:
        read_sndlib(f)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}:{line}: "), msg
    assert words in msg
