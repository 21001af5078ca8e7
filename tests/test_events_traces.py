"""The event model on links whose capacity changes, against timings worked out by hand.

Each end time is computed in the test from the trace's numbers (arithmetic in the comments)
and checked to 1e-9 s.
"""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest

from hcf_ray.sim.net.events import (
    EventNetwork,
    LinkModel,
    NodeModel,
    WorkBranch,
    WorkJob,
    WorkUnit,
    simulate,
)
from hcf_ray.sim.net.traces import ConstantCapacity, SharedCapacity, read_trace
from hcf_ray.sim.world import PricedUnit, WorldSpec, simulate_world, world_spec

STEP = "0.0\t8\n1.0\t8\n2.0\t2\n3.0\t4\n"  # (0,1]: 8, (1,2]: 2, (2,3]: 4 Mbit/s; period 3 s
MM = "2\n2\n2\n5\n8\n"  # period 8 ms: 3 opportunities at 2 ms, one at 5, one at 8
NODES = {n: NodeModel() for n in "ABC"}


def approx(x):
    return pytest.approx(x, abs=1e-9)


@pytest.fixture
def step(tmp_path):
    p = tmp_path / "step"
    p.write_text(STEP)
    return read_trace(p, "pensieve")


@pytest.fixture
def mm(tmp_path):
    p = tmp_path / "mm"
    p.write_text(MM)
    return read_trace(p, "mahimahi")


def forward(key, release, nbytes, src="A", dst="B"):
    branch = WorkBranch((dst,), None, nbytes)
    return WorkUnit(key, release, (WorkJob(0, src, None, (), (branch,)),))


def traced(cap, latency_ms=10.0, **kw):
    return LinkModel(None, latency_ms, capacity=cap, **kw)


def test_message_across_a_pensieve_capacity_step(step):
    (t,) = simulate([forward(0, 0.5, 1_000_000)], {("A", "B"): traced(step.capacity())}, NODES)
    tr = t.transfers[0, 0, "B"]
    # 8 Mbit from 0.5: 4 Mbit in (0.5,1] at 8, 2 Mbit in (1,2] at 2, 2 Mbit at 4 -> 2.5
    assert tr.start_s == approx(0.5) and tr.end_s == approx(2.5) and tr.tx_s == approx(2.0)
    assert tr.arrive_s == approx(2.5 + 0.010)
    assert tr.mean_mbps == approx(8 / 2.0)  # 8 Mbit in 2 s
    assert not tr.stalled and t.stalled == ()
    assert t.done_s == approx(2.51)


def test_message_over_mahimahi_repeated_ms_and_wrap_around(mm):
    links = {("A", "B"): traced(mm.capacity(), latency_ms=1.0)}
    (t,) = simulate([forward(0, 0.004, 7420)], links, NODES)
    tr = t.transfers[0, 0, "B"]
    # ceil(7420 / 1504) = 5 opportunities from 4 ms: 5, 8, 10, 10, 10 (the second period's
    # three at 8+2 ms) -> the last packet leaves at 10 ms, arrives 1 ms later
    assert tr.end_s == approx(0.010) and tr.arrive_s == approx(0.011)
    assert tr.mean_mbps == approx(7420 * 8 / 0.006 / 1e6)


def test_two_messages_queued_on_a_traced_link(step):
    links = {("A", "B"): traced(step.capacity())}
    t1, t2 = simulate([forward(1, 0.5, 1_000_000), forward(2, 1.0, 500_000)], links, NODES)
    first, second = t1.transfers[0, 0, "B"], t2.transfers[0, 0, "B"]
    assert first.end_s == approx(2.5)  # as in the capacity step test
    # the second (4 Mbit) waits until 2.5: 2 Mbit in (2.5,3] at 4, then the trace loops:
    # (3,4] runs at 8 -> 2 Mbit in 0.25 s -> 3.25
    assert second.ready_s == approx(1.0) and second.start_s == approx(2.5)
    assert second.queue_s == approx(1.5)
    assert second.end_s == approx(3.25) and second.arrive_s == approx(3.26)


def test_two_messages_queued_on_a_mahimahi_link(mm):
    links = {("A", "B"): traced(mm.capacity(), latency_ms=0.0)}
    t1, t2 = simulate([forward(1, 0.004, 7420), forward(2, 0.005, 1)], links, NODES)
    assert t1.transfers[0, 0, "B"].end_s == approx(0.010)
    # the second starts at 10 ms; the three opportunities at 10 ms were the first's last
    # three, so its packet takes the next one, 8+5 = 13 ms
    second = t2.transfers[0, 0, "B"]
    assert second.start_s == approx(0.010) and second.end_s == approx(0.013)


