"""Differential entropy of cascade latents (paper §2.5, Fig. 3).

Estimator: Kozachenko–Leonenko k-nearest-neighbour estimate

    ĥ = ψ(N) − ψ(k) + log V_d + (d/N) Σ_i log r_i,k          (nats; ÷ ln 2 for bits)

with ``V_d = π^{d/2} / Γ(d/2 + 1)`` the volume of the unit d-ball and ``r_i,k`` the
Euclidean distance from sample ``i`` to its k-th nearest neighbour (exact search:
``scipy.spatial.cKDTree`` up to 16 dimensions, blocked brute force above, where k-d trees
degenerate).

**Ties.** Quantized latents can contain identical vectors, whose zero nearest-neighbour
distance makes ``log r`` = −∞. The default, ``ties="drop"``, drops zero distances: the k-th
neighbour of a sample is the k-th *other* sample at a non-zero distance (duplicates of the
sample itself are skipped, duplicates of other points count with their multiplicity); on data
without ties this is exactly the standard estimator. ``ties="jitter"`` instead adds uniform
noise ``U(−a/2, a/2)`` of a documented width ``a`` (seeded) before the standard estimate — with
``a → 0`` that estimate diverges to −∞ for tied data, so it measures the jitter, not the data.

**Samples** (our choice; the paper does not say): a latent ``(1, C, h, w)`` gives one
``C``-dimensional sample per spatial position, restricted to the positions that cover the image
(the padding to a multiple of 64 is cut away); at most ``max_samples`` positions are used,
drawn without replacement with a fixed seed. Entropies are estimated per image and averaged
over images, in bits per latent vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from compressai.ops import compute_padding
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln
from torch import Tensor

Ties = Literal["drop", "jitter"]
KDTREE_MAX_DIM = 16
LATENT_STRIDE = 16  # g_a down-samples by 16
PAD_MULTIPLE = 64


def log_unit_ball_volume(d: int) -> float:
    return d / 2 * math.log(math.pi) - float(gammaln(d / 2 + 1))


def kl_entropy(
    samples: np.ndarray,
    k: int = 1,
    ties: Ties = "drop",
    jitter: float = 1e-3,
    seed: int = 0,
    units: Literal["bits", "nats"] = "bits",
) -> float:
    """Kozachenko–Leonenko differential entropy of ``samples`` (N × d), see module doc."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"samples must be an (N, d) array, got shape {x.shape}")
    n, d = x.shape
    if k < 1 or n <= k:
        raise ValueError(f"need more than k={k} samples, got {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    if ties == "jitter":
        if jitter <= 0:
            raise ValueError("jitter width must be > 0")
        x = x + np.random.default_rng(seed).uniform(-jitter / 2, jitter / 2, size=x.shape)
    elif ties != "drop":
        raise ValueError(f"ties must be 'drop' or 'jitter', got {ties!r}")
    unique, counts = np.unique(x, axis=0, return_counts=True)
    if unique.shape[0] < 2:
        raise ValueError("all samples are identical: the entropy estimate is undefined")
    r = _kth_nonzero_distance(unique, counts, k)
    h = (
        digamma(n)
        - digamma(k)
        + log_unit_ball_volume(d)
        + d * float(np.sum(counts * np.log(r))) / n
    )
    return float(h / math.log(2) if units == "bits" else h)


def _kth_nonzero_distance(points: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Per distinct point: distance to the k-th other sample, counting multiplicities."""
    m = points.shape[0]
    kk = min(k, m - 1)  # distinct neighbours needed: at most k (each counts at least once)
    dist, idx = _knn(points, kk)
    cum = np.cumsum(counts[idx], axis=1)
    reach = np.argmax(cum >= k, axis=1)
    ok = cum[np.arange(m), reach] >= k
    if not np.all(ok):
        raise ValueError(f"fewer than k={k} samples at a non-zero distance")
    return dist[np.arange(m), reach]


def _knn(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest *other* distinct points (distances and indices, nearest first)."""
    m, d = points.shape
    if d <= KDTREE_MAX_DIM:
        dist, idx = cKDTree(points).query(points, k=k + 1)
        dist, idx = dist.reshape(m, -1)[:, 1:], idx.reshape(m, -1)[:, 1:]
        return dist, idx
    sq = np.einsum("ij,ij->i", points, points)
    dists = np.empty((m, k))
    idxs = np.empty((m, k), dtype=np.int64)
    block = max(1, 2**22 // m)
    for start in range(0, m, block):
        stop = min(start + block, m)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * points[start:stop] @ points.T
        rows = np.arange(stop - start)
        d2[rows, rows + start] = np.inf  # not its own neighbour
        np.maximum(d2, 0.0, out=d2)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(vals, axis=1)
        idxs[start:stop] = np.take_along_axis(part, order, axis=1)
        # exact distances for the chosen neighbours (the Gram trick loses precision)
        diff = points[start:stop, None, :] - points[idxs[start:stop]]
        dists[start:stop] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    return dists, idxs


def latent_samples(
    latent: Tensor,
    image_size: tuple[int, int],
    max_samples: int | None = 4096,
    seed: int = 0,
) -> np.ndarray:
    """Samples (positions × channels) of a ``(1, C, h, w)`` latent, padding cut away."""
    if latent.dim() != 4 or latent.size(0) != 1:
        raise ValueError(f"expected a (1, C, h, w) latent, got {tuple(latent.shape)}")
    h, w = image_size
    (left, _, top, _), _ = compute_padding(h, w, min_div=PAD_MULTIPLE)
    r0, c0 = top // LATENT_STRIDE, left // LATENT_STRIDE
    r1, c1 = -(-(top + h) // LATENT_STRIDE), -(-(left + w) // LATENT_STRIDE)
    y = latent[0, :, r0:r1, c0:c1].detach().to("cpu").double().numpy()
    samples = y.reshape(y.shape[0], -1).T
    if max_samples is not None and samples.shape[0] > max_samples:
        pick = np.random.default_rng(seed).choice(samples.shape[0], max_samples, replace=False)
        samples = samples[np.sort(pick)]
    return samples


# -- the cascade analysis --------------------------------------------------------------------
@dataclass
class EntropyPoint:
    """Mean entropy (bits per latent vector) at one level, before or after quantization."""

    level: int
    quantized: bool
    bits: float
    per_image: list[float] = field(default_factory=list)


@dataclass
class EntropyCurve:
    policy: str
    points: list[EntropyPoint]
    bpp: float  # mean rate of the final (level-d) bitstream

    def jumps(self) -> dict[int, float]:
        """Entropy increase at every quantization level: h(ŷ^k) − h(ỹ^k)."""
        pre = {p.level: p.bits for p in self.points if not p.quantized}
        return {p.level: p.bits - pre[p.level] for p in self.points if p.quantized}

    def before_final_quantization(self) -> float:
        d = min(p.level for p in self.points)
        return next(p.bits for p in self.points if p.level == d and not p.quantized)


@dataclass
class EntropyResult:
    s: int
    d: int
    n_q: int
    k: int
    ties: str
    max_samples: int | None
    dims: int  # latent channels at level d
    samples_per_image: list[int]
    images: list[str]
    curves: list[EntropyCurve]


def entropy_analysis(
    evaluator,
    images: Sequence,
    s: int = 4,
    d: int = 1,
    n_q: int = 2,
    k: int = 1,
    ties: Ties = "drop",
    max_samples: int | None = 4096,
    seed: int = 0,
    progress=None,
) -> EntropyResult:
    """KL entropy at every level of every policy in Π(s, d; n_q) (paper: s=4, d=1, n_q=2)."""
    from hcf_ray.policy import enumerate_policies

    policies = enumerate_policies(s, d, n_q)
    est: dict[int, float] = {}  # id(latent tensor) -> bits; memoized latents are shared
    per_policy: dict[str, dict[tuple[int, bool], list[float]]] = {str(p): {} for p in policies}
    rates: dict[str, list[float]] = {str(p): [] for p in policies}
    n_samples: list[int] = []
    dims = count = 0
    for img in images:
        keep = []  # holds the traced tensors so their ids stay valid for the memo
        for pol in policies:
            trace = evaluator.trace(img, evaluator.program("hcf", s, d, pol))
            keep.append(trace)
            for st in trace.latents:
                if id(st.value) not in est:
                    xs = latent_samples(st.value, img.size, max_samples, seed)
                    est[id(st.value)] = kl_entropy(xs, k=k, ties=ties, seed=seed)
                    if st.level == d:
                        dims = xs.shape[1]
                        count = xs.shape[0]
                per_policy[str(pol)].setdefault((st.level, st.quantized), []).append(
                    est[id(st.value)]
                )
            rates[str(pol)].append(float(trace.transmissions[-1].bitstream.bpp()))
        n_samples.append(count)
        est.clear()
        if progress:
            progress(f"  entropy: {img.name}: {count} samples of dimension {dims}")
    curves = []
    for pol in policies:
        pts = [
            EntropyPoint(level, q, float(np.mean(v)), v)
            for (level, q), v in per_policy[str(pol)].items()
        ]
        pts.sort(key=lambda p: (-p.level, p.quantized))
        curves.append(EntropyCurve(str(pol), pts, float(np.mean(rates[str(pol)]))))
    return EntropyResult(
        s, d, n_q, k, ties, max_samples, dims, n_samples, [i.name for i in images], curves
    )
