"""Figures and the results DataFrame, on records made by the simulator's own functions.

No Ray cluster and no codec: the mesh topology and a small sweep are planned, priced and
run through the event network exactly as ``hcf-sim run``/``sweep`` do (``price_unit``,
``simulate_worlds``, ``merge_records``, ``error_records``); only the codec results (bytes,
PSNR) are made up.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import PathPatch

from hcf_ray.results import flatten_record, load_results
from hcf_ray.sim import figures

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
SIZE = (64, 96)  # image size used for pricing
METHODS = ["hcf", "drf", "ssf"]


def fake_infos(plan, image_index: int) -> dict:
    """Codec results of every computing branch: sizes grow with the level, PSNR too."""
    infos = {}
    for job in plan.jobs:
        for b, br in enumerate(job.branches):
            if br.forward:
                continue
            level = br.stage.send or br.stage.receive or 1
            infos[job.index, b] = {
                "bytes": 300 * level + 37 * image_index,
                "wire_bytes": 300 * level + 37 * image_index + 26,
                "psnr": 20.0 + 1.5 * level + 0.7 * image_index,
                "ms_ssim_db": 8.0 + level,
                "recon_sha256": "0" * 64,
                "measured_s": 0.01,
            }
    return infos


def simulate(scenario, fail=lambda u: False) -> list[dict]:
    """Records of a scenario, in the driver's unit order; ``fail(u)`` units are errors."""
    from hcf_ray.sim.driver import merge_records, simulate_worlds
    from hcf_ray.sim.pipeline import error_records, record_base, units_of
    from hcf_ray.sim.world import price_unit

    nodes = scenario.topology.nodes
    speeds = {n: spec.speed for n, spec in nodes.items()}
    cores = {n: spec.cores for n, spec in nodes.items()}
    priced, errors = defaultdict(list), {}
    for u in units_of(scenario):
        if fail(u):
            errors[u.seq] = error_records(scenario, u, "error", "boom: injected by the test")
            continue
        plan = scenario.plan(u.flow, u.method)
        base = record_base(scenario, u)
        priced[u.method].append(
            price_unit(
                u.seq,
                plan,
                fake_infos(plan, u.image_index),
                SIZE,
                scenario.devices,
                speeds,
                cores,
                scenario.timing,
                base,
                u.release_s,
            )
        )
    return merge_records(simulate_worlds(scenario, priced), errors)


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The mesh (2 flows, 3 destinations, 3 methods, 2 images); cam2/ssf's second image
    failed, so cam2→tv has one ssf image and two error-free images elsewhere."""
    from hcf_ray.sim.scenario import load_scenario

    sc = load_scenario(ROOT / "topologies" / "mesh.yaml", max_images=2)
    recs = simulate(sc, lambda u: (u.flow, u.method, u.image_index) == ("cam2", "ssf", 1))
    d = tmp_path_factory.mktemp("run")
    write_jsonl(d / "results.jsonl", recs)
    (d / "summary.json").write_text(
        json.dumps({"resolved_config": sc.config.model_dump(mode="json")})
    )
    return d


@pytest.fixture(scope="module")
def run_records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


SWEEP_YAML = """
name: tiny
codec: random:mbt2018-mean
transport: latent
generators:
  - {kind: path, params: {n: 5}}
  - {kind: cycle, params: {n: 6}}
  - {kind: star, params: {n: 5}}
seeds: [0]
links: {bandwidth_mbps: [5, 100], latency_ms: [1, 20]}
flow: {source_level: 6, destinations: 2, levels: [1, 4], images: samples, max_images: 2,
       interval_ms: 100}
policies: [edge, late]
methods: [hcf, drf, ssf]
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A sweep's records: every world simulated and tagged as ``run_sweep`` does."""
    from hcf_ray.sim.sweep import load_sweep

    d = tmp_path_factory.mktemp("sweep")
    (d / "tiny.yaml").write_text(SWEEP_YAML)
    sweep = load_sweep(d / "tiny.yaml")
    recs = []
    for w in sweep.worlds:
        for rec in simulate(w.scenario):
            rec.update(network=w.network, generator=w.generator, seed=w.seed)
            recs.append(rec)
    write_jsonl(d / "sweep_results.jsonl", recs)
    return d


