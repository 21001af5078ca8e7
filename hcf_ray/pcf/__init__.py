"""Progressive-compression baselines (PCF) and successive classical recompression (DRF).

* ``pcf-tail`` — a learned tail-drop hyperprior (:mod:`~hcf_ray.pcf.tail_drop`,
  :mod:`~hcf_ray.pcf.codec`, chunked stream in :mod:`~hcf_ray.pcf.bitstream`), trained by
  :mod:`~hcf_ray.pcf.train` (``hcf-sim train pcf``);
* ``pcf-j2k`` — JPEG 2000 quality layers cut at real layer boundaries (:mod:`~hcf_ray.pcf.j2k`);
* ``drf-jpeg`` / ``drf-webp`` — classical codecs re-encoded at every node
  (:mod:`~hcf_ray.pcf.classical`).

:mod:`~hcf_ray.pcf.methods` gives all four one interface (``encode_source`` / ``relay`` /
``decode`` / ``payload_nbytes``) for flows and evaluation.
"""

from hcf_ray.pcf.bitstream import ProgressiveBitstream
from hcf_ray.pcf.codec import TailDropCodec, load_tail_codec
from hcf_ray.pcf.levels import DEFAULT_LEVEL_BPP, calibrate_level_bpp
from hcf_ray.pcf.methods import (
    BASELINE_DESCRIPTIONS,
    BASELINES,
    Baseline,
    ChainResult,
    Payload,
    make_baseline,
    make_runner,
    rd_points,
    run_chain,
)
from hcf_ray.pcf.tail_drop import TailDropHyperprior

__all__ = [
    "BASELINES",
    "BASELINE_DESCRIPTIONS",
    "DEFAULT_LEVEL_BPP",
    "Baseline",
    "ChainResult",
    "Payload",
    "ProgressiveBitstream",
    "TailDropCodec",
    "TailDropHyperprior",
    "calibrate_level_bpp",
    "load_tail_codec",
    "make_baseline",
    "make_runner",
    "rd_points",
    "run_chain",
]
