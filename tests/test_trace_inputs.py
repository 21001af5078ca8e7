"""Link traces, background and demands as config inputs: the fields and their checks, each
direction's capacity in the topology (hand-computed means and shares), paths resolved against
the config's folder, trace and demand files hashed as run inputs (a changed trace refuses
``--resume``), what ``validate`` and ``summary.json`` say. No Ray, no models."""

from __future__ import annotations

import copy
import hashlib
import math
from pathlib import Path

import pytest
import yaml
from configs import LINE

from hcf_ray.cli import main
from hcf_ray.sim.config import ConfigError, load_config
from hcf_ray.sim.scenario import build_scenario, load_scenario

# by hand: (0, 1] at 4 Mbit/s, (1, 2] at 6 → mean 5; the first sample (2) holds only at t = 0
FORWARD = "0.0\t2.0\n1.0\t4.0\n2.0\t6.0\n"
# (0, 4] at 3 Mbit/s → mean 3
REVERSE = "0\t1\n4  3\n\n"  # spaces instead of a tab and a blank trailing line, as published


def write(folder: Path, name: str, data: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def traced_line(folder: Path, **link) -> Path:
    """LINE with its first link a → b traced (trace files in folder/traces/)."""
    (folder / "traces").mkdir(exist_ok=True)
    (folder / "traces" / "fwd.txt").write_text(FORWARD)
    (folder / "traces" / "rev.txt").write_text(REVERSE)
    cfg = copy.deepcopy(LINE)
    first = {k: v for k, v in cfg["links"][0].items() if k != "bandwidth_mbps"}
    first["trace"] = {"file": "traces/fwd.txt", "format": "pensieve"}
    first.update(link)
    cfg["links"][0] = first
    return write(folder, "traced.yaml", cfg)


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    return str(err.value)


# -- config fields ------------------------------------------------------------------------------
def test_a_traced_link_needs_no_bandwidth_and_reads_its_paths_from_the_config_folder(
    tmp_path, monkeypatch
):
    sub = tmp_path / "configs"
    sub.mkdir()
    path = traced_line(sub)
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_config(Path("configs") / "traced.yaml")
    link = cfg.links[0]
    assert link.bandwidth_mbps is None
    assert link.trace.file == str((sub / "traces" / "fwd.txt").resolve())
    assert cfg.as_written(link.trace.file) == "traces/fwd.txt"
    assert (link.trace.offset_s, link.trace.loop, cfg.oracle, cfg.demands) == (
        0.0,
        True,
        False,
        None,
    )
    assert load_scenario(path).topology.link("a", "b").bandwidth_mbps == pytest.approx(5.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"trace": None}, "bandwidth_mbps: field required (or give a trace)"),
        ({"bandwidth_mbps": 10}, "give bandwidth_mbps or trace, not both"),
        ({"directed": True, "reverse_trace": {"file": "x", "format": "pensieve"}}, "directed link"),
        ({"trace": {"file": "traces/fwd.txt", "format": "csv"}}, "a csv trace needs column"),
        ({"trace": {"file": "f", "format": "pensieve", "step_s": 1}}, "csv traces only"),
        ({"trace": {"file": "f", "format": "tcpdump"}}, "links[0].trace.format"),
        ({"trace": {"file": "f", "format": "pensieve", "offset_s": -1}}, "offset_s"),
        ({"trace": {"file": "f", "format": "pensieve", "loop": 1}}, "loop"),
        ({"background": {"utilisation": 1.5}}, "background.utilisation: Input should be less"),
        ({"background": {"utilisation": True}}, "background.utilisation: Input should be a valid"),
        ({"background": {"utilisation": {"file": "f"}}}, "utilisation.format: field required"),
    ],
)
def test_bad_link_fields_are_one_line_errors(tmp_path, change, message):
    path = traced_line(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["links"][0].update(change)
    data["links"][0] = {k: v for k, v in data["links"][0].items() if v is not None}
    err = refused(write(tmp_path, "bad.yaml", data))
    assert "\n" not in err and message in err and "links[0]" in err, err


def test_a_missing_trace_is_named_as_written(tmp_path):
    path = traced_line(tmp_path, trace={"file": "traces/nope.txt", "format": "pensieve"})
    err = refused(path)
    assert err.startswith(f"{path}: links[0].trace: traces/nope.txt: "), err


# -- capacity per direction ---------------------------------------------------------------------
def test_each_direction_gets_its_trace_and_the_background_share(tmp_path):
    path = traced_line(
        tmp_path,
        reverse_trace={"file": "traces/rev.txt", "format": "pensieve", "offset_s": 0.5},
        background={"utilisation": 0.5},
    )
    topo = load_scenario(path).topology
    ab, ba, bc = topo.link("a", "b"), topo.link("b", "a"), topo.link("b", "c")
    # by hand: the means 5 and 3 Mbit/s, halved by 50 % background
    assert ab.bandwidth_mbps == pytest.approx(2.5) and ba.bandwidth_mbps == pytest.approx(1.5)
    assert topo.graph.edges["a", "b"]["inv_bandwidth"] == pytest.approx(1 / 2.5)
    assert ab.capacity.at_mbps(0.5) == pytest.approx(2.0)  # 4 × (1 − 0.5)
    assert ab.capacity.at_mbps(1.5) == pytest.approx(3.0)  # 6 × (1 − 0.5)
    assert ba.capacity.at_mbps(0.2) == pytest.approx(1.5)  # 3 × 0.5 at trace time 0.7
    assert bc.capacity is None and bc.bandwidth_mbps == 10  # untouched
    assert set(topo.dynamic_links) == {("a", "b"), ("b", "a")}
    assert topo.saturated == {}


def test_without_reverse_trace_both_directions_follow_the_trace(tmp_path):
    topo = load_scenario(traced_line(tmp_path)).topology
    for u, v in (("a", "b"), ("b", "a")):
        cap = topo.link(u, v).capacity
        assert [cap.at_mbps(t) for t in (0.5, 1.5, 2.5)] == pytest.approx([4.0, 6.0, 4.0])  # loop


def test_a_link_at_capacity_is_reported(tmp_path, capsys):
    path = traced_line(tmp_path, background={"utilisation": 1.0})
    sc = load_scenario(path)
    assert set(sc.topology.saturated) == {("a", "b"), ("b", "a")}
    assert sc.topology.link("a", "b").bandwidth_mbps == 0.0
    assert any("link a->b is loaded at or past its capacity" in w for w in sc.warnings)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "AT CAPACITY" in out and "a->b is loaded at or past its capacity" in err


def test_validate_lists_the_traced_links(tmp_path, capsys):
    path = traced_line(tmp_path, background={"utilisation": 0.25})
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("link a→b:"))
    assert "traces/fwd.txt (pensieve, offset 0 s, looped; mean 5 Mbit/s)" in line
    assert "background utilisation 0.25" in line and "3.75 Mbit/s" in line  # 5 × 0.75
    # hcf-sim graph shows a traced link at its nominal speed
    assert main(["graph", str(path)]) == 0
    assert any(x.split()[:3] == ["a", "b", "3.75"] for x in capsys.readouterr().out.splitlines())