# -- load_results ---------------------------------------------------------------------------
KNOWN = {  # one record as finish_records writes it; node "r.1" has a dot in its id
    "flow": "f",
    "image": "a.png",
    "method": "hcf",
    "timing": "profile",
    "status": "ok",
    "destination": "d",
    "policy": "edge",
    "source_level": 3,
    "target_level": 1,
    "bpp": 0.25,
    "psnr": 30.0,
    "path": ["s", "r.1", "d"],
    "levels": [3, 1],
    "image_size": [64, 96],
    "nodes": {
        n: {
            "device": "default",
            "ops": ops,
            "compute_s": c,
            "queue_s": 0.0,
            "ready_s": r,
            "start_s": r,
            "end_s": r + c,
            "flops": 1,
            "peak_mem_mb": 1.0,
            "energy_j": 0.0,
        }
        for n, ops, c, r in (
            ("s", ["analysis[3]", "encode[3]"], 0.1, 0.0),
            ("r.1", ["decode[3]", "encode[1]"], 0.05, 0.11),
            ("d", ["decode[1]", "synthesis[1]"], 0.02, 0.17),
        )
    },
    "latency_s": 0.19,
    "release_s": 0.0,
    "done_s": 0.19,
    "latency_breakdown": {
        "compute_s": 0.17,
        "node_queue_s": 0.0,
        "link_queue_s": 0.0,
        "transmission_s": 0.004,
        "propagation_s": 0.016,
    },
    "hops": [
        {
            "src": "s",
            "dst": "r.1",
            "level": 3,
            "bytes": 900,
            "wire_bytes": 926,
            "start_s": 0.1,
            "tx_s": 0.002,
            "queue_s": 0.0,
            "arrive_s": 0.11,
        },
        {
            "src": "r.1",
            "dst": "d",
            "level": 1,
            "bytes": 300,
            "wire_bytes": 326,
            "start_s": 0.16,
            "tx_s": 0.002,
            "queue_s": 0.0,
            "arrive_s": 0.17,
        },
    ],
    "wall": {"measured_s": {"s": 0.3, "r.1": 0.2, "d": 0.1}},
}
ERROR = {"flow": "f", "destination": "d", "image": "b.png", "method": "hcf", "policy": "edge",
         "source_level": 3, "target_level": 1, "status": "error", "cause": "boom"}  # fmt: skip


def test_load_results_flattens_hops_nodes_and_breakdown(tmp_path):
    write_jsonl(tmp_path / "results.jsonl", [KNOWN, ERROR])
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"flow": "torn')  # a run killed mid-line: ignored
    df = load_results(tmp_path)
    assert df.attrs["kind"] == "run" and len(df) == 2
    row = df.iloc[0]
    assert row["path"] == ("s", "r.1", "d") and row["levels"] == (3, 1)
    assert row["image_size"] == (64, 96)
    assert row["n_hops"] == 2
    assert (row["hop0.src"], row["hop0.dst"], row["hop0.level"], row["hop0.bytes"]) == (
        "s",
        "r.1",
        3,
        900,
    )
    assert (row["hop1.src"], row["hop1.dst"], row["hop1.wire_bytes"]) == ("r.1", "d", 326)
    assert row["hop1.arrive_s"] == 0.17 and row["hop0.tx_s"] == 0.002
    assert row["nodes.r.1.compute_s"] == 0.05 and row["nodes.r.1.start_s"] == 0.11
    assert row["nodes.s.ops"] == ("analysis[3]", "encode[3]")
    assert row["latency_breakdown.propagation_s"] == 0.016
    assert row["wall.measured_s.r.1"] == 0.2
    assert "hops" not in df.columns and "nodes" not in df.columns
    # node ids come back from the column names as documented
    ids = {c[len("nodes.") :].rsplit(".", 1)[0] for c in df.columns if c.startswith("nodes.")}
    assert ids == {"s", "r.1", "d"}
    err = df.iloc[1]
    assert err["status"] == "error" and err["cause"] == "boom"
    assert math.isnan(err["bpp"]) and math.isnan(err["hop0.bytes"])
    assert flatten_record(KNOWN) == {k: v for k, v in row.items() if k != "cause"}
    ok = load_results(tmp_path / "results.jsonl", ok_only=True)
    assert list(ok["image"]) == ["a.png"]


