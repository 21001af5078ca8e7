"""The unit that crosses a link: an entropy-coded latent of one quality level.

A :class:`Bitstream` holds the real rANS strings CompressAI's entropy coders produce (one
``bytes`` object per coded tensor, e.g. ``[y, z]`` for a hyperprior model), the shapes a
receiver needs to decode them, and the level of the codec that wrote them.

``nbytes`` counts payload bytes only, exactly as CompressAI's ``eval_model`` does for bpp.
``to_bytes()`` is the wire format; ``wire_nbytes`` is what a link model should charge for
transmitting it. The wire format (``HCF2``, all integers little-endian)::

    offset  size  field
         0     4  magic b"HCF2"
         4     1  level (u8)
         5     1  n, the number of strings (u8)
         6     2  image height H (u16; the original, unpadded image)
         8     2  image width W (u16)
        10     2  hyper-latent height zH (u16)
        12     2  hyper-latent width zW (u16)
        14     4  CRC-32 (zlib.crc32, u32) of every byte of the stream except this field
        18        n times: string length (u32), then that many bytes of rANS string

The CRC covers the header (bytes 0–13) and everything after it (length prefixes and strings),
so a flipped bit anywhere is caught. :meth:`Bitstream.from_bytes` is the receiving side's
check: it refuses, with a :class:`BitstreamError` (a ``ValueError``) whose message is one
short line, an old ``HCF1`` stream (it had no CRC), a wrong magic, a stream cut short,
trailing bytes, a CRC mismatch, and a stream whose header or strings are impossible for any
model (:meth:`Bitstream.validate`). The checks that depend on the receiving model (its level,
the number of strings, the hyper-latent size for the image size, string lengths) are
:meth:`~hcf_ray.codecs.level.LevelCodec.check_bitstream`, run before every decode.

:class:`LatentPayload` is the simulator's faster alternative (``transport: latent``): the
quantized latent ``ŷ`` itself (a numpy array, zero-copy through Ray's object store) with its
size *estimated* from the entropy model, as CompressAI's ``--entropy-estimation`` does. Both
payloads carry the same ``ŷ``, so the receiver's reconstruction is identical.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from hcf_ray.errors import InputError

_MAGIC = b"HCF2"
_OLD_MAGICS = (b"HCF1",)  # earlier wire formats (no CRC): refused with a clear message
# magic, level, number of strings, image H, image W, z H, z W, CRC-32
_HEADER = struct.Struct("<4sBBHHHHI")
_CRC_AT = 14  # offset of the CRC field in the header
_LEN = struct.Struct("<I")
# A receiver refuses streams claiming more pixels than this (the image loader's limit, so a
# header cannot make a node allocate latents for an image that could never have been sent).
MAX_IMAGE_PIXELS = 64_000_000


class BitstreamError(InputError):
    """A received bitstream failed an integrity check; it was not decoded."""


def _crc(data: bytes | bytearray | memoryview) -> int:
    """CRC-32 of a wire stream, skipping its own CRC field."""
    mv = memoryview(data)
    crc = zlib.crc32(mv[:_CRC_AT])
    return zlib.crc32(mv[_HEADER.size :], crc) & 0xFFFFFFFF


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
        """Bytes on the wire: header (with its CRC) + per-string length prefixes + payload."""
        return _HEADER.size + _LEN.size * len(self.strings) + self.nbytes

    def bpp(self) -> float:
        h, w = self.image_size
        return self.nbytes * 8.0 / (h * w)

    def __len__(self) -> int:
        return self.nbytes

    def to_bytes(self) -> bytes:
        h, w = self.image_size
        zh, zw = self.z_shape
        parts = [_HEADER.pack(_MAGIC, self.level, len(self.strings), h, w, zh, zw, 0)]
        for s in self.strings:
            parts.append(_LEN.pack(len(s)))
            parts.append(bytes(s))
        data = bytearray(b"".join(parts))
        struct.pack_into("<I", data, _CRC_AT, _crc(data))
        return bytes(data)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Bitstream:
        """Parse and verify a wire stream; raises :class:`BitstreamError` on any damage."""
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise BitstreamError(f"bitstream too short ({len(data)} bytes) for its header")
        magic, level, n, h, w, zh, zw, crc = _HEADER.unpack_from(data, 0)
        if magic in _OLD_MAGICS:
            raise BitstreamError(
                f"{magic.decode()} bitstream (old format without a CRC): re-encode it"
            )
        if magic != _MAGIC:
            raise BitstreamError("not an hcf-sim bitstream (bad magic)")
        off = _HEADER.size
        strings = []
        for i in range(n):
            if off + _LEN.size > len(data):
                raise BitstreamError(f"truncated bitstream: string {i} of {n} has no length")
            (ln,) = _LEN.unpack_from(data, off)
            off += _LEN.size
            if ln > len(data) - off:
                raise BitstreamError(
                    f"truncated bitstream: string {i} needs {ln} bytes, {len(data) - off} left"
                )
            strings.append(data[off : off + ln])
            off += ln
        if off != len(data):
            raise BitstreamError(f"{len(data) - off} trailing bytes after bitstream")
        actual = _crc(data)
        if actual != crc:
            raise BitstreamError(f"bitstream CRC mismatch (computed {actual:08x}, sent {crc:08x})")
        bs = cls(level=level, strings=tuple(strings), image_size=(h, w), z_shape=(zh, zw))
        bs.validate()
        return bs

    def validate(self) -> None:
        """Checks any receiver makes, whatever its model; raises :class:`BitstreamError`.

        At least one string, no empty string, image and hyper-latent sides of at least one,
        an image of at most :data:`MAX_IMAGE_PIXELS` pixels.
        """
        if not self.strings:
            raise BitstreamError("bitstream has no strings")
        for i, s in enumerate(self.strings):
            if not s:
                raise BitstreamError(f"bitstream string {i} is empty")
        h, w = self.image_size
        if h < 1 or w < 1:
            raise BitstreamError(f"bitstream claims an image of {h}x{w} pixels")
        if h * w > MAX_IMAGE_PIXELS:
            raise BitstreamError(
                f"bitstream claims a {h}x{w} image, over the {MAX_IMAGE_PIXELS:,}-pixel limit"
            )
        zh, zw = self.z_shape
        if zh < 1 or zw < 1:
            raise BitstreamError(f"bitstream claims a hyper-latent of {zh}x{zw}")


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


# wire format of a baseline payload (little-endian): magic b"PCF1", level (u8), method name
# length (u8), H (u16), W (u16), CRC-32 (u32) of every other byte, method name, data
_WIRE_MAGIC = b"PCF1"
_WIRE = struct.Struct("<4sBBHHI")
_WIRE_CRC_AT = 10


@dataclass(frozen=True)
class BaselinePayload:
    """What a progressive / classical baseline (:mod:`hcf_ray.pcf`) sends to the next node:
    method, level, image size and the codec's real bytes."""

    method: str
    level: int
    image_size: tuple[int, int]  # (H, W)
    data: bytes

    @property
    def nbytes(self) -> int:
        return len(self.data)

    @property
    def wire_nbytes(self) -> int:
        """Bytes on a link: the data plus the wire header (method, level, size, CRC)."""
        return _WIRE.size + len(self.method.encode()) + len(self.data)

    def bpp(self) -> float:
        h, w = self.image_size
        return len(self.data) * 8.0 / (h * w)

    def to_bytes(self) -> bytes:
        """The wire format: a small header with a CRC-32, then the codec's own bytes."""
        name = self.method.encode()
        h, w = self.image_size
        head = _WIRE.pack(_WIRE_MAGIC, self.level, len(name), h, w, 0)
        crc = zlib.crc32(self.data, zlib.crc32(name, zlib.crc32(head)))
        head = head[:_WIRE_CRC_AT] + struct.pack("<I", crc)
        return head + name + self.data

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> BaselinePayload:
        """Parse and verify what arrived; a damaged stream raises ``BitstreamError``."""
        data = bytes(data)
        if len(data) < _WIRE.size:
            raise BitstreamError(f"payload too short ({len(data)} bytes) for its header")
        magic, level, n, h, w, crc = _WIRE.unpack_from(data)
        if magic != _WIRE_MAGIC:
            raise BitstreamError(f"not a baseline payload (magic {magic!r})")
        if len(data) < _WIRE.size + n:
            raise BitstreamError("truncated payload: method name cut short")
        head = data[:_WIRE_CRC_AT] + b"\0\0\0\0"
        actual = zlib.crc32(data[_WIRE.size :], zlib.crc32(head))
        if actual != crc:
            raise BitstreamError(f"payload CRC mismatch (computed {actual:08x}, sent {crc:08x})")
        if not data[_WIRE.size + n :] or h == 0 or w == 0:
            raise BitstreamError("empty payload")
        name = data[_WIRE.size : _WIRE.size + n].decode("ascii", errors="replace")
        return cls(name, level, (h, w), data[_WIRE.size + n :])


def parse_wire(data: bytes | bytearray | memoryview):
    """Parse and verify a received stream of any kind: a learned :class:`Bitstream`, or a
    progressive / classical baseline's :class:`BaselinePayload` (``PCF1``)."""
    if bytes(data[:4]) == _WIRE_MAGIC:
        return BaselinePayload.from_bytes(data)
    return Bitstream.from_bytes(data)
