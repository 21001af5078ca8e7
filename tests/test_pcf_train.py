"""Tail-drop training (resumable, warm start, export) and the shipped pcf-tail weights."""

import argparse
import itertools
import json
import os
import shutil

import pytest
import torch

from hcf_ray.codecs.ladder import build_model
from hcf_ray.pcf.codec import MANIFEST, default_pcf_dir, load_tail_codec
from hcf_ray.pcf.train import TailDropRecipe, TailDropTrainer, pick_warm_start


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    from hcf_ray.images import sample_images

    d = tmp_path_factory.mktemp("imgs")
    for p in sample_images()[:2]:
        shutil.copy(p, d / p.name)
    return d


def _recipe(**kw):
    base = dict(N=16, M=24, group_size=6, crop=64, batch=2, val_every=2, val_crop=128, val_images=1)
    return TailDropRecipe(**{**base, **kw})


def test_lambda_schedule():
    lam = TailDropRecipe().lambdas()
    assert lam.shape == (12,)
    assert lam[0].item() == pytest.approx(0.0018) and lam[-1].item() == pytest.approx(0.0483)
    assert torch.all(lam[1:] > lam[:-1])
    assert torch.all(TailDropRecipe(lambda_mode="single").lambdas() == 0.0483)
    with pytest.raises(ValueError, match="lambda_mode"):
        TailDropRecipe(lambda_mode="other")


def test_train_resume_warm_start_export(tmp_path, image_dir):
    # a "ladder checkpoint" of the same widths to warm-start from
    ladder_dir = tmp_path / "ladder"
    ladder_dir.mkdir()
    torch.manual_seed(0)
    torch.save(
        {"model": build_model("mbt2018-mean", 16, 24).state_dict()}, ladder_dir / "level4.ckpt"
    )
    torch.save(
        {"model": build_model("mbt2018-mean", 16, 24).state_dict()}, ladder_dir / "level6.ckpt"
    )
    assert pick_warm_start(ladder_dir).name == "level6.ckpt"

    work = tmp_path / "pcf"
    trainer = TailDropTrainer(work, image_dir, image_dir, _recipe(), warm_start=ladder_dir)
    trainer.run(max_iters=2)
    log = [json.loads(line) for line in (work / "train.log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "warm_start" and log[0]["from"].endswith("level6.ckpt")
    val = log[-1]["val"]
    assert log[-1]["it"] == 2 and len(val["bpp"]) == len(val["psnr"]) == 4
    assert val["bpp"] == sorted(val["bpp"])
    assert len(val["j2k_psnr"]) == 4

    resumed = TailDropTrainer(work, image_dir, None)  # recipe comes from the work dir
    assert resumed.recipe.group_size == 6
    resumed.run(max_iters=1, lr=1e-5)
    data = torch.load(work / "pcf.ckpt", weights_only=False)
    assert data["it"] == 3 and data["opt"]["param_groups"][0]["lr"] == 1e-5

    codec = resumed.export(tmp_path / "export")
    manifest = json.loads((tmp_path / "export" / MANIFEST).read_text())
    assert manifest["training"]["iterations"] == 3 and manifest["group_sizes"] == [6] * 4
    assert manifest["training"]["warm_start"] == f"{ladder_dir.name}/level6.ckpt"  # portable
    assert load_tail_codec(tmp_path / "export").group_sizes == codec.group_sizes


def test_cli_registration(tmp_path, image_dir):
    from hcf_ray.pcf.cli import add_pcf_commands

    parser = argparse.ArgumentParser()
    add_pcf_commands(parser.add_subparsers(dest="what"))
    args = parser.parse_args(
        ["pcf", "--data", str(image_dir), "--workdir", str(tmp_path / "w"), "--N", "16",
         "--M", "24", "--group-size", "12", "--crop", "64", "--batch", "1", "--max-iters", "1",
         "--export", str(tmp_path / "e")]
    )  # fmt: skip
    assert args.func(args) == 0
    assert load_tail_codec(tmp_path / "e").group_sizes == (12, 12)
    bad = parser.parse_args(["pcf", "--data", str(tmp_path / "none"), "--workdir", str(tmp_path)])
    from hcf_ray.cli import UserError

    with pytest.raises(UserError, match="image folder not found"):
        bad.func(bad)


def _trained_tail_model():
    # shipped weights, or any exported model directory named by HCF_PCF_MODEL
    env = os.environ.get("HCF_PCF_MODEL")
    if env:
        return env
    return "default" if (default_pcf_dir() / MANIFEST).is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(_trained_tail_model() is None, reason="no trained pcf-tail weights")
def test_trained_tail_model_three_nodes_monotonic_psnr():
    from hcf_ray.images import load_image, sample_images
    from hcf_ray.metrics import psnr
    from hcf_ray.pcf import make_baseline, run_chain

    x = load_image(sample_images()[0])
    base = make_baseline("pcf-tail", tail_model=_trained_tail_model())
    res = run_chain(base, x, [6, 4, 2, 1])  # source, then three nodes truncating
    source = res.payloads[0].data
    for prev, cur in itertools.pairwise(res.payloads):
        assert len(cur.data) < len(prev.data) and source.startswith(cur.data)
    psnrs = [psnr(x, base.decode(p, p.level)) for p in res.payloads]
    assert all(a > b for a, b in itertools.pairwise(psnrs)), psnrs
