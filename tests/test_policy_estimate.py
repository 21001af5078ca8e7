"""``ctx.estimate(levels, nbytes)`` prices a plan as the simulator does, and ``ctx.route.devices``
shows each node's device as the topology's ``devices`` table sets it.

One run of one image over three separate networks — a line, a tree (two destinations, the
second one planned from its fork relay) and a mesh — with HCF (and DRF on the line); the contexts the edge
policy was asked to decide on are kept, and each one's ``estimate`` of the plan its record
carries, with the record's own bytes, must give the record's latency, energy and compute.
The network is idle (one 64×128 crop, disjoint flows, no loss), which is what ``estimate``
prices.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from hcf_ray.codecs.level import NUM_STRINGS
from hcf_ray.policy import EdgePolicy, Estimate, NodeDevice
from hcf_ray.sim.chain_estimate import LEARNED_STRINGS
from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.net.traces import ConstantCapacity, SharedCapacity, read_trace
from hcf_ray.sim.scenario import build_scenario

OPTS = dict(warmup=False, check_transport=False, timeout_s=300)

TOPOLOGY = """
name: estimate
codec: random:mbt2018-mean
devices:
  jetson: {throughput: 0.5, busy_w: 15, idle_w: 5}
  server: {throughput: 4, busy_w: 200, idle_w: 60}
nodes:
  # a line
  - {id: cam, role: source, device: jetson}
  - {id: r1, device: server, cores: 4, speed: 1.5}
  - {id: r2, device: {throughput: 2, busy_w: 40, idle_w: 10}, cores: 2}
  - {id: screen, role: destination, speed: 0.5}
  # a tree: src → hub → {near, far1 → far2}
  - {id: src, role: source, device: jetson, cores: 2}
  - {id: hub, device: server, cores: 3}
  - {id: near, role: destination, device: jetson}
  - {id: far1, device: server, speed: 2}
  - {id: far2, role: destination, device: jetson}
  # a mesh: m0 reaches m3 over m1 and m2 (the fastest route) or directly (slow)
  - {id: m0, role: source, device: server, cores: 2}
  - {id: m1, device: jetson}
  - {id: m2, device: server, speed: 0.8}
  - {id: m3, role: destination, device: jetson, cores: 2}
links:
  - {src: cam, dst: r1, bandwidth_mbps: 20, latency_ms: 3}
  - {src: r1, dst: r2, bandwidth_mbps: 5, latency_ms: 7}
  - {src: r2, dst: screen, bandwidth_mbps: 50, latency_ms: 1.5}
  - {src: src, dst: hub, bandwidth_mbps: 8, latency_ms: 4}
  - {src: hub, dst: near, bandwidth_mbps: 30, latency_ms: 2}
  - {src: hub, dst: far1, bandwidth_mbps: 3, latency_ms: 6}
  - {src: far1, dst: far2, bandwidth_mbps: 12, latency_ms: 1}
  - {src: m0, dst: m1, bandwidth_mbps: 10, latency_ms: 2}
  - {src: m1, dst: m2, bandwidth_mbps: 25, latency_ms: 3}
  - {src: m2, dst: m3, bandwidth_mbps: 6, latency_ms: 2}
  - {src: m0, dst: m2, bandwidth_mbps: 4, latency_ms: 9}
  - {src: m1, dst: m3, bandwidth_mbps: 2, latency_ms: 8}
  - {src: m0, dst: m3, bandwidth_mbps: 1, latency_ms: 40}
flows:
  - {name: line, source: cam, source_level: 5, destinations: [{node: screen, level: 2}],
     methods: [hcf, drf], images: IMAGES, policy: edge}
  - name: tree
    source: src
    source_level: 5
    # near is planned first (higher level) and fixes src→hub; far2 plans from hub on
    destinations: [{node: near, level: 4, n_q: 1}, {node: far2, level: 1}]
    methods: [hcf]
    images: IMAGES
    policy: edge
  - {name: mesh, source: m0, source_level: 4, destinations: [{node: m3, level: 1}],
     methods: [hcf], images: IMAGES, policy: edge}
