"""Rate-Quality Sensitivity Index η (paper §2.6, Eq. 14–15).

For a policy π ∈ Π(s, d; n_q) and a quality metric M (PSNR or MS-SSIM in dB)::

    RQS(π, π_ref) = [M(x̂^{d+1}_{π_ref}) − M(x̂^d_π)] / max(R^{d+1}_{π_ref} − R^d_π, ε)
    η^M(π)        = ½ [RQS(π, π_*) + RQS(π, π^*)]

quality lost per bit saved when stepping down from level d+1 under a reference policy to level
d under π; lower is better. The two references quantize only at the end (``π_* = [0,…,0,1]``)
and at every level (``π^* = [1,…,1]``). The level-(d+1) reference points are those policies
truncated at d+1, i.e. cascades ``s → d+1`` (our reading of the paper's §2.6); for
``d + 1 = s`` both are the single-stage codec at level s. R is the bpp of the final bitstream.
The report evaluates η on dataset means (mean quality and mean rate over the images).
"""

from __future__ import annotations

from dataclasses import dataclass

from hcf_ray.policy import PolicyVector

EPS = 1e-6


@dataclass(frozen=True)
class RQS:
    value: float
    clipped: bool  # the rate did not drop (denominator replaced by ε)


def rqs(quality_ref: float, rate_ref: float, quality: float, rate: float, eps: float = EPS) -> RQS:
    """Eq. 15: quality drop per rate drop from a level-(d+1) reference to a level-d point."""
    drop = rate_ref - rate
    return RQS((quality_ref - quality) / max(drop, eps), drop < eps)


def rqsi(
    quality: float,
    rate: float,
    ref_low: tuple[float, float],
    ref_high: tuple[float, float],
    eps: float = EPS,
) -> RQS:
    """Eq. 14: η = ½ [RQS(π, π_*) + RQS(π, π^*)]; references as ``(quality, rate)``."""
    a = rqs(ref_low[0], ref_low[1], quality, rate, eps)
    b = rqs(ref_high[0], ref_high[1], quality, rate, eps)
    return RQS(0.5 * (a.value + b.value), a.clipped or b.clipped)


def reference_policies(s: int, d: int) -> tuple[PolicyVector, PolicyVector]:
    """``π_*`` and ``π^*`` truncated at level d+1: cascades s → d+1 with 1 and s−d transmissions."""
    if d >= s:
        raise ValueError(f"RQSI needs d < s (got s={s}, d={d})")
    n = s - d  # length of a vector s..d+1
    return (
        PolicyVector(s, d + 1, (0,) * (n - 1) + (1,)),
        PolicyVector(s, d + 1, (1,) * n),
    )
