"""A real two-raylet Ray cluster, shared by the tests that need one (started once, ~20 s).

* The head has 1 CPU, resource ``site_a`` and the dashboard (job submission goes through it).
* The worker has 1 CPU and resource ``site_b``, and runs inside its own mount namespace
  (``unshare -m``), where a tmpfs hides the project folder: the run's YAML, model bundle
  (a ladder + φ bank of its own), policy file, method file and images. Where ``unshare`` is
  not permitted, the worker starts without it and only the hidden-files test is skipped,
  saying so.

Both live in a ``RAY_TMPDIR`` of this module's own (short: Unix socket paths are limited to
about 100 characters), so the test session's own Ray instance is not disturbed; they are
ended by killing their own processes, never with ``ray stop``."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml
from PIL import Image

from hcf_ray.images import sample_images
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.scenario import load_scenario

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

BIN = Path(sys.executable).parent
RAY = BIN / "ray"
ROOT = Path(__file__).resolve().parents[1]
HCF_SIM = [sys.executable, "-m", "hcf_ray.cli"]
HEAD_CPUS, WORKER_CPUS = 1, 1  # a pool actor on each raylet

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
    name = "cluster-drf"  # unique in the test process: method names are registered once
    description = "DRF from a user file"
"""

WAIT_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
end = time.monotonic() + 120
while sum(n["Alive"] for n in ray.nodes()) < int(sys.argv[2]) and time.monotonic() < end:
    time.sleep(0.5)
print(json.dumps(sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])))
""".replace("import sys", "import json, sys")


@dataclass
class RealCluster:
    address: str  # GCS, for --address
    dashboard: str  # http://…, for ray job submit
    env: dict  # RAY_TMPDIR of the cluster, PATH with this environment's hcf-sim and ray
    project: Path  # hidden from the worker's actors when ``hidden``
    hidden: bool
    why_not_hidden: str
    nodes: list[str]  # Ray node IDs of the two raylets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unshare_works() -> str:
    """'' when this machine can give a process its own mount namespace with a tmpfs."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        text=True,
    )
    return "" if probe.returncode == 0 else f"unshare -m not permitted: {probe.stderr.strip()}"


def _stop(proc: subprocess.Popen) -> None:
    """End a ``ray start --block`` and every process it started (GCS, raylet, their workers:
    Ray gives them sessions of their own, so the process group is not enough)."""
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


