"""Policies see a link's capacity over time (:class:`hcf_ray.policy.Hop`): the value at the
decision time and the mean over a past window, future values only with ``oracle: true``;
``ctx.transmit_s`` prices with the capacity now; the shipped ``policies/trace_aware.py``
quantizes before a hop that will be slow when the message gets there, and its decision moves
with the trace's offset as worked out by hand below.

The trace used here is written by the test (Pensieve format, ``time_s  Mbit/s``): the sample
at tᵢ holds on (tᵢ₋₁, tᵢ], the first one up to t₀, and it loops with period 40 s, so the
capacity is 10 Mbit/s on trace time [0, 10] and 1 Mbit/s on (10, 40].
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from hcf_ray.policy import Hop, PolicyContext, Route
from hcf_ray.policy._environment import PolicyEnvironment
from hcf_ray.policy.check import check_policy
from hcf_ray.policy.context import FutureHidden
from hcf_ray.sim.config import ConfigError, load_config
from hcf_ray.sim.net.traces import read_trace
from hcf_ray.sim.scenario import build_scenario

ROOT = Path(__file__).resolve().parents[1]
POLICY = f"{ROOT / 'policies' / 'trace_aware.py'}:TraceAware"
STEP = "0\t10\n10\t10\n20\t1\n40\t1\n"  # 10 Mbit/s on [0, 10], 1 Mbit/s on (10, 40]


@pytest.fixture
def step_file(tmp_path) -> Path:
    p = tmp_path / "step.trace"
    p.write_text(STEP)
    return p


def traced_hop(path: Path, offset_s: float, now_s: float = 0.0, oracle: bool = False) -> Hop:
    cap = read_trace(str(path), "pensieve").capacity(offset_s, True)
    return Hop("a", "b", 2.0, 4.0, now_s=now_s, oracle=oracle, _capacity=cap)


# -- the hop's view -------------------------------------------------------------------------
def test_a_constant_hop_reads_its_bandwidth_at_every_time():
    hop = Hop("a", "b", 25.0, 3.0)
    assert not hop.varies
    assert hop.capacity_mbps == 25.0
    assert hop.mean_capacity_mbps() == 25.0 and hop.mean_capacity_mbps(60.0) == 25.0
    assert hop.capacity_at(100.0) == 25.0  # nothing to hide on a constant link
    # 1 MB at 25 Mbit/s: 8e6 / 25e6 = 0.32 s after the start
    assert hop.tx_end_s(2.0, 1_000_000) == pytest.approx(2.32, abs=1e-12)


def test_a_traced_hop_shows_now_and_the_past(step_file):
    hop = traced_hop(step_file, offset_s=12.0)  # simulation time t is trace time t + 12
    assert hop.varies
    assert hop.capacity_mbps == 1.0  # trace time 12 lies in (10, 40]
    # the past 5 s are trace time [7, 12]: 3 s at 10 and 2 s at 1 → (30 + 2) / 5 = 6.4
    assert hop.mean_capacity_mbps() == pytest.approx(6.4, abs=1e-9)
    # the past 2 s: trace time [10, 12] at 1 Mbit/s
    assert hop.mean_capacity_mbps(2.0) == pytest.approx(1.0, abs=1e-9)
    # the past, up to the decision time, is always visible: trace time 8 → 10 Mbit/s
    assert hop.capacity_at(-4.0) == 10.0
    assert hop.mean_mbps(-5.0, 0.0) == pytest.approx(6.4, abs=1e-9)


def test_the_future_is_hidden_without_the_oracle(step_file):
    hop = traced_hop(step_file, offset_s=0.0, now_s=1.0)
    for ask in (
        lambda: hop.capacity_at(1.5),
        lambda: hop.mean_mbps(0.0, 2.0),
        lambda: hop.tx_end_s(1.0, 1000),
    ):
        with pytest.raises(FutureHidden) as err:
            ask()
        msg = str(err.value)
        assert "\n" not in msg and len(msg) <= 200
        assert "a->b" in msg and "oracle: true" in msg


def test_the_oracle_shows_the_future(step_file):
    hop = traced_hop(step_file, offset_s=9.0, oracle=True)
    assert hop.capacity_mbps == 10.0  # trace time 9
    assert hop.capacity_at(2.0) == 1.0  # trace time 11
    # [0, 4] is trace time [9, 13]: 1 s at 10 and 3 s at 1 → 13 / 4 = 3.25
    assert hop.mean_mbps(0.0, 4.0) == pytest.approx(3.25, abs=1e-9)
    # 2.5e6 bytes = 20 Mbit from 0: 10 Mbit in the first second at 10 Mbit/s, the other
    # 10 Mbit at 1 Mbit/s take 10 s more → ends at 11 s
    assert hop.tx_end_s(0.0, 2.5e6) == pytest.approx(11.0, abs=1e-9)


def _ctx(hop: Hop) -> PolicyContext:
    # 100 × 80 pixels at 0.5 bpp on level 3: 100·80·0.5 / 8 = 500 bytes
    env = PolicyEnvironment(image_size=(100, 80), level_bpp=lambda: {1: 0.25, 2: 0.4, 3: 0.5})
    route = Route(nodes=(hop.src, hop.dst), hops=(hop,))
    return PolicyContext(3, 1, 1, route=route, environment=env)


def test_transmit_s_prices_with_the_capacity_now(step_file):
    # constant link as before: 500 bytes / (1 − 0.2) = 625 wire bytes = 5000 bits at 25 Mbit/s
    # = 0.2 ms, plus 3 ms latency
    const = Hop("a", "b", 25.0, 3.0, loss=0.2)
    assert _ctx(const).transmit_s(3, const) == pytest.approx(0.0032, abs=1e-12)
    # traced, trace time 12 → 1 Mbit/s now (its nominal 2.0 is not used): 4000 bits → 4 ms,
    # plus 4 ms latency
    slow = traced_hop(step_file, offset_s=12.0)
    assert _ctx(slow).transmit_s(3, slow) == pytest.approx(0.008, abs=1e-12)
    fast = traced_hop(step_file, offset_s=0.0)  # 10 Mbit/s now: 0.4 ms + 4 ms
    assert _ctx(fast).transmit_s(3, fast) == pytest.approx(0.0044, abs=1e-12)
    with pytest.raises(FutureHidden):  # the exact crossing needs the future
        _ctx(fast).transmit_s(3, fast, start_s=0.0)


def test_transmit_s_is_infinite_on_a_link_that_sends_nothing_now(tmp_path):
    p = tmp_path / "gap.trace"
    p.write_text("0\t0\n5\t0\n10\t3\n")  # 0 on [0, 5], 3 on (5, 10]
    hop = Hop("a", "b", 1.5, 1.0, _capacity=read_trace(str(p), "pensieve").capacity(0.0))
    assert hop.capacity_mbps == 0.0
    assert _ctx(hop).transmit_s(3, hop) == math.inf


# -- the shipped policy in a scenario -------------------------------------------------------
def topology(tmp_path: Path, trace: Path, offset_s: float, oracle: bool = False) -> Path:
    """camera -(1 Gbit/s, 500 ms)- r1 -(traced)- r2 -(1 Gbit/s)- cloud, level 6 → 2, one
    quantization per hop."""
    data = {
        "name": "tp",
        "codec": "random:mbt2018-mean",
        "nodes": [{"id": n} for n in ("camera", "r1", "r2", "cloud")],
        "links": [
            {"src": "camera", "dst": "r1", "bandwidth_mbps": 1000, "latency_ms": 500},
            {
                "src": "r1",
                "dst": "r2",
                "latency_ms": 1,
                "trace": {"file": str(trace), "format": "pensieve", "offset_s": offset_s},
            },
            {"src": "r2", "dst": "cloud", "bandwidth_mbps": 1000, "latency_ms": 1},
        ],
        "flows": [
            {
                "name": "f",
                "source": "camera",
                "source_level": 6,
                "destinations": [{"node": "cloud", "level": 2}],
                "methods": ["hcf"],
                "policy": POLICY,
                "max_images": 1,
            }
        ],
        "oracle": oracle,
    }
    p = tmp_path / f"tp-{offset_s:g}-{oracle}.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def levels(path: Path) -> tuple[int, ...]:
    return build_scenario(load_config(path)).plan("f", "hcf").destinations[0].levels


@pytest.mark.parametrize(
    ("offset_s", "oracle", "expected"),
    [
        # trace time 0 now, the past 5 s (trace time 35..40, looped) at 1 Mbit/s: the worse of
        # now (10) and the past mean (1) is 1 < 5 → the traced hop carries the lowest level
        # that still leaves one drop for the last hop, 3
        (0.0, False, (6, 3, 2)),
        # trace time 9.8 now, the past 5 s (4.8..9.8) all at 10 Mbit/s → not slow: the traced
        # hop carries the highest level it may, 5
        (9.8, False, (6, 5, 2)),
        # trace time 12 now: 1 Mbit/s → slow
        (12.0, False, (6, 3, 2)),
        # the same offset with the oracle: the message reaches r1 after the first hop's
        # 500 ms latency (its transmission at 1 Gbit/s adds well under 1 ms), at trace time
        # ≈ 10.3, where the capacity is 1 Mbit/s → slow
        (9.8, True, (6, 3, 2)),
        # the oracle at offset 3: arrival at trace time ≈ 3.5, 10 Mbit/s → not slow
        (3.0, True, (6, 5, 2)),
    ],
)
def test_trace_aware_follows_the_offset(tmp_path, step_file, offset_s, oracle, expected):
    assert levels(topology(tmp_path, step_file, offset_s, oracle)) == expected


def test_a_builtin_reading_the_future_is_one_line_naming_the_flow(tmp_path, step_file):
    pol = tmp_path / "peek.py"
    pol.write_text(
        "from hcf_ray.policy import EdgePolicy\n"
        "class Peek(EdgePolicy):\n"
        "    name = 'peek'\n"
        "    def decide(self, ctx):\n"
        "        ctx.route[1].capacity_at(1.0)\n"
        "        return super().decide(ctx)\n"
    )
    path = topology(tmp_path, step_file, 0.0)
    data = yaml.safe_load(path.read_text())
    data["flows"][0]["policy"] = f"{pol}:Peek"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        build_scenario(load_config(path))
    msg = str(err.value)
    assert "\n" not in msg and "oracle: true" in msg and "r1->r2" in msg
    data["oracle"] = True  # allowed with the oracle
    path.write_text(yaml.safe_dump(data))
    assert build_scenario(load_config(path)).plan("f", "hcf").destinations[0].levels


def test_trace_aware_passes_the_policy_checks():
    assert check_policy(POLICY) == []
