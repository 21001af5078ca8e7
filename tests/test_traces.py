"""Trace readers and link capacities against values worked out by hand.

Every end time below is computed in the test from the trace's numbers (the arithmetic is in
the comments) and checked to 1e-9 s.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from hcf_ray.errors import InputError
from hcf_ray.sim.net.traces import (
    ConstantCapacity,
    SharedCapacity,
    TraceError,
    read_trace,
)

DATA = Path(__file__).parent / "data" / "traces"
SHARED_5G = Path("/work/shared/data/traces/5gophers/All-Carriers/01-Throughput/data.csv")

STEP = "0.0\t8\n1.0\t8\n2.0\t2\n3.0\t4\n"  # (0,1]: 8, (1,2]: 2, (2,3]: 4 Mbit/s; period 3 s


def approx(x):
    return pytest.approx(x, abs=1e-9)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# -- pensieve -----------------------------------------------------------------------------------
def test_pensieve_message_across_a_capacity_step(tmp_path):
    cap = read_trace(write(tmp_path, "step", STEP), "pensieve").capacity()
    # 1e6 B = 8 Mbit from 0.5: (0.5,1] at 8 -> 4 Mbit; (1,2] at 2 -> 2 Mbit; 2 Mbit left at
    # 4 Mbit/s -> 0.5 s: ends at 2.5
    assert cap.tx_end(0.5, 1_000_000) == approx(2.5)
    # inside one step: 1e5 B = 0.8 Mbit at 8 Mbit/s from 0.2 -> 0.1 s
    assert cap.tx_end(0.2, 100_000) == approx(0.3)
    # mean over [0.5, 2.5]: (4 + 2 + 2) Mbit / 2 s
    assert cap.mean_mbps(0.5, 2.5) == approx(4.0)
    assert cap.nominal_mbps == approx(14 / 3)  # (8 + 2 + 4) Mbit per 3 s period
    # the sample at t_i holds on (t_{i-1}, t_i]; the first sample at 0
    assert cap.at_mbps(0.0) == 8 and cap.at_mbps(1.0) == 8 and cap.at_mbps(1.5) == 2
    assert cap.at_mbps(2.0) == 2 and cap.at_mbps(2.0001) == 4
    assert cap.at_mbps(4.5) == 2  # looped: 4.5 s is 1.5 s into the second period


def test_pensieve_loop_whole_periods_offset_and_hold(tmp_path):
    trace = read_trace(write(tmp_path, "step", STEP), "pensieve")
    cap = trace.capacity()
    # 3e6 B = 24 Mbit from 0.5: 4 + 2 + 4 = 10 Mbit by 3.0; 14 Mbit left = one whole period
    # (8 + 2 + 4), which is complete at 6.0 (its last step carries bits until its end)
    assert cap.tx_end(0.5, 3_000_000) == approx(6.0)
    # 10 periods and a bit: 14*10 + 4 Mbit from 0 -> 30 s + 0.5 s
    assert cap.tx_end(0.0, (140 + 4) * 1e6 / 8) == approx(30.5)
    # offset 1.5: time 0 is trace time 1.5. 5e5 B = 4 Mbit: (1.5,2] at 2 -> 1 Mbit; 3 Mbit at
    # 4 Mbit/s -> 0.75 s, trace time 2.75 = simulation time 1.25
    assert trace.capacity(offset_s=1.5).tx_end(0.0, 500_000) == approx(1.25)
    # no loop: the last value (4) holds after 3.0: 24 Mbit from 0.5: 10 by 3.0, 14/4 = 3.5 s
    assert trace.capacity(loop=False).tx_end(0.5, 3_000_000) == approx(6.5)
    src = trace.capacity(offset_s=1.5, loop=False).source
    assert src == {
        "file": str(tmp_path / "step"),
        "sha256": hashlib.sha256(STEP.encode()).hexdigest(),
        "format": "pensieve",
        "offset_s": 1.5,
        "loop": False,
    }


def test_zero_capacity_waits_and_never_is_inf(tmp_path):
    cap = read_trace(write(tmp_path, "gap", "0 5\n1 0\n2 5\n"), "pensieve").capacity()
    # (0,1]: 0, (1,2]: 5 Mbit/s. 125000 B = 1 Mbit from 0.2: nothing until 1, then 0.2 s
    assert cap.tx_end(0.2, 125_000) == approx(1.2)
    dead = read_trace(write(tmp_path, "dead", "0 5\n1 5\n2 0\n"), "pensieve")
    # no loop and the last value is 0: 5 Mbit by 1.0 from 0, then nothing ever again
    assert dead.capacity(loop=False).tx_end(0.0, 625_000) == approx(1.0)  # exactly 5 Mbit
    assert dead.capacity(loop=False).tx_end(0.0, 625_001) == math.inf
    assert dead.capacity(loop=False).tx_end(2.5, 1) == math.inf
    assert dead.capacity(loop=False).tx_end(1.5, 1) == math.inf
    # looped (period 2 s), the next period carries it: 8 bits at 5 Mbit/s after 2.0
    assert dead.capacity().tx_end(1.5, 1) == approx(2.0 + 8 / 5e6)
    zero = read_trace(write(tmp_path, "zero", "0 0\n1 0\n"), "pensieve").capacity()
    assert zero.tx_end(0.0, 1) == math.inf
    assert zero.tx_end(0.0, 0) == 0.0  # nothing to send ends at once


def test_pensieve_whitespace_and_blank_lines(tmp_path):
    text = "0.0 8\n  1.0\t\t8   \n\n2.0\t2\n3.0  4\n\n\n"
    cap = read_trace(write(tmp_path, "ws", text), "pensieve").capacity()
    assert cap.tx_end(0.5, 1_000_000) == approx(2.5)  # as in the capacity step test


def test_real_pensieve_file():
    path = DATA / "pensieve" / "norway_bus_1"
    trace = read_trace(path, "pensieve")
    assert trace.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    cap = trace.capacity()
    # the file's first lines: 0.0 4.03768755221 / 0.549999952316 4.79283060109 /
    # 0.879999876022 4.49231799163. 3 Mbit from 0: (0, 0.549999952316] at 4.79283060109,
    # the rest at 4.49231799163
    first = 0.549999952316 * 4.79283060109
    assert cap.tx_end(0.0, 375_000) == approx(0.549999952316 + (3 - first) / 4.49231799163)
    # mean over the file, redone here: sum v_i (t_i - t_{i-1}) / t_last
    rows = [tuple(map(float, line.split())) for line in path.read_text().split("\n") if line]
    area = sum(v * (t - rows[i][0]) for i, (t, v) in enumerate(rows[1:]))
    assert cap.nominal_mbps == pytest.approx(area / rows[-1][0], rel=1e-12)
    assert trace.duration_s == rows[-1][0]


# -- mahimahi -----------------------------------------------------------------------------------
MM = "2\n2\n2\n5\n8\n"  # period 8 ms: 3 opportunities at 2 ms, one at 5, one at 8


def test_mahimahi_repeated_milliseconds_and_wrap_around(tmp_path):
    cap = read_trace(write(tmp_path, "mm", MM), "mahimahi").capacity()
    # 7420 B needs ceil(7420 / 1504) = 5 opportunities (4·1504 = 6016 < 7420 <= 7520).
    # From 4 ms: 5, 8, then the next period's 8+2 = 10, 10, 10 -> the 5th at 10 ms
    end, used = cap.transmit(0.004, 7420)
    assert end == approx(0.010)
    # the next message on the FIFO link (1 packet, starting at 10 ms) gets the opportunity
    # after the last one used: the third at 10 ms was the 5th used -> next is 8+5 = 13 ms
    assert cap.transmit(0.010, 1, used)[0] == approx(0.013)
    # a fresh link starting at 10 ms may use the opportunity at exactly its start instant
    assert cap.tx_end(0.010, 1) == approx(0.010)
    assert cap.tx_end(0.002, 3 * 1504) == approx(0.002)  # 3 opportunities at 2 ms
    assert cap.tx_end(0.002, 3 * 1504 + 1) == approx(0.005)  # a 4th packet: 5 ms
    # 5 opportunities per 8 ms = 5·1504·8 bit / 0.008 s
    assert cap.nominal_mbps == approx(5 * 1504 * 8 / 0.008 / 1e6)
    # [0, 8 ms) holds 5 opportunities (2, 2, 2, 5; 8 is the end of the window)
    assert cap.mean_mbps(0.0, 0.008) == approx(4 * 1504 * 8 / 0.008 / 1e6)
    # no loop: the 5 opportunities of the file and then none
    once = read_trace(tmp_path / "mm", "mahimahi").capacity(loop=False)
    assert once.tx_end(0.0, 5 * 1504) == approx(0.008)
    assert once.tx_end(0.0, 5 * 1504 + 1) == math.inf
    # offset 3 ms: simulation time 0 is trace time 3 ms; 2 packets -> 5 and 8 ms -> 5 ms
    assert read_trace(tmp_path / "mm", "mahimahi").capacity(offset_s=0.003).tx_end(
        0.0, 2 * 1504
    ) == approx(0.005)


def test_mahimahi_background_share(tmp_path):
    base = read_trace(write(tmp_path, "mm", MM), "mahimahi").capacity()
    half = SharedCapacity(base, 0.5)
    # each opportunity carries 1504·0.5 = 752 B: 1504 B needs 2 -> the two first at 2 ms
    assert half.tx_end(0.0, 1504) == approx(0.002)
    # 4 packets' worth needs 8 opportunities: 2, 2, 2, 5, 8, 10, 10, 10 -> 10 ms
    assert half.tx_end(0.0, 4 * 1504) == approx(0.010)
    assert SharedCapacity(base, 1.0).tx_end(0.0, 1) == math.inf


# -- csv ----------------------------------------------------------------------------------------
def test_csv_column_where_step(tmp_path):
    text = "carrier,run,mbps\nA,1,4\nB,1,9\nA,2,7\nA,1,2\n"
    p = write(tmp_path, "t.csv", text)
    trace = read_trace(p, "csv", column="mbps", step_s=0.5, where={"carrier": "A", "run": 1})
    # rows A/1: 4 then 2 Mbit/s, 0.5 s each. 3 Mbit from 0: 2 Mbit by 0.5, 1 Mbit at 2 -> 1.0
    assert trace.capacity().tx_end(0.0, 375_000) == approx(1.0)
    assert trace.duration_s == 1.0
    b = read_trace(p, "csv", column="mbps", step_s=2, where={"carrier": "B"}).capacity()
    assert b.tx_end(1.0, 9e6 / 8) == approx(2.0) and b.nominal_mbps == 9


def test_real_5gophers_sample():
    path = DATA / "5gophers" / "throughput-sample.csv"
    trace = read_trace(
        path, "csv", column="throughput_mbps", step_s=1.0, where={"carrier": "SPRINT", "run_num": 2}
    )
    # run 2's first rows: 36.269298616344535, 94.21373396595787 Mbit/s, one second each.
    # 100 Mbit from 0: 36.269298616344535 in the first second, the rest at 94.21373396595787
    end = 1.0 + (100 - 36.269298616344535) / 94.21373396595787
    assert trace.capacity().tx_end(0.0, 100e6 / 8) == approx(end)
    assert trace.duration_s == 60.0  # 60 rows of run 2


@pytest.mark.skipif(not SHARED_5G.is_file(), reason="the full 5Gophers set is not here")
def test_full_5gophers_file_as_published():
    trace = read_trace(
        SHARED_5G, "csv", column="throughput_mbps", step_s=1, where={"carrier": "VERIZON"}
    )
    assert trace.duration_s > 600 and trace.capacity().nominal_mbps > 0


# -- constant and shared ------------------------------------------------------------------------
def test_constant_background_halves_the_share(tmp_path):
    # 1.25e6 B = 10 Mbit at 10 Mbit/s: 1 s; at 50 % background the share is 5 Mbit/s: 2 s
    assert ConstantCapacity(10).tx_end(1.0, 1_250_000) == approx(2.0)
    assert SharedCapacity(ConstantCapacity(10), 0.5).tx_end(1.0, 1_250_000) == approx(3.0)
    assert SharedCapacity(ConstantCapacity(10), 1.2).tx_end(1.0, 1) == math.inf
    assert SharedCapacity(ConstantCapacity(10), 1.0).at_mbps(0.0) == 0.0
    step = read_trace(write(tmp_path, "step", STEP), "pensieve").capacity()
    # the step trace at 50 %: 4, 1, 2 Mbit/s. 8 Mbit from 0.5: 2 + 1 + 2 = 5 by 3.0, then the
    # next period: (3,4] at 4 -> 3 Mbit in 0.75 s -> 3.75
    assert SharedCapacity(step, 0.5).tx_end(0.5, 1_000_000) == approx(3.75)


def test_background_that_is_a_trace(tmp_path):
    base = ConstantCapacity(10)
    load = read_trace(write(tmp_path, "u", "0 0.5\n1 0.5\n2 1.0\n3 0.0\n"), "pensieve").capacity()
    shared = SharedCapacity(base, load)
    # load (0,1]: .5, (1,2]: 1 (nothing left), (2,3]: 0. 10 Mbit from 0.5: 0.5 s at 5 -> 2.5
    # Mbit; none in (1,2]; 7.5 Mbit at 10 -> 0.75 s -> 2.75
    assert shared.tx_end(0.5, 1_250_000) == approx(2.75)
    assert shared.at_mbps(1.5) == 0.0 and shared.at_mbps(0.5) == 5.0
    assert shared.mean_mbps(0.0, 3.0) == approx((5 + 0 + 10) / 3)
    full = read_trace(write(tmp_path, "f", "0 1\n1 1.5\n"), "pensieve").capacity()
    assert SharedCapacity(base, full).tx_end(0.0, 1) == math.inf


# -- errors -------------------------------------------------------------------------------------
BAD = [
    ("pensieve", "0 1\n2 1\n1 1\n", 3, "before"),  # unsorted times
    ("pensieve", "0 1\n1 -2\n", 2, "negative"),
    ("pensieve", "0 1\n1 nan\n", 2, "NaN"),
    ("pensieve", "0 1\n1 fast\n", 2, "not a number"),
    ("pensieve", "0 1\n1\n", 2, "expected"),
    ("pensieve", "\n\n", 1, "empty"),
    ("mahimahi", "1\n2\nthree\n", 3, "expected"),
    ("mahimahi", "1\n2\n2.5\n", 3, "expected"),
    ("mahimahi", "5\n3\n", 2, "before"),
    ("mahimahi", "", 1, "empty"),
    ("mahimahi", "0\n0\n", 2, "0 ms"),
]


@pytest.mark.parametrize("fmt, text, line, words", BAD)
def test_bad_traces_name_file_and_line(tmp_path, fmt, text, line, words):
    p = write(tmp_path, "bad", text)
    with pytest.raises(TraceError) as e:
        read_trace(p, fmt)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}: ") and words in msg
    assert "\n" not in msg and len(msg) <= 200
    assert isinstance(e.value, InputError)


def test_bad_csv_traces(tmp_path):
    p = write(tmp_path, "t.csv", "carrier,mbps\nA,4\nB,\nA,\n")
    with pytest.raises(TraceError, match=rf"^{p}:4: empty cell in column 'mbps'"):
        read_trace(p, "csv", column="mbps", step_s=1, where={"carrier": "A"})
    with pytest.raises(TraceError, match=rf"^{p}:1: no column 'speed'"):
        read_trace(p, "csv", column="speed", step_s=1)
    with pytest.raises(TraceError, match=rf"^{p}:1: no data row matches where carrier=C"):
        read_trace(p, "csv", column="mbps", step_s=1, where={"carrier": "C"})
    with pytest.raises(TraceError, match="step_s"):
        read_trace(p, "csv", column="mbps")
    neg = write(tmp_path, "n.csv", "mbps\n1\n-1\n")
    with pytest.raises(TraceError, match=rf"^{neg}:3: negative capacity"):
        read_trace(neg, "csv", column="mbps", step_s=1)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(TraceError, match=rf"^{tmp_path}/nope: no such trace file$"):
        read_trace(tmp_path / "nope", "pensieve")
    p = write(tmp_path, "t", STEP)
    with pytest.raises(TraceError, match="unknown trace format 'ns3'"):
        read_trace(p, "ns3")
    with pytest.raises(TraceError, match="offset_s"):
        read_trace(p, "pensieve").capacity(offset_s=-1)


def test_cache_follows_the_content(tmp_path):
    p = write(tmp_path, "t", STEP)
    a = read_trace(p, "pensieve")
    assert read_trace(p, "pensieve") is a  # same file, same arguments: parsed once
    p.write_text("0 1\n1 1\n")  # changed: read again
    b = read_trace(p, "pensieve")
    assert b.sha256 != a.sha256 and b.capacity().nominal_mbps == 1.0


def test_shares_of_shares_multiply(tmp_path):
    # 10 × (1 − 0.5) × (1 − 0.5) = 2.5 Mbit/s: 10 Mbit takes 4 s
    twice = SharedCapacity(SharedCapacity(ConstantCapacity(10), 0.5), 0.5)
    assert twice.tx_end(0.0, 1_250_000) == approx(4.0) and twice.nominal_mbps == 2.5
    assert twice.background == {"utilisation": [0.5, 0.5]}
    step = read_trace(write(tmp_path, "step", STEP), "pensieve").capacity()
    load = read_trace(write(tmp_path, "u", "0 0\n1 0\n2 0.5\n3 0\n"), "pensieve").capacity()
    shared = SharedCapacity(SharedCapacity(step, 0.5), load)
    # step × 0.5: 4, 1, 2 Mbit/s; load (1,2]: 0.5 -> 4, 0.5, 2. 6 Mbit from 0: 4 by 1.0,
    # 0.5 by 2.0, 1.5 at 2 -> 2.75
    assert shared.tx_end(0.0, 750_000) == approx(2.75)
    assert shared.source == step.source


def test_mahimahi_with_a_traced_background(tmp_path):
    base = read_trace(write(tmp_path, "mm", MM), "mahimahi").capacity()
    # load 0.5 on (0, 4 ms], 0 on (4, 8 ms], period 8 ms
    load = read_trace(write(tmp_path, "u", "0 0.5\n0.004 0.5\n0.008 0\n"), "pensieve")
    shared = SharedCapacity(base, load.capacity())
    # opportunities 2, 2, 2 ms carry 752 B each (2256), 5 ms 1504 (3760), 8 ms 1504 (5264)
    assert shared.tx_end(0.0, 3000) == approx(0.005)
    assert shared.tx_end(0.0, 5000) == approx(0.008)
    assert shared.tx_end(0.0, 2256) == approx(0.002)
    # [0, 8 ms): 2256 + 1504 bytes
    assert shared.mean_mbps(0.0, 0.008) == approx((2256 + 1504) * 8 / 0.008 / 1e6)
