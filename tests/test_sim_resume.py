"""Output folders: never truncated, ``--resume`` completes them (also after ``kill -9`` of
the driver, mid-run and mid-sweep), ``--overwrite`` replaces them only once the new results
exist, and a torn last line is dropped."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hcf_ray.cli import main
from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.outdir import OutputDir, OutputError, read_records, record_key
from hcf_ray.sim.scenario import build_scenario

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"


def mesh_cfg(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    cfg["codec"] = CODEC
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def sweep_cfg(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "topologies" / "sweep.yaml").read_text())
    cfg["codec"] = CODEC
    cfg["transport"] = "bitstream"
    cfg["seeds"] = [0, 1]
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def rows(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall"} for r in read_records(path)[0]]


def as_set(recs):
    return sorted(json.dumps(r, sort_keys=True) for r in recs)


OPTS = dict(warmup=False, check_transport=False, timeout_s=120)


@pytest.fixture(scope="module")
def clean_run(ray_session, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    cfg = mesh_cfg(tmp)
    sc = build_scenario(load_config(cfg), max_images=2)
    run_simulation(sc, tmp / "out", options=RunOptions(**OPTS))
    return cfg, sc, tmp / "out"


def test_rerun_is_refused_and_keeps_the_old_records(clean_run, capsys):
    cfg, _, out = clean_run
    before = (out / "results.jsonl").read_bytes()
    rc = main(["run", str(cfg), "--out", str(out), "--max-images", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--resume" in err[0] and "Traceback" not in err[0]
    assert (out / "results.jsonl").read_bytes() == before


def test_resume_drops_a_torn_line_and_adds_only_the_missing_records(clean_run, tmp_path):
    _cfg, sc, out = clean_run
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) > 6
    part = tmp_path / "part"
    part.mkdir()
    (part / "run.json").write_bytes((out / "run.json").read_bytes())
    torn = lines[5][: len(lines[5]) // 2]  # killed while writing the 6th record
    (part / "results.jsonl").write_bytes(b"".join(lines[:5]) + torn)
    summary = run_simulation(
        sc, part, options=RunOptions(**OPTS, resume=True, cache_dir=out / "cache")
    )
    assert summary["wall"]["records_kept"] == 5
    assert summary["wall"]["records_appended"] == len(lines) - 5
    assert summary["wall"]["cache"]["misses"] == 0  # the interrupted run's codec work reused
    assert rows(part / "results.jsonl") == rows(out / "results.jsonl")  # same order too


def test_resume_refuses_another_config(clean_run, tmp_path):
    _, _sc, out = clean_run
    other = build_scenario(load_config(clean_run[0]), max_images=1)
    with pytest.raises(OutputError, match="different config"):
        OutputDir(out, "results.jsonl", {"x": 1}, resume=True)
    with pytest.raises(OutputError, match="different config"):
        run_simulation(other, out, options=RunOptions(**OPTS, resume=True))


def test_overwrite_replaces_only_when_the_new_run_finished(clean_run, tmp_path, monkeypatch):
    _, sc, out = clean_run
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("results.jsonl", "summary.json", "run.json"):
        (copy / name).write_bytes((out / name).read_bytes())
    before = (copy / "results.jsonl").read_bytes()

    import hcf_ray.sim.driver as driver

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(driver, "simulate_worlds", boom)
    with pytest.raises(RuntimeError):
        run_simulation(sc, copy, options=RunOptions(**OPTS, overwrite=True))
    assert (copy / "results.jsonl").read_bytes() == before  # the old results are intact
    monkeypatch.undo()
    run_simulation(sc, copy, options=RunOptions(**OPTS, overwrite=True))
    assert rows(copy / "results.jsonl") == rows(out / "results.jsonl")
    assert not list(copy.glob(".*.new"))


def _kill_when(cmd: list[str], ready, timeout=240) -> int:
    """Start ``cmd``, ``kill -9`` its driver once ``ready()``; returns the driver's rc."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    t0 = time.monotonic()
    try:
        while not ready():
            assert proc.poll() is None, "finished before it could be killed"
            assert time.monotonic() - t0 < timeout
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(30)
    finally:
        time.sleep(1.0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the local Ray processes it started


def _cached(out: Path, n: int):
    def ready():
        cache = out / "cache"
        return cache.is_dir() and sum(1 for _ in cache.rglob("*.json")) >= n

    return ready


def test_kill_9_mid_run_then_resume_equals_a_clean_run(clean_run, tmp_path):
    cfg, _, ref = clean_run
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "hcf_ray.cli", "run", str(cfg), "--out", str(out)]
    cli += ["--max-images", "2", "--max-in-flight", "1"]
    rc = _kill_when(cli, _cached(out, 4))
    assert rc == -signal.SIGKILL
    before = (out / "results.jsonl").read_bytes() if (out / "results.jsonl").exists() else b""
    again = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    after = (out / "results.jsonl").read_bytes() if (out / "results.jsonl").exists() else b""
    assert after == before
    done = subprocess.run([*cli, "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    got = rows(out / "results.jsonl")
    assert len({record_key(r) for r in got}) == len(got)
    assert as_set(got) == as_set(rows(ref / "results.jsonl"))


def test_kill_9_mid_sweep_then_resume_equals_a_clean_sweep(ray_session, tmp_path):
    cfg = sweep_cfg(tmp_path)
    clean = tmp_path / "clean"
    assert main(["sweep", str(cfg), "--out", str(clean)]) == 0
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "hcf_ray.cli", "sweep", str(cfg), "--out", str(out)]
    rc = _kill_when([*cli, "--max-in-flight", "1"], _cached(out, 6))
    assert rc == -signal.SIGKILL
    again = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    done = subprocess.run([*cli, "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    got = rows(out / "sweep_results.jsonl")
    assert len({record_key(r) for r in got}) == len(got)
    assert as_set(got) == as_set(rows(clean / "sweep_results.jsonl"))
