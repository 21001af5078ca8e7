"""A cascade engine that memoizes every step of a program, per image.

The report runs hundreds of cascades on the same images, and most of them share a prefix:
every HCF policy from level 6 starts with ``g_a^6``, every DRF chain ``6→d`` is a prefix of
``6→d-1``, the φ^inter/φ^intra ablation shares the source hop with full HCF. :class:`MemoEngine`
runs programs one *step* at a time through :meth:`CascadeEngine.run_stage` (the very code the
node actors run, so bitstreams are identical) and keeps the output of each step — a latent, a
real :class:`~hcf_ray.bitstream.Bitstream` or an image — keyed by the image and the exact
sequence of steps that produced it. Outputs are evicted least-recently-used once the cache
holds more than ``cache_bytes``.

:meth:`MemoEngine.trace` additionally returns every latent along the way, unquantized (after
``g_a`` or a φ module) and quantized (``ŷ`` as decoded by the receiver), which is what the
differential-entropy analysis needs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import torch
from torch import Tensor

from hcf_ray.bitstream import Bitstream, parse_wire
from hcf_ray.cascade import (
    BASELINE_OPS,
    CascadeEngine,
    CascadeResult,
    Program,
    Stage,
    Transmission,
)
from hcf_ray.codecs.level import check_image_tensor

DEFAULT_CACHE_BYTES = 1 << 30


@dataclass(frozen=True)
class LatentStep:
    """One latent along a cascade: at ``level``, before (``quantized=False``) or after Q."""

    level: int
    quantized: bool
    value: Tensor


@dataclass(frozen=True)
class Trace:
    """Every latent a cascade produced, in order, and every transmission (source first)."""

    latents: list[LatentStep]
    transmissions: list[Transmission]


def _size_of(value: object) -> int:
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Bitstream) or hasattr(value, "wire_nbytes"):
        return int(value.wire_nbytes) + 64
    return 64


class _LRU:
    """Least-recently-used cache bounded by the bytes of its values."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._data: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()

    def get(self, key: Hashable) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: object) -> None:
        size = _size_of(value)
        if key in self._data:
            self.bytes -= self._data.pop(key)[1]
        self._data[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._data) > 1:
            _, (_, old) = self._data.popitem(last=False)
            self.bytes -= old

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0


def _step_key(stage: Stage, step: int, codecs: str) -> tuple:
    """What a step computes. ``codecs`` names the ladder that decodes / encodes / synthesizes;
    g_a (always the base ladder), φ and 8-bit rounding do not depend on it."""
    n = len(stage.ops)
    if step == 0:
        return ("recv", stage.receive, codecs)
    if step <= n:
        op = stage.ops[step - 1]
        return ("op", op, codecs if op.kind in ("synthesis", *BASELINE_OPS) else "")
    return ("send", stage.send, codecs)


class MemoEngine(CascadeEngine):
    """:class:`CascadeEngine` whose :meth:`execute` reuses steps already computed.

    Pass ``key`` (a name unique to the image tensor ``x``) to enable the memo; without it,
    :meth:`execute` behaves exactly like the base class. Results of memoized runs carry the
    timings of the steps that actually ran only.
    """

    def __init__(self, *args, cache_bytes: int = DEFAULT_CACHE_BYTES, **kwargs):
        super().__init__(*args, **kwargs)
        self.cache = _LRU(cache_bytes)
        self.steps_run = 0
        self.steps_reused = 0

    @classmethod
    def from_bundle(cls, bundle, cache_bytes: int = DEFAULT_CACHE_BYTES) -> MemoEngine:
        return cls(bundle.ladder, bundle.phis, bundle.hcf_ladder, cache_bytes=cache_bytes)

    def execute(
        self,
        program: Program,
        x: Tensor,
        transport: str = "bitstream",
        key: Hashable | None = None,
    ) -> CascadeResult:
        if key is None or transport != "bitstream":
            return super().execute(program, x, transport)
        return self._run(program, x, key, latents_only=False)[0]

    def trace(
        self, program: Program, x: Tensor, key: Hashable, latents_only: bool = True
    ) -> tuple[CascadeResult | None, Trace]:
        """Run ``program`` and return every latent it produced, in order.

        With ``latents_only`` the destination stops after decoding ``ŷ^d`` (no ``g_s``) and
        no :class:`CascadeResult` is returned.
        """
        return self._run(program, x, key, latents_only)

    @torch.no_grad()
    def _run(
        self, program: Program, x: Tensor, key: Hashable, latents_only: bool
    ) -> tuple[CascadeResult | None, Trace]:
        size = (int(x.shape[-2]), int(x.shape[-1]))
        chain: tuple = (key, size)
        payload: object = x
        transmissions: list[Transmission] = []
        timings: list[list] = []
        trace: list[LatentStep] = []
        y_hat = None
        image = None
        last = len(program.stages) - 1
        for i, stage in enumerate(program.stages):
            stage_timings: list = []
            timings.append(stage_timings)
            if stage.is_forward:
                continue
            n = len(stage.ops)
            value = payload
            # without a phase-2 overlay both codec sets are the same ladder: share their steps
            codecs = "base" if self.hcf_ladder is self.ladder else stage.codecs
            if stage.baseline is not None:  # its bytes depend on the baseline's rate table
                codecs = (stage.codecs, self.baselines.key)
            final_step = 0 if (latents_only and i == last) else n + 1
            for step in range(final_step + 1):
                chain = (chain, _step_key(stage, step, codecs))
                if step == 0 and stage.receive is None:
                    check_image_tensor(x)  # the source holds the image itself
                    continue
                cached = self.cache.get(chain)
                if cached is None:
                    cached = self._step(stage, step, value, size, stage_timings)
                    self.cache.put(chain, cached)
                    self.steps_run += 1
                else:
                    self.steps_reused += 1
                value = cached
                self._record(stage, step, value, trace)
                if step == 0 and stage.receive is not None and i == last:
                    y_hat = value
            if stage.send is not None:
                transmissions.append(Transmission(value.level, value))
                payload = value
            else:
                image = value
        out = Trace(trace, transmissions)
        if latents_only:
            return None, out
        return CascadeResult(program, transmissions, image, y_hat, timings), out

    def _step(self, stage: Stage, step: int, value, size, timings: list):
        n = len(stage.ops)
        if step <= n:
            out = self.run_stage(stage, value, size, start=step, stop=step + 1)
            timings.extend(out.timings)
            return out.value
        out = self.run_stage(stage, value, size, start=step)
        timings.extend(out.timings)
        if out.bitstream is None:
            return out.image
        # what crosses the link is the serialized stream; the receiver parses it
        return parse_wire(out.bitstream.to_bytes())

    @staticmethod
    def _record(stage: Stage, step: int, value, trace: list[LatentStep]) -> None:
        n = len(stage.ops)
        if step == 0 and stage.receive is not None:
            trace.append(LatentStep(stage.receive, True, value))
        elif 1 <= step <= n:
            op = stage.ops[step - 1]
            if op.kind == "analysis":
                trace.append(LatentStep(op.level, False, value))
            elif op.kind == "phi":
                trace.append(LatentStep(op.level - 1, False, value))
