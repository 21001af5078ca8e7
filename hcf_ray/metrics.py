"""Rate and distortion metrics, following CompressAI's evaluation conventions.

* PSNR and MS-SSIM are computed on 8-bit-rounded RGB (``round(clamp(x·255))``), as
  ``compressai.utils.eval_model`` does; MS-SSIM is reported in dB as ``-10·log10(1 − v)``.
* bpp is ``bytes · 8 / (H · W)`` of real bitstreams.
* BD-rate / BD-PSNR use the ``bjontegaard`` package with PCHIP interpolation by default (the
  JVET CTC convention); negative BD-rate = the test curve needs fewer bits than the anchor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from pytorch_msssim import ms_ssim
from torch import Tensor

from hcf_ray.errors import InputError

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN = 11


def to_8bit(x: Tensor) -> Tensor:
    return (x.clamp(0, 1) * 255.0).round()


def psnr(x: Tensor, x_hat: Tensor) -> float:
    """PSNR in dB between two images in [0,1], after 8-bit rounding of both.

    The squared errors are integers summed in float64, exactly: the value does not depend on
    the tensors' memory layout or the order of the reduction (a node's reconstruction and an
    in-process one give the same number)."""
    diff = (to_8bit(x) - to_8bit(x_hat)).to(torch.float64)
    mse = (diff * diff).sum().item() / diff.numel()
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(255.0**2 / mse)


def ms_ssim_value(x: Tensor, x_hat: Tensor) -> float:
    """MS-SSIM on 8-bit-rounded RGB (``pytorch_msssim``, data range 255).

    The standard 5 scales need the short side > 160 px. Smaller images use as many scales as
    fit (at least 1), with the standard weights renormalised — stated here so small-image
    numbers are not mistaken for standard MS-SSIM.
    """
    a, b = to_8bit(x), to_8bit(x_hat)
    side = min(a.shape[-2:])
    scales = 5
    while scales > 1 and side <= (_WIN - 1) * 2 ** (scales - 1):
        scales -= 1
    weights = torch.tensor(_MS_SSIM_WEIGHTS[:scales])
    weights = (weights / weights.sum()).tolist()
    if scales == 1 and side < _WIN:
        raise InputError(f"image side {side} too small for MS-SSIM (needs >= {_WIN})")
    if scales == 5:
        return float(ms_ssim(a, b, data_range=255.0, size_average=True))
    return _ms_ssim_reduced(a, b, weights)


def _ms_ssim_reduced(a: Tensor, b: Tensor, weights: list[float]) -> float:
    """MS-SSIM with fewer scales (pytorch_msssim insists on 5), same formula."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    win = _fspecial_gauss_1d(_WIN, 1.5).repeat([a.shape[1]] + [1] * (a.dim() - 1))
    mcs = []
    for i in range(len(weights)):
        ssim_c, cs = _ssim(a, b, data_range=255.0, win=win, size_average=False, K=(0.01, 0.03))
        if i < len(weights) - 1:
            mcs.append(torch.relu(cs))
            pad = [s % 2 for s in a.shape[2:]]
            a = torch.nn.functional.avg_pool2d(a, kernel_size=2, padding=pad)
            b = torch.nn.functional.avg_pool2d(b, kernel_size=2, padding=pad)
    stack = torch.stack([*mcs, torch.relu(ssim_c)], dim=0)
    w = torch.tensor(weights, dtype=stack.dtype).view(-1, 1, 1)
    return float(torch.prod(stack**w, dim=0).mean())


def ms_ssim_db(x: Tensor, x_hat: Tensor) -> float:
    return db_from_ms_ssim(ms_ssim_value(x, x_hat))


def db_from_ms_ssim(v: float) -> float:
    return float("inf") if v >= 1.0 else -10.0 * math.log10(1.0 - v)


def bpp(nbytes: int, image_size: tuple[int, int]) -> float:
    h, w = image_size
    return nbytes * 8.0 / (h * w)


def _bd_args(rate_anchor, dist_anchor, rate_test, dist_test):
    arrays = [np.asarray(v, dtype=float) for v in (rate_anchor, dist_anchor, rate_test, dist_test)]
    for name, arr in zip(("rate_anchor", "dist_anchor", "rate_test", "dist_test"), arrays):
        if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)):
            raise InputError(f"{name} needs at least 2 finite points, got {arr.tolist()}")
    out = []
    for which, rate, dist in (("anchor", arrays[0], arrays[1]), ("test", arrays[2], arrays[3])):
        if rate.size != dist.size:
            raise InputError(f"{which} curve: {rate.size} rates but {dist.size} distortions")
        # rate, then quality: a total order, so equal rates (a random ladder's lowest levels)
        # come out the same on every machine (np.argsort's default sort is not stable, and
        # its SIMD variants order ties differently from CPU to CPU)
        order = np.lexsort((dist, rate))
        rate, dist = rate[order], dist[order]
        if np.any(np.diff(rate) <= 0) or np.any(np.diff(dist) <= 0):
            raise InputError(
                f"{which} curve is not monotonic (rate {rate.round(4).tolist()}, "
                f"quality {dist.round(3).tolist()}): BD metrics are undefined"
            )
        out += [rate, dist]
    return out


def _bd(which: str, curves, method: str) -> float:
    import bjontegaard as bd

    ra, da, rt, dt = _bd_args(*curves)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bjontegaard warns on < 75 % overlap
        fn = bd.bd_rate if which == "rate" else bd.bd_psnr
        return float(fn(ra, da, rt, dt, method=method, require_matching_points=False))


def bd_rate(
    rate_anchor: Sequence[float],
    dist_anchor: Sequence[float],
    rate_test: Sequence[float],
    dist_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """Bjøntegaard delta rate in percent (negative: test saves bits vs anchor)."""
    return _bd("rate", (rate_anchor, dist_anchor, rate_test, dist_test), method)


def bd_psnr(
    rate_anchor: Sequence[float],
    dist_anchor: Sequence[float],
    rate_test: Sequence[float],
    dist_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """Bjøntegaard delta quality in dB (positive: test is better at equal rate)."""
    return _bd("psnr", (rate_anchor, dist_anchor, rate_test, dist_test), method)
