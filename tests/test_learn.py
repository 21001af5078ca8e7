"""``hcf-sim learn``: one tiny PPO iteration, resumed for a second, exports a numpy policy
that ``hcf-sim run`` accepts; bad input is one line (exit 2) before RLlib is imported."""

import json

import numpy as np
import pytest
import yaml
from test_gym_env import write_sweep

from hcf_ray.cli import main

pytestmark = pytest.mark.heavy  # RLlib's import and algorithm build take tens of seconds


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["learn", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.yaml" in err[0]
    sweep = write_sweep(tmp_path / "cfg")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert main(["learn", str(sweep), "--out", str(busy)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["learn", str(sweep), "--out", str(busy), "--objective", "{1"]) == 2


def test_learn_export_run(ray_session, tmp_path, capsys):
    sweep = write_sweep(tmp_path / "cfg")
    out = tmp_path / "learned"
    args = ["learn", str(sweep), "--out", str(out), "--batch", "16", "--seed", "3"]
    assert main([*args, "--iterations", "1"]) == 0
    text = capsys.readouterr().out
    assert "iteration 1/1: return mean" in text
    doc = json.loads((out / "learn.json").read_text())
    assert doc["iterations_done"] == 1
    assert doc["objective"] == {"psnr": 1.0, "bpp": -10.0, "latency_ms": -0.01, "energy_j": -1.0}
    with np.load(out / "weights.npz") as z:
        first = z["w0"].copy()
    # resumed: one more iteration from the checkpoint, the weights move on
    assert main([*args, "--iterations", "2", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    doc = json.loads((out / "learn.json").read_text())
    assert doc["iterations_done"] == 2 and len(doc["history"]) == 2
    with np.load(out / "weights.npz") as z:
        assert z["w0"].shape == first.shape and not np.array_equal(z["w0"], first)

    # the exported policy needs neither torch nor RLlib to decide: its module imports none
    src = (out / "policy.py").read_text()
    assert "torch" not in src and "rllib" not in src
    topo = {
        "name": "line",
        "codec": "random:mbt2018-mean:4",
        "transport": "latent",
        "nodes": [{"id": n} for n in "abcd"],
        "links": [
            {"src": "a", "dst": "b", "bandwidth_mbps": 20, "latency_ms": 2},
            {"src": "b", "dst": "c", "bandwidth_mbps": 5, "latency_ms": 5},
            {"src": "c", "dst": "d", "bandwidth_mbps": 10, "latency_ms": 3},
        ],
        "flows": [
            {
                "name": "f",
                "source": "a",
                "source_level": 4,
                "destinations": [{"node": "d", "level": 1}],
                "n_q": 2,
                "methods": ["hcf"],
                "policy": {"class": f"{out}/policy.py:LearnedPolicy"},
                "images": str(sweep.parent / "images"),
            }
        ],
    }
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(topo))
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 0
    recs = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert recs and all(r["policy"] == "learned" and r["status"] == "ok" for r in recs)
    assert all(r["policy_spec"].endswith("policy.py:LearnedPolicy") for r in recs)
    assert all(len(set(r["levels"])) == 2 and r["levels"][-1] == 1 for r in recs)


def test_rllibs_notices_are_quiet_while_learning_only():
    """RLlib's deprecation and "new API stack" notices would reach stderr as raw log lines
    of ``hcf-sim learn``; while it trains they are dropped, and afterwards they are back."""
    import logging

    from ray._common.deprecation import deprecation_warning

    from hcf_ray.learn.train import _quiet_rllib

    seen = []
    catch = logging.Handler()
    catch.emit = seen.append
    names = ("ray._common.deprecation", "ray.rllib", "ray.rllib.algorithms")
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]  # as an earlier training in this process left them
    for lg, level in zip(loggers, (logging.WARNING, logging.WARNING, logging.NOTSET), strict=True):
        lg.setLevel(level)
    for lg in loggers[:2]:  # a record of ray.rllib.algorithms reaches ray.rllib's handlers
        lg.addHandler(catch)
    try:
        with _quiet_rllib():
            deprecation_warning(old="inside", error=False)
            logging.getLogger("ray.rllib.algorithms").warning("inside")
        assert seen == []
        deprecation_warning(old="outside", error=False)
        logging.getLogger("ray.rllib.algorithms").warning("outside too")
        assert [r.getMessage() for r in seen][1:] == ["outside too"]
        assert "outside" in seen[0].getMessage()
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.removeHandler(catch)
            lg.setLevel(level)
