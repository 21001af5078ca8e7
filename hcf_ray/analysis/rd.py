"""BD table (paper Table 2) and the RD curves behind it, per image folder.

Curves come from :meth:`Evaluator.method_curve`, i.e. the ``hcf-sim eval`` protocol: source
level s fixed, target d swept (SSF: the single-stage codec at every level). Every method —
SSF, DRF and each progressive / classical baseline in ``hcf_ray.pcf`` that can run here — is
compared with HCF-edge (n_q = 2) by :func:`hcf_ray.evaluate.bd_table` (PCHIP), in the paper's
direction: a positive BD-rate means the method needs more bits than HCF.

The baselines' quality levels are the ladder's measured single-stage rates on the same images
(the SSF curve), as ``hcf-sim eval`` calibrates them; a ladder whose rates do not increase with
the level (random weights) falls back to the default rate table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hcf_ray.analysis.runner import Evaluator, ImageItem, Progress
from hcf_ray.evaluate import Curve, bd_table
from hcf_ray.methods import baseline_names

CASCADE_METHODS = ("ssf", "hcf", "drf")
ANCHOR = "hcf"


@dataclass
class RDComparison:
    folder: str
    images: list[str]
    curves: dict[str, Curve]
    bd: list[dict]
    skipped: dict[str, str] = field(default_factory=dict)  # method -> why it did not run


def rd_comparison(
    evaluator: Evaluator,
    images: Sequence[ImageItem],
    folder: str,
    baselines: Sequence[str] | None = None,
    s: int | None = None,
    progress: Progress | None = None,
) -> RDComparison:
    s = s or evaluator.max_level
    curves: dict[str, Curve] = {}
    for name in CASCADE_METHODS:
        curves[name] = evaluator.method_curve(name, images, s, progress)
    ssf = curves["ssf"]
    evaluator.set_level_rates(dict(zip(ssf.levels, ssf.bpp)))
    skipped: dict[str, str] = {}
    for name in baseline_names() if baselines is None else baselines:
        try:
            curves[name] = evaluator.method_curve(name, images, s, progress)
        except (ValueError, OSError) as exc:  # e.g. no shipped pcf-tail model
            skipped[name] = str(exc).splitlines()[0]
            if progress:
                progress(f"  {name}: skipped ({skipped[name]})")
    pairs = [(name, ANCHOR) for name in curves if name != ANCHOR]
    return RDComparison(folder, [i.name for i in images], curves, bd_table(curves, pairs), skipped)