"""


@pytest.fixture(scope="module")
def run(ray_session, tmp_path_factory):
    """The run's records and the contexts the edge policy decided on, by (method, dest)."""
    from PIL import Image

    from hcf_ray.images import sample_images

    tmp = tmp_path_factory.mktemp("estimate")
    (tmp / "img").mkdir()
    Image.open(sample_images()[0]).crop((0, 0, 128, 64)).save(tmp / "img" / "crop.png")
    cfg = tmp / "topo.yaml"
    cfg.write_text(TOPOLOGY.replace("IMAGES", str(tmp / "img")))
    seen = {}
    original = EdgePolicy.hop_levels

    def keep(self, ctx):
        seen[ctx.route.method, ctx.route.nodes[-1]] = ctx
        return original(self, ctx)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EdgePolicy, "hop_levels", keep)
        sc = build_scenario(load_config(cfg), max_images=1)
    summary = run_simulation(sc, tmp / "out", options=RunOptions(**OPTS))
    assert summary["status"] == "ok"
    lines = (tmp / "out" / "results.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    return {(r["method"], r["destination"]): r for r in recs if r["method"] != "ssf"}, seen


CASES = [
    ("hcf", "screen"),
    ("drf", "screen"),  # DRF's relays decode to pixels and re-encode
    ("hcf", "near"),
    ("hcf", "far2"),  # planned from the fork relay hub, which holds level 4
    ("hcf", "m3"),
]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("method,dest", CASES)
def test_estimate_equals_the_simulated_record(run, method, dest):
    recs, seen = run
    rec, ctx = recs[method, dest], seen[method, dest]
    assert rec.get("status", "ok") == "ok"
    chain = ctx.route.nodes
    k = rec["path"].index(chain[0])  # 0, or the fork relay a later destination starts from
    assert tuple(rec["path"][k:]) == chain
    hops = rec["hops"][k:]
    # the links carry each payload in a bitstream: 26 bytes of framing more (see below)
    assert all(h["wire_bytes"] == h["bytes"] + 26 for h in rec["hops"])
    # idle: nothing queued anywhere on the record's path
    assert all(h["queue_s"] == 0 for h in rec["hops"])
    assert all(rec["nodes"][n]["queue_s"] == 0 for n in rec["path"])
    est = ctx.estimate([h["level"] for h in hops], nbytes=[h["bytes"] for h in hops])
    assert isinstance(est, Estimate)
    start = 0.0 if k == 0 else rec["hops"][k - 1]["arrive_s"]  # the stream reaches the relay
    assert close(est.latency_s, rec["done_s"] - start)
    assert close(est.compute_s, sum(rec["nodes"][n]["compute_s"] for n in chain))
    assert close(est.energy_j, sum(rec["nodes"][n]["energy_j"] for n in chain))
    assert est.link_bytes == sum(h["bytes"] for h in hops)
    if k == 0:  # the whole route: the record's own totals
        assert close(est.latency_s, rec["latency_s"])
        assert close(est.energy_j, rec["energy_j"]) and close(est.compute_s, rec["compute_s"])


def test_the_cases_cover_a_fork_relay_and_a_forward(run):
    recs, seen = run
    assert seen["hcf", "far2"].route.upstream_level == 4  # near fixed src→hub at level 4
    assert seen["hcf", "far2"].route.nodes[0] == "hub"
    assert recs["hcf", "near"]["levels"] == [4, 4]  # hub forwards near's bytes
    assert recs["hcf", "m3"]["path"] == ["m0", "m1", "m2", "m3"]
    assert all(seen[c].route.method == c[0] for c in CASES)


def test_route_devices_are_the_topologys_devices(run):
    _recs, seen = run
    jetson = dict(name="jetson", throughput=0.5, busy_w=15.0, idle_w=5.0)
    server = dict(name="server", throughput=4.0, busy_w=200.0, idle_w=60.0)
    line = seen["hcf", "screen"].route
    assert dict(line.devices) == {
        "cam": NodeDevice(cores=1, speed=1.0, **jetson),
        "r1": NodeDevice(cores=4, speed=1.5, **server),
        "r2": NodeDevice("r2-device", 2, 1.0, 2.0, 40.0, 10.0),
        "screen": NodeDevice("default", 1, 0.5, 1.0, 0.0, 0.0),
    }
    assert line.src_device(1) == NodeDevice(cores=4, speed=1.5, **server)
    assert line.dst_device(2).name == "default"
    fork = seen["hcf", "far2"].route  # a later destination sees its own part of the tree
    assert dict(fork.devices) == {
        "hub": NodeDevice(cores=3, speed=1.0, **server),
        "far1": NodeDevice(cores=1, speed=2.0, **server),
        "far2": NodeDevice(cores=1, speed=1.0, **jetson),
    }
    # a job computing 0.1 s on r1 is charged busy_w / cores × 0.1 = 200 / 4 × 0.1 = 5 J
    assert line.devices["r1"].job_energy_j(0.1) == pytest.approx(5.0)


def test_rate_model_bytes_loss_and_bad_levels(run):
    _recs, seen = run
    ctx = seen["hcf", "screen"]
    levels = [5, 4, 2]
    by_rate = ctx.estimate(levels)
    table = {lv: ctx.rate_model(lv) for lv in (5, 4, 2)}
    assert by_rate == ctx.estimate(levels, nbytes=table)
    assert by_rate.link_bytes == pytest.approx(table[5] + table[4] + table[2])
    # loss 0.2 on r1→r2 (5 Mbit/s): the expected retransmissions add wire·(1/0.8 − 1) bytes,
    # i.e. wire·8/5e6·0.25 seconds, where wire = payload + the HCF2 framing of a bitstream
    # (an 18-byte header and a 4-byte length for each of its 2 strings: 26 bytes);
    # compute and energy do not change
    lossy = dataclasses.replace(ctx.route[1], loss=0.2)
    route = dataclasses.replace(ctx.route, hops=(ctx.route[0], lossy, ctx.route[2]))
    est = dataclasses.replace(ctx, route=route).estimate(levels)
    wire = table[4] + 26
    assert LEARNED_STRINGS == NUM_STRINGS  # the estimate's copy of the codecs' string count
    assert est.latency_s - by_rate.latency_s == pytest.approx(wire * 8 / 5e6 * 0.25, rel=1e-9)
    assert (est.energy_j, est.compute_s) == (by_rate.energy_j, by_rate.compute_s)
    for bad, match in (
        ([5, 2], "2 levels for a route of 3 hops"),
        ([5, 4, 3], "end at the target level 2"),
        ([4, 5, 2], "rise along the route"),
        ([6, 4, 2], "at most at level 5"),
    ):
        with pytest.raises(ValueError, match=match):
            ctx.estimate(bad)
    with pytest.raises(ValueError, match="carries the same bytes"):
        ctx.estimate([4, 4, 2], nbytes=[100, 90, 50])
    with pytest.raises(ValueError, match="no entry for level"):
        ctx.estimate(levels, nbytes={5: 100, 4: 50})


def test_changing_capacity_background_and_the_oracle(run, tmp_path):
    _recs, seen = run
    ctx = seen["hcf", "screen"]
    levels = [5, 4, 2]
    plain = ctx.estimate(levels)  # r1→r2 at a constant 5 Mbit/s

    def with_hop(now_s=0.0, **changes):  # r1→r2 changed, the decision made at now_s
        hops = [dataclasses.replace(h, now_s=now_s) for h in ctx.route]
        hops[1] = dataclasses.replace(hops[1], **changes)
        route = dataclasses.replace(ctx.route, hops=tuple(hops))
        return dataclasses.replace(ctx, route=route).estimate(levels)

    # half of the link taken by background traffic: left out, the link's own 5 Mbit/s
    half = SharedCapacity(ConstantCapacity(5.0), 0.5)
    assert with_hop(bandwidth_mbps=2.5, _capacity=half) == plain
    # a trace at 5 Mbit/s for its first 10 s, then 1 Mbit/s: without the oracle the capacity
    # now (5) prices the hop; with it the trace itself, still 5 Mbit/s when the message crosses
    (tmp_path / "t.trace").write_text("0\t5\n10\t5\n11\t1\n40\t1\n")
    trace = read_trace(str(tmp_path / "t.trace"), "pensieve").capacity(0.0, True)
    assert with_hop(bandwidth_mbps=2.0, _capacity=trace) == plain
    oracle = with_hop(bandwidth_mbps=2.0, _capacity=trace, oracle=True)
    assert oracle.latency_s == pytest.approx(plain.latency_s, rel=1e-9)
    # the decision made at 9.999 s: the message reaches r1→r2 after 10 s (3 ms of cam→r1's
    # latency alone) and crosses at 1 Mbit/s with the oracle; the capacity now still reads 5
    late = dict(bandwidth_mbps=2.0, _capacity=trace, now_s=9.999)
    assert with_hop(**late).latency_s == pytest.approx(plain.latency_s, rel=1e-9)
    assert with_hop(**late, oracle=True).latency_s > plain.latency_s
    # a link that sends nothing now: never delivered
    assert with_hop(_capacity=ConstantCapacity(0.0)).latency_s == math.inf