def test_load_results_reads_sweeps_and_names_a_folder_without_results(tmp_path, sweep_dir):
    df = load_results(sweep_dir)
    assert df.attrs["kind"] == "sweep"
    assert {"network", "generator", "seed", "policy"} <= set(df.columns)
    with pytest.raises(ValueError, match=str(tmp_path)) as exc:
        load_results(tmp_path)
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="no such folder"):
        load_results(tmp_path / "missing")


def test_import_hcf_ray_stays_light():
    code = (
        "import sys, hcf_ray; assert 'pandas' not in sys.modules and 'matplotlib' not in "
        "sys.modules; from hcf_ray.results import load_results; "
        "assert hcf_ray.load_results is load_results"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- figures, checked through their matplotlib objects ---------------------------------------
def ok(records):
    return [r for r in records if r["status"] == "ok"]


def test_rd_figure_one_errorbar_series_per_method_and_panel(run_dir, run_records):
    fig = figures.rd_figure(load_results(run_dir))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "cam1 → tv (level 3)",
        "cam1 → phone (level 1)",
        "cam2 → tv (level 2)",
    ]
    for ax in axes:
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert [c.get_label() for c in bars] == METHODS
        flow, dest = ax.get_title().split(" (")[0].split(" → ")
        for c in bars:
            rs = [r for r in ok(run_records) if (r["flow"], r["destination"]) == (flow, dest)]
            rs = [r for r in rs if r["method"] == c.get_label()]
            x, y = c.lines[0].get_data()
            assert x[0] == pytest.approx(np.mean([r["bpp"] for r in rs]))
            assert y[0] == pytest.approx(np.mean([r["psnr"] for r in rs]))
            # 2 images: a t-interval in both axes; cam2/ssf kept 1 image: no interval
            assert c.has_xerr == c.has_yerr == (len(rs) == 2)
    assert "95 % t-interval" in fig._suptitle.get_text()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == METHODS

    one = load_results(run_dir)
    fig1 = figures.rd_figure(one[one["image"] == "sample1.png"])
    assert "no confidence interval" in fig1._suptitle.get_text()
    assert not any(c.has_yerr for ax in fig1.axes for c in ax.containers)


def test_mean_ci_is_a_student_t_interval():
    mean, half = figures.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert half == pytest.approx(3.182446305 * np.std([1, 2, 3, 4], ddof=1) / 2)
    assert figures.mean_ci([5.0]) == (5.0, None)


def test_latency_figure_stacks_five_components_per_method_bar(run_dir, run_records):
    fig = figures.latency_figure(load_results(run_dir))
    (ax,) = fig.axes
    stacks = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in stacks] == [c[1] for c in figures.COMPONENTS]
    assert all(len(c.patches) == 9 for c in stacks)  # 3 destinations × 3 methods
    assert [t.get_text() for t in ax.get_xticklabels()] == METHODS * 3
    groups = [t.get_text() for t in ax.get_xticklabels(minor=True)]
    assert groups == ["cam1 → tv", "cam1 → phone", "cam2 → tv"]
    # the components add up to the mean end-to-end latency of each bar
    totals = np.sum([[p.get_height() for p in c.patches] for c in stacks], axis=0)
    expect = []
    for flow, dest in [("cam1", "tv"), ("cam1", "phone"), ("cam2", "tv")]:
        for m in METHODS:
            rs = [r for r in ok(run_records) if (r["flow"], r["destination"], r["method"]) ==
                  (flow, dest, m)]  # fmt: skip
            expect.append(1e3 * np.mean([r["latency_s"] for r in rs]))
    assert totals == pytest.approx(expect, rel=1e-9)


def expected_timeline(records, method):
    recs = [r for r in ok(records) if r["method"] == method]
    lanes = {n for r in recs for n in r["path"]}
    lanes |= {f"{h['src']}→{h['dst']}" for r in recs for h in r["hops"]}
    jobs = {
        (r["flow"], r["image"], n, v["start_s"])
        for r in recs
        for n, v in r["nodes"].items()
        if v["ops"]
    }
    hops = {
        (r["flow"], r["image"], h["src"], h["dst"], h["level"]) for r in recs for h in r["hops"]
    }
    return lanes, len(jobs), len(hops)


