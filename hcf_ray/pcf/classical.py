"""JPEG and WebP through Pillow, at a fixed quality or at the quality closest to a rate.

Successive recompression with classical codecs (what a CDN does today): every node decodes
to 8-bit pixels and re-encodes at the next quality level.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}
_QUALITY_RANGE = {"jpeg": (1, 95), "webp": (0, 100)}


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown classical format {fmt!r}; choose from {', '.join(FORMATS)}")
    return fmt


def encode(img: np.ndarray, fmt: str, quality: int) -> bytes:
    """Encode an (H, W, 3) uint8 image with JPEG (optimized Huffman, 4:2:0) or lossy WebP."""
    _check_format(fmt)
    lo, hi = _QUALITY_RANGE[fmt]
    if not lo <= quality <= hi:
        raise ValueError(f"{fmt} quality must be in {lo}..{hi}, got {quality}")
    buf = io.BytesIO()
    opts = {"optimize": True} if fmt == "jpeg" else {"method": 4}
    Image.fromarray(img).save(buf, format=FORMATS[fmt], quality=int(quality), **opts)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def encode_at_rate(img: np.ndarray, fmt: str, target_bpp: float) -> tuple[int, bytes]:
    """``(quality, bytes)`` whose rate is closest to ``target_bpp`` (binary search)."""
    _check_format(fmt)
    if target_bpp <= 0:
        raise ValueError(f"target rate must be positive, got {target_bpp}")
    pixels = img.shape[0] * img.shape[1]
    cache: dict[int, bytes] = {}

    def rate(q: int) -> float:
        if q not in cache:
            cache[q] = encode(img, fmt, q)
        return len(cache[q]) * 8.0 / pixels

    lo, hi = _QUALITY_RANGE[fmt]
    # largest quality whose rate does not exceed the target (rate grows with quality)
    a, b = lo, hi
    while a < b:
        mid = (a + b + 1) // 2
        if rate(mid) <= target_bpp:
            a = mid
        else:
            b = mid - 1
    candidates = [a] + ([a + 1] if a < hi else [])
    best = min(candidates, key=lambda q: abs(rate(q) - target_bpp))
    return best, cache[best]