# -- demands ------------------------------------------------------------------------------------
SQUARE = {
    "name": "square",
    "codec": "random:mbt2018-mean",
    "nodes": [{"id": n} for n in "abcd"],
    "links": [
        {"src": "a", "dst": "b", "bandwidth_mbps": 10, "latency_ms": 1},
        {"src": "b", "dst": "c", "bandwidth_mbps": 10, "latency_ms": 2},
        {"src": "c", "dst": "d", "bandwidth_mbps": 10, "latency_ms": 3},
        {"src": "d", "dst": "a", "bandwidth_mbps": 10, "latency_ms": 10},
    ],
    "flows": [{"source": "a", "source_level": 6, "destinations": [{"node": "d", "level": 2}]}],
    "demands": "demands.txt",
}
DEMANDS = """?SNDlib native format; type: network; version: 1.0
NODES (
  a ( 0 0 )
  b ( 1 0 )
  c ( 1 1 )
  d ( 0 1 )
)
LINKS (
)
DEMANDS (
  D1 ( a c ) 1 3.0 UNLIMITED
  D2 ( b d ) 2 1.0 UNLIMITED
)
"""


def test_demands_are_routed_on_shortest_paths_and_take_their_share(tmp_path):
    (tmp_path / "demands.txt").write_text(DEMANDS)
    cfg = copy.deepcopy(SQUARE)
    cfg["links"][1]["background"] = {"utilisation": 0.2}
    topo = load_scenario(write(tmp_path, "square.yaml", cfg)).topology
    # by hand (latency routing): a→c via b (3 ms < 13 ms), b→d via c (5 ms < 11 ms), D2 = 2 × 1.0
    # a→b: 10 − 3 = 7; b→c: 10 × (1 − 0.2) − 3 − 2 = 3; c→d: 10 − 2 = 8; c→b: background only
    expect = {("a", "b"): 7.0, ("b", "c"): 3.0, ("c", "d"): 8.0, ("c", "b"): 8.0}
    for (u, v), mbps in expect.items():
        assert topo.link(u, v).bandwidth_mbps == pytest.approx(mbps), (u, v)
    assert topo.link("b", "a").capacity is None and topo.link("d", "c").capacity is None
    assert topo.link("b", "c").dynamics["demands"]["mbps"] == pytest.approx(5.0)
    # routes are computed before the demands' load: the routing figure stays the link's own
    assert topo.graph.edges["a", "b"]["inv_bandwidth"] == pytest.approx(1 / 10)


