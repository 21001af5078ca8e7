"""A sweep's links drawn from trace files (``links: {trace: {files: GLOB, …}}``): the draw is
seeded (the same sweep twice gives the same draws and records), each traced link names its
file (as the sweep spells it), the file's sha256 (hashlib here) and an offset inside the
range, and a run's records list the drawn traces of the links on their route.

The trace files are written by the test (Pensieve format), so nothing depends on data
outside the repository."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest
import yaml
from configs import small_photos

from hcf_ray.sim.config import ConfigError
from hcf_ray.sim.sweep import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
TRACES = {
    "fast.trace": "0\t20\n2\t20\n4\t5\n",
    "slow.trace": "0\t1\n1\t3\n3\t2\n",
    "gap.trace": "0\t4\n2\t0\n3\t6\n",
}
SWEEP = {
    "name": "traced-mini",
    "codec": "random:mbt2018-mean",
    "transport": "latent",
    "generators": [{"kind": "path", "params": {"n": 3}}, {"kind": "path", "params": {"n": 4}}],
    "seeds": [0, 1],
    "links": {
        "latency_ms": [1, 5],
        "trace": {"files": "traces/*.trace", "format": "pensieve", "offset_s": [0, 3]},
    },
    "flow": {"destinations": 1, "levels": [2, 3], "max_images": 1, "images": small_photos()},
    "policies": ["edge"],
    "methods": ["hcf"],
    "actors": 1,
}


def write_sweep(tmp_path, data=SWEEP):
    folder = tmp_path / "traces"
    folder.mkdir(exist_ok=True)
    for name, text in TRACES.items():
        (folder / name).write_text(text)
    (folder / "README").write_text("not a trace: the glob leaves it out\n")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def link_draws(sweep) -> list[tuple]:
    return [
        (n["network"], t["src"], t["dst"], t["file"], t["sha256"], t["offset_s"])
        for n in sweep.networks
        for t in n["traces"]
    ]


def test_links_draw_traces_seeded_and_named(tmp_path):
    path = write_sweep(tmp_path)
    first, again = load_sweep(path), load_sweep(path)
    draws = link_draws(first)
    assert draws == link_draws(again)
    # every edge of the paths (2 + 3 per seed, two seeds) is traced
    assert len(draws) == 2 * (2 + 3)
    shas = {f"traces/{n}": hashlib.sha256(t.encode()).hexdigest() for n, t in TRACES.items()}
    for _net, _u, _v, name, sha, offset in draws:
        assert shas[name] == sha
        assert 0.0 <= offset <= 3.0 and round(offset, 3) == offset
    assert len({d[3] for d in draws}) > 1 and len({d[5] for d in draws}) > 1  # it does draw
    # the worlds' links carry the drawn trace, with no constant bandwidth
    world = first.worlds[0]
    topo = world.scenario.topology
    (net,) = [n for n in first.networks if n["network"] == world.network]
    for t in net["traces"]:
        for u, v in ((t["src"], t["dst"]), (t["dst"], t["src"])):
            src = topo.link(u, v).capacity.source
            assert src["sha256"] == t["sha256"] and src["offset_s"] == t["offset_s"]


def test_another_sweep_name_draws_otherwise_and_share_zero_draws_none(tmp_path):
    path = write_sweep(tmp_path)
    base = link_draws(load_sweep(path))
    path.write_text(yaml.safe_dump({**SWEEP, "name": "other"}))
    assert [d[3:] for d in link_draws(load_sweep(path))] != [d[3:] for d in base]
    links = {**SWEEP["links"], "trace": {**SWEEP["links"]["trace"], "share": 0.0}}
    path.write_text(yaml.safe_dump({**SWEEP, "links": links}))
    sweep = load_sweep(path)
    assert link_draws(sweep) == []
    assert all(ln.capacity is None for ln in sweep.worlds[0].scenario.topology.links.values())


@pytest.mark.parametrize(
    ("trace", "words"),
    [
        ({"files": "traces/*.none", "format": "pensieve"}, ["traces/*.none", "matches no file"]),
        ({"files": "traces/*", "format": "pensieve"}, ["traces/README", ":1"]),
        ({"files": "traces/*.trace", "format": "pensieve", "offset_s": [3, 1]}, ["reversed"]),
        ({"files": "traces/*.trace", "format": "pensieve", "column": "x"}, ["csv"]),
    ],
)
def test_bad_trace_draws_are_one_line(tmp_path, trace, words):
    data = {**SWEEP, "links": {"trace": trace}, "seeds": list(range(8))}
    path = write_sweep(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) <= 300
    assert "links.trace" in msg and all(w in msg for w in words), msg


def records(path) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall"} for r in rows]


def test_a_traced_sweep_runs_twice_to_the_same_records(ray_session, tmp_path):
    data = {**SWEEP, "generators": SWEEP["generators"][:1], "seeds": [0]}
    path = write_sweep(tmp_path, data)
    sweep = load_sweep(path)
    run_sweep(sweep, tmp_path / "a", timeout_s=300)
    run_sweep(load_sweep(path), tmp_path / "b", timeout_s=300)
    a, b = (
        records(tmp_path / "a" / "sweep_results.jsonl"),
        records(tmp_path / "b" / "sweep_results.jsonl"),
    )
    assert a == b and a
    (net,) = sweep.networks
    drawn = {(t["src"], t["dst"]): t for t in net["traces"]}
    for rec in a:
        path_nodes = rec["path"]
        assert [t["link"] for t in rec["link_traces"]] == [
            f"{u}->{v}" for u, v in itertools.pairwise(path_nodes)
        ]
        for t in rec["link_traces"]:
            u, v = t["link"].split("->")
            d = drawn.get((u, v)) or drawn[v, u]
            assert (t["file"], t["sha256"], t["offset_s"]) == (
                d["file"],
                d["sha256"],
                d["offset_s"],
            )


def test_links_of_a_graph_file_draw_traces_too(tmp_path):
    lines = ["graph [", "  directed 0"]
    names = ["A", "B", "C", "D"]
    lines += [f'  node [ id {i} label "{n}" ]' for i, n in enumerate(names)]
    lines += [f"  edge [ source {u} target {v} ]" for u, v in ((0, 1), (1, 2), (2, 3))]
    (tmp_path / "line.gml").write_text("\n".join([*lines, "]"]) + "\n")
    data = {k: v for k, v in SWEEP.items() if k != "generators"}
    data["graphs"] = {"files": ["line.gml"]}
    path = write_sweep(tmp_path, data)
    first, again = load_sweep(path), load_sweep(path)
    assert link_draws(first) == link_draws(again)
    (net,) = [n for n in first.networks if n["seed"] == 0]
    assert sorted((t["src"], t["dst"]) for t in net["traces"]) == [
        ("A", "B"),
        ("B", "C"),
        ("C", "D"),
    ]
    world = next(w for w in first.worlds if w.network == net["network"])
    for t in net["traces"]:
        src = world.scenario.topology.link(t["dst"], t["src"]).capacity.source
        assert (src["sha256"], src["offset_s"]) == (t["sha256"], t["offset_s"])


def test_a_sweep_oracle_reaches_the_worlds_policies(tmp_path):
    policy = str(ROOT / "policies" / "trace_aware.py") + ":TraceAware"
    for oracle in (False, True):
        path = write_sweep(tmp_path, {**SWEEP, "policies": [policy], "oracle": oracle})
        sweep = load_sweep(path)
        assert sweep.worlds and all(w.scenario.topology.oracle is oracle for w in sweep.worlds)


def test_traces_change_the_capacities_and_nothing_else(tmp_path):
    """The same sweep without links.trace has the same latencies and destinations."""
    path = write_sweep(tmp_path)
    traced = load_sweep(path)
    path.write_text(yaml.safe_dump({**SWEEP, "links": {"latency_ms": [1, 5]}}))
    static = load_sweep(path)
    for a, b in zip(traced.networks, static.networks, strict=True):
        assert a["destinations"] == b["destinations"] and "traces" not in b
    for a, b in zip(traced.worlds, static.worlds, strict=True):
        la, lb = a.scenario.topology.links, b.scenario.topology.links
        assert {k: v.latency_ms for k, v in la.items()} == {k: v.latency_ms for k, v in lb.items()}
        assert all(v.capacity is not None for v in la.values())
        assert all(v.capacity is None for v in lb.values())
