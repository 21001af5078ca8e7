"""JPEG / WebP at a target rate and successive re-encoding (drf-jpeg, drf-webp)."""

import pickle

import pytest

from hcf_ray.metrics import psnr
from hcf_ray.pcf import classical
from hcf_ray.pcf.methods import make_baseline, run_chain, to_uint8


@pytest.fixture(scope="module")
def photo():
    from hcf_ray.images import load_image, sample_images

    return load_image(sample_images()[2])


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_encode_at_rate_hits_the_target(photo, fmt):
    img = to_uint8(photo)
    pixels = img.shape[0] * img.shape[1]
    for target in (0.5, 1.0):
        quality, data = classical.encode_at_rate(img, fmt, target)
        assert abs(len(data) * 8 / pixels - target) < 0.25 * target
        assert data == classical.encode(img, fmt, quality)
        assert classical.decode(data).shape == img.shape


@pytest.mark.parametrize("name", ["drf-jpeg", "drf-webp"])
def test_successive_reencoding_at_every_node(photo, name):
    base = make_baseline(name, level_bpp={1: 0.3, 2: 0.6, 3: 1.0, 4: 1.6})
    res = run_chain(base, photo, [4, 3, 2, 1])
    sizes = [hop.nbytes for hop in res.hops]
    assert [hop.level for hop in res.hops] == [4, 3, 2, 1]
    assert sizes == sorted(sizes, reverse=True)
    # every node re-encoded: no payload is a prefix of the one before
    for a, b in zip(res.payloads, res.payloads[1:]):
        assert not a.data.startswith(b.data)
    assert res.x_hat.shape == photo.shape
    assert psnr(photo, res.x_hat) > 20
    assert pickle.loads(pickle.dumps(res.payloads[-1])) == res.payloads[-1]


def test_fixed_quality_table_and_bad_input(photo):
    base = make_baseline("drf-jpeg", level_bpp={1: 0.3, 2: 0.6}, qualities={1: 20, 2: 60})
    src = base.encode_source(photo, 2)
    assert src.data == classical.encode(to_uint8(photo), "jpeg", 60)
    with pytest.raises(ValueError, match="cannot raise the level"):
        base.relay(base.relay(src, 2, 1), 1, 2)
    with pytest.raises(ValueError, match="quality must be in"):
        classical.encode(to_uint8(photo), "jpeg", 0)
    with pytest.raises(ValueError, match="unknown classical format"):
        classical.encode(to_uint8(photo), "gif", 50)
    with pytest.raises(ValueError, match="every level"):
        make_baseline("drf-webp", level_bpp={1: 0.3, 2: 0.6}, qualities={1: 20})
