"""``ray job submit``: a run from a working directory, against a local head with the dashboard,
as the README's cluster section shows it. The job's working directory is a temporary copy on
the cluster, so results go to an absolute ``--out``; a job stopped with ``ray job stop``
leaves a folder that ``--resume`` completes, with the records of an uninterrupted run."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

BIN = Path(sys.executable).parent
RAY = BIN / "ray"
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """End ``ray start --block`` and every process it started (they have sessions of their
    own, so the process group is not enough)."""
    try:
        top = psutil.Process(proc.pid)
        family = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(family, timeout=30)
    proc.wait(30)


def _records(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x]
    key = ("flow", "destination", "image", "method")
    return sorted(
        ({k: v for k, v in r.items() if k != "wall"} for r in rows),
        key=lambda r: tuple(r[k] for k in key),
    )


@pytest.fixture(scope="module")
def head():
    """A head with the dashboard (job submission goes through it), in a Ray temp folder of its
    own; the job's ``hcf-sim`` comes from this environment (``PATH``)."""
    raytmp = tempfile.mkdtemp(prefix="hcfjob", dir="/tmp")  # Ray's socket paths must be short
    port, dash = _free_port(), _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": raytmp,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("RAY_ADDRESS", None)
    args = ["--head", "--port", str(port), "--num-cpus", "2", "--node-ip-address", "127.0.0.1"]
    args += ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1"]
    args += ["--dashboard-port", str(dash), "--temp-dir", raytmp, "--disable-usage-stats"]
    # the job agent's own HTTP port: the default one may be taken by another Ray instance of
    # this machine (the test session's), and jobs then find no agent
    args += ["--dashboard-agent-listen-port", str(_free_port())]
    proc = subprocess.Popen(
        [str(RAY), "start", *args, "--block"],
        env=env,
        cwd=raytmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{dash}"
    try:
        end = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/version", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > end:
                pytest.fail(f"the Ray head's dashboard did not answer at {url}")
            time.sleep(0.5)
        yield url, env
    finally:
        _stop(proc)
        shutil.rmtree(raytmp, ignore_errors=True)


@pytest.fixture
def project(tmp_path):
    """A working directory as a user has one: a topology YAML (the bundled sample photos)."""
    folder = tmp_path / "project"
    folder.mkdir()
    cfg = yaml.safe_load((ROOT / "topologies" / "line.yaml").read_text())
    cfg["codec"] = "random:mbt2018-mean"
    cfg["flows"][0]["methods"] = ["hcf", "ssf"]
    cfg["flows"][0]["max_images"] = 2
    (folder / "line.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def _job(url: str, env: dict, project: Path, *args: str, wait: bool = True):
    cmd = [str(RAY), "job", "submit", "--address", url, "--working-dir", str(project)]
    if not wait:
        cmd.append("--no-wait")
    end = time.monotonic() + 240
    while True:
        res = subprocess.run(
            [*cmd, "--", "hcf-sim", *args],
            env=env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=400,
        )
        # a fresh head's job agent starts a little after its dashboard: Ray says to retry
        if "No available agent" not in res.stderr or time.monotonic() > end:
            return res
        time.sleep(1)


def test_a_submitted_job_writes_where_out_says_and_a_stopped_one_resumes(
    head, project, tmp_path, ray_session
):
    url, env = head
    out = tmp_path / "results" / "line"  # absolute: the job's folder is a temporary copy
    done = _job(url, env, project, "run", "line.yaml", "--out", str(out))
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-600:]
    assert "succeeded" in (done.stdout + done.stderr).lower()
    assert not (project / "results").exists()
    clean = _records(out)
    assert len(clean) == 2 * 2 and all(r["status"] == "ok" for r in clean)
    # the job's actors, as the dashboard and `ray list actors` show them: named by role
    listed = subprocess.run(
        [str(RAY), "list", "actors", "--address", url, "--format", "json", "--detail"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-1500:]
    names = {a.get("name", "") for a in json.loads(listed.stdout)}
    assert {n.rsplit(" ", 1)[0] for n in names if n.startswith("hcf-sim ")} == {
        "hcf-sim pool0",
        "hcf-sim pool1",
    }  # line.yaml: placement pool, one actor per CPU of the head

    # the same run through the job API, stopped as soon as its output folder exists
    stopped = tmp_path / "results" / "stopped"
    sub = _job(url, env, project, "run", "line.yaml", "--out", str(stopped), wait=False)
    assert sub.returncode == 0, sub.stderr[-2000:]
    job_id = next(
        w.strip("'\"")
        for w in (sub.stdout + sub.stderr).split()
        if w.strip("'\"").startswith("raysubmit_")
    )
    end = time.monotonic() + 300
    while not (stopped / "run.json").exists():
        assert time.monotonic() < end, "the job never started its run"
        time.sleep(0.2)
    stop = subprocess.run(
        [str(RAY), "job", "stop", "--address", url, job_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stop.returncode == 0, stop.stderr[-2000:]
    status = subprocess.run(
        [str(RAY), "job", "status", "--address", url, job_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = status.stdout + status.stderr
    assert "was stopped" in text or "succeeded" in text.lower(), text[-1000:]
    kept = len(_records(stopped)) if (stopped / "results.jsonl").exists() else 0
    assert kept <= len(clean)
    resumed = _job(url, env, project, "run", "line.yaml", "--out", str(stopped), "--resume")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert _records(stopped) == clean
