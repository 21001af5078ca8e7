"""Tail-drop model, chunked progressive bitstream and its codec (tiny random-init models)."""

import pytest
import torch

from hcf_ray.pcf.bitstream import ProgressiveBitstream
from hcf_ray.pcf.codec import TailDropCodec, load_tail_codec
from hcf_ray.pcf.tail_drop import (
    TailDropHyperprior,
    channel_importance,
    permute_latent_channels,
    uniform_groups,
)


@pytest.fixture(scope="module")
def tiny_codec():
    return load_tail_codec("random:16:24:4")


@pytest.fixture(scope="module")
def photo():
    from hcf_ray.images import load_image, sample_images

    return load_image(sample_images()[1])[..., :100, :150].contiguous()


def _perturbed_model(seed=0):
    # random init has y ≈ 0; scale g_a's last layer so latents carry real symbols
    torch.manual_seed(seed)
    model = TailDropHyperprior(16, 24, uniform_groups(24, 4))
    with torch.no_grad():
        model.g_a[-1].weight.mul_(40.0)
    return model


def test_uniform_groups_and_validation():
    assert uniform_groups(96, 8) == (8,) * 12
    assert uniform_groups(10, 4) == (4, 4, 2)
    with pytest.raises(ValueError, match="sum to M"):
        TailDropHyperprior(16, 24, (8, 8))
    with pytest.raises(ValueError, match="group size"):
        uniform_groups(24, 0)


def test_every_prefix_is_a_byte_prefix_and_parses(tiny_codec, photo):
    bs = tiny_codec.encode(photo)
    assert bs.k == bs.num_groups == 6
    full = bs.to_bytes()
    assert len(full) == bs.nbytes == bs.prefix_nbytes(6)
    sizes = []
    for k in range(6, -1, -1):
        prefix = bs.truncate(k).to_bytes()
        assert full.startswith(prefix)
        assert ProgressiveBitstream.from_bytes(prefix) == bs.truncate(k)
        assert len(prefix) == bs.prefix_nbytes(k)
        sizes.append(len(prefix))
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 7


def test_bad_streams_and_truncation(tiny_codec, photo):
    bs = tiny_codec.encode(photo)
    with pytest.raises(ValueError, match="cannot truncate a stream of 3 groups to 4"):
        bs.truncate(3).truncate(4)
    full = bs.to_bytes()
    with pytest.raises(ValueError, match="not a group boundary"):
        ProgressiveBitstream.from_bytes(full[:-1])
    with pytest.raises(ValueError, match="bad magic"):
        ProgressiveBitstream.from_bytes(b"XXXX" + full[4:])
    with pytest.raises(ValueError, match="too short"):
        ProgressiveBitstream.from_bytes(full[:5])
    with pytest.raises(ValueError, match="trailing"):
        ProgressiveBitstream.from_bytes(full + b"\0")


def test_decode_matches_tail_drop_forward_bit_exactly(photo):
    # the decoder of a k-group prefix computes exactly what training's tail-drop simulates
    model = _perturbed_model()
    codec = TailDropCodec(model)
    x = photo[..., :64, :128].contiguous()  # multiple of 64: no padding
    bs = codec.encode(x)
    assert sum(bs.chunk_lengths) > 6 * 8  # real symbols, not empty rANS flushes
    with torch.no_grad():
        for k in (0, 2, 6):
            expected = model.forward_tail(x, model.channels_for(k))["x_hat"].clamp(0, 1)
            assert torch.equal(codec.decode(bs.truncate(k)), expected)


def test_permutation_keeps_the_function(photo):
    model = _perturbed_model(1).eval()
    x = photo[..., :64, :64].contiguous()
    with torch.no_grad():
        before = model.forward_tail(x)["x_hat"]
    scores = channel_importance(model, x)
    assert scores.shape == (24,)
    perm = torch.argsort(scores, descending=True).tolist()
    permute_latent_channels(model, perm)
    with torch.no_grad():
        after = model.forward_tail(x)["x_hat"]
    assert torch.allclose(before, after, atol=1e-5)
    with pytest.raises(ValueError, match="permutation"):
        permute_latent_channels(model, [0] * 24)


def test_save_load_roundtrip(tmp_path, photo):
    codec = TailDropCodec(_perturbed_model(2))
    codec.save(tmp_path / "m")
    loaded = load_tail_codec(tmp_path / "m")
    assert loaded.group_sizes == codec.group_sizes
    # fp16 weights: a reloaded codec decodes its own streams
    bs = loaded.encode(photo)
    assert loaded.decode(ProgressiveBitstream.from_bytes(bs.to_bytes())).shape == photo.shape
    with pytest.raises(ValueError, match="not 'default'"):
        load_tail_codec(tmp_path / "missing")
