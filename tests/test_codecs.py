"""Codec layer: latent-only entropy coding per architecture, ladders, persistence."""

import pytest
import torch

from hcf_ray.codecs import ARCHITECTURES, LevelCodec, QualityLadder, build_model


class _Returns(torch.nn.Module):
    """A stand-in analysis transform that returns a fixed latent."""

    def __init__(self, y: torch.Tensor):
        super().__init__()
        self.y = y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.y


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_latent_roundtrip_is_bit_exact(arch):
    torch.manual_seed(0)
    model = build_model(arch, 16, 24)
    codec = LevelCodec(model, 3, arch)
    x = torch.rand(1, 3, 70, 100)
    y = codec.analysis(x)
    assert y.shape == (1, codec.latent_channels, 8, 8)  # padded to 128x128, /16
    # random-init encoders give near-zero latents; HCF codes arbitrary latents (φ outputs),
    # so add spread to make the entropy coder work on many symbols
    y = y + 4.0 * torch.randn_like(y)
    bs, y_hat_enc = codec.encode_latent(y, (70, 100))
    # the quantization is real: many distinct bins, and ŷ differs from ỹ
    assert torch.unique(torch.round(y_hat_enc)).numel() > 5
    assert not torch.equal(y_hat_enc, y)
    # bytes counted are the bytes sent: parse the wire format as a receiver would
    wire = bs.to_bytes()
    received = type(bs).from_bytes(wire)
    assert received.nbytes == bs.nbytes == sum(len(s) for s in bs.strings) > 0
    # the strings are CompressAI's own: its compress() of the same latent (g_a replaced by a
    # module returning it) writes the same bytes
    g_a = model.g_a
    model.g_a = _Returns(y)
    try:
        with torch.no_grad():
            ref = model.compress(torch.zeros(1, 3, 128, 128))
    finally:
        model.g_a = g_a
    assert bs.strings == tuple(s for group in ref["strings"] for s in group)
    assert len(wire) == bs.wire_nbytes
    y_hat_dec = codec.decompress_latent(received)
    assert torch.equal(y_hat_dec, y_hat_enc)
    # entropy estimation gives the same ŷ and a rate close to the real one
    y_q, est_bits = codec.quantize_latent(y)
    assert torch.equal(y_q, y_hat_enc)
    assert est_bits / 8 == pytest.approx(bs.nbytes, rel=0.25, abs=16)
    # the batched training-time quantizer is the real one (AR models: forward's round(y))
    if arch in ("mbt2018-mean", "bmshj2018-hyperprior"):
        assert torch.equal(codec.coder.dequantized(y), y_hat_enc)
    x_hat = codec.synthesis(y_hat_dec, (70, 100))
    assert x_hat.shape == x.shape and x_hat.min() >= 0 and x_hat.max() <= 1


def test_level_mismatch_and_bad_shapes(tiny_ladder):
    y = tiny_ladder[2].analysis(torch.rand(1, 3, 64, 64))
    bs = tiny_ladder[2].compress_latent(y, (64, 64))
    with pytest.raises(ValueError, match="level 2 cannot be decoded by level 3"):
        tiny_ladder[3].decompress_latent(bs)
    with pytest.raises(ValueError, match="channels"):
        tiny_ladder[2].compress_latent(torch.zeros(1, 5, 4, 4), (64, 64))
    with pytest.raises(ValueError, match="at least 64"):
        tiny_ladder[2].analysis(torch.rand(1, 3, 32, 80))


def test_ladder_validation(tiny_ladder):
    assert tiny_ladder.levels == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="outside the ladder"):
        tiny_ladder[7]
    with pytest.raises(ValueError, match="without gaps"):
        QualityLadder([tiny_ladder[1], tiny_ladder[3]])
    with pytest.raises(ValueError, match="unknown architecture"):
        QualityLadder.random("nope")


def test_save_and_load_dir_reproduces_bitstreams(tmp_path, tiny_ladder, sample_image):
    small = QualityLadder([tiny_ladder[1], tiny_ladder[2]])
    small.save(tmp_path / "lad", half=False)
    loaded = QualityLadder.from_dir(tmp_path / "lad")
    size = tuple(sample_image.shape[-2:])
    for k in (1, 2):
        a = small[k].compress_latent(small[k].analysis(sample_image), size)
        b = loaded[k].compress_latent(loaded[k].analysis(sample_image), size)
        assert a.strings == b.strings
    with pytest.raises(FileNotFoundError, match=r"ladder\.json"):
        QualityLadder.from_dir(tmp_path / "missing")


