"""``hcf-sim export-compressai``: checkpoints CompressAI's own eval_model reads and codes with
the same rate and distortion as ``hcf-sim eval --methods ssf``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from hcf_ray.cli import main
from hcf_ray.images import sample_images

# eval_model pads with zeros, hcf-sim by repeating the border: sides that are multiples of 64
# need no padding, so both code the same pixels. MS-SSIM (eval_model reports it) needs > 160.
CROP = 192


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for path in sample_images()[:2]:
        Image.open(path).convert("RGB").crop((0, 0, CROP, CROP)).save(folder / path.name)
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from hcf_ray.export_compressai import export_compressai

    out = tmp_path_factory.mktemp("ckpt")
    return export_compressai("default", out)


def _eval_model(images, paths) -> dict:
    """CompressAI's own evaluation of the checkpoints, in a fresh interpreter."""
    cmd = [sys.executable, "-m", "compressai.utils.eval_model", "checkpoint", str(images)]
    cmd += ["-a", "mbt2018-mean", "-p", *map(str, paths)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)["results"]


def test_eval_model_matches_ssf(images, exported):
    from hcf_ray.bundle import load_bundle
    from hcf_ray.evaluate import evaluate

    assert [p.name for p in exported] == [f"level{k}.pth.tar" for k in range(1, 7)]
    theirs = _eval_model(images, exported)  # with its own update(force=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what eval_model runs with
    try:
        ours = evaluate(load_bundle("default"), sorted(images.glob("*.png")), ["ssf"])["ssf"]
    finally:
        torch.set_num_threads(threads)
    assert ours.levels == [1, 2, 3, 4, 5, 6]
    # the same bytes: bpp = payload bytes * 8 / pixels, averaged over the two images
    assert theirs["bpp"] == pytest.approx(ours.bpp, rel=1e-12)
    # eval_model's PSNR reduces in float32, ours in float64 (same 8-bit images)
    assert theirs["psnr-rgb"] == pytest.approx(ours.psnr, abs=1e-3)


def test_checkpoint_holds_what_eval_model_needs(exported):
    """The entropy-model tables the shipped level files lack, and float32 weights."""
    ckpt = torch.load(exported[2], map_location="cpu", weights_only=True)
    assert (ckpt["arch"], ckpt["level"]) == ("mbt2018-mean", 3)
    state = ckpt["state_dict"]
    for key in ("_quantized_cdf", "_offset", "_cdf_length"):
        assert f"entropy_bottleneck.{key}" in state
        assert f"gaussian_conditional.{key}" in state
    assert "gaussian_conditional.scale_table" in state
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float32}
    assert state["g_a.0.weight"].shape[0] == 64 and state["g_a.6.weight"].shape[0] == 96


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    spec = "random:mbt2018-mean:8:12:2"
    out = tmp_path / "out"
    assert main(["export-compressai", "--models", spec, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"wrote {out / 'level1.pth.tar'}", f"wrote {out / 'level2.pth.tar'}"]
    assert "compressai.utils.eval_model checkpoint IMAGES -a mbt2018-mean" in lines[2]
    before = (out / "level1.pth.tar").stat().st_mtime_ns

    assert main(["export-compressai", "--models", spec, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "level1.pth.tar already exists" in err[0] and "--overwrite" in err[0]
    assert (out / "level1.pth.tar").stat().st_mtime_ns == before

    args = ["export-compressai", "--models", spec, "--out", str(out), "--overwrite"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["level1.pth.tar", "level2.pth.tar"]


def test_cli_bad_spec_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export-compressai", "--models", "random:nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hcf-sim: error: --models:")
    assert not out.exists()


def test_import_after_compressai_eval_model():
    """eval_model adds its variable-rate models to the zoo's shared architecture table when
    imported; hcf_ray imports (and supports the same architectures) either way."""
    code = (
        "import compressai.utils.eval_model.__main__, hcf_ray, hcf_ray.model_spec\n"
        "from hcf_ray.codecs.ladder import ARCHITECTURES\n"
        "print(','.join(sorted(ARCHITECTURES)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = "bmshj2018-hyperprior,cheng2020-anchor,cheng2020-attn,mbt2018,mbt2018-mean"
    assert done.stdout.strip() == expected
