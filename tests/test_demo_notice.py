"""Numbers made with the shipped demo models say so: one line on stderr from run and eval,
and ``summary.json`` names the bundle, its hash and that it is the demo ladder."""

import json
from pathlib import Path

import yaml
from configs import on_small_photos

from hcf_ray.cli import main
from hcf_ray.demo_models import DEMO_NOTICE

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "hcf_ray" / "samples"
ONE = ["--max-images", "1"]  # the notice is about the models, not the images


def _line_topology(tmp_path: Path, codec: str) -> Path:
    cfg = yaml.safe_load((ROOT / "topologies" / "line.yaml").read_text())
    cfg["codec"] = codec
    cfg["flows"][0]["methods"] = ["ssf"]
    cfg = on_small_photos(cfg)
    path = tmp_path / f"line-{codec.split(':')[0]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_run_with_the_demo_models_says_so(ray_session, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["run", str(_line_topology(tmp_path, "default")), "--out", str(out), *ONE]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [ln for ln in err if "demo models" in ln] == [f"hcf-sim: {DEMO_NOTICE}"]
    assert len(f"hcf-sim: {DEMO_NOTICE}") <= 200
    models = json.loads((out / "summary.json").read_text())["models"]
    assert models["demo"] is True and models["requested"] == "default"
    assert models["name"].startswith("hcf-sim default demo ladder")
    assert len(models["bundle_sha256"]) == 64 and models["notice"] == DEMO_NOTICE

    out = tmp_path / "random"
    assert (
        main(["run", str(_line_topology(tmp_path, "random:mbt2018-mean")), "--out", str(out), *ONE])
        == 0
    )
    assert "demo models" not in capsys.readouterr().err
    models = json.loads((out / "summary.json").read_text())["models"]
    assert models["demo"] is False and models["name"] == "random:mbt2018-mean"
    assert "notice" not in models


def test_eval_with_the_demo_models_says_so(tmp_path, capsys):
    args = ["eval", "--images", str(SAMPLES), "--max-images", "1", "--methods", "ssf"]
    assert main([*args, "--source-level", "2"]) == 0
    err = capsys.readouterr().err
    assert err.count(DEMO_NOTICE) == 1 and len(f"hcf-sim: {DEMO_NOTICE}") <= 200
    assert main([*args, "--source-level", "2", "--models", "random:mbt2018-mean"]) == 0
    assert DEMO_NOTICE not in capsys.readouterr().err