def test_zoo_pretrained_path_loads_published_state_dict(monkeypatch):
    """``pretrained=True`` goes through CompressAI's download + load_pretrained path.

    There is no internet here, so the download function is replaced by one returning a
    state dict in the published checkpoint layout; everything after it is the real code.
    """
    import compressai.zoo.image as zoo_image

    urls = []

    def fake_download(url, progress=True, **kw):
        urls.append(url)
        torch.manual_seed(len(urls))
        return build_model("bmshj2018-hyperprior", 128, 192).state_dict()

    monkeypatch.setattr(zoo_image, "load_state_dict_from_url", fake_download)
    ladder = QualityLadder.from_zoo("bmshj2018-hyperprior", levels=[1, 2], pretrained=True)
    assert len(urls) == 2 and all("bmshj2018-hyperprior-" in u for u in urls)
    assert ladder[2].latent_channels == 192
    assert ladder[1].lmbda == 0.0018


def test_zoo_random_init_offline():
    ladder = QualityLadder.from_zoo("mbt2018-mean", levels=[1], pretrained=False)
    assert ladder[1].latent_channels == 192


def test_fp16_storage_keeps_small_constant_buffers(tmp_path, tiny_ladder):
    """fp16 is for learned weights only: GDN's pedestal (~3.6e-11) and the likelihood
    lower bound (1e-9) would underflow to zero and change the model (and NaN its training)."""
    QualityLadder([tiny_ladder[1]]).save(tmp_path / "lad", half=True)
    loaded = QualityLadder.from_dir(tmp_path / "lad")[1].model
    orig = tiny_ladder[1].model
    for name, buf in orig.named_buffers():
        if "pedestal" in name or name.endswith("lower_bound.bound"):
            assert buf.item() > 0
            assert torch.equal(dict(loaded.named_buffers())[name], buf), name
    w = orig.g_a[0].weight
    assert torch.equal(loaded.g_a[0].weight, w.half().float())  # the weights are fp16


def test_padding_repeats_the_border_and_is_cropped_back():
    from hcf_ray.codecs.level import crop_image, pad_image

    x = torch.rand(1, 3, 70, 130)
    xp = pad_image(x)
    assert xp.shape[-2:] == (128, 192)
    # centred like CompressAI's compute_padding; every padded pixel repeats its nearest edge
    assert torch.equal(crop_image(xp, (70, 130)), x)
    top, left = (128 - 70) // 2, (192 - 130) // 2
    assert torch.equal(xp[..., :top, left : left + 130], x[..., :1, :].expand(-1, -1, top, -1))
    assert torch.equal(xp[..., top : top + 70, -1], x[..., :, -1])
    y = torch.rand(1, 3, 64, 128)
    assert pad_image(y) is y  # multiples of 64 are not padded


def test_border_padding_costs_fewer_bytes_than_black_borders():
    """The reason for replicate padding, on the shipped level 4 and a photo whose padding is
    a third of the coded area: fewer bytes and a better reconstruction than zero padding."""
    import torch.nn.functional as F
    from compressai.ops import compute_padding

    from hcf_ray.bundle import load_bundle
    from hcf_ray.images import load_image, sample_images
    from hcf_ray.metrics import psnr

    codec = load_bundle("default").ladder[4]
    x = load_image(sample_images()[0])[..., :200, :330]  # padded to 256 x 384
    bs, y_hat = codec.encode_latent(codec.analysis(x), (200, 330))
    replicate = (bs.nbytes, psnr(x, codec.synthesis(y_hat, (200, 330))))
    pad, _ = compute_padding(200, 330, min_div=64)
    y0 = codec.model.g_a(F.pad(x, pad))
    bs0, y0_hat = codec.encode_latent(y0, (200, 330))
    zeros = (bs0.nbytes, psnr(x, codec.synthesis(y0_hat, (200, 330))))
    assert replicate[0] < zeros[0] and replicate[1] > zeros[1], (replicate, zeros)
