"""MS-SSIM: the standard five scales come from pytorch_msssim; the reduced-scale version used
for small images is checked against pytorch_msssim at five scales and against an independent
numpy SSIM on hand-sized cases."""

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim, ssim

from hcf_ray.metrics import _ms_ssim_reduced, ms_ssim_value, to_8bit

WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


def _pair(side_h: int, side_w: int, seed: int = 0, noise: float = 0.08):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, side_h, side_w, generator=g)
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # some structure, not pure noise
    y = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def test_reduced_formula_with_five_scales_is_pytorch_msssim():
    x, y = _pair(200, 232)
    a, b = to_8bit(x), to_8bit(y)
    ours = _ms_ssim_reduced(a, b, WEIGHTS)
    ref = float(ms_ssim(a, b, data_range=255.0, size_average=True))
    assert ours == pytest.approx(ref, rel=1e-5)
    assert ms_ssim_value(x, y) == pytest.approx(ref, rel=1e-6)  # 5 scales: the library


def _gauss(size=11, sigma=1.5):
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(img, g):
    """Valid 2-D separable Gaussian filtering of an (H, W) float64 array."""
    h = np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 1, img)
    return np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 0, h)


def _ssim_cs(a, b):
    """Mean SSIM and contrast-structure term per channel, written out from Wang et al."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gauss()
    out_s, out_cs = [], []
    for ch in range(a.shape[0]):
        x, y = a[ch], b[ch]
        mx, my = _filter(x, g), _filter(y, g)
        sxx = _filter(x * x, g) - mx**2
        syy = _filter(y * y, g) - my**2
        sxy = _filter(x * y, g) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        s = (2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs
        out_s.append(s.mean())
        out_cs.append(cs.mean())
    return np.array(out_s), np.array(out_cs)


def _pool(a):
    h, w = a.shape[1] // 2 * 2, a.shape[2] // 2 * 2
    return a[:, :h, :w].reshape(a.shape[0], h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def test_one_scale_is_ssim():
    """A 40×18 image fits one scale only (short side ≤ 20): MS-SSIM is SSIM (weight 1)."""
    x, y = _pair(40, 18, seed=1)
    a, b = to_8bit(x), to_8bit(y)
    assert ms_ssim_value(x, y) == pytest.approx(float(ssim(a, b, data_range=255.0)), rel=1e-6)
    s, _ = _ssim_cs(a[0].double().numpy(), b[0].double().numpy())
    assert ms_ssim_value(x, y) == pytest.approx(float(s.mean()), rel=1e-4)


def test_two_scales_by_hand():
    """A 40×32 image fits two scales (20 < short side ≤ 40): cs at full size and SSIM at half
    size, with the first two standard weights renormalised to sum to 1 (even sides: no
    pooling pad)."""
    x, y = _pair(40, 32, seed=2)
    a, b = to_8bit(x)[0].double().numpy(), to_8bit(y)[0].double().numpy()
    _, cs1 = _ssim_cs(a, b)
    s2, _ = _ssim_cs(_pool(a), _pool(b))
    w1, w2 = WEIGHTS[0] / sum(WEIGHTS[:2]), WEIGHTS[1] / sum(WEIGHTS[:2])
    expected = float(np.mean(np.maximum(cs1, 0) ** w1 * np.maximum(s2, 0) ** w2))
    assert ms_ssim_value(x, y) == pytest.approx(expected, rel=1e-4)
    assert 0.2 < expected < 0.95  # a real, non-trivial value
