"""The virtual-clock link/node model and the prefix-sharing job planner (pure Python)."""

import pytest

from hcf_ray.cascade import Op, Stage
from hcf_ray.sim.network import LinkClock, NodeClock, VirtualNetwork
from hcf_ray.sim.planner import Branch, merge_stages, plan_segments


def test_link_fifo_transmission_and_latency():
    link = LinkClock(bandwidth_mbps=8.0, latency_ms=10.0)  # 1 byte per µs
    a = link.send(ready_s=0.0, nbytes=1000)
    assert (a.start_s, a.tx_s, a.arrive_s) == pytest.approx((0.0, 0.001, 0.011))
    b = link.send(ready_s=0.0005, nbytes=2000)  # queued behind the first message
    assert b.start_s == pytest.approx(0.001)
    assert b.queue_s == pytest.approx(0.0005)
    assert b.arrive_s == pytest.approx(0.001 + 0.002 + 0.010)
    c = link.send(ready_s=1.0, nbytes=1000)  # link idle again: no wait
    assert c.start_s == 1.0 and c.queue_s == 0.0
    stats = link.stats(horizon_s=2.0)
    assert stats["bytes"] == 4000 and stats["messages"] == 3
    assert stats["busy_s"] == pytest.approx(0.004)
    assert stats["utilisation"] == pytest.approx(0.002)


def test_wire_bytes_are_charged_and_loss_retransmits_reproducibly():
    clean = LinkClock(8.0, 0.0)
    t = clean.send(0.0, nbytes=1000, wire_bytes=1024)
    assert t.tx_s == pytest.approx(0.001024) and clean.bytes == 1000
    runs = []
    for _ in range(2):
        net = VirtualNetwork([("a", "b", 8.0, 0.0, 0.3)], {"a": 1.0, "b": 1.0}, seed=7)
        runs.append([net.transmit("a", "b", 0.0, 15000).wire_bytes for _ in range(5)])
    assert runs[0] == runs[1]  # seeded
    assert all(w >= 15000 for w in runs[0]) and max(runs[0]) > 15000  # some resends


def test_node_is_serial_and_speed_scales_compute():
    node = NodeClock(speed=2.0)
    assert node.run(0.0, 1.0) == pytest.approx((0.0, 0.5))
    assert node.run(0.2, 1.0) == pytest.approx((0.5, 1.0))  # waits for the first job
    assert node.compute_s == pytest.approx(1.0) and node.measured_s == pytest.approx(2.0)


def test_fork_segments_share_the_common_prefix():
    phi = [Op("phi", 6, "inter"), Op("phi", 5, "intra"), Op("phi", 4, "intra")]
    a = Stage(6, (phi[0],), 5)
    b = Stage(6, tuple(phi[:2]), 4)
    c = Stage(6, tuple(phi), 3)
    segs = plan_segments([Branch(a, ("x",)), Branch(b, ("y",)), Branch(c, ("z",))])
    # a: D, φ6 (shared by all) | Q/E5 ; b: φ5 (shared with c) | Q/E4 ; c: φ4, Q/E3
    assert [(s.branch, s.start, s.stop, s.source, s.final) for s in segs] == [
        (0, 0, 2, None, False),
        (0, 2, 3, 0, True),
        (1, 2, 3, 0, False),
        (1, 3, 4, 2, True),
        (2, 3, 5, 2, True),
    ]
    ops_run = sum(s.stop - s.start for s in segs)
    assert ops_run == 1 + 3 + 3  # one decode, three φ, three encodes


def test_merge_dedups_identical_stages_and_keeps_one_job_per_stream():
    src = Stage(None, (Op("analysis", 3),), 3)
    fwd = Stage(3, (), 3)
    dst = Stage(3, (Op("synthesis", 3),), None)
    jobs, chains = merge_stages(
        [(("s", "r", "d1"), (src, fwd, dst)), (("s", "r", "d2"), (src, fwd, dst))]
    )
    assert [j.node for j in jobs] == ["s", "r", "d1", "d2"]
    assert jobs[1].branches[0].targets == ("d1", "d2")  # one stream, sent on two links
    assert not jobs[1].computes
    assert chains[0][:2] == chains[1][:2]