@pytest.mark.parametrize("method", METHODS)
def test_gantt_figure_lanes_jobs_and_transmissions(run_dir, run_records, method):
    fig = figures.gantt_figure(load_results(run_dir), method)
    (ax,) = fig.axes
    lanes, n_jobs, n_hops = expected_timeline(run_records, method)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == sorted(lanes) and len(labels) == len(lanes)
    n_nodes = sum("→" not in x for x in labels)
    assert all("→" not in x for x in labels[:n_nodes])  # nodes first, then links
    assert labels[0] in ("cam1", "cam2") and labels[n_nodes - 1] in ("tv", "phone")
    kinds = defaultdict(list)
    for p in ax.patches:
        kinds[p.get_gid()].append(p)
    assert len(kinds["gantt-job"]) == n_jobs
    assert len(kinds["gantt-tx"]) == n_hops
    assert 0 < len(kinds["gantt-prop"]) <= n_hops
    # every transmission bar is its hop's start_s .. start_s + tx_s, in ms
    tx = sorted((p.get_x(), p.get_width()) for p in kinds["gantt-tx"])
    want = {
        (r["flow"], r["image"], h["src"], h["dst"], h["level"]): (
            1e3 * h["start_s"],
            1e3 * h["tx_s"],
        )
        for r in ok(run_records)
        if r["method"] == method
        for h in r["hops"]
    }
    np.testing.assert_allclose(tx, sorted(want.values()), rtol=1e-12, atol=1e-9)
    assert ax.get_xlabel() == "virtual time (ms)"
    assert fig.legends  # outside the axes


def test_topology_figure_labels_every_hop_per_method(run_dir, run_records):
    df = load_results(run_dir)
    graph = figures.graph_from(df, figures._summary_config(run_dir))
    assert graph.number_of_nodes() == 7 and graph.number_of_edges() == 11  # the whole mesh
    fig = figures.topology_figure(df, graph)
    assert [ax.get_title() for ax in fig.axes] == METHODS
    for ax in fig.axes:
        m = ax.get_title()
        hops = {
            (h["src"], h["dst"])
            for r in ok(run_records)
            if r["method"] == m and r["image"] == "sample1.png"
            for h in r["hops"]
        }
        labels = [t for t in ax.texts if t.get_gid() == "hop-label"]
        assert len(labels) == len(hops)
        assert all(" · " in t.get_text() and "L" in t.get_text() for t in labels)
    # the r3→tv link carries both flows' streams (HCF): one line each
    (texts,) = [
        t.get_text()
        for t in fig.axes[0].texts
        if t.get_gid() == "hop-label" and "cam2" in t.get_text() and "cam1" in t.get_text()
    ]
    assert texts.count("\n") == 1


def test_sweep_figure_one_box_per_method_and_policy(sweep_dir):
    df = load_results(sweep_dir)
    fig = figures.sweep_figure(df)
    ok_df = df[df["status"] == "ok"]
    combos = ok_df.groupby(["method", "policy"]).ngroups
    assert combos == 5  # hcf and drf × edge, late; ssf once ("-")
    assert [ax.get_ylabel() for ax in fig.axes] == ["latency (ms)", "rate (bpp)", "PSNR (dB)"]
    for ax in fig.axes:
        boxes = [p for p in ax.patches if isinstance(p, PathPatch) and p.get_gid() == "sweep-box"]
        assert len(boxes) == combos
        assert [t.get_text() for t in ax.get_xticklabels(minor=True)] == [
            "edge",
            "late",
            "no policy",
        ]
    # one dot per network in every box
    networks = ok_df["network"].nunique()
    assert networks == 3
    dots = [c for c in fig.axes[0].collections if len(c.get_offsets())]
    assert [len(c.get_offsets()) for c in dots] == [networks] * combos


# -- files and the command line --------------------------------------------------------------
def test_plot_run_and_plot_sweep_write_every_figure_as_pdf_and_png(run_dir, sweep_dir):
    stems = ["rd", "latency", "gantt_hcf", "gantt_drf", "gantt_ssf", "topology"]
    paths = figures.plot_run(run_dir)
    assert paths == [run_dir / "figures" / f"{s}.{f}" for s in stems for f in ("pdf", "png")]
    paths += figures.plot(sweep_dir)
    assert paths[-2:] == [sweep_dir / "figures" / "sweep.pdf", sweep_dir / "figures" / "sweep.png"]
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith(b"%PDF") if p.suffix == ".pdf" else head == b"\x89PNG\r\n\x1a\n"
    assert not list((run_dir / "figures").glob(".*"))  # no temporary files left


