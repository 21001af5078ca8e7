"""The shipped ``topologies/traced.yaml`` (a real Norway HSDPA uplink trace, a backhaul with
60 % background) on tiny random models, one image: two runs give identical records and
summaries (wall-clock keys aside); each transmission on the traced uplink ends where a hand
integration of the trace file says, the one on the shared backhaul at 8 Mbit/s; ``--plot``
draws the capacity figure."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from simcheck import read_records

from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import build_scenario

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "topologies" / "traces" / "pensieve" / "norway_bus_1"
CODEC = "random:mbt2018-mean"
FAST = RunOptions(warmup=False, check_transport=False, timeout_s=300)
OFFSET_S = 35.0  # links[0].trace.offset_s of the example
UPLINK_LATENCY_S = 0.020


def scenario():
    cfg = load_config(ROOT / "topologies" / "traced.yaml")
    return build_scenario(cfg.model_copy(update={"codec": CODEC}), max_images=1)


def pensieve(path: Path) -> tuple[list[float], list[float]]:
    """The samples of a Pensieve trace, read here without the simulator's reader."""
    times, rates = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            t, r = line.split()[:2]
            times.append(float(t))
            rates.append(float(r))
    return times, rates


def hand_end(start_s: float, nbytes: float, offset_s: float) -> float:
    """When ``nbytes`` sent from simulation time ``start_s`` have left, by walking the
    trace's samples: sample i holds on (t[i-1], t[i]] (the first one up to t[0] = 0), the
    trace repeats with period t[-1], simulation time t is trace time t + offset_s."""
    times, rates = pensieve(TRACE)
    period = times[-1]
    assert times[0] == 0.0
    bits = nbytes * 8.0
    laps = (start_s + offset_s) // period
    tau = (start_s + offset_s) - laps * period  # in [0, period)
    i = next(k for k in range(1, len(times)) if times[k - 1] <= tau < times[k])
    while True:
        rate = rates[i] * 1e6  # on (times[i-1], times[i]]
        room = (times[i] - tau) * rate
        if room >= bits:
            return laps * period + tau + bits / rate - offset_s
        bits -= room
        tau = times[i]
        i += 1
        if i == len(times):
            laps, tau, i = laps + 1, 0.0, 1


def without_wall(doc):
    if isinstance(doc, dict):
        return {k: without_wall(v) for k, v in doc.items() if k != "wall"}
    if isinstance(doc, list):
        return [without_wall(v) for v in doc]
    return doc


@pytest.fixture(scope="module")
def runs(ray_session, tmp_path_factory):
    from hcf_ray.sim.work.backend import PoolBackend

    sc = scenario()
    backend = PoolBackend(sc.codec.spec, None, timeout_s=300)
    out = []
    try:
        for name in ("first", "second"):
            folder = tmp_path_factory.mktemp(name)
            summary = run_simulation(scenario(), folder, backend=backend, options=FAST)
            out.append((folder, summary, read_records(folder)))
    finally:
        backend.close()
    return out


def test_two_runs_give_identical_records(runs):
    (_, s1, r1), (_, s2, r2) = runs
    assert s1["status"] == "ok" and len(r1) == 3  # 1 image × 3 methods × 1 destination
    assert json.dumps(without_wall(r1)) == json.dumps(without_wall(r2))
    assert json.dumps(without_wall(s1)) == json.dumps(without_wall(s2))


def test_transmissions_end_where_the_trace_says(runs):
    _, summary, records = runs[0]
    seen = 0
    for rec in records:
        up, backhaul = rec["hops"][0], rec["hops"][1]
        assert (up["src"], up["dst"], backhaul["src"], backhaul["dst"]) == (
            "camera",
            "bs",
            "bs",
            "core",
        )
        end = hand_end(up["start_s"], up["wire_bytes"], OFFSET_S)
        assert up["end_s"] == pytest.approx(end, abs=1e-9)
        assert up["arrive_s"] == pytest.approx(end + UPLINK_LATENCY_S, abs=1e-9)
        mean = up["wire_bytes"] * 8 / (end - up["start_s"]) / 1e6
        assert up["mean_mbps"] == pytest.approx(mean, rel=1e-9)
        assert up["trace"]["offset_s"] == OFFSET_S and up["trace"]["format"] == "pensieve"
        # 20 Mbit/s with 60 % background: 8 Mbit/s left to the images
        assert backhaul["end_s"] == pytest.approx(
            backhaul["start_s"] + backhaul["wire_bytes"] * 8 / 8e6, abs=1e-9
        )
        seen += 1
    assert seen == 3
    sha = hashlib.sha256(TRACE.read_bytes()).hexdigest()
    assert records[0]["hops"][0]["trace"]["sha256"] == sha
    assert summary["traces"][0]["file"] == "traces/pensieve/norway_bus_1"
    assert summary["traces"][0]["sha256"] == sha
    assert summary["link_dynamics"]["bs->core"]["nominal_mbps"] == pytest.approx(8.0)


def test_a_long_message_across_steps_and_the_loop(runs):
    """The uplink's capacity as the topology built it, for a 2 MB message from 118 s of
    simulation (trace time 153 s, 1.76 s before the 154.76 s trace wraps around), a 50 kB
    one into the slow stretch and a 1-byte one."""
    cap = scenario().topology.link("camera", "bs").capacity
    for start, nbytes in ((118.0, 2_000_000), (0.25, 50_000), (3.0, 1)):
        assert cap.tx_end(start, nbytes) == pytest.approx(
            hand_end(start, nbytes, OFFSET_S), abs=1e-9
        )


def test_the_capacity_figure(runs):
    from hcf_ray.sim.figures import plot_run

    folder = runs[0][0]
    written = plot_run(folder, ["pdf", "png"])
    names = {p.name for p in written}
    assert {"capacity.pdf", "capacity.png"} <= names
    assert (folder / "figures" / "capacity.png").stat().st_size > 10_000
