"""CLI start-up: ``hcf-sim --help`` and ``hcf-sim validate`` of a 750-node network.

    python benchmarks/cli_start.py [--repeats 5] [--nodes 750] [--flows 10]

Each command runs in its own process (``python -m hcf_ray.cli``), ``--repeats`` times; the
JSON printed gives the median and every wall time, and the peak resident memory of the
process (its own rusage, from ``os.wait4``). The 750-node graph is generated here (a seeded
Waxman graph laid out like ``topologies/zoo/isp150.gml``: Zoo-style GraphML with coordinates
and link speeds) with ``--flows`` two-destination flows, into a temporary folder; the level
rates come from the package, not from the user's cache (``HCF_SIM_CACHE`` is an empty folder).
Targets: ``--help`` under 1 s; ``validate`` under 3 s and 300 MB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import yaml

TARGETS = {"help_s": 1.0, "validate_s": 3.0, "validate_rss_mb": 300.0}


def write_network(folder: Path, nodes: int, flows: int, seed: int = 750) -> Path:
    """A connected ``nodes``-node GraphML network (the same for every seed) and a topology
    YAML with ``flows`` flows between nodes drawn with ``seed``."""
    g = nx.waxman_graph(nodes, beta=0.25, alpha=0.08 * (150 / nodes) ** 0.5, seed=nodes)
    parts = [sorted(c) for c in nx.connected_components(g)]
    for a, b in itertools.pairwise(parts):  # join the components into one network
        g.add_edge(a[0], b[0])
    rng = random.Random(seed)
    graph = nx.Graph()
    for n, data in g.nodes(data=True):
        x, y = data["pos"]
        graph.add_node(n, label=f"n{n}", Latitude=30 + 25 * y, Longitude=-120 + 40 * x)
    for u, v in g.edges:
        graph.add_edge(u, v, LinkSpeedRaw=rng.choice((1e8, 1e9, 1e10)))
    nx.write_graphml(graph, folder / "net.graphml")
    names = rng.sample([f"n{n}" for n in graph.nodes], 3 * flows)
    config = {
        "name": f"net{nodes}",
        "codec": "default",
        "transport": "latent",
        "graph": {"file": "net.graphml"},
        "node_defaults": {"num_cpus": 0},
        "flows": [
            {
                "name": f"f{i}",
                "source": names[3 * i],
                "source_level": 6,
                "destinations": [
                    {"node": names[3 * i + 1], "level": 4, "n_q": 2},
                    {"node": names[3 * i + 2], "level": 1, "n_q": 3},
                ],
                "methods": ["hcf", "drf", "ssf"],
                "policy": "edge",
            }
            for i in range(flows)
        ],
    }
    path = folder / "net.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def plannable_network(folder: Path, nodes: int, flows: int, env: dict) -> Path:
    """:func:`write_network` with the first flow seed whose destinations can all be planned
    (a destination on the route to another one of its flow may need a level that route's
    link cannot carry)."""
    for seed in range(750, 800):
        path = write_network(folder, nodes, flows, seed)
        cmd = [sys.executable, "-m", "hcf_ray.cli", "validate", str(path)]
        if subprocess.run(cmd, capture_output=True, env=env).returncode == 0:
            return path
    raise SystemExit("no plannable set of flows found")


def run_once(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``python -m hcf_ray.cli ARGS`` (output discarded)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hcf_ray.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"hcf-sim {' '.join(args)} failed ({proc.returncode}): {err[-500:]}")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    return wall, usage.ru_maxrss * scale / 1e6


def measure(args: list[str], repeats: int, env: dict) -> dict:
    runs = [run_once(args, env) for _ in range(repeats)]
    walls = [w for w, _ in runs]
    return {
        "median_s": round(statistics.median(walls), 3),
        "wall_s": [round(w, 3) for w in walls],
        "peak_rss_mb": round(max(r for _, r in runs), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--nodes", type=int, default=750)
    p.add_argument("--flows", type=int, default=10)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hcf-cli-start-") as tmp:
        env = {**os.environ, "HCF_SIM_CACHE": str(Path(tmp) / "cache")}
        config = plannable_network(Path(tmp), a.nodes, a.flows, env)  # warms the file cache
        help_ = measure(["--help"], a.repeats, env)
        validate = measure(["validate", str(config)], a.repeats, env)
    out = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "help": help_,
        "validate": {"nodes": a.nodes, "flows": a.flows, **validate},
        "targets": TARGETS,
        "within_targets": {
            "help_s": help_["median_s"] < TARGETS["help_s"],
            "validate_s": validate["median_s"] < TARGETS["validate_s"],
            "validate_rss_mb": validate["peak_rss_mb"] < TARGETS["validate_rss_mb"],
        },
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
