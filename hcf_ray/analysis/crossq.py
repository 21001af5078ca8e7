"""Retraining-free cross-quality adaptation (paper Table 4).

One trained φ bank serves every source → target path. The curve of path ``k→·`` is HCF-edge
(n_q = 2) from source level k to every target d = 1..k-1 (our reading: the paper does not say
which points form its curves); the table gives the BD-rate (PSNR and MS-SSIM, PCHIP) of the
``k→·`` curve against the ``(k+1)→·`` curve, for every k with at least two points. A negative
value means starting the cascade at the lower level k costs fewer bits at equal quality — the
error accumulated over the extra level drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hcf_ray.analysis.runner import Evaluator, ImageItem, Progress
from hcf_ray.evaluate import Curve, bd_table


@dataclass
class CrossQuality:
    curves: dict[int, Curve]  # source level -> curve over d = 1..k-1
    rows: list[dict]  # bd_table rows with "source" and "anchor_source" added


def path_name(k: int) -> str:
    return f"{k}→1"


def cross_quality(
    evaluator: Evaluator,
    images: Sequence[ImageItem],
    s: int | None = None,
    n_q: int = 2,
    progress: Progress | None = None,
) -> CrossQuality:
    s = s or evaluator.max_level
    sources = [k for k in range(s, 2, -1)]  # k-1 >= 2 targets per curve

    def point(k):
        return lambda img, d: evaluator.cascade(img, "hcf", k, d, "edge", min(n_q, k - d + 1))

    curves = {
        k: evaluator.curve(
            path_name(k),
            images,
            list(range(1, k)),
            point(k),
            f"HCF edge n_q={n_q}, source level {k}",
            progress,
        )
        for k in sources
    }
    named = {path_name(k): c for k, c in curves.items()}
    rows = []
    for k in sources[1:]:
        for row in bd_table(named, [(path_name(k), path_name(k + 1))]):
            rows.append({"source": k, "anchor_source": k + 1, **row})
    return CrossQuality(curves, rows)
