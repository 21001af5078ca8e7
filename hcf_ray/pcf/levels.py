"""Target rates of the ladder's quality levels, shared by every baseline.

A baseline cannot run the ladder's codecs, so "level k" means "the rate closest to the
ladder's level-k rate": J2K layers are allocated at these rates, tail-drop streams are cut at
the chunk boundary closest to them, JPEG/WebP qualities are searched to hit them.

The default table is CompressAI's published ``mbt2018-mean`` (MSE) curve on Kodak, qualities
1–8 (the architecture of the shipped ladder); :func:`calibrate_level_bpp` measures the table
of an actual ladder on a set of images instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import torch

from hcf_ray.errors import InputError

# CompressAI zoo mbt2018-mean, MSE, Kodak (compressai/results/image/kodak), bpp per quality
DEFAULT_LEVEL_BPP: dict[int, float] = {
    1: 0.1239,
    2: 0.1980,
    3: 0.3072,
    4: 0.4606,
    5: 0.6617,
    6: 0.9144,
    7: 1.2342,
    8: 1.6191,
}


def check_level_bpp(level_bpp: Mapping[int, float] | None) -> dict[int, float]:
    """Validate a level→bpp table: levels 1..s, rates positive and increasing with level."""
    table = dict(DEFAULT_LEVEL_BPP if level_bpp is None else level_bpp)
    levels = sorted(int(k) for k in table)
    if not levels or levels != list(range(1, len(levels) + 1)):
        raise InputError(f"level rates must cover levels 1..s without gaps, got {levels}")
    rates = [float(table[k]) for k in levels]
    if any(r <= 0 for r in rates) or any(b <= a for a, b in itertools.pairwise(rates)):
        raise InputError(f"level rates must be positive and increase with level, got {rates}")
    return {k: float(table[k]) for k in levels}


def closest_index(rates: Sequence[float], target: float) -> int:
    """Index of the rate closest to ``target`` (ties go to the lower rate)."""
    if not rates:
        raise ValueError("no candidate rates")
    return min(range(len(rates)), key=lambda i: (abs(rates[i] - target), rates[i]))


@torch.no_grad()
def calibrate_level_bpp(ladder, images: Iterable[torch.Tensor]) -> dict[int, float]:
    """Mean bpp of real bitstreams of every ladder level (single-stage) on ``images``."""
    images = list(images)
    if not images:
        raise InputError("calibration needs at least one image")
    table = {}
    for codec in ladder:
        total = 0.0
        for x in images:
            size = (int(x.shape[-2]), int(x.shape[-1]))
            total += codec.compress_latent(codec.analysis(x), size).bpp()
        table[codec.level] = total / len(images)
    return check_level_bpp(table)