def test_figure_files_are_byte_stable(run_dir, tmp_path):
    df = load_results(run_dir)
    a = figures.save_figures({"rd": figures.rd_figure(df)}, tmp_path / "a", ["pdf", "png", "svg"])
    b = figures.save_figures({"rd": figures.rd_figure(df)}, tmp_path / "b", ["pdf", "png", "svg"])
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_cli_plot(run_dir, tmp_path, capsys):
    from hcf_ray.cli import main

    assert main(["plot", str(run_dir), "--format", "svg"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6 and all(x.startswith("wrote ") and x.endswith(".svg") for x in out)

    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0] and "results.jsonl" in err[0]

    errors_only = tmp_path / "failed"
    errors_only.mkdir()
    write_jsonl(errors_only / "results.jsonl", [ERROR])
    assert main(["plot", str(errors_only)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no successful records" in err[0]


def test_run_and_sweep_take_plot_flag():
    from hcf_ray.cli import build_parser

    p = build_parser()
    assert p.parse_args(["run", "x.yaml", "--plot"]).plot
    assert p.parse_args(["sweep", "x.yaml", "--plot"]).plot
    assert not p.parse_args(["run", "x.yaml"]).plot


# -- the search figure -----------------------------------------------------------------------
def search_doc() -> dict:
    """A ``search.json`` document made by hand: two targets, one failed candidate, a pick."""

    def cand(cid, method, bpp, psnr, lat, pareto, refs=(), failed=False):
        m = {"bpp": bpp, "psnr": psnr, "latency_ms": lat, "link_bytes": 1000.0 * cid}
        return {
            "id": cid,
            "method": method,
            "metrics": None if failed else m,
            "pareto": pareto,
            "references": list(refs),
        }

    tv = [
        cand(1, "hcf", 0.40, 31.0, 20.0, True, ["edge n_q=1", "late n_q=1"]),
        cand(2, "hcf", 0.55, 30.0, 25.0, False),
        cand(3, "drf", 0.30, 29.0, 30.0, True, ["edge n_q=2"]),
        cand(4, "drf", 0.50, 28.0, 40.0, False, failed=True),
    ]
    phone = [cand(1, "hcf", 0.2, 27.0, 12.0, True, ["configured n_q=1"])]
    target = {"source_level": 6, "target_level": 2, "hops": 3, "methods": ["hcf", "drf"]}
    return {
        "name": "mesh",
        "objective": "max psnr s.t. latency_ms <= 22",
        "targets": [
            {**target, "flow": "cam1", "destination": "tv", "candidates": tv, "chosen": {"id": 1}},
            {**target, "flow": "cam1", "destination": "phone", "methods": ["hcf"],
             "candidates": phone, "chosen": {"id": None}},
        ],
    }  # fmt: skip


def test_search_figure_one_point_per_candidate_with_metrics():
    fig = figures.search_figure(search_doc())
    panels = [ax for ax in fig.axes if ax.get_xlabel().startswith("rate")]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["cam1 → tv", "cam1 → phone"]
    tv, phone = panels
    # 3 of tv's candidates have metrics (one failed), plus the objective's star
    points = [len(c.get_offsets()) for c in tv.collections]
    assert sum(points) == 3 + 1
    assert sum(len(c.get_offsets()) for c in phone.collections) == 1  # no pick: no star
    labels = [t.get_text() for t in tv.texts]
    assert any("hcf E1/L1" in s for s in labels) and any("drf E2" in s for s in labels)


def test_search_figure_files_are_byte_stable(tmp_path):
    doc = search_doc()
    a = figures.plot_search(doc, tmp_path / "a", ["pdf", "png", "svg"])
    b = figures.plot_search(doc, tmp_path / "b", ["pdf", "png", "svg"])
    assert [p.name for p in a] == ["search.pdf", "search.png", "search.svg"]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_importing_the_report_plots_keeps_the_backend():
    """``hcf_ray.analysis.plots`` builds figures without pyplot: importing it selects no
    matplotlib backend (the caller's choice stands)."""
    code = (
        "import matplotlib; import hcf_ray.analysis.plots; "
        "assert matplotlib.rcParams._get_backend_or_none() is None, "
        "matplotlib.rcParams._get_backend_or_none(); "
        "import sys; assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
