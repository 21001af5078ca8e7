"""Rocketfuel weights.intra / latencies.intra read into the raw graph. The maps under
tests/data/graphs/rocketfuel/ are written by hand in Rocketfuel's published layout;
the expected values are read off those files by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcf_ray.graphs.errors import GraphError
from hcf_ray.graphs.rocketfuel import city_label, read_rocketfuel

DATA = Path(__file__).parent / "data" / "graphs" / "rocketfuel"
S227, S232 = "Sydney,+Australia227", "Sydney,+Australia232"
MEL, PER, NYC, LON = "Melbourne,+Australia14", "Perth,+Australia3", "New+York,+NY1234", "London4083"

# pair/, by hand: {a, b} -> (latency ms or None, weight or None)
PAIR = {
    frozenset((S227, S232)): (1.0, 2.0),
    frozenset((S227, MEL)): (7.5, 10.0),  # 7.5 / 8 ms and weights 10 / 12: the lower
    frozenset((MEL, PER)): (27.0, 30.0),
    frozenset((NYC, S232)): (80.0, 90.0),
    frozenset((LON, NYC)): (35.0, None),  # latencies only
    frozenset((PER, S232)): (None, 45.0),  # weights only
}


@pytest.mark.parametrize("name", ["latencies.intra", "weights.intra"])
def test_pair_read_from_either_file(name):
    g = read_rocketfuel(DATA / "pair" / name)
    assert g.graph["format"] == "rocketfuel"
    assert g.graph["files"] == ["latencies.intra", "weights.intra"]
    assert not g.is_directed()
    # first appearance in latencies.intra, then weights.intra
    assert list(g.nodes) == [S227, S232, MEL, PER, NYC, LON]
    assert [g.nodes[n]["label"] for n in g.nodes] == [
        "Sydney",
        "Sydney",
        "Melbourne",
        "Perth",
        "New York",
        "London",
    ]
    assert g.number_of_edges() == len(PAIR)  # one edge per router pair, both directions merged
    for u, v, d in g.edges(data=True):
        latency, weight = PAIR[frozenset((u, v))]
        assert d.get("latency_ms") == latency
        assert d.get("latency_from") == ("rocketfuel:latency" if latency is not None else None)
        assert d.get("weight") == weight
        assert "bandwidth_mbps" not in d


def test_either_file_gives_the_same_graph():
    a = read_rocketfuel(DATA / "pair" / "latencies.intra")
    b = read_rocketfuel(DATA / "pair" / "weights.intra")
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))


def test_weights_alone():
    g = read_rocketfuel(DATA / "alone" / "1239.weights.intra")
    assert g.graph["files"] == ["1239.weights.intra"]
    weights = {frozenset((u, v)): d["weight"] for u, v, d in g.edges(data=True)}
    assert weights == {
        frozenset(("Chicago,+IL10", "Chicago,+IL11")): 1.0,
        frozenset(("Chicago,+IL11", "Seattle,+WA2")): 5.5,
        frozenset(("Seattle,+WA2", "Chicago,+IL10")): 7.0,
    }
    assert not any("latency_ms" in d for _, _, d in g.edges(data=True))


@pytest.mark.parametrize(
    ("name", "city"),
    [
        ("Sydney,+Australia227", "Sydney"),
        ("New+York,+NY1234", "New York"),
        ("London4083", "London"),
        ("St.+Louis,+MO77", "St. Louis"),
        ("1234", "1234"),
    ],
)
def test_city_label(name, city):
    assert city_label(name) == city


def test_through_read_network():
    from hcf_ray.graphs import read_network

    net = read_network(DATA / "pair" / "weights.intra")
    assert net.format == "rocketfuel"
    assert net.summary()["latency_from"] == {"default": 1, "rocketfuel:latency": 5}
    by_ends = {frozenset((x.src, x.dst)): x for x in net.links}
    assert by_ends[frozenset(("Melbourne", "Perth"))].latency_ms == 27.0
    assert by_ends[frozenset(("New York", "London"))].latency_ms == 35.0


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a b 1\nc d\n", 2, "expected 'node1 node2 weight', found 2 field(s)"),
        ("a b 1\nc d e f\n", 2, "found 4 field(s)"),
        ("# only\na b heavy\n", 2, "weight 'heavy' is not a number >= 0"),
        ("a b -3\n", 1, "is not a number >= 0"),
        ("a b inf\n", 1, "is not a number >= 0"),
        ("a a 1\n", 1, "to itself"),
        ("# nothing here\n\n", None, "no links"),
    ],
)
def test_broken_files(tmp_path, text, line, words):
    f = tmp_path / "weights.intra"
    f.write_text(text)
    with pytest.raises(GraphError) as err:
        read_rocketfuel(f)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}:{line}: " if line else f"{f}: "), msg
    assert words in msg


def test_broken_sibling_is_named(tmp_path):
    (tmp_path / "x.weights.intra").write_text("a b 1\n")
    (tmp_path / "x.latencies.intra").write_text("a b 1\na b fast\n")
    with pytest.raises(GraphError, match=r"x\.latencies\.intra:2: latency_ms 'fast'"):
        read_rocketfuel(tmp_path / "x.weights.intra")


def test_unknown_kind(tmp_path):
    f = tmp_path / "map.intra"
    f.write_text("a b 1\n")
    with pytest.raises(GraphError, match=r"latencies\.intra' or 'weights\.intra'"):
        read_rocketfuel(f)
