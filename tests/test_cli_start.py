"""The root CLI starts light: ``hcf-sim --help``, ``hcf-sim validate`` and ``hcf-sim graph``
import neither torch nor Ray (``python -X importtime`` lists every module a process
imports), and a reader that stops early (``| head``) ends the command quietly. Behaviour only: no timings here
(``benchmarks/cli_start.py`` measures them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "compressai")


def _cli(*args: str, cache: Path, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "HCF_SIM_CACHE": str(cache), "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True
    )


def _imported(stderr: str) -> set[str]:
    """Top-level names of every module ``-X importtime`` reports (``… | cumulative | name``)."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["validate", "topologies/mesh.yaml"],
        ["validate", "topologies/line.yaml"],
        ["validate", "topologies/star.yaml"],  # a user policy file (it imports hcf_ray.policy)
        ["validate", "topologies/deadline.yaml"],  # its policy asks for the level rates
        ["validate", "topologies/sweep.yaml"],
        ["graph", "tests/data/graphs/cli/small.gml", "--json"],  # a graph file
        ["graph", "topologies/isp150.yaml"],  # a topology YAML with a graph: section
    ],
    ids=lambda argv: " ".join(argv).replace("topologies/", ""),
)
def test_help_validate_and_graph_import_neither_torch_nor_ray(argv, tmp_path):
    # an empty level-rate cache: the rates of the shipped models come with the package
    done = _cli("-X", "importtime", "-m", "hcf_ray.cli", *argv, cache=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = _imported(done.stderr)
    assert {"hcf_ray", "argparse"} <= imported  # the listing is read right
    assert not imported & set(HEAVY), f"hcf-sim {' '.join(argv)} imported {imported & set(HEAVY)}"
    if argv[0] == "validate":
        assert done.stdout.startswith(f"ok: {argv[1]}: "), done.stdout
    elif argv[0] == "graph":
        assert done.stdout.startswith(("{", f"network {argv[1]} ")), done.stdout[:200]
    else:
        assert "validate" in done.stdout and "train" in done.stdout
    assert not any(tmp_path.iterdir())  # nothing measured, nothing cached


def test_a_train_subcommand_is_there_when_train_is_used(tmp_path):
    """``train pcf`` is registered only once ``train`` is parsed (its defaults need torch)."""
    done = _cli("-m", "hcf_ray.cli", "train", "--help", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("ladder", "shared", "hcf", "hyper", "status", "pcf"):
        assert f"    {name} " in done.stdout
    done = _cli("-m", "hcf_ray.cli", "train", "pcf", "--help", cache=tmp_path)
    assert done.returncode == 0 and "--group-size" in done.stdout


def test_a_closed_pipe_ends_validate_quietly(tmp_path):
    """stdout is a pipe whose reader has gone before the first line: no error, exit 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _cli(
            "-m",
            "hcf_ray.cli",
            "validate",
            "topologies/mesh.yaml",
            cache=tmp_path,
            stdout=write_end,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""


def test_head_reads_one_line_of_validate(tmp_path):
    """``hcf-sim validate … | head -1`` in a shell: one line out, nothing on stderr."""
    cmd = f"{sys.executable} -m hcf_ray.cli validate topologies/isp150.yaml | head -1"
    done = subprocess.run(
        ["sh", "-c", cmd],
        cwd=ROOT,
        env={**os.environ, "HCF_SIM_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("ok: topologies/isp150.yaml: 150 nodes")
    assert done.stdout.count("\n") == 1


def test_a_broken_pipe_elsewhere_is_still_an_internal_error(monkeypatch, capsys):
    """Only stdout's reader going away is quiet: another pipe breaking is a bug to report."""
    from hcf_ray import cli
    from hcf_ray.sim import cli as sim_cli

    def broken(args):
        raise BrokenPipeError("a worker's pipe")

    monkeypatch.setattr(sim_cli, "cmd_validate", broken)
    monkeypatch.setattr(cli, "_stdout_closed", lambda: False)
    assert cli.main(["validate", "x.yaml"]) == 1
    assert "internal error: BrokenPipeError: a worker's pipe" in capsys.readouterr().err


def test_the_shipped_level_rates_are_the_default_models_measured(tmp_path, monkeypatch):
    """The shipped table is found by the shipped models' sha256 and matches a measurement
    on the sample images (torch, CompressAI's entropy coder)."""
    from hcf_ray.bundle import BundleSource
    from hcf_ray.bundle_id import bundle_sha256
    from hcf_ray.level_rates import level_bpp, measure_level_bpp, shipped_level_bpp

    monkeypatch.setenv("HCF_SIM_CACHE", str(tmp_path))
    shipped = shipped_level_bpp(bundle_sha256("default"))
    assert shipped is not None and sorted(shipped) == [1, 2, 3, 4, 5, 6]
    assert level_bpp("default") == shipped
    measured = measure_level_bpp(BundleSource("default"))
    assert measured == pytest.approx(shipped, rel=1e-6)
    assert shipped_level_bpp("0" * 64) is None


def test_the_codec_check_knows_the_phi_manifest():
    """``hcf-sim validate`` finds φ modules without torch: the same file name PhiBank writes."""
    from hcf_ray.hcf.bank import MANIFEST
    from hcf_ray.sim.codec import PHI_MANIFEST, resolve_codec

    assert PHI_MANIFEST == MANIFEST
    weights = ROOT / "hcf_ray" / "weights" / "default"
    assert resolve_codec(str(weights), None).has_phis is (weights / "phi.json").is_file()
