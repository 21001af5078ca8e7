import math

import numpy as np
import pytest
import torch

from hcf_ray.metrics import bd_psnr, bd_rate, ms_ssim_db, psnr
from hcf_ray.reference import dpict_curve, reference_curve


def test_psnr_on_8bit_values():
    x = torch.zeros(1, 3, 64, 64)
    y = torch.full_like(x, 10 / 255)
    assert psnr(x, y) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(x, x) == float("inf")
    # sub-LSB differences vanish after 8-bit rounding, as in CompressAI's eval
    assert psnr(x, x + 0.1 / 255) == float("inf")


def _db(v: float) -> float:
    return -10 * math.log10(1 - v)


def test_ms_ssim_db():
    """Five scales (short side > 160): pytorch_msssim's ms_ssim on the 8-bit-rounded images,
    in dB by hand; a 64×64 image (three scales) against the formula written out in numpy."""
    from pytorch_msssim import ms_ssim
    from test_metrics_msssim import WEIGHTS, _pool, _ssim_cs

    torch.manual_seed(0)
    x = torch.rand(1, 3, 192, 192)
    noisy = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    very = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    for y in (noisy, very):
        a, b = (x * 255).round(), (y * 255).round()
        ref = float(ms_ssim(a, b, data_range=255.0, size_average=True))
        assert 0 < ref < 1
        assert ms_ssim_db(x, y) == pytest.approx(_db(ref), rel=1e-6)
    assert ms_ssim_db(x, noisy) > ms_ssim_db(x, very) > 0
    assert ms_ssim_db(x, x) == float("inf")

    small = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 64, 64), 3, 1, 1)
    damaged = (small + 0.05 * torch.randn_like(small)).clamp(0, 1)
    a = (small[0] * 255).round().double().numpy()
    b = (damaged[0] * 255).round().double().numpy()
    _, cs1 = _ssim_cs(a, b)
    _, cs2 = _ssim_cs(_pool(a), _pool(b))
    s3, _ = _ssim_cs(_pool(_pool(a)), _pool(_pool(b)))
    w = [v / sum(WEIGHTS[:3]) for v in WEIGHTS[:3]]
    by_hand = float(
        np.mean(np.maximum(cs1, 0) ** w[0] * np.maximum(cs2, 0) ** w[1] * np.maximum(s3, 0) ** w[2])
    )
    assert 0.2 < by_hand < 0.99
    assert ms_ssim_db(small, damaged) == pytest.approx(_db(by_hand), rel=1e-4)


# reference BD-rates computed with bjontegaard 1.3.0 (anchors.md §1), anchor = bmshj2018-hyperprior
@pytest.mark.parametrize(
    "key,pchip",
    [
        ("compressai-mbt2018-mean_mse_cuda", -6.83),
        ("compressai-mbt2018_mse_cuda", -14.26),
        ("compressai-cheng2020-anchor_mse_cuda", -22.64),
        ("compressai-bmshj2018-factorized_mse_cuda", 26.79),
        ("jpeg", 122.17),
        ("webp", 39.71),
    ],
)
def test_bd_rate_regression_against_anchor_table(key, pchip):
    a = reference_curve("compressai-bmshj2018-hyperprior_mse_cuda")
    t = reference_curve(key)
    assert bd_rate(a.bpp, a.psnr, t.bpp, t.psnr) == pytest.approx(pchip, abs=0.01)


def test_bd_psnr_and_readme_example():
    a = reference_curve("compressai-bmshj2018-hyperprior_mse_cuda")
    t = reference_curve("compressai-cheng2020-anchor_mse_cuda")
    assert bd_psnr(a.bpp, a.psnr, t.bpp, t.psnr, method="akima") == pytest.approx(1.187, abs=0.002)
    ra, pa = [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]
    rt, pt = [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]
    assert bd_rate(ra, pa, rt, pt) == pytest.approx(-4.4175, abs=1e-3)
    assert bd_psnr(ra, pa, rt, pt) == pytest.approx(0.1197, abs=1e-3)
    d = dpict_curve()
    assert bd_rate(a.bpp, a.psnr, d.bpp, d.psnr) == pytest.approx(2.07, abs=0.02)
    with pytest.raises(ValueError, match="at least 2 finite points"):
        bd_rate([0.1], [30.0], [0.2, 0.3], [31.0, 32.0])