def _popen(cmd: list[str], env: dict, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for_dashboard(url: str, proc: subprocess.Popen) -> None:
    end = time.monotonic() + 180
    while True:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/api/version", timeout=2) as r,
        ):
            if r.status == 200:
                return
        if proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"the Ray head's dashboard did not answer at {url}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    raytmp = tempfile.mkdtemp(prefix="hcfrc", dir="/tmp")
    project = tmp_path_factory.mktemp("project")
    env = {
        **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": raytmp,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port, dash = _free_port(), _free_port()
    ip = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--block"]
    # each raylet's agent on a port of its own: the default one may be taken by the test
    # session's Ray instance, and jobs then find no agent
    head_args = ["--head", "--port", str(port), "--num-cpus", str(HEAD_CPUS)]
    head_args += ["--resources", '{"site_a": 4}', "--include-dashboard", "true"]
    head_args += ["--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash)]
    head_args += ["--dashboard-agent-listen-port", str(_free_port())]
    # actors at niceness 0, as hcf-sim's own local instance starts them (Ray's default of 15
    # starves them next to any other busy process); the worker raylet reads it from the GCS
    head_args += ["--system-config", json.dumps({"worker_niceness": 0})]
    head = _popen([str(RAY), "start", *head_args, *ip], env, raytmp)
    worker = None
    try:
        url = f"http://127.0.0.1:{dash}"
        _wait_for_dashboard(url, head)
        why_not = _unshare_works()
        join = [str(RAY), "start", "--address", f"127.0.0.1:{port}", "--num-cpus", str(WORKER_CPUS)]
        join += ["--resources", '{"site_b": 4}']
        join += ["--dashboard-agent-listen-port", str(_free_port()), *ip]
        if why_not:
            worker = _popen(join, env, "/")
        else:  # the project folder is an empty tmpfs for this raylet and its actors
            inner = f'mount -t tmpfs none {project} && test -z "$(ls -A {project})" && exec '
            inner += " ".join(f"'{a}'" for a in join)
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", inner]
            worker = _popen(cmd, env, "/")
        waited = subprocess.run(
            [sys.executable, "-c", WAIT_NODES, f"127.0.0.1:{port}", "2"],
            env=env,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=180,
        )
        nodes = json.loads((waited.stdout.strip().splitlines() or ["[]"])[-1])
        assert len(nodes) == 2, f"{len(nodes)} of 2 raylets joined: {waited.stderr[-800:]}"
        yield RealCluster(f"127.0.0.1:{port}", url, env, project, not why_not, why_not, nodes)
        assert worker.poll() is None, "the worker raylet stopped during the tests"
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
        shutil.rmtree(raytmp, ignore_errors=True)


def _hcf_sim(cluster: RealCluster, *args, env: dict | None = None, timeout: float = 400):
    return subprocess.run(
        [*HCF_SIM, *map(str, args)],
        env=env or cluster.env,
        cwd=cluster.project.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _records(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x]
    key = ("flow", "destination", "image", "method")
    return sorted(
        ({k: v for k, v in r.items() if k != "wall"} for r in rows),
        key=lambda r: tuple(str(r.get(k)) for k in key),
    )


def _placement(out: Path) -> dict[str, dict]:
    where = json.loads((out / "summary.json").read_text())["wall"]["placement"]
    return {node: where["actors"][actor] for node, actor in where["nodes"].items()}


def _actor_nodes(out: Path) -> set[str]:
    actors = json.loads((out / "summary.json").read_text())["wall"]["placement"]["actors"]
    return {a["ray_node_id"] for a in actors.values()}


def _local(cfg: Path, out: Path, **kw) -> list[dict]:
    """The same run on the test session's own local Ray instance, reading the files."""
    run_simulation(load_scenario(cfg, **kw), out, options=RunOptions(check_transport=False))
    return _records(out)


def _crops(folder: Path, n: int) -> str:
    """``n`` small crops of the sample photos in ``folder`` (the claims here are about where
    work runs, not about image size); returns the folder for a flow's ``images``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sample_images()[:n]):
        Image.open(path).convert("RGB").crop((0, 0, 128, 96)).save(folder / f"{i}.png")
    return str(folder)


# -- actors on two machines, one of which cannot see the head's files ----------------------
def _hidden_project(folder: Path, tiny_ladder, tiny_phis) -> Path:
    """The run's files, all below ``folder``: YAML, bundle, φ bank, policy, method, image.
    camera and screen are pinned to the worker, the relay to the head."""
    tiny_ladder.save(folder / "models", half=False)
    tiny_phis.save(folder / "models", half=False)
    (folder / "images").mkdir()
    Image.open(sample_images()[0]).crop((0, 0, 128, 96)).save(folder / "images" / "a.png")
    (folder / "late.py").write_text(POLICY)
    (folder / "meth.py").write_text(METHOD)
    topo = {
        "name": "two-sites",
        "codec": "models",
        "placement": "dedicated",
        "node_defaults": {"num_cpus": 0.25},
        "nodes": [
            {"id": "camera", "resources": {"site_b": 1}},
            {"id": "relay", "resources": {"site_a": 1}},
            {"id": "screen", "resources": {"site_b": 1}},
        ],
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
    cfg = folder / "two_sites.yaml"
    cfg.write_text(yaml.safe_dump(topo))
    return cfg


def test_actors_on_a_machine_that_cannot_see_the_heads_files_give_the_local_records(
    cluster, tiny_ladder, tiny_phis, tmp_path, ray_session
):
    """Dedicated placement pins actors to raylets by resources; the worker's actors (camera,
    screen) read none of the project's paths, yet the records equal a local run's."""
    if not cluster.hidden:
        pytest.skip(f"{cluster.why_not_hidden}: the worker could not be given a hidden folder")
    cfg = _hidden_project(cluster.project, tiny_ladder, tiny_phis)
    out = tmp_path / "cluster"
    run = _hcf_sim(cluster, "run", cfg, "--out", out, "--address", cluster.address)
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
    where = {node: p["ray_node_id"] for node, p in _placement(out).items()}
    assert where["camera"] == where["screen"] != where["relay"]  # pinned by resources
    assert {where["camera"], where["relay"]} == set(cluster.nodes)  # both raylets
    assert len({p["pid"] for p in _placement(out).values()}) == 3  # one actor per node
    # the same run on the test session's local instance, on its (warm) pool: records depend
    # neither on where an actor ran nor on which actor ran a job
    local = yaml.safe_load(cfg.read_text())
    local["placement"] = "pool"
    for node in local["nodes"]:
        node.pop("resources")
    local_cfg = cluster.project / "two_sites_local.yaml"
    local_cfg.write_text(yaml.safe_dump(local))
    want = _local(local_cfg, tmp_path / "local")
    assert len(want) == 2 and {r["method"] for r in want} == {"hcf", "cluster-drf"}
    assert all(r["status"] == "ok" for r in want)
    assert _records(out) == want


# -- --address auto, and a pool over the whole cluster (RAY_ADDRESS: the jobs below) ----------
def test_auto_joins_and_a_pool_spreads_over_the_cluster_with_the_local_records(
    cluster, tmp_path, ray_session
):
    """``--address auto`` joins the running cluster (saying so, in hcf-sim's own lines);
    placement: pool spreads one actor per CPU of the whole cluster, named by role as
    ``ray list actors`` shows them; where a job ran does not change a record."""
    mesh = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    mesh["codec"] = "random:mbt2018-mean"
    crops = _crops(tmp_path / "images", 1)
    for flow in mesh["flows"]:
        flow["images"] = crops
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(yaml.safe_dump(mesh))
    # a relative --out whose parent does not exist yet, as the README's command has it
    out = tmp_path / "new" / "auto"
    rel = os.path.relpath(out, cluster.project.parent)
    run = _hcf_sim(cluster, "run", cfg, "--out", rel, "--address", "auto")
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert all(ln.startswith("hcf-sim:") for ln in lines), lines  # no raw Ray lines
    assert any("joined the Ray cluster at" in ln and "(--address auto)" in ln for ln in lines)
    actors = json.loads((out / "summary.json").read_text())["wall"]["placement"]["actors"]
    assert len(actors) == HEAD_CPUS + WORKER_CPUS  # one pool actor per CPU of the cluster
    assert _actor_nodes(out) == set(cluster.nodes)
    # the run's actors, as the dashboard and `ray list actors` show them: named by role
    listed = _ray(cluster, "list", "actors", "--address", cluster.dashboard, "--format", "json")
    assert listed.returncode == 0, listed.stderr[-1500:]
    names = {a.get("name", "") for a in json.loads(listed.stdout)}
    pool = {f"hcf-sim pool{i}" for i in range(HEAD_CPUS + WORKER_CPUS)}  # one per CPU
    assert pool <= {n.rsplit(" ", 1)[0] for n in names if n.startswith("hcf-sim ")}
    got = _records(out)
    assert got == _local(cfg, tmp_path / "local_mesh")
    assert len(got) == 2 * 3 + 1 * 3  # (tv, phone) + tv, 3 methods


# -- ray job submit ---------------------------------------------------------------------------
def _job(cluster: RealCluster, project: Path, *args: str, wait: bool = True):
    cmd = [str(RAY), "job", "submit", "--address", cluster.dashboard, "--working-dir", str(project)]
    if not wait:
        cmd.append("--no-wait")
    end = time.monotonic() + 240
    while True:
        res = subprocess.run(
            [*cmd, "--", "hcf-sim", *args],
            env=cluster.env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=400,
        )
        # a fresh head's job agent starts a little after its dashboard: Ray says to retry
        if "No available agent" not in res.stderr or time.monotonic() > end:
            return res
        time.sleep(1)


def _ray(cluster: RealCluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RAY), *args], env=cluster.env, capture_output=True, text=True, timeout=120
    )


def test_a_submitted_job_writes_where_out_says_and_a_stopped_one_resumes(
    cluster, tmp_path, ray_session
):
    """As the README's cluster section says: the job runs in a temporary copy of the working
    directory, so results go to an absolute --out; a job stopped with ``ray job stop``
    leaves a folder that --resume completes, with the records of an uninterrupted run."""
    project = tmp_path / "job_project"
    project.mkdir()
    cfg = yaml.safe_load((ROOT / "topologies" / "line.yaml").read_text())
    cfg["codec"] = "random:mbt2018-mean"
    cfg["flows"][0]["methods"] = ["hcf", "ssf"]
    cfg["flows"][0]["images"] = "images"  # relative: the job's copy of the project has them
    _crops(project / "images", 2)
    (project / "line.yaml").write_text(yaml.safe_dump(cfg))
    clean = _local(project / "line.yaml", tmp_path / "local")  # where a job runs changes nothing
    assert len(clean) == 2 * 2 and all(r["status"] == "ok" for r in clean)

    # a job, stopped with ray job stop as soon as its output folder exists
    stopped = tmp_path / "results" / "stopped"
    sub = _job(cluster, project, "run", "line.yaml", "--out", str(stopped), wait=False)
    assert sub.returncode == 0, sub.stderr[-2000:]
    words = (w.strip("'\"") for w in (sub.stdout + sub.stderr).split())
    job_id = next(w for w in words if w.startswith("raysubmit_"))
    end = time.monotonic() + 300
    while not (stopped / "run.json").exists():
        assert time.monotonic() < end, "the job never started its run"
        time.sleep(0.2)
    stop = _ray(cluster, "job", "stop", "--address", cluster.dashboard, job_id)
    assert stop.returncode == 0, stop.stderr[-2000:]
    status = _ray(cluster, "job", "status", "--address", cluster.dashboard, job_id)
    text = status.stdout + status.stderr
    assert "was stopped" in text or "succeeded" in text.lower(), text[-1000:]
    kept = len(_records(stopped)) if (stopped / "results.jsonl").exists() else 0
    assert kept <= len(clean)
    resumed = _job(cluster, project, "run", "line.yaml", "--out", str(stopped), "--resume")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "succeeded" in (resumed.stdout + resumed.stderr).lower()
    # Ray hands a job its cluster through RAY_ADDRESS, and the driver says it joined it
    assert "joined the Ray cluster at" in resumed.stdout and "(RAY_ADDRESS" in resumed.stdout
    assert not (project / "results").exists()  # the job wrote where the absolute --out says
    assert _records(stopped) == clean


# -- the README's cluster section ------------------------------------------------------------
def test_the_readme_cluster_commands_parse_and_are_the_ones_tested_here():
    """Every shell block of the README's cluster section is valid bash (``bash -n``), and it
    shows the commands the tests above run: the head-node flow with ``--address auto``,
    ``ray job submit`` with a working directory, ``ray job stop``, ``ray list actors``."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Running on a Ray cluster")
    section = text[start : text.index("\n## ", start + 1)]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        check = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    shell = "\n".join(blocks)
    assert "ray start --head --port=6379" in shell
    assert "hcf-sim run topologies/mesh.yaml --address auto" in shell
    assert "ray job submit --address http://HEAD_IP:8265 --working-dir ." in shell
    assert "ray list actors" in shell
    assert "ray job stop" in section and "--resume" in section