def test_loss_with_retransmission_on_a_traced_link(step):
    links = {("A", "B"): traced(step.capacity(), latency_ms=0.0, loss=0.1)}
    (t,) = simulate([forward(0, 0.9, 600_000)], links, NODES, seed=7)
    tr = t.transfers[0, 0, "B"]
    # the documented ARQ model, redone: 400 packets of 1500 B, each drawn until a draw >= loss
    rng = random.Random("7:A->B")
    extra = 0
    for _ in range(600_000 // 1500):
        while rng.random() < 0.1:
            extra += 1500
    wire = 600_000 + extra
    assert tr.wire_bytes == wire and extra > 0
    # from 0.9: (0.9,1] at 8 Mbit/s = 1e6 B/s -> 100000 B; (1,2] at 2 Mbit/s -> 250000 B;
    # then 4 Mbit/s = 500000 B/s (the rest fits before 3.0: 350000 < wire <= 850000)
    assert 350_000 < wire <= 850_000
    assert tr.end_s == approx(2.0 + (wire - 350_000) / 500_000)


def test_half_constant_background_doubles_the_transmission_time():
    alone = {("A", "B"): LinkModel(8.0, 2.0)}
    shared = {("A", "B"): traced(SharedCapacity(ConstantCapacity(8.0), 0.5), latency_ms=2.0)}
    (a,) = simulate([forward(0, 0.1, 4000)], alone, NODES)
    (b,) = simulate([forward(0, 0.1, 4000)], shared, NODES)
    ta, tb = a.transfers[0, 0, "B"], b.transfers[0, 0, "B"]
    # 4000 B = 32000 bit: at 8 Mbit/s 4 ms; the share at 50 % is 4 Mbit/s: 8 ms
    assert ta.tx_s == approx(0.004) and ta.end_s == approx(0.104) and ta.mean_mbps == 8.0
    assert tb.tx_s == approx(0.008) and tb.end_s == approx(0.108) and tb.mean_mbps == approx(4)
    assert tb.tx_s == approx(2 * ta.tx_s) and tb.arrive_s == approx(0.110)


def test_outage_then_trace(step):
    links = {("A", "B"): traced(step.capacity(), latency_ms=0.0, down=((0.5, 1.0),))}
    (t,) = simulate([forward(0, 0.5, 250_000)], links, NODES)
    tr = t.transfers[0, 0, "B"]
    # waits for the outage to end at 1.0, then 2 Mbit at 2 Mbit/s -> 2.0
    assert tr.start_s == approx(1.0) and tr.end_s == approx(2.0)


def test_stalled_message_does_not_hang_and_names_the_link(tmp_path):
    p = tmp_path / "dies"
    p.write_text("0 8\n1 8\n2 0\n")  # (0,1]: 8, (1,2]: 0, and 0 for ever without loop
    dies = read_trace(p, "pensieve").capacity(loop=False)
    links = {("A", "B"): traced(dies, latency_ms=0.0), ("B", "C"): LinkModel(8.0, 0.0)}
    path_unit = WorkUnit(
        "u",
        0.5,
        (
            WorkJob(0, "A", None, (), (WorkBranch(("B",), None, 1_000_000),)),
            WorkJob(1, "B", (0, 0), (0.01,), (WorkBranch(("C",), 0, 10),)),
            WorkJob(2, "C", (1, 0), (0.01,), ()),
        ),
    )
    other = forward("v", 0.0, 1000, src="B", dst="C")
    net = EventNetwork(links, NODES)
    net.submit(other)
    net.submit(path_unit)
    done = {t.key: t for t in net.run()}
    t = done["u"]
    # 8 Mbit from 0.5: 4 Mbit by 1.0, then no capacity ever: stalled at its start (0.5)
    assert t.stalled == ("A->B",)
    tr = t.transfers[0, 0, "B"]
    assert tr.stalled and tr.end_s == math.inf and tr.arrive_s == math.inf
    assert set(t.jobs) == {0} and (1, 0, "C") not in t.transfers
    assert t.done_s == approx(0.5)
    assert net.stats()["links"]["A->B"]["stalled"] == 1
    assert done["v"].transfers[0, 0, "C"].end_s == approx(0.001)  # other links unaffected
    assert done["v"].stalled == ()


# -- world records ----------------------------------------------------------------------------
def _priced(nbytes):
    """A unit A (encode, 1 ms) -> B (decode, 1 ms), one destination B."""
    work = WorkUnit(
        0,
        0.0,
        (
            WorkJob(0, "A", None, (0.001,), (WorkBranch(("B",), 0, nbytes),)),
            WorkJob(1, "B", (0, 0), (0.001,), (WorkBranch((), 0, 0.0),)),
        ),
    )
    node = {"device": "cpu", "ops": ["x"], "compute_s": 0.001, "flops": 1, "peak_mem_mb": 1.0}
    rec = {
        "flow": "f",
        "image": "i.png",
        "method": "hcf",
        "destination": "B",
        "policy": "p",
        "source_level": 3,
        "target_level": 1,
        "status": "ok",
        "path": ["A", "B"],
        "levels": [3, 1],
        "nodes": {"A": dict(node, energy_j=0.0), "B": dict(node, energy_j=0.0)},
        "wall": {"measured_s": {"A": 0.0, "B": 0.0}},
    }
    return PricedUnit(0, work, [rec], [((0, 0), (1, 0))])


def _spec(cap):
    topo = SimpleNamespace(
        links={
            ("A", "B"): SimpleNamespace(bandwidth_mbps=None, latency_ms=0.0, loss=0.0, capacity=cap)
        },
        nodes={n: SimpleNamespace(cores=1, speed=1.0) for n in "AB"},
    )
    devices = {n: SimpleNamespace(busy_w=0.0, idle_w=0.0) for n in "AB"}
    return world_spec("w", topo, devices, 0)


def test_world_records_carry_the_trace_and_stalls_become_errors(step, tmp_path):
    spec = _spec(step.capacity(offset_s=0.5))
    assert spec.links["A", "B"].capacity is not None
    res = simulate_world(spec, [_priced(1_000_000)])
    (rec,) = res.records
    (hop,) = rec["hops"]
    # starts at 0.001 = trace time 0.501: 3.992 Mbit by 1.0 at 8; 2 Mbit in (1,2] at 2;
    # 2.008 Mbit at 4 -> trace time 2.502 = simulation time 2.002
    assert hop["link"] == "A->B" and hop["end_s"] == approx(2.002)
    assert hop["arrive_s"] == approx(2.002) and hop["mean_mbps"] == approx(8 / 2.001)
    assert hop["trace"]["offset_s"] == 0.5 and hop["trace"]["format"] == "pensieve"
    assert rec["done_s"] == approx(2.003)

    p = tmp_path / "zero"
    p.write_text("0 0\n1 0\n")
    res = simulate_world(_spec(read_trace(p, "pensieve").capacity()), [_priced(1000)])
    (rec,) = res.records
    assert rec["status"] == "error" and rec["stalled_link"] == "A->B"
    assert rec["cause"].startswith("link A->B: no capacity will ever carry the message")
    assert res.per_unit[0]["stalled"] == ["A->B"]


def test_constant_links_carry_every_transmission_field():
    """1000 bytes at 8 Mbit/s: 1 ms on the wire, no latency; the link's capacity is its
    bandwidth."""
    spec = WorldSpec("w", {("A", "B"): LinkModel(8.0, 0.0)}, {n: NodeModel() for n in "AB"})
    (rec,) = simulate_world(spec, [_priced(1000)]).records
    hop = rec["hops"][0]
    assert set(hop) == {
        "src",
        "dst",
        "link",
        "level",
        "bytes",
        "wire_bytes",
        "start_s",
        "tx_s",
        "end_s",
        "queue_s",
        "arrive_s",
        "mean_mbps",
    }
    assert hop["link"] == "A->B" and "trace" not in hop and "background" not in hop
    assert abs(hop["end_s"] - hop["start_s"] - 0.001) < 1e-12
    assert hop["arrive_s"] == hop["end_s"] and hop["mean_mbps"] == 8.0


def test_identical_runs_give_identical_timings(step, mm):
    def run():
        links = {
            ("A", "B"): traced(step.capacity(offset_s=0.25), loss=0.2),
            ("B", "C"): traced(SharedCapacity(mm.capacity(), 0.3), latency_ms=1.0, loss=0.1),
        }
        units = []
        for i in range(20):
            units.append(forward((i, 0), i * 0.05, 20_000 + 1000 * i))
            units.append(forward((i, 1), i * 0.05, 3000 + 100 * i, src="B", dst="C"))
        return simulate(units, links, NODES, seed="s")

    a, b = run(), run()
    assert a == b
    assert all(tr.end_s < math.inf for t in a for tr in t.transfers.values())
