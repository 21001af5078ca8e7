"""The shared RD training loss: noise vs straight-through quantization, latent input, devices."""

import json

import pytest
import torch
from PIL import Image

from hcf_ray.codecs import QualityLadder
from hcf_ray.codecs.latent_coders import latent_coder_for
from hcf_ray.images import sample_images
from hcf_ray.train.hcf import HCFRecipe, HCFTrainer
from hcf_ray.train.ladder import LadderRecipe, LadderTrainer, Stage
from hcf_ray.train.losses import _hyperprior_forward, rd_loss


def _tiny(arch="mbt2018-mean", seed=0):
    return QualityLadder.random(arch, 1, N=16, M=24, seed=seed)[1].model


@pytest.mark.parametrize("arch", ["mbt2018-mean", "bmshj2018-hyperprior"])
def test_latent_input_gives_the_same_noise_loss_as_the_model_forward(arch):
    model = _tiny(arch).train()
    x = torch.rand(2, 3, 64, 64)
    torch.manual_seed(5)
    whole, parts = rd_loss(model, x, 0.013)
    with torch.no_grad():
        y = model.g_a(x)
    torch.manual_seed(5)  # the same noise draws, in the same order
    from_latent, parts_y = rd_loss(model, x, 0.013, y=y)
    assert from_latent.item() == pytest.approx(whole.item(), rel=1e-5)
    assert parts_y["bpp"] == pytest.approx(parts["bpp"], rel=1e-5)


@pytest.mark.parametrize("arch", ["mbt2018-mean", "bmshj2018-hyperprior"])
def test_ste_synthesis_sees_exactly_what_the_receiver_decodes(arch):
    model = _tiny(arch, seed=1)
    model.update(force=True)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        y = model.g_a(x)
        coder = latent_coder_for(model)
        coded = coder.encode(y)
        received = model.g_s(coder.decode(list(coded.strings), coded.z_shape))
    model.train()  # training mode: the rate terms use noise, g_s must not
    x_ste, _ = _hyperprior_forward(model, y, "ste")
    x_noise, _ = _hyperprior_forward(model, y, "noise")
    assert torch.allclose(x_ste, received, atol=1e-5)
    assert not torch.allclose(x_noise, received, atol=1e-3)


def test_ste_passes_gradients_to_the_analysis_and_hyper_transforms():
    model = _tiny().train()
    loss, _ = rd_loss(model, torch.rand(2, 3, 64, 64), 0.013, "ste")
    loss.backward()
    for name in ("g_a", "h_a", "h_s", "g_s"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), name


def test_unknown_quant_and_context_models_are_refused():
    with pytest.raises(ValueError, match="quant must be one of noise, ste"):
        rd_loss(_tiny(), torch.rand(1, 3, 64, 64), 0.01, "round")
    with pytest.raises(ValueError, match="quant must be one of"):
        LadderRecipe(quant="hard")
    with pytest.raises(ValueError, match="quant must be one of"):
        HCFRecipe(phase2_quant="hard")
    context = QualityLadder.random("mbt2018", 1, N=16, M=24)[1].model
    with pytest.raises(ValueError, match=r"hyperprior models only.*JointAutoregressive"):
        rd_loss(context, torch.rand(1, 3, 64, 64), 0.01, "ste")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    Image.open(sample_images()[0]).save(d / "0.png")
    return d


def test_ladder_trains_with_ste_and_records_it(tmp_path, image_dir):
    recipe = LadderRecipe(
        N=16,
        M=24,
        levels=1,
        anchor=1,
        val_every=15,
        base=[Stage(30, 64, 2, 2e-3)],
        refine_rounds=0,
        quant="ste",
    )
    trainer = LadderTrainer(tmp_path / "w", image_dir, None, recipe, log=lambda m: None)
    trainer.run()
    log = [
        json.loads(line) for line in (tmp_path / "w" / "train.log.jsonl").read_text().splitlines()
    ]
    assert log[-1]["loss"] < log[0]["loss"]
    trainer.export(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "ladder.json").read_text())
    assert manifest["training"]["sessions"][-1]["recipe"]["quant"] == "ste"
    # a resumed work dir keeps the recipe it was started with
    assert LadderTrainer(tmp_path / "w", image_dir, log=lambda m: None).recipe.quant == "ste"


def test_hcf_phase2_trains_with_ste(tmp_path, image_dir):
    ladder = QualityLadder.random("mbt2018-mean", 2, N=16, M=24, seed=3)
    recipe = HCFRecipe(
        phi_hidden=8,
        phi_res=1,
        cache_crops=8,
        crop=64,
        phase1_iters=2,
        phase1_batch=2,
        phase2_iters=3,
        phase2_batch=2,
        phase2_quant="ste",
        log_every=1,
    )
    trainer = HCFTrainer(ladder, tmp_path / "h", image_dir, recipe, log=lambda m: None)
    assert trainer.run()
    tuned = trainer.tuned[1]
    assert not torch.equal(tuned.g_s[0].weight, ladder[1].model.g_s[0].weight)
    state = json.loads((tmp_path / "h" / "state.json").read_text())
    assert state["recipe"]["phase2_quant"] == "ste"


def test_device_option_is_checked_at_the_edge():
    from hcf_ray.cli import UserError, build_parser
    from hcf_ray.cli_args import torch_device as _device

    def device(value):
        args = build_parser().parse_args(
            ["train", "ladder", "--data", "d", "--workdir", "w", "--device", value]
        )
        return _device(args)

    assert device("cpu") == "cpu"
    assert device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="--device: expected cpu, cuda"):
        device("tpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="--device cuda: torch sees no CUDA device"):
            device("cuda")
