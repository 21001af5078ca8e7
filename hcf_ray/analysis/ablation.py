"""Ablation of the weight switching (paper Fig. 6): φ^inter-only and φ^intra-only vs HCF.

Full HCF uses φ^inter after a transmission (quantized input) and φ^intra inside a node
(unquantized input). ``inter_only`` uses the φ^inter weights everywhere and ``intra_only`` the
φ^intra weights everywhere (``CascadeEngine`` ``phi_mode``), same trained modules, same edge
policy (n_q = 2), target d swept. Reported: the curves, BD-rate / BD-PSNR of each variant vs
full HCF, and the PSNR difference per target level (low d = low rate) to see *where* each
variant loses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hcf_ray.analysis.runner import Evaluator, ImageItem, Progress
from hcf_ray.evaluate import Curve, bd_table

VARIANTS = {"hcf": "switch", "inter-only": "inter_only", "intra-only": "intra_only"}


@dataclass
class Ablation:
    curves: dict[str, Curve]
    bd: list[dict]

    def deltas(self, name: str, key: str = "psnr") -> list[float]:
        """Per target level: variant minus full HCF (``key`` = psnr, ms_ssim_db or bpp)."""
        full, var = self.curves["hcf"], self.curves[name]
        return [v - f for v, f in zip(getattr(var, key), getattr(full, key))]

    def equal_rate_deltas(self, name: str, key: str = "psnr") -> list[float | None]:
        """Per target level: variant quality minus full HCF's quality at the variant's rate
        (linear interpolation in bpp); None outside HCF's rate range or when HCF's rate does
        not increase strictly along its curve."""
        full, var = self.curves["hcf"], self.curves[name]
        pts = sorted(zip(full.bpp, getattr(full, key)))
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if any(b <= a for a, b in itertools.pairwise(xs)):
            return [None] * len(var.bpp)
        return [
            q - float(np.interp(r, xs, ys)) if xs[0] <= r <= xs[-1] else None
            for r, q in zip(var.bpp, getattr(var, key))
        ]


def ablation(
    evaluator: Evaluator,
    images: Sequence[ImageItem],
    s: int | None = None,
    n_q: int = 2,
    progress: Progress | None = None,
) -> Ablation:
    s = s or evaluator.max_level

    def point(mode):
        return lambda img, d: evaluator.cascade(
            img, "hcf", s, d, "edge", min(n_q, s - d + 1), phi_mode=mode
        )

    curves = {
        name: evaluator.curve(
            name, images, list(range(1, s)), point(mode), f"HCF edge, φ mode {mode}", progress
        )
        for name, mode in VARIANTS.items()
    }
    pairs = [(name, "hcf") for name in VARIANTS if name != "hcf"]
    return Ablation(curves, bd_table(curves, pairs))
