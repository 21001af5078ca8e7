"""A command joins a Ray cluster only when asked (``--address``, ``RAY_ADDRESS``), never because
of a ``ray_current_cluster`` file left by a cluster that has died; an address where no Ray head
answers is one line and exit 2 within a bounded time, not a hang with Ray's own log lines.
Joining a running cluster (``--address auto``, ``RAY_ADDRESS``): tests/test_real_cluster.py.

Every Ray instance here lives in a ``RAY_TMPDIR`` of the test's own (short: Unix socket paths
are limited to about 100 characters), so that the other tests' clusters are not disturbed; a
head started here is ended by killing its own processes, never with ``ray stop``."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from configs import LINE, on_small_photos

from hcf_ray.sim.ray_address import AddressError, Target, probe, requested, resolve

pytestmark = pytest.mark.heavy  # subprocess runs with Ray instances of their own
HCF_SIM = [sys.executable, "-c", "import sys; from hcf_ray.cli import main; sys.exit(main())"]
BOUND_S = 120  # generous: the probe gives up after 10 s, the rest is Python starting up


@pytest.fixture
def ray_tmpdir():
    """A short private RAY_TMPDIR; any Ray process still using it is killed afterwards."""
    path = tempfile.mkdtemp(prefix="hcfr", dir="/tmp")
    yield Path(path)
    _kill_processes_using(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def line_cfg(tmp_path):
    cfg = tmp_path / "line.yaml"
    cfg.write_text(yaml.safe_dump(on_small_photos(LINE)))
    return cfg


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process (from /proc)."""
    procs = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (d / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                procs[int(d.name)] = (ppid, (d / "cmdline").read_bytes())
    return procs


def _kill_processes_using(path: str) -> None:
    """Kill the processes whose command line names ``path`` (a head's GCS, raylet, ...) and
    their descendants (its workers)."""
    procs = _processes()
    doomed = {pid for pid, (_, cmd) in procs.items() if path.encode() in cmd}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in procs.items() if ppid in doomed} - doomed
        doomed |= more
        grew = bool(more)
    doomed.discard(os.getpid())
    for pid in doomed:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and doomed & set(_processes()):
        time.sleep(0.2)


def _env(ray_tmpdir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=str(ray_tmpdir), RAY_AUTH_MODE="disabled", **extra)
    return env


def _hcf_sim(
    args: list, env: dict, timeout: float = 400
) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    done = subprocess.run(
        HCF_SIM + [str(a) for a in args], env=env, capture_output=True, text=True, timeout=timeout
    )
    return done, time.monotonic() - t0


def _free_port() -> int:
    """A TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stderr_lines(done: subprocess.CompletedProcess) -> list[str]:
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    raw = [ln for ln in lines if not ln.startswith("hcf-sim:")]
    assert not raw, f"raw lines on stderr: {raw}"
    return lines


def _stale_cluster_file(ray_tmpdir: Path, address: str) -> Path:
    """What a head killed without ``ray stop`` leaves: ``ray_current_cluster`` naming it."""
    (ray_tmpdir / "ray").mkdir(exist_ok=True)
    stale = ray_tmpdir / "ray" / "ray_current_cluster"
    stale.write_text(address)
    return stale


def test_stale_ray_current_cluster_is_not_followed(ray_tmpdir, line_cfg, tmp_path):
    dead = f"127.0.0.1:{_free_port()}"
    stale = _stale_cluster_file(ray_tmpdir, dead)
    out = tmp_path / "out"
    # one CPU: one pool actor to start (the claim is about which cluster, not its size)
    args = ["run", line_cfg, "--max-images", "1", "--out", out, "--num-cpus", "1"]
    done, _ = _hcf_sim(args, _env(ray_tmpdir))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = _stderr_lines(done)
    assert "hcf-sim: starting a local Ray instance" in lines
    assert not any(dead in ln for ln in lines)
    records = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 3  # one image, methods hcf, drf, ssf
    # the instance was its own: a session under this RAY_TMPDIR, the stale file untouched
    assert list((ray_tmpdir / "ray").glob("session_2*"))
    assert stale.read_text() == dead


def test_unreachable_address_is_one_line_and_exit_2(ray_tmpdir, line_cfg, tmp_path):
    port = _free_port()
    args = ["run", line_cfg, "--max-images", "1", "--out", tmp_path / "out"]
    done, took = _hcf_sim([*args, "--address", f"127.0.0.1:{port}"], _env(ray_tmpdir), BOUND_S)
    assert done.returncode == 2
    assert took < BOUND_S
    naming = [ln for ln in _stderr_lines(done) if str(port) in ln]
    assert len(naming) == 1 and naming[0].startswith("hcf-sim: error: "), done.stderr
    assert "127.0.0.1" in naming[0] and len(naming[0]) <= 200 + len("hcf-sim: error: ")
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_auto_does_not_join_the_dead_cluster_of_a_stale_file(ray_tmpdir, line_cfg, tmp_path):
    port = _free_port()
    _stale_cluster_file(ray_tmpdir, f"127.0.0.1:{port}")
    args = ["run", line_cfg, "--max-images", "1", "--out", tmp_path / "out", "--address", "auto"]
    done, took = _hcf_sim(args, _env(ray_tmpdir), BOUND_S)
    assert done.returncode == 2 and took < BOUND_S
    naming = [ln for ln in _stderr_lines(done) if str(port) in ln]
    assert len(naming) == 1 and naming[0].startswith("hcf-sim: error: "), done.stderr


def _listener(answer: bytes | None):
    """A TCP server on a free port that accepts and then sends ``answer`` (None: nothing)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            if answer:
                conn.sendall(answer)
            time.sleep(3)

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_a_port_that_never_answers_is_given_up_after_the_timeout():
    srv = _listener(None)
    addr = f"127.0.0.1:{srv.getsockname()[1]}"
    t0 = time.monotonic()
    with srv, pytest.raises(AddressError, match="no answer within 1 s"):
        probe(addr, Target(addr, "--address"), timeout_s=1.0)
    assert time.monotonic() - t0 < 30


def test_a_port_that_speaks_http_1_is_no_ray_head():
    srv = _listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    addr = f"127.0.0.1:{srv.getsockname()[1]}"
    with srv, pytest.raises(AddressError, match="no Ray head's GCS port"):
        probe(addr, Target(addr, "--address"), timeout_s=5.0)


def test_a_grpc_settings_frame_passes_the_probe():
    # an HTTP/2 server opens with a SETTINGS frame: length 0, type 4, flags 0, stream 0
    # (RFC 9113, sections 4.1 and 6.5)
    srv = _listener(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    addr = f"127.0.0.1:{srv.getsockname()[1]}"
    with srv:
        probe(addr, Target(addr, "--address"), timeout_s=5.0)


def test_addresses_asked_for(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert requested(None) is None and requested("local") is None
    assert requested("auto") == Target("auto", "--address")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert requested(None) == Target("10.0.0.5:6379", "RAY_ADDRESS")
    assert requested("10.0.0.7:6379") == Target("10.0.0.7:6379", "--address")
    with pytest.raises(AddressError, match="ray job submit"):
        resolve(Target("http://10.0.0.5:8265", "--address"))
    with pytest.raises(AddressError, match="not a Ray address"):
        resolve(Target("no-port-here", "--address"))
