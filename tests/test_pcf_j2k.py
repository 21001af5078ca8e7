"""JPEG 2000 quality layers: real codestream prefixes at layer boundaries."""

import io

import numpy as np
import pytest
from PIL import Image

from hcf_ray.metrics import psnr
from hcf_ray.pcf import j2k
from hcf_ray.pcf.methods import from_uint8, to_uint8

RATES = [0.2, 0.4, 0.8, 1.6]


@pytest.fixture(scope="module")
def photo():
    from hcf_ray.images import load_image, sample_images

    return load_image(sample_images()[0])  # a real 384x256 photo


@pytest.fixture(scope="module")
def stream(photo):
    return j2k.encode_layers(to_uint8(photo), RATES)


def test_layout_of_the_codestream(stream):
    layout = j2k.parse_layout(stream)
    assert layout.num_layers == len(RATES)
    assert layout.packets_per_layer == 6 * 3  # 6 resolutions x 3 components
    assert layout.layers_in(stream) == len(RATES)
    assert layout.layer_end(len(RATES)) + 2 == len(stream)  # + EOC


def test_layer_prefixes_are_real_truncations_with_rising_quality(photo, stream):
    h, w = photo.shape[-2:]
    prev_len, prev_psnr = 0, 0.0
    for k in range(1, len(RATES) + 1):
        prefix = j2k.truncate_layers(stream, k)
        assert stream.startswith(prefix)
        assert len(prefix) > prev_len
        bpp = len(prefix) * 8 / (h * w)
        assert bpp == pytest.approx(RATES[k - 1], rel=0.15)  # OpenJPEG's rate allocation
        quality = psnr(photo, from_uint8(j2k.decode_layers(prefix)))
        assert quality > prev_psnr + 0.5
        prev_len, prev_psnr = len(prefix), quality


def test_prefix_of_a_prefix(stream):
    three = j2k.truncate_layers(stream, 3)
    assert j2k.truncate_layers(three, 1) == j2k.truncate_layers(stream, 1)
    with pytest.raises(ValueError, match="cannot keep 4 layers of a J2K stream holding 3"):
        j2k.truncate_layers(three, 4)
    with pytest.raises(ValueError, match="not a layer boundary"):
        j2k.truncate_layers(three[:-1], 1)


def test_unsupported_codestreams_are_rejected(photo):
    img = to_uint8(photo)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG2000", no_jp2=True, progression="RLCP", plt=True)
    with pytest.raises(ValueError, match="LRCP"):
        j2k.parse_layout(buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG2000", quality_layers=[20, 10])  # JP2, no PLT
    with pytest.raises(ValueError, match="no SOC"):
        j2k.parse_layout(buf.getvalue())
    with pytest.raises(ValueError, match="increasing"):
        j2k.encode_layers(img, [0.5, 0.2])
    with pytest.raises(ValueError, match="uint8"):
        j2k.encode_layers(img.astype(np.float32), [0.5])
