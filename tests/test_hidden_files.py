"""A Ray cluster whose worker machine cannot see the head's files.

A head raylet with no CPUs, and a worker raylet started inside its own mount namespace
(``unshare -m``) where a tmpfs hides the folder that holds the run's YAML, its model bundle
(a ladder + φ bank of its own), policy file, method file and images. Every actor therefore
runs on the worker and can read none of those paths: ``hcf-sim run --address`` must still
complete, with the records of the same run on the local test cluster, bit for bit."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml
from PIL import Image

from hcf_ray.images import sample_images
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import load_scenario

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

RAY = Path(sys.executable).with_name("ray")

POLICY = """\
from hcf_ray.policy import Policy, PolicyVector


class Late(Policy):
    name = "late-by-file"

    def choose(self, ctx):
        return PolicyVector.from_levels(ctx.start_level, ctx.target_level, [ctx.target_level])
"""
METHOD = """\
from hcf_ray.methods import DRF


class Ident(DRF):
    name = "ident-drf"
    description = "DRF from a user file"
"""


def _unshare_works() -> str | None:
    """None when this machine can give a process its own mount namespace with a tmpfs."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"unshare -m not permitted: {probe.stderr.strip()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _project(folder: Path, tiny_ladder, tiny_phis) -> Path:
    """The run's files, all below ``folder``: YAML, bundle, φ bank, policy, method, image."""
    tiny_ladder.save(folder / "models", half=False)
    tiny_phis.save(folder / "models", half=False)
    (folder / "images").mkdir()
    Image.open(sample_images()[0]).crop((0, 0, 128, 96)).save(folder / "images" / "a.png")
    (folder / "late.py").write_text(POLICY)
    (folder / "meth.py").write_text(METHOD)
    topo = {
        "name": "hidden",
        "codec": "models",
        "placement": "dedicated",
        "node_defaults": {"num_cpus": 0.25},
        "nodes": [{"id": "camera"}, {"id": "relay"}, {"id": "screen"}],
        "links": [
            {"src": "camera", "dst": "relay", "bandwidth_mbps": 50, "latency_ms": 2},
            {"src": "relay", "dst": "screen", "bandwidth_mbps": 10, "latency_ms": 5},
        ],
        "flows": [
            {
                "source": "camera",
                "source_level": 5,
                "destinations": [{"node": "screen", "level": 2}],
                "methods": ["hcf", "meth.py:Ident"],
                "policy": "late.py:Late",
                "n_q": 1,
                "images": "images",
            }
        ],
    }
    cfg = folder / "hidden.yaml"
    cfg.write_text(yaml.safe_dump(topo))
    return cfg


def _records(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return sorted(
        ({k: v for k, v in r.items() if k != "wall"} for r in rows),
        key=lambda r: (r["method"], r["destination"]),
    )


def _wait_for_port(port: int, proc: subprocess.Popen, limit_s: float = 120.0) -> None:
    """Until the head's GCS accepts connections (or the head process ends)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the Ray head did not listen on port {port} (exit {proc.poll()})")


WAIT_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
end = time.monotonic() + 120
while sum(n["Alive"] for n in ray.nodes()) < int(sys.argv[2]) and time.monotonic() < end:
    time.sleep(0.5)
print(sum(n["Alive"] for n in ray.nodes()))
"""


def _wait_for_nodes(address: str, n: int, env: dict) -> None:
    """Until ``n`` raylets (the head and the hidden-filesystem worker) are in the cluster."""
    got = subprocess.run(
        [sys.executable, "-c", WAIT_NODES, address, str(n)],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=180,
    )
    alive = got.stdout.strip().splitlines()[-1:] or ["?"]
    assert alive == [str(n)], f"{alive[0]} of {n} raylets joined: {got.stderr[-500:]}"


def _stop(proc: subprocess.Popen) -> None:
    """End a ``ray start --block`` and every process it started (GCS, raylet, their
    workers: Ray puts them in sessions of their own, so the process group is not enough);
    nothing of this cluster's state is kept, so no graceful drain is needed."""
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


def test_a_worker_that_cannot_see_the_heads_files_gives_the_local_records(
    tmp_path, tiny_ladder, tiny_phis, ray_session
):
    reason = _unshare_works()
    if reason:
        pytest.skip(f"{reason}: a hidden-filesystem worker cannot be made here")
    hidden = tmp_path / "project"  # the tmpfs of the worker's namespace covers this
    hidden.mkdir()
    cfg = _project(hidden, tiny_ladder, tiny_phis)
    out = tmp_path / "results"  # on the head: the driver writes here
    # this cluster's own session files (short: Ray's socket paths must fit 107 bytes)
    raytmp = tempfile.mkdtemp(prefix="hcfray", dir="/tmp")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": raytmp}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head_args = ["--include-dashboard", "false", "--node-ip-address", "127.0.0.1"]
    common = ["--block", "--disable-usage-stats", "--temp-dir", raytmp]
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--port", str(port), "--num-cpus", "0", *head_args, *common],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = None
    try:
        _wait_for_port(port, head)
        inner = (
            f"mount -t tmpfs none {hidden} && test ! -e {cfg} && exec {RAY} start "
            f"--address {address} --num-cpus 2 --node-ip-address 127.0.0.1 --disable-usage-stats "
            "--block"
        )
        worker = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
            env=env,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_nodes(address, 2, env)
        run_args = ["--address", address, "--timeout", "240"]
        run = subprocess.run(
            [sys.executable, "-m", "hcf_ray.cli", "run", str(cfg), "--out", str(out), *run_args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert worker.poll() is None, "the hidden-filesystem worker raylet stopped"
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
        shutil.rmtree(raytmp, ignore_errors=True)
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
    summary = json.loads((out / "summary.json").read_text())
    actors = summary["wall"]["placement"]["actors"]
    # every actor on the worker (the head has no CPU), whose namespace hides the project
    assert len(actors) == 3 and len({a["ray_node_id"] for a in actors.values()}) == 1
    # the same run on the local test cluster, in this process, reading the files directly
    local = tmp_path / "local"
    run_simulation(load_scenario(cfg), local, options=RunOptions(check_transport=False))
    got, want = _records(out), _records(local)
    assert len(want) == 2 and {r["method"] for r in want} == {"hcf", "ident-drf"}
    assert all(r["status"] == "ok" for r in want)
    assert got == want
