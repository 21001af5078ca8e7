"""The progressive (PCF) and classical recompression baselines as methods.

Their codecs live in :mod:`hcf_ray.pcf`; here they become stages (:mod:`hcf_ray.pcf.stages`)
over the same per-link levels as HCF's plan, so they run on a network like every other method:

* ``pcf-tail`` — learned tail-drop hyperprior: the source encodes every channel group once,
  a relay where the level drops keeps a prefix of the groups;
* ``pcf-j2k`` — JPEG 2000 with one quality layer per level, a relay keeps the first layers;
* ``drf-jpeg`` / ``drf-webp`` — a relay where the level drops decodes and re-encodes JPEG /
  WebP at the quality whose rate is closest to the level's.

"Level k" is the rate closest to the ladder's level-k rate
(:func:`hcf_ray.level_rates.level_bpp`). In ``hcf-sim eval`` every level drop is a node (the
chain s, s-1, …, d, paper Table 2).
"""

from __future__ import annotations

import itertools

from hcf_ray.cascade import Op, Stage
from hcf_ray.methods.base import Method, with_forwards

# their codecs' one-line descriptions (hcf_ray.pcf.methods lists the same names); here, so
# that naming the methods (hcf-sim validate) needs no torch
BASELINE_DESCRIPTIONS: dict[str, str] = {
    "pcf-tail": "progressive tail-drop hyperprior, relays keep a prefix of channel groups",
    "pcf-j2k": "JPEG 2000, one quality layer per level, relays keep the first layers",
    "drf-jpeg": "JPEG re-encoded at every node (rate-matched quality)",
    "drf-webp": "WebP re-encoded at every node (rate-matched quality)",
}


class BaselineMethod(Method):
    """A baseline whose relays can only truncate or re-encode its own payloads."""

    is_baseline = True

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        name, sent = self.name, list(dict.fromkeys(levels))  # distinct, in route order
        chain = [Stage(None, (Op("encode", sent[0], name),), sent[0], name)]
        for t_in, t_out in itertools.pairwise(sent):
            chain.append(Stage(t_in, (Op("relay", t_out, name),), t_out, name))
        chain.append(Stage(sent[-1], (Op("decode", sent[-1], name),), None, name))
        return with_forwards(tuple(chain), levels)

    def eval_n_q(self, s: int, d: int) -> int:
        return s - d + 1


def _baseline(name: str) -> type[BaselineMethod]:
    cls_name = "".join(p.capitalize() for p in name.split("-"))
    return type(
        cls_name, (BaselineMethod,), {"name": name, "description": BASELINE_DESCRIPTIONS[name]}
    )


PCFTail = _baseline("pcf-tail")
PCFJ2K = _baseline("pcf-j2k")
DRFJpeg = _baseline("drf-jpeg")
DRFWebp = _baseline("drf-webp")
