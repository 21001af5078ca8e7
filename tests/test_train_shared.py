"""The shared-network ladder: exact folding into independent levels, training, resume, export."""

import json
from dataclasses import replace

import pytest
import torch
from PIL import Image

from hcf_ray.codecs import QualityLadder
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.images import sample_images
from hcf_ray.train.data import CropSampler
from hcf_ray.train.resume import RecipeMismatch
from hcf_ray.train.shared import SharedLadder, SharedRecipe, SharedTrainer, shared_rd_loss


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    Image.open(sample_images()[0]).save(d / "0.png")
    return d


def _shared(levels=3, seed=0):
    torch.manual_seed(seed)
    net = QualityLadder.random("mbt2018-mean", 1, N=16, M=24, seed=seed)[1].model
    gains = torch.rand(levels, 24) * 3 + 0.2
    return SharedLadder(net, gains)


def test_folded_level_computes_exactly_the_shared_level():
    shared = _shared().eval()
    shared.net.update(force=True)
    x = torch.rand(2, 3, 64, 64)
    for k in shared.levels:
        folded = shared.fold(k).eval()
        folded.update(force=True)
        ours = shared(x, torch.tensor([k, k]))
        theirs = folded(x)
        assert torch.allclose(ours["x_hat"], theirs["x_hat"], atol=1e-4)
        for key in ("y", "z"):
            assert torch.allclose(
                ours["likelihoods"][key], theirs["likelihoods"][key], rtol=1e-3, atol=1e-6
            )
    # the folded levels really differ from one another and from the shared net
    a, b = shared.fold(1), shared.fold(2)
    assert not torch.equal(a.g_a[-1].weight, b.g_a[-1].weight)
    assert torch.equal(a.g_a[0].weight, b.g_a[0].weight)  # only the four boundary layers change


def test_folded_ladder_codes_real_bitstreams_and_rate_follows_the_gain():
    net = QualityLadder.random("mbt2018-mean", 1, N=16, M=24, seed=1)[1].model
    shared = SharedLadder(net, torch.tensor([[4.0] * 24, [16.0] * 24, [64.0] * 24]))
    ladder = shared.ladder()
    x = torch.rand(1, 3, 64, 96)
    sizes = []
    for k in ladder.levels:
        codec: LevelCodec = ladder[k]
        bs, y_hat = codec.encode_latent(codec.analysis(x), (64, 96))
        assert torch.equal(codec.decompress_latent(bs), y_hat)  # bit-exact at the receiver
        sizes.append(bs.nbytes)
    assert sizes[0] < sizes[1] < sizes[2]  # finer quantization of the same latent costs more


def test_each_crop_is_charged_its_own_level_lambda():
    shared = _shared().train()
    x = torch.rand(3, 3, 64, 64)
    torch.manual_seed(0)
    loss, parts = shared_rd_loss(shared, x, torch.tensor([1, 2, 3]))
    assert loss.requires_grad and parts["bpp"] > 0
    loss.backward()
    assert shared.log_gain.grad is not None and shared.log_gain.grad.abs().sum() > 0


def test_gains_are_fitted_from_the_ladder_it_starts_from(image_dir):
    base = QualityLadder.random("mbt2018-mean", 1, N=16, M=24, seed=2)[1].model
    scaled = SharedLadder(base, torch.tensor([[0.5] * 24, [1.0] * 24, [3.0] * 24]))
    ladder = scaled.ladder()  # three levels whose analyses are exact channel scalings
    fitted = SharedLadder.from_ladder(ladder, 2, CropSampler(image_dir), crops=4)
    assert torch.allclose(fitted.gains(), scaled.gains(), rtol=1e-3)
    with pytest.raises(ValueError, match="anchor"):
        SharedLadder.from_ladder(ladder, 7, CropSampler(image_dir), crops=2)


def test_shared_training_runs_resumes_and_exports_a_standard_ladder(tmp_path, image_dir):
    init = QualityLadder.random("mbt2018-mean", 3, N=16, M=24, seed=3)
    recipe = SharedRecipe(anchor=2, iters=24, batch=3, crop=64, lr=1e-3, val_every=12, log_every=6)
    work = tmp_path / "w"
    first = SharedTrainer(
        work, image_dir, init, image_dir, recipe, max_val_images=1, log=lambda m: None
    )
    assert first.run()
    log = [json.loads(line) for line in (work / "train.log.jsonl").read_text().splitlines()]
    assert [r["it"] for r in log] == [6, 12, 18, 24]
    assert [r["it"] for r in log if "val" in r] == [12, 24]
    assert log[-1]["loss"] < log[0]["loss"]
    assert set(log[-1]["val"]) == {"1", "2", "3"} and log[-1]["val"]["3"]["bpp"] > 0
    # resume: a new trainer continues from the checkpoint, not from the initial ladder; more
    # iterations are taken over, another learning rate is refused
    with pytest.raises(RecipeMismatch, match=r"started with lr=0\.001, not 0\.0001"):
        SharedTrainer(work, image_dir, init, recipe=replace(recipe, lr=1e-4))
    again = SharedTrainer(
        work, image_dir, init, recipe=replace(recipe, iters=30), log=lambda m: None
    )
    assert torch.equal(again.model.log_gain, first.model.log_gain)
    assert again.run() and again.state["it"] == 30
    again.export(tmp_path / "out")
    loaded = QualityLadder.from_dir(tmp_path / "out")
    assert loaded.levels == [1, 2, 3] and loaded.arch == "mbt2018-mean"
    manifest = json.loads((tmp_path / "out" / "ladder.json").read_text())
    assert manifest["training"]["shared"]["iterations"] == 30
    assert len(manifest["training"]["shared"]["gains"]) == 3


def test_train_shared_command_exports_and_reports_bad_input(tmp_path, image_dir, capsys):
    from hcf_ray.cli import main

    QualityLadder.random("mbt2018-mean", 2, N=16, M=24, seed=4).save(tmp_path / "init")
    common = ["train", "shared", "--data", str(image_dir), "--threads", "1"]
    args = [*common, "--workdir", str(tmp_path / "w"), "--init-from", str(tmp_path / "init")]
    args += ["--anchor", "1", "--iters", "2", "--batch", "2", "--crop", "64"]
    assert main([*args, "--export", str(tmp_path / "out")]) == 0
    assert QualityLadder.from_dir(tmp_path / "out").levels == [1, 2]
    bad = [*common, "--workdir", str(tmp_path / "w2"), "--init-from", str(tmp_path / "nope")]
    assert main(bad) == 2
    assert "--init-from" in capsys.readouterr().err
    fresh = [*common, "--workdir", str(tmp_path / "w3"), "--init-from", str(tmp_path / "init")]
    assert main([*fresh, "--anchor", "5"]) == 2  # the ladder has levels 1..2
    assert "anchor" in capsys.readouterr().err
    assert main([*fresh, "--crop", "160"]) == 2  # 10×10 latents, 2.5×2.5 hyper-latents
    assert "crop must be a positive multiple of 64" in capsys.readouterr().err