def test_demands_past_capacity_and_bad_demand_files(tmp_path):
    (tmp_path / "demands.txt").write_text(DEMANDS.replace("1 3.0", "1 12.0"))
    sc = load_scenario(write(tmp_path, "square.yaml", SQUARE))
    assert ("a", "b") in sc.topology.saturated and "demands of 12" in sc.topology.saturated[
        "a", "b"
    ]
    (tmp_path / "demands.txt").write_text(DEMANDS.replace("( b d )", "( b q )"))
    assert "demands: demands.txt:" in refused(tmp_path / "square.yaml")
    (tmp_path / "demands.txt").unlink()
    assert "demands: " in refused(tmp_path / "square.yaml")


# -- run inputs, resume, summary ----------------------------------------------------------------
def test_trace_and_demand_files_are_run_inputs_and_a_changed_trace_refuses_resume(tmp_path):
    from hcf_ray.sim.driver import run_identity, run_inputs
    from hcf_ray.sim.outdir import OutputDir, OutputError

    (tmp_path / "demands.txt").write_text(DEMANDS.replace("( b d )", "( b c )"))
    path = traced_line(tmp_path, reverse_trace={"file": "traces/rev.txt", "format": "pensieve"})
    data = yaml.safe_load(path.read_text())
    data["demands"] = "demands.txt"
    data["links"][0]["background"] = {
        "utilisation": {"file": "traces/rev.txt", "format": "pensieve"}
    }
    path = write(tmp_path, "traced.yaml", data)
    sc = load_scenario(path, max_images=1)
    inputs = run_inputs(sc)
    for name in ("traces/fwd.txt", "traces/rev.txt", "demands.txt"):
        assert inputs[name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest(), name
    out = tmp_path / "out"
    first = OutputDir(out, "results.jsonl", run_identity(sc), inputs=inputs).open()
    first.append([{"flow": "flow0", "image": "x", "method": "hcf"}])
    first.finish()
    (tmp_path / "traces" / "fwd.txt").write_text(FORWARD + "3.0\t1.0\n")
    again = load_scenario(path, max_images=1)
    with pytest.raises(OutputError) as err:
        OutputDir(out, "results.jsonl", run_identity(again), resume=True, inputs=run_inputs(again))
    assert "traces/fwd.txt (sha256 differs)" in str(err.value)


def test_summary_names_each_trace_with_its_sha256_and_offset(tmp_path):
    from hcf_ray.sim.report import dynamics_section

    path = traced_line(
        tmp_path,
        trace={"file": "traces/fwd.txt", "format": "pensieve", "offset_s": 1.0, "loop": False},
        reverse_trace={"file": "traces/rev.txt", "format": "pensieve", "offset_s": 2.5},
    )
    cfg = load_config(path).model_copy(update={"oracle": True})
    sec = dynamics_section(build_scenario(cfg, max_images=1), horizon_s=3.0)
    sha = {
        n: hashlib.sha256((tmp_path / "traces" / n).read_bytes()).hexdigest()
        for n in ("fwd.txt", "rev.txt")
    }
    assert [(t["file"], t["sha256"], t["uses"]) for t in sec["traces"]] == [
        ("traces/fwd.txt", sha["fwd.txt"], [{"link": "a->b", "role": "capacity", "offset_s": 1.0, "loop": False}]),
        ("traces/rev.txt", sha["rev.txt"], [{"link": "b->a", "role": "capacity", "offset_s": 2.5, "loop": True}]),
    ]  # fmt: skip
    assert sec["oracle"] is True and sec["demands"] is None and sec["links_at_capacity"] == {}
    # a→b from simulation time 0 = trace time 1: 4 Mbit/s up to trace time 1 (sim 0), 6 on
    # (1, 2] (sim (0, 1]), then the last value 6 holds (no loop)
    series = sec["link_dynamics"]["a->b"]["capacity_mbps"]
    assert series["to_s"][-1] == pytest.approx(3.0 * 1.02)
    mean = sum((b - a) * r for a, b, r in zip(series["from_s"], series["to_s"], series["mbps"]))
    assert mean / series["to_s"][-1] == pytest.approx(6.0)
    assert all(math.isfinite(x) for x in series["mbps"])


def test_a_traced_link_over_an_imported_graph(tmp_path, capsys):
    """A YAML link with a trace replaces the graph file's link; the graph summary takes its
    nominal speed (the trace's mean × the background's share)."""
    root = Path(__file__).resolve().parents[1] / "topologies"
    data = yaml.safe_load((root / "zoo.yaml").read_text())
    data["graph"]["file"] = str(root / data["graph"]["file"])
    data["codec"] = "random:mbt2018-mean"
    (tmp_path / "fwd.txt").write_text(FORWARD)
    trace = {"file": "fwd.txt", "format": "pensieve"}
    data["links"] = [
        {"src": "Denver", "dst": "Seattle", "trace": trace, "background": {"utilisation": 0.2}}
    ]
    path = write(tmp_path, "zoo.yaml", data)
    topo = load_scenario(path).topology
    assert topo.link("Denver", "Seattle").bandwidth_mbps == pytest.approx(4.0)  # 5 × 0.8
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "link Denver→Seattle: trace fwd.txt" in out and "graph: " in out


def test_mahimahi_and_csv_traces_give_their_nominal_figures(tmp_path):
    (tmp_path / "traces").mkdir()
    # 4 opportunities of 1,504 bytes in a 4 ms period: 4 × 1504 × 8 bit / 4 ms = 12.032 Mbit/s
    (tmp_path / "traces" / "mm.txt").write_text("1\n1\n2\n4\n")
    # the rows of run 2 only: 3 and 5 Mbit/s for 0.5 s each → mean 4
    (tmp_path / "traces" / "t.csv").write_text("run,mbps\n1,100\n2,3\n1,100\n2,5\n")
    path = traced_line(
        tmp_path,
        trace={"file": "traces/mm.txt", "format": "mahimahi"},
        reverse_trace={"file": "traces/t.csv", "format": "csv", "column": "mbps", "step_s": 0.5, "where": {"run": 2}},
    )  # fmt: skip
    topo = load_scenario(path).topology
    assert topo.link("a", "b").bandwidth_mbps == pytest.approx(12.032)
    assert topo.link("b", "a").bandwidth_mbps == pytest.approx(4.0)
    assert topo.link("b", "a").capacity.at_mbps(0.75) == pytest.approx(5.0)
