"""An embedded bitstream of channel groups: truncating it is cutting a byte prefix.

Layout (all integers little-endian)::

    "PTD1" | H u16 | W u16 | zH u16 | zW u16 | G u8 | G × group size u8
           | z length u32 | G × chunk length u32 | z string | chunk 1 | … | chunk G

The header always lists the lengths of all ``G`` chunks the source wrote, so any node can
compute where every prefix ends. A stream truncated to ``k`` groups is literally
``full[: prefix_nbytes(k)]``: nothing is rewritten, and the receiver learns ``k`` from the
number of bytes it got.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hcf_ray.errors import InputError

_MAGIC = b"PTD1"
_FIXED = struct.Struct("<4sHHHHB")


@dataclass(frozen=True)
class ProgressiveBitstream:
    """A (possibly truncated) tail-drop bitstream: the ẑ string plus the first ``k`` groups."""

    image_size: tuple[int, int]
    z_shape: tuple[int, int]
    group_sizes: tuple[int, ...]
    chunk_lengths: tuple[int, ...]  # lengths of all G chunks written by the source
    z_string: bytes
    groups: tuple[bytes, ...]  # the chunks present (a prefix of the source's)

    def __post_init__(self) -> None:
        if len(self.chunk_lengths) != len(self.group_sizes):
            raise ValueError("one chunk length per group is needed")
        if len(self.groups) > len(self.group_sizes):
            raise ValueError("more chunks than groups")
        for i, g in enumerate(self.groups):
            if len(g) != self.chunk_lengths[i]:
                raise ValueError(
                    f"chunk {i} has {len(g)} bytes, header says {self.chunk_lengths[i]}"
                )

    @property
    def num_groups(self) -> int:
        """Groups the source wrote (G)."""
        return len(self.group_sizes)

    @property
    def k(self) -> int:
        """Groups present in this (possibly truncated) stream."""
        return len(self.groups)

    @property
    def header_nbytes(self) -> int:
        return _FIXED.size + self.num_groups + 4 + 4 * self.num_groups

    def prefix_nbytes(self, k: int) -> int:
        """Size in bytes of the stream truncated to ``k`` groups (header and ẑ included)."""
        if not 0 <= k <= self.num_groups:
            raise ValueError(f"k must be in 0..{self.num_groups}, got {k}")
        return self.header_nbytes + len(self.z_string) + sum(self.chunk_lengths[:k])

    @property
    def nbytes(self) -> int:
        """Bytes this stream occupies on a link (everything, header included)."""
        return self.prefix_nbytes(self.k)

    def bpp(self, k: int | None = None) -> float:
        h, w = self.image_size
        return self.prefix_nbytes(self.k if k is None else k) * 8.0 / (h * w)

    def truncate(self, k: int) -> ProgressiveBitstream:
        """The first ``k`` groups (``k`` ≤ the groups present)."""
        if not 0 <= k <= self.k:
            raise ValueError(f"cannot truncate a stream of {self.k} groups to {k} groups")
        return ProgressiveBitstream(
            self.image_size,
            self.z_shape,
            self.group_sizes,
            self.chunk_lengths,
            self.z_string,
            self.groups[:k],
        )

    def to_bytes(self) -> bytes:
        h, w = self.image_size
        zh, zw = self.z_shape
        g = self.num_groups
        head = _FIXED.pack(_MAGIC, h, w, zh, zw, g)
        head += bytes(self.group_sizes)
        head += struct.pack(f"<I{g}I", len(self.z_string), *self.chunk_lengths)
        return b"".join([head, self.z_string, *self.groups])

    @classmethod
    def from_bytes(cls, data: bytes) -> ProgressiveBitstream:
        """Parse a full stream or any prefix of it that ends on a chunk boundary."""
        if len(data) < _FIXED.size:
            raise InputError(f"progressive stream too short ({len(data)} bytes) for its header")
        magic, h, w, zh, zw, g = _FIXED.unpack_from(data, 0)
        if magic != _MAGIC:
            raise InputError("not a tail-drop progressive stream (bad magic)")
        off = _FIXED.size
        if len(data) < off + g + 4 + 4 * g:
            raise InputError("progressive stream too short for its chunk table")
        sizes = tuple(data[off : off + g])
        off += g
        z_len, *lengths = struct.unpack_from(f"<I{g}I", data, off)
        off += 4 + 4 * g
        if len(data) < off + z_len:
            raise InputError("progressive stream cut inside the ẑ string")
        z_string = bytes(data[off : off + z_len])
        off += z_len
        groups = []
        for ln in lengths:
            if off == len(data):
                break
            if off + ln > len(data):
                raise InputError("progressive stream cut inside a chunk (not a group boundary)")
            groups.append(bytes(data[off : off + ln]))
            off += ln
        if off != len(data):
            raise InputError(f"{len(data) - off} trailing bytes after the progressive stream")
        return cls((h, w), (zh, zw), sizes, tuple(lengths), z_string, tuple(groups))
