"""The compute cost model: a calibrated profile that prices every op of a cascade.

A profile (``hcf-sim calibrate``, :mod:`hcf_ray.calibrate`) holds, per op and per quantity
(``seconds``, ``flops``, ``peak_mb``), a least-squares line ``value = a + b·pixels`` fitted
over a few calibration sizes (on relative residuals, :func:`fit_linear`), where ``pixels`` is the image padded to multiples of 64
(:func:`padded_pixels`, the area the level codecs really process). Predictions are clamped
at 0. Op keys (the contract with the simulator, :mod:`hcf_ray.sim.net.pricing`):

* learned cascade, level ``k``: ``analysis[k]``, ``synthesis[k]``, ``encode[k]`` (Q/E),
  ``decode[k]`` (D), ``phi_inter[k]`` / ``phi_intra[k]`` (transition k→k-1), ``pixels8``;
  the HCF overlay ladder has the same architecture and is priced with the same keys;
* baselines: ``{name}:encode[k]``, ``{name}:relay[k]`` (level k+1 → k) and
  ``{name}:decode[k]`` for ``pcf-tail``, ``pcf-j2k``, ``drf-jpeg``, ``drf-webp``.

File format ``hcf-sim-profile/1``::

    {"format": "hcf-sim-profile/1",
     "models": {"spec": ..., "bundle_sha256": ...},
     "device": {"kind": "cpu"|"cuda", "name": ..., "threads": T},
     "torch": ..., "compressai": ..., "python": ..., "created": ISO time,
     "method": {"runs": N, "warmup": W, "statistic": "median", "sizes": [[h, w], ...], ...},
     "ops": {"analysis[6]": {"seconds": {"a", "b", "max_rel_err", "points"},
                             "flops": {...}, "peak_mb": {...}}, ...},
     "skipped": {...}}

This module is import-light (no torch): the simulator's driver prices plans with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "hcf-sim-profile/1"
QUANTITIES: tuple[str, ...] = ("seconds", "flops", "peak_mb")
PAD_MULTIPLE = 64  # the level codecs pad to this (hcf_ray.codecs.level.PAD_MULTIPLE)
DEFAULT_PROFILE = Path(__file__).resolve().parents[2] / "data" / "profiles" / "cpu-default.json"


class ProfileError(ValueError):
    """A cost profile that cannot be used; the message is one line naming the file / op."""


def padded_pixels(height: int, width: int, multiple: int = PAD_MULTIPLE) -> int:
    """Pixels of a ``height × width`` image padded up to multiples of ``multiple``."""
    h, w = int(height), int(width)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")
    return math.ceil(h / multiple) * multiple * (math.ceil(w / multiple) * multiple)


# -- op keys -------------------------------------------------------------------------------
def learned_op_keys(levels, phi_levels=None) -> list[str]:
    """Keys of the learned cascade's ops for ladder ``levels`` (φ for ``phi_levels``,
    default: every level above the lowest)."""
    levels = sorted(int(k) for k in levels)
    if phi_levels is None:
        phi_levels = levels[1:]
    keys = [f"{op}[{k}]" for k in levels for op in ("analysis", "encode", "decode", "synthesis")]
    keys += [f"phi_{v}[{k}]" for k in sorted(phi_levels) for v in ("inter", "intra")]
    return [*keys, "pixels8"]


def baseline_op_keys(name: str, levels) -> list[str]:
    """Keys of one baseline's ops: encode/decode at every level, relay into every level
    below the top."""
    levels = sorted(int(k) for k in levels)
    keys = [f"{name}:encode[{k}]" for k in levels]
    keys += [f"{name}:relay[{k}]" for k in levels[:-1]]
    return keys + [f"{name}:decode[{k}]" for k in levels]


# -- the linear fit ------------------------------------------------------------------------
def fit_linear(points, relative: bool = True) -> dict:
    """Least squares ``value = a + b·pixels`` over ``[[pixels, value], ...]`` (≥ 2 distinct
    pixel counts), with the largest relative error of the fit on its own points.

    ``relative`` (default) minimises the squared *relative* residuals (weights 1/value²) when
    every value is positive, so a small image is priced as well as a large one (per-pixel
    costs rise with size as activations outgrow the caches, and an ordinary fit then trades
    the small sizes away, down to a negative intercept); otherwise ordinary least squares.
    """
    raw = [(p, v) for p, v in points]
    pts = [(float(p), float(v)) for p, v in raw]
    xs = {p for p, _ in pts}
    if len(xs) < 2:
        raise ValueError("a linear fit needs at least two distinct sizes")
    weighted = relative and all(v > 0 for _, v in pts)
    ws = [1.0 / (v * v) if weighted else 1.0 for _, v in pts]
    wsum = sum(ws)
    mx = sum(w * p for w, (p, _) in zip(ws, pts)) / wsum
    my = sum(w * v for w, (_, v) in zip(ws, pts)) / wsum
    sxx = sum(w * (p - mx) ** 2 for w, (p, _) in zip(ws, pts))
    sxy = sum(w * (p - mx) * (v - my) for w, (p, v) in zip(ws, pts))
    b = sxy / sxx
    a = my - b * mx
    errs = []
    for p, v in pts:
        pred = max(0.0, a + b * p)
        if v != 0:
            errs.append(abs(pred - v) / abs(v))
        elif pred != 0:
            errs.append(math.inf)
    max_err = max(errs, default=0.0)
    return {
        "a": a,
        "b": b,
        "max_rel_err": max_err if math.isfinite(max_err) else None,
        "weights": "1/value^2" if weighted else "uniform",
        "points": [[int(p), v] for p, v in raw],
    }


# -- the profile ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CostProfile:
    """A loaded profile: ``ops[op][quantity] = {"a", "b", ...}``; ``meta`` is everything else
    of the file (device, torch, models, method, skipped). Equal / hashed by path + sha256."""

    path: str
    sha256: str  # of the file's bytes
    meta: dict = field(compare=False, repr=False)
    ops: dict = field(compare=False, repr=False)
    # (op, quantity, height, width) → value: a sweep prices the same ops on the same image
    # sizes hundreds of thousands of times
    _values: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path) -> CostProfile:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProfileError(f"{path}: cost profile not found") from None
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read cost profile ({exc.strerror})") from None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(f"{path}: not a JSON cost profile ({exc})") from None
        return cls.from_dict(data, str(path), hashlib.sha256(raw).hexdigest())

    @classmethod
    def from_dict(cls, data, path: str = "<profile>", sha256: str | None = None) -> CostProfile:
        """A profile from its parsed JSON (as :func:`hcf_ray.calibrate.calibrate` returns)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ProfileError(f"{path}: not a cost profile (format {got!r}, expected {FORMAT!r})")
        ops = data.get("ops")
        if not isinstance(ops, dict) or not ops:
            raise ProfileError(f"{path}: the profile has no 'ops'")
        for op, fits in ops.items():
            if not isinstance(fits, dict) or "seconds" not in fits:
                raise ProfileError(f"{path}: op {op!r} has no 'seconds' fit")
            for q, fit in fits.items():
                if q not in QUANTITIES:
                    continue
                if not isinstance(fit, dict) or not all(
                    isinstance(fit.get(c), int | float) and math.isfinite(fit[c])
                    for c in ("a", "b")
                ):
                    raise ProfileError(f"{path}: op {op!r}: '{q}' needs numeric 'a' and 'b'")
        if sha256 is None:
            sha256 = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        meta = {k: v for k, v in data.items() if k != "ops"}
        return cls(str(path), sha256, meta, ops)

    @classmethod
    def default(cls) -> CostProfile:
        """The shipped CPU profile of the shipped models (``hcf_ray/data/profiles``)."""
        return cls.load(DEFAULT_PROFILE)

    @property
    def label(self) -> str:
        dev = self.meta.get("device") or {}
        threads = dev.get("threads")
        parts = [f"{dev.get('kind', '?')}: {dev.get('name', '?')}"]
        if threads is not None:
            parts.append(f"{threads} thread{'' if threads == 1 else 's'}")
        if self.meta.get("torch"):
            parts.append(f"torch {self.meta['torch']}")
        return f"{Path(self.path).name} ({', '.join(parts)})"

    def has(self, op: str) -> bool:
        return op in self.ops

    def _value(self, op: str, quantity: str, height: int, width: int) -> float:
        key = (op, quantity, height, width)
        value = self._values.get(key)
        if value is None:
            value = self._values[key] = self._fit(op, quantity, height, width)
        return value

    def _fit(self, op: str, quantity: str, height: int, width: int) -> float:
        fits = self.ops.get(op)
        if fits is None:
            raise ProfileError(
                f"cost profile {Path(self.path).name} has no op {op!r} "
                f"(recalibrate with hcf-sim calibrate for these models)"
            )
        fit = fits.get(quantity)
        if fit is None:
            raise ProfileError(f"cost profile {Path(self.path).name}: op {op!r} has no {quantity}")
        return max(0.0, fit["a"] + fit["b"] * padded_pixels(height, width))

    def seconds(self, op: str, height: int, width: int) -> float:
        return self._value(op, "seconds", height, width)

    def flops(self, op: str, height: int, width: int) -> int:
        return round(self._value(op, "flops", height, width))

    def peak_mb(self, op: str, height: int, width: int) -> float:
        return self._value(op, "peak_mb", height, width)
