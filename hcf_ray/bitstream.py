"""The unit that crosses a link: an entropy-coded latent of one quality level.

A :class:`Bitstream` holds the real rANS strings CompressAI's entropy coders produce (one
``bytes`` object per coded tensor, e.g. ``[y, z]`` for a hyperprior model), the shapes a
receiver needs to decode them, and the level of the codec that wrote them.

``nbytes`` counts payload bytes only, exactly as CompressAI's ``eval_model`` does for bpp.
``to_bytes()`` is the wire format (a 16-byte header plus the strings); ``wire_nbytes`` is
what a link model should charge for transmitting it.

:class:`LatentPayload` is the simulator's faster alternative (``transport: latent``): the
quantized latent ``ŷ`` itself (a numpy array, zero-copy through Ray's object store) with its
size *estimated* from the entropy model, as CompressAI's ``--entropy-estimation`` does. Both
payloads carry the same ``ŷ``, so the receiver's reconstruction is identical.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

_MAGIC = b"HCF1"
# magic, level, number of strings, image H, image W, z H, z W
_HEADER = struct.Struct("<4sBBHHHH")


@dataclass(frozen=True)
class Bitstream:
    """Entropy-coded latent of one image at one quality level."""

    level: int
    strings: tuple[bytes, ...]
    image_size: tuple[int, int]  # (H, W) of the original (unpadded) image
    z_shape: tuple[int, int]  # spatial size of the hyper-latent, needed to decode
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not all(isinstance(s, bytes | bytearray) for s in self.strings):
            raise TypeError("Bitstream.strings must be bytes objects")

    @property
    def nbytes(self) -> int:
        """Payload bytes (all entropy-coded strings), the quantity bpp is computed from."""
        return sum(len(s) for s in self.strings)

    @property
    def wire_nbytes(self) -> int:
        """Bytes on the wire: header + per-string length prefixes + payload."""
        return _HEADER.size + 4 * len(self.strings) + self.nbytes

    def bpp(self) -> float:
        h, w = self.image_size
        return self.nbytes * 8.0 / (h * w)

    def __len__(self) -> int:
        return self.nbytes

    def to_bytes(self) -> bytes:
        h, w = self.image_size
        zh, zw = self.z_shape
        parts = [_HEADER.pack(_MAGIC, self.level, len(self.strings), h, w, zh, zw)]
        for s in self.strings:
            parts.append(struct.pack("<I", len(s)))
            parts.append(bytes(s))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bitstream:
        if len(data) < _HEADER.size:
            raise ValueError(f"bitstream too short ({len(data)} bytes) for its header")
        magic, level, n, h, w, zh, zw = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC:
            raise ValueError("not an hcf-sim bitstream (bad magic)")
        off = _HEADER.size
        strings = []
        for _ in range(n):
            if off + 4 > len(data):
                raise ValueError("truncated bitstream: missing string length")
            (ln,) = struct.unpack_from("<I", data, off)
            off += 4
            if off + ln > len(data):
                raise ValueError("truncated bitstream: string shorter than its length prefix")
            strings.append(bytes(data[off : off + ln]))
            off += ln
        if off != len(data):
            raise ValueError(f"{len(data) - off} trailing bytes after bitstream")
        return cls(level=level, strings=tuple(strings), image_size=(h, w), z_shape=(zh, zw))


@dataclass(frozen=True)
class LatentPayload:
    """Quantized latent of one image at one level, sized by entropy estimation (no coding).

    ``y_hat`` is the exact tensor the entropy decoder would rebuild from the real bitstream;
    ``bits`` is ``Σ -log2 p`` over y and z (CompressAI's ``--entropy-estimation``).
    """

    level: int
    y_hat: np.ndarray  # float32, (1, C, h, w)
    bits: float
    image_size: tuple[int, int]

    @property
    def nbytes(self) -> float:
        """Estimated payload bytes (``bits / 8``, not rounded)."""
        return self.bits / 8.0

    @property
    def wire_nbytes(self) -> float:
        return self.nbytes

    def bpp(self) -> float:
        h, w = self.image_size
        return self.bits / (h * w)
