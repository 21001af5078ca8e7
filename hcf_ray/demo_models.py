"""The shipped ``default`` models are demo models; say so wherever results come from them.

They were trained on 2 CPU cores. Measured on held-out photos (``docs/model_card.md``): about
2.3–2.7 dB below CompressAI's published bmshj2018-hyperprior curve and 0.9 dB BD-PSNR below
JPEG 2000. Every command that produces numbers with them prints :data:`DEMO_NOTICE` once, and
``summary.json`` carries :func:`models_record`.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEMO_NOTICE = (
    "note: codec 'default' = small CPU-trained demo models, ~2.5 dB below CompressAI's "
    "published curve and 0.9 dB below JPEG 2000; for paper-grade numbers use zoo:ARCH or "
    "your own bundle"
)
DEMO_NAME = "hcf-sim default demo ladder (CPU-trained)"


def is_demo(spec: str | Path | None) -> bool:
    """Whether a model spec is (or points at) the shipped demo models."""
    if spec is None:
        return False
    if str(spec) == "default":
        return True
    from hcf_ray.bundle import default_weights_dir

    try:
        return Path(spec).resolve() == default_weights_dir().resolve()
    except (OSError, ValueError):
        return False


def models_record(requested: str, used: str, bundle_sha256: str) -> dict:
    """What ``summary.json`` says about the models behind its numbers."""
    demo = is_demo(used) or is_demo(requested)
    return {
        "name": DEMO_NAME if demo else requested,
        "requested": requested,
        "used": used,
        "bundle_sha256": bundle_sha256,
        "demo": demo,
        **({"notice": DEMO_NOTICE} if demo else {}),
    }


def print_notice(*specs: str | None) -> None:
    """One line on stderr when any of ``specs`` is the demo ladder (after the results, so that
    bad input still gets exactly one line)."""
    if any(is_demo(s) for s in specs):
        print(f"hcf-sim: {DEMO_NOTICE}", file=sys.stderr)
