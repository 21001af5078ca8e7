"""Progressive (PCF) and classical successive-recompression (DRF) baselines, one interface.

Every baseline implements the same four calls, usable in-process or on separate nodes:

* ``encode_source(x, s) -> Payload`` — the source encodes image ``x`` at level ``s``;
* ``relay(payload, level_in, level_out) -> Payload`` — an intermediate node lowers the level
  (PCF: keeps a byte prefix; DRF: decodes to pixels and re-encodes);
* ``decode(payload, d) -> x_hat`` — the destination reconstructs level ``d``;
* ``payload_nbytes(payload)`` — the bytes a node forwards (``len(payload.data)``).

Methods:

========  =====================================================================================
pcf-tail  learned tail-drop hyperprior (ProgDTD-style); a node keeps the first k channel groups,
          k = the prefix whose rate is closest to the level's target rate
pcf-j2k   JPEG 2000, one quality layer per level (rates = the level targets); a node keeps the
          first ``level_out`` layers of the codestream
drf-jpeg  JPEG re-encoded at every node at the quality whose rate is closest to the level target
drf-webp  the same with lossy WebP
========  =====================================================================================

A :class:`Payload` is a frozen dataclass of plain values and ``bytes``: it pickles (Ray's
object store) and ``data`` is exactly what crosses a link.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hcf_ray.bitstream import BaselinePayload as Payload
from hcf_ray.codecs.level import check_image_tensor
from hcf_ray.errors import InputError
from hcf_ray.methods.baselines import BASELINE_DESCRIPTIONS
from hcf_ray.pcf import classical, j2k
from hcf_ray.pcf.bitstream import ProgressiveBitstream
from hcf_ray.pcf.codec import TailDropCodec, load_tail_codec
from hcf_ray.pcf.levels import check_level_bpp, closest_index

BASELINES: tuple[str, ...] = tuple(BASELINE_DESCRIPTIONS)


def to_uint8(x: Tensor) -> np.ndarray:
    """``(1,3,H,W)`` tensor in [0,1] → (H, W, 3) uint8 array (round to nearest)."""
    check_image_tensor(x)
    return (x[0].clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def from_uint8(img: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div_(255.0)


class Baseline(ABC):
    """A method whose intermediate nodes can only truncate or re-encode."""

    name: str = ""

    def __init__(self, level_bpp: Mapping[int, float] | None = None):
        self.level_bpp = check_level_bpp(level_bpp)

    @property
    def max_level(self) -> int:
        return max(self.level_bpp)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, levels=1..{self.max_level})"

    @abstractmethod
    def encode_source(self, x: Tensor, s: int) -> Payload: ...

    @abstractmethod
    def relay(self, payload: Payload, level_in: int, level_out: int) -> Payload: ...

    @abstractmethod
    def decode(self, payload: Payload, d: int) -> Tensor: ...

    def payload_nbytes(self, payload: Payload) -> int:
        """Bytes forwarded on a link (the whole payload: every header byte counts)."""
        return len(payload.data)

    # -- checks -------------------------------------------------------------------------
    def check_level(self, level: int, what: str = "level") -> None:
        if level not in self.level_bpp:
            raise InputError(f"{what} {level} is outside levels 1..{self.max_level}")

    def _check_payload(self, payload: Payload, level: int) -> None:
        if not isinstance(payload, Payload) or payload.method != self.name:
            raise ValueError(f"{self.name} cannot handle a payload of {_method_of(payload)}")
        if payload.level != level:
            raise ValueError(f"expected a level-{level} payload, got level {payload.level}")

    def _check_relay(self, payload: Payload, level_in: int, level_out: int) -> None:
        self.check_level(level_in, "input level")
        self.check_level(level_out, "output level")
        if level_out > level_in:
            raise InputError(f"a relay cannot raise the level ({level_in} → {level_out})")
        self._check_payload(payload, level_in)


def _method_of(payload) -> str:
    return repr(payload.method) if isinstance(payload, Payload) else type(payload).__name__


# -- pcf-tail ------------------------------------------------------------------------------
class TailDropBaseline(Baseline):
    """Learned progressive codec: encode all channel groups once, nodes drop the tail."""

    name = "pcf-tail"

    def __init__(
        self,
        codec: TailDropCodec | str | Path | None = "default",
        level_bpp: Mapping[int, float] | None = None,
        groups_per_level: Mapping[int, int] | None = None,
    ):
        super().__init__(level_bpp)
        self.codec = load_tail_codec(codec)
        self.groups_per_level = None
        if groups_per_level is not None:
            g = {int(k): int(v) for k, v in groups_per_level.items()}
            if sorted(g) != sorted(self.level_bpp):
                raise InputError("groups_per_level must give a group count for every level")
            if any(not 1 <= v <= self.codec.num_groups for v in g.values()):
                raise InputError(f"group counts must be in 1..{self.codec.num_groups}")
            self.groups_per_level = g

    def groups_for(self, bs: ProgressiveBitstream, level: int) -> int:
        """Groups kept at ``level``: the fixed table, or the prefix closest to the target rate.

        Levels get strictly more groups than the level below while the stream has groups to
        spare (a node asked to lower the quality always drops a chunk), never more than the
        stream holds. The table is built from level 1 upwards and only looks at prefixes up
        to the level's own choice, so a relay that sees an already truncated stream computes
        the same counts for the levels below as the source did: a stream decoded at ``d``
        holds the same bytes whatever path it took.
        """
        if self.groups_per_level is not None:
            return min(self.groups_per_level[level], bs.k)
        rates = [bs.bpp(k) for k in range(1, bs.k + 1)]
        g = 0
        for k in range(1, level + 1):
            g = min(max(1 + closest_index(rates, self.level_bpp[k]), g + 1), bs.k)
        return g

    def encode_source(self, x: Tensor, s: int) -> Payload:
        self.check_level(s, "source level")
        bs = self.codec.encode(x)
        bs = bs.truncate(self.groups_for(bs, s))
        return Payload(self.name, s, bs.image_size, bs.to_bytes())

    def relay(self, payload: Payload, level_in: int, level_out: int) -> Payload:
        self._check_relay(payload, level_in, level_out)
        bs = ProgressiveBitstream.from_bytes(payload.data)
        data = payload.data[: bs.prefix_nbytes(self.groups_for(bs, level_out))]
        return Payload(self.name, level_out, payload.image_size, data)

    def decode(self, payload: Payload, d: int) -> Tensor:
        self._check_payload(payload, d)
        return self.codec.decode(ProgressiveBitstream.from_bytes(payload.data))


# -- pcf-j2k -------------------------------------------------------------------------------
class J2KBaseline(Baseline):
    """JPEG 2000 with one quality layer per level; nodes keep the first layers."""

    name = "pcf-j2k"

    def encode_source(self, x: Tensor, s: int) -> Payload:
        self.check_level(s, "source level")
        img = to_uint8(x)
        data = j2k.encode_layers(img, [self.level_bpp[k] for k in range(1, s + 1)])
        return Payload(self.name, s, img.shape[:2], data)

    def relay(self, payload: Payload, level_in: int, level_out: int) -> Payload:
        self._check_relay(payload, level_in, level_out)
        data = j2k.truncate_layers(payload.data, level_out)
        return Payload(self.name, level_out, payload.image_size, data)

    def decode(self, payload: Payload, d: int) -> Tensor:
        self._check_payload(payload, d)
        return from_uint8(j2k.decode_layers(payload.data))


# -- drf-jpeg / drf-webp --------------------------------------------------------------------
class ClassicalBaseline(Baseline):
    """Successive recompression with a classical codec: decode + re-encode at every node.

    The quality at each node is the one whose rate on that node's input is closest to the
    level's target, or a fixed ``qualities`` table (level → quality) when given.
    """

    def __init__(
        self,
        fmt: str,
        level_bpp: Mapping[int, float] | None = None,
        qualities: Mapping[int, int] | None = None,
    ):
        super().__init__(level_bpp)
        classical._check_format(fmt)
        self.fmt = fmt
        self.name = f"drf-{fmt}"
        self.qualities = (
            None if qualities is None else {int(k): int(v) for k, v in qualities.items()}
        )
        if self.qualities is not None and sorted(self.qualities) != sorted(self.level_bpp):
            raise InputError("qualities must give a quality for every level")

    def _encode(self, img: np.ndarray, level: int) -> bytes:
        if self.qualities is not None:
            return classical.encode(img, self.fmt, self.qualities[level])
        return classical.encode_at_rate(img, self.fmt, self.level_bpp[level])[1]

    def encode_source(self, x: Tensor, s: int) -> Payload:
        self.check_level(s, "source level")
        img = to_uint8(x)
        return Payload(self.name, s, img.shape[:2], self._encode(img, s))

    def relay(self, payload: Payload, level_in: int, level_out: int) -> Payload:
        self._check_relay(payload, level_in, level_out)
        if level_out == level_in:
            return payload
        img = classical.decode(payload.data)
        return Payload(self.name, level_out, payload.image_size, self._encode(img, level_out))

    def decode(self, payload: Payload, d: int) -> Tensor:
        self._check_payload(payload, d)
        return from_uint8(classical.decode(payload.data))


def make_baseline(
    name: str,
    level_bpp: Mapping[int, float] | None = None,
    tail_model: TailDropCodec | str | Path | None = "default",
    **kwargs,
) -> Baseline:
    """Build a baseline by name (``pcf-tail``, ``pcf-j2k``, ``drf-jpeg``, ``drf-webp``)."""
    if name == "pcf-tail":
        return TailDropBaseline(tail_model, level_bpp, **kwargs)
    if name == "pcf-j2k":
        return J2KBaseline(level_bpp, **kwargs)
    if name in ("drf-jpeg", "drf-webp"):
        return ClassicalBaseline(name.split("-", 1)[1], level_bpp, **kwargs)
    raise InputError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


# -- chains and RD points ------------------------------------------------------------------
@dataclass
class Hop:
    level: int
    nbytes: int


@dataclass
class ChainResult:
    method: str
    levels: tuple[int, ...]
    hops: list[Hop]  # one per transmission, source first
    x_hat: Tensor
    payloads: list[Payload] = field(default_factory=list, repr=False)

    def bpp(self) -> float:
        """Rate of what the destination receives."""
        return self.payloads[-1].bpp()


def run_chain(baseline: Baseline, x: Tensor, levels: Sequence[int]) -> ChainResult:
    """Source at ``levels[0]``, one relay per later level, destination decodes ``levels[-1]``.

    ``levels`` must be non-increasing, e.g. ``[6, 5, 4, 3]`` (one level drop per node, as DRF
    with the all-ones policy) or ``[6, 3]`` (one intermediate node).
    """
    levels = tuple(int(k) for k in levels)
    if not levels:
        raise InputError("a chain needs at least one level")
    if any(b > a for a, b in itertools.pairwise(levels)):
        raise InputError(f"chain levels must not increase, got {list(levels)}")
    payload = baseline.encode_source(x, levels[0])
    payloads = [payload]
    for level_in, level_out in itertools.pairwise(levels):
        payload = baseline.relay(payload, level_in, level_out)
        payloads.append(payload)
    x_hat = baseline.decode(payload, levels[-1])
    hops = [Hop(p.level, baseline.payload_nbytes(p)) for p in payloads]
    return ChainResult(baseline.name, levels, hops, x_hat, payloads)


def rd_points(
    baseline: Baseline,
    x: Tensor,
    s: int | None = None,
    targets: Sequence[int] | None = None,
    ms_ssim: bool = False,
) -> list[dict]:
    """One point per target level ``d``: the chain ``s, s-1, …, d`` on image ``x``.

    Returns dicts with ``level``, ``bpp`` (what the destination receives), ``psnr`` and, if
    asked, ``ms_ssim_db``.
    """
    from hcf_ray.metrics import ms_ssim_db, psnr

    s = baseline.max_level if s is None else s
    baseline.check_level(s, "source level")
    targets = list(range(s, 0, -1)) if targets is None else list(targets)
    points = []
    for d in targets:
        baseline.check_level(d, "target level")
        if d > s:
            raise InputError(f"target level {d} is above the source level {s}")
        res = run_chain(baseline, x, list(range(s, d - 1, -1)))
        pt = {"level": d, "bpp": res.bpp(), "psnr": psnr(x, res.x_hat)}
        if ms_ssim:
            pt["ms_ssim_db"] = ms_ssim_db(x, res.x_hat)
        points.append(pt)
    return points


def make_runner(baseline: Baseline) -> Callable[[object, Tensor, int, int], tuple[float, Tensor]]:
    """An ``hcf_ray.evaluate`` runner ``(engine, x, s, d) -> (bpp, x_hat)`` for a baseline.

    Runs the chain ``s, s-1, …, d`` (the engine is ignored: baselines bring their own
    codec) and returns the rate of what the destination receives and its reconstruction.
    """

    def run(engine: object, x: Tensor, s: int, d: int) -> tuple[float, Tensor]:
        res = run_chain(baseline, x, range(s, d - 1, -1))
        return res.bpp(), res.x_hat

    return run
