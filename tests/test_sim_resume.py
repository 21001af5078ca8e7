"""Output folders: never truncated, ``--resume`` completes them (also after ``kill -9`` of
the driver once some records are on disk, mid-run and mid-sweep), ``--overwrite`` replaces
them only once the new results exist, and a torn last line is dropped. One 128×192 crop of a
sample photo and random models keep every run short."""

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

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"


@pytest.fixture(scope="module")
def crop_dir(tmp_path_factory) -> Path:
    """An image folder of one 128×192 crop of a sample photo."""
    from PIL import Image

    from hcf_ray.images import sample_images

    folder = tmp_path_factory.mktemp("crop")
    Image.open(sample_images()[0]).convert("RGB").crop((0, 0, 192, 128)).save(folder / "a.png")
    return folder


def mesh_cfg(tmp_path: Path, images: Path) -> Path:
    """The shipped mesh on random models, both flows on ``images``: 9 records."""
    cfg = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    cfg["codec"] = CODEC
    for flow in cfg["flows"]:
        flow["images"] = str(images)
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def sweep_cfg(tmp_path: Path, images: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "topologies" / "sweep.yaml").read_text())
    cfg["codec"] = CODEC
    cfg["transport"] = "bitstream"
    cfg["seeds"] = [0]
    cfg["generators"] = cfg["generators"][:2]  # two networks: the kill falls between them
    cfg["policies"] = ["edge", "late"]
    cfg["flow"].update(images=str(images), max_images=1)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def rows(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall"} for r in read_records(path)[0]]


def as_set(recs):
    return sorted(json.dumps(r, sort_keys=True) for r in recs)


OPTS = dict(warmup=False, check_transport=False, timeout_s=120)


@pytest.fixture(scope="module")
def clean_run(ray_session, tmp_path_factory, crop_dir):
    tmp = tmp_path_factory.mktemp("clean")
    cfg = mesh_cfg(tmp, crop_dir)
    sc = build_scenario(load_config(cfg))
    run_simulation(sc, tmp / "out", options=RunOptions(**OPTS))
    return cfg, sc, tmp / "out"


def test_rerun_is_refused_and_keeps_the_old_records(clean_run, capsys):
    cfg, _, out = clean_run
    before = (out / "results.jsonl").read_bytes()
    rc = main(["run", str(cfg), "--out", str(out)])
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
    other = build_scenario(load_config(clean_run[0]).model_copy(update={"seed": 7}))
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


# The driver, run with every record write followed by a pause: the record is on disk (written
# and fsync'd by the real code) before the pause, so the test can kill -9 the driver between
# two records. Nothing else changes.
SLOW_WRITES = """
import sys, time
import hcf_ray.sim.outdir as outdir
write = outdir.RecordSink.write
def paused(self, rec):
    write(self, rec)
    time.sleep(0.5)
outdir.RecordSink.write = paused
from hcf_ray.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env() -> dict:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return env


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def _kill_after_records(args: list[str], results: Path, timeout=300) -> int:
    """Run ``hcf-sim ARGS`` with paused record writes and ``kill -9`` the driver as soon as
    ``results`` holds a complete record; returns how many complete records it holds then."""
    cmd = [sys.executable, "-c", SLOW_WRITES, *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), start_new_session=True)
    t0 = time.monotonic()
    try:
        while _complete_lines(results) < 1:
            assert proc.poll() is None, "finished before it could be killed"
            assert time.monotonic() - t0 < timeout
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        return _complete_lines(results)
    finally:
        time.sleep(1.0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the local Ray processes it started


def _in_process(args: list[str], capsys) -> subprocess.CompletedProcess:
    """``hcf-sim ARGS`` in this process (the test session's Ray), as a completed process."""
    capsys.readouterr()
    rc = main(args)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out.out, out.err)


def _check_resumed(out: Path, records: str, summary: str, kept: int, reference: Path, done):
    """The resumed folder: the kept records first, unchanged, then the rest appended once,
    every unit's codec work read from the killed run's cache, equal to a clean run's."""
    assert done.returncode == 0, done.stderr[-2000:]
    want = rows(reference / records)
    got = rows(out / records)
    wall = json.loads((out / summary).read_text())["wall"]
    assert 1 <= kept < len(want), (kept, len(want))  # killed between two records
    assert wall["records_kept"] == kept
    assert wall["records_appended"] == len(want) - kept
    assert wall["cache"]["misses"] == 0, wall["cache"]
    assert len(got) == len(want)
    assert len({record_key(r) for r in got}) == len(got)  # no record twice
    assert as_set(got) == as_set(want)
    assert f"{kept} kept from before" in done.stdout


def test_kill_9_mid_run_then_resume_equals_a_clean_run(clean_run, tmp_path, capsys):
    cfg, _, ref = clean_run
    out = tmp_path / "out"
    args = ["run", str(cfg), "--out", str(out)]
    # its local Ray instance gets one CPU, so one pool actor to start (the records and the
    # config the resume checks do not depend on the pool size)
    kept = _kill_after_records([*args, "--num-cpus", "1"], out / "results.jsonl")
    before = (out / "results.jsonl").read_bytes()
    first = before.splitlines()[:kept]
    again = _in_process(args, capsys)  # without --resume: refused, nothing touched
    assert again.returncode == 2 and "--resume" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert (out / "results.jsonl").read_bytes() == before
    done = _in_process([*args, "--resume"], capsys)
    assert (out / "results.jsonl").read_bytes().splitlines()[:kept] == first
    _check_resumed(out, "results.jsonl", "summary.json", kept, ref, done)


def test_kill_9_mid_sweep_then_resume_equals_a_clean_sweep(ray_session, tmp_path, crop_dir, capsys):
    cfg = sweep_cfg(tmp_path, crop_dir)
    clean = tmp_path / "clean"
    assert main(["sweep", str(cfg), "--out", str(clean)]) == 0
    out = tmp_path / "out"
    args = ["sweep", str(cfg), "--out", str(out)]
    kept = _kill_after_records([*args, "--num-cpus", "1"], out / "sweep_results.jsonl")
    before = (out / "sweep_results.jsonl").read_bytes()
    again = _in_process(args, capsys)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert (out / "sweep_results.jsonl").read_bytes() == before
    done = _in_process([*args, "--resume"], capsys)
    _check_resumed(out, "sweep_results.jsonl", "sweep_summary.json", kept, clean, done)
