"""A traffic matrix routed on a 4-node graph, against loads worked out by hand."""

from __future__ import annotations

import math

import pytest

from hcf_ray.errors import InputError
from hcf_ray.sim.net.demands import background_utilisation, link_loads, utilisation
from hcf_ray.sim.net.traces import ConstantCapacity, SharedCapacity
from hcf_ray.sim.topology import LinkSpec, NodeSpec, Topology

#   A --1ms-- B --1ms-- D        every link both ways; 100 Mbit/s except B<->D (50)
#   |  \1ms   |        /
#  1ms  \---- C --5ms-/          (A-C 1 ms, B-C 1 ms, C-D 5 ms)
EDGES = [("A", "B", 1.0, 100), ("B", "D", 1.0, 50), ("A", "C", 1.0, 100), ("B", "C", 1.0, 100)]
EDGES += [("C", "D", 5.0, 100)]


def four_nodes(extra_nodes=()):
    nodes = [NodeSpec(n) for n in ["A", "B", "C", "D", *extra_nodes]]
    links = []
    for u, v, ms, mbps in EDGES:
        links += [LinkSpec(u, v, mbps, ms), LinkSpec(v, u, mbps, ms)]
    return Topology(nodes, links)


DEMANDS = [
    {"src": "A", "dst": "D", "value_mbps": 30},  # A-B-D (2 ms; A-C-D is 6 ms)
    {"src": "C", "dst": "D", "value_mbps": 10},  # C-B-D (2 ms; C-D direct is 5 ms)
    ("D", "A", 20.0),  # D-B-A (2 ms)
    {"src": "A", "dst": "C", "value_mbps": 5},  # A-C (1 ms)
    {"src": "B", "dst": "B", "value_mbps": 99},  # to itself: no link
]


def test_demand_matrix_routed_on_four_nodes():
    loads = link_loads(four_nodes(), DEMANDS)
    assert loads == pytest.approx(
        {
            ("A", "B"): 30.0,
            ("B", "D"): 30.0 + 10.0,
            ("C", "B"): 10.0,
            ("D", "B"): 20.0,
            ("B", "A"): 20.0,
            ("A", "C"): 5.0,
        }
    )
    u = background_utilisation(four_nodes(), DEMANDS)
    # load / nominal: B->D 40/50, D->B 20/50, the others over 100 Mbit/s
    assert u == pytest.approx(
        {
            ("A", "B"): 0.3,
            ("B", "D"): 0.8,
            ("C", "B"): 0.1,
            ("D", "B"): 0.4,
            ("B", "A"): 0.2,
            ("A", "C"): 0.05,
        }
    )
    # the share left on B->D: 50 × (1 − 0.8) = 10 Mbit/s; 1.25e6 B = 10 Mbit takes 1 s
    share = SharedCapacity(ConstantCapacity(50), u["B", "D"])
    assert share.tx_end(2.0, 1_250_000) == pytest.approx(3.0, abs=1e-9)


def test_routing_weight_is_the_flows_weight():
    # by hops C->D is direct (1 hop) instead of C-B-D
    loads = link_loads(four_nodes(), [("C", "D", 10.0)], weight="hops")
    assert loads == {("C", "D"): 10.0}


def test_overload_and_no_capacity_never_divide_by_zero():
    u = utilisation(
        {("A", "B"): 150.0, ("B", "A"): 0.0, ("X", "Y"): 1.0},
        {
            ("A", "B"): 100.0,
            ("B", "A"): 0.0,
            ("X", "Y"): 0.0,
        },
    )
    assert u == {("A", "B"): 1.5, ("B", "A"): 0.0, ("X", "Y"): math.inf}
    assert SharedCapacity(ConstantCapacity(100), u["A", "B"]).tx_end(0.0, 1) == math.inf


@pytest.mark.parametrize(
    "demand, words",
    [
        (("A", "Q", 1.0), "demand 0 (A->Q): unknown node 'Q'"),
        (("A", "D", -1.0), "demand 0 (A->D): value_mbps must be finite and >= 0"),
        (("A", "E", 1.0), "demand 0 (A->E): node 'E' is unreachable from source 'A'"),
        ({"src": "A"}, "demand 0: expected src, dst and value_mbps"),
    ],
)
def test_bad_demands_are_one_line(demand, words):
    with pytest.raises(InputError) as e:
        link_loads(four_nodes(extra_nodes=("E",)), [demand])
    assert str(e.value).startswith(words) and "\n" not in str(e.value)
