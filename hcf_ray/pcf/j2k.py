"""JPEG 2000 quality layers through Pillow/OpenJPEG, truncated at real layer boundaries.

The source writes a raw codestream (``no_jp2``) with one quality layer per ladder level,
LRCP progression (all packets of layer 1, then layer 2, …), one tile, and PLT markers (packet
lengths in the tile-part header). With LRCP every layer is a contiguous run of
``resolutions × components`` packets, so the first ``k`` layers end at
``SOD + sum(first k·R·C packet lengths)``: a node keeps exactly that byte prefix.

OpenJPEG refuses a tile-part shorter than its SOT length field, so only the *decoder*
rewrites ``Psot`` and appends an EOC marker before decoding; what crosses a link is the
unmodified prefix, and a later node can cut it again (the header and PLT are intact).
"""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

_SOC, _SIZ, _COD, _SOT, _PLT, _SOD, _EOC = 0xFF4F, 0xFF51, 0xFF52, 0xFF90, 0xFF58, 0xFF93, 0xFFD9
_LRCP = 0


def encode_layers(img: np.ndarray, layer_bpp: Sequence[float], irreversible: bool = True) -> bytes:
    """Raw J2K codestream of an (H, W, 3) uint8 image with cumulative layer rates in bpp."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.shape} {img.dtype}")
    rates = [float(r) for r in layer_bpp]
    if not rates or any(r <= 0 for r in rates) or any(b <= a for a, b in itertools.pairwise(rates)):
        raise ValueError(f"layer rates must be positive and increasing, got {rates}")
    bits_per_pixel = 24.0
    buf = io.BytesIO()
    Image.fromarray(img).save(
        buf,
        format="JPEG2000",
        no_jp2=True,
        quality_mode="rates",
        quality_layers=[bits_per_pixel / r for r in rates],  # compression ratios
        progression="LRCP",
        irreversible=irreversible,
        mct=1,
        plt=True,
    )
    return buf.getvalue()


@dataclass(frozen=True)
class J2KLayout:
    """Where the layers of a single-tile LRCP codestream with PLT markers end."""

    num_layers: int
    packets_per_layer: int
    sot_offset: int  # byte offset of the SOT marker
    data_offset: int  # first byte after SOD
    packet_lengths: tuple[int, ...]

    def layer_end(self, k: int) -> int:
        """Byte length of the prefix holding the first ``k`` layers (EOC not included)."""
        if not 0 <= k <= self.num_layers:
            raise ValueError(f"k must be in 0..{self.num_layers}, got {k}")
        return self.data_offset + sum(self.packet_lengths[: k * self.packets_per_layer])

    def layers_in(self, data: bytes) -> int:
        """Number of complete layers in ``data`` (a full stream or a layer-boundary prefix)."""
        n = len(data)
        if data[-2:] == _EOC.to_bytes(2, "big") and n == self.layer_end(self.num_layers) + 2:
            return self.num_layers
        for k in range(self.num_layers + 1):
            if self.layer_end(k) == n:
                return k
        raise ValueError(f"{n} bytes is not a layer boundary of this J2K codestream")


def parse_layout(data: bytes) -> J2KLayout:
    """Read the main and tile-part headers; raise ValueError if layers cannot be located."""
    if len(data) < 4 or struct.unpack_from(">H", data, 0)[0] != _SOC:
        raise ValueError("not a raw JPEG 2000 codestream (no SOC marker)")
    off = 2
    comps = layers = resolutions = progression = None
    sot = None
    plt_bodies: list[bytes] = []
    while True:
        if off + 4 > len(data):
            raise ValueError("J2K codestream ends inside its header")
        marker, length = struct.unpack_from(">HH", data, off)
        if marker == _SOD:
            data_offset = off + 2
            break
        body = data[off + 4 : off + 2 + length]
        if marker == _SIZ:
            comps = struct.unpack_from(">H", body, 34)[0]
            xsiz, ysiz, xo, yo, xt, yt, xto, yto = struct.unpack_from(">8I", body, 2)
            if (xt - xto) < (xsiz - xo) or (yt - yto) < (ysiz - yo):
                raise ValueError("J2K codestream has several tiles; expected one")
        elif marker == _COD:
            scod, progression, layers = body[0], body[1], struct.unpack_from(">H", body, 2)[0]
            resolutions = body[5] + 1
            if scod & 1:
                raise ValueError("J2K codestream uses custom precincts; expected the default")
        elif marker == _SOT:
            if sot is not None:
                raise ValueError("J2K codestream has several tile-parts; expected one")
            sot = off
        elif marker == _PLT:
            plt_bodies.append(body[1:])  # skip Zplt
        off += 2 + length
    if None in (comps, layers, resolutions, sot):
        raise ValueError("J2K codestream header lacks SIZ, COD or SOT")
    if progression != _LRCP:
        raise ValueError("J2K codestream is not in LRCP progression order")
    lengths, value = [], 0
    for byte in b"".join(plt_bodies):
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            lengths.append(value)
            value = 0
    ppl = resolutions * comps
    if len(lengths) != layers * ppl:
        raise ValueError(
            f"J2K codestream has {len(lengths)} packet lengths (PLT), expected {layers * ppl}"
        )
    return J2KLayout(layers, ppl, sot, data_offset, tuple(lengths))


def truncate_layers(data: bytes, k: int) -> bytes:
    """The byte prefix of ``data`` that holds its first ``k`` quality layers."""
    layout = parse_layout(data)
    present = layout.layers_in(data)
    if not 1 <= k <= present:
        raise ValueError(f"cannot keep {k} layers of a J2K stream holding {present}")
    if k == present:
        return bytes(data)
    return bytes(data[: layout.layer_end(k)])


def decode_layers(data: bytes) -> np.ndarray:
    """Decode a full codestream or a layer prefix to an (H, W, 3) uint8 image."""
    layout = parse_layout(data)
    present = layout.layers_in(data)
    if present == 0:
        raise ValueError("a J2K prefix without any quality layer cannot be decoded")
    if len(data) == layout.layer_end(present):  # a prefix: close the tile-part for OpenJPEG
        fixed = bytearray(data)
        struct.pack_into(">I", fixed, layout.sot_offset + 6, len(data) - layout.sot_offset)
        fixed += _EOC.to_bytes(2, "big")
        data = bytes(fixed)
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
