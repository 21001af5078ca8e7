"""The baselines as cascade stages, so they run on a node exactly as the learned cascades do.

A baseline's route is compiled (:mod:`hcf_ray.methods.baselines`) into
:class:`~hcf_ray.cascade.Stage` s whose ``codecs`` is the baseline's name and whose ops are

* ``encode[k]`` at the source: the image → a level-k :class:`~hcf_ray.pcf.methods.Payload`;
* ``relay[k]`` at a node where the level drops: payload → level k (PCF keeps a prefix of
  the bytes, DRF-JPEG/WebP decode to pixels and re-encode);
* ``decode[d]`` at the destination: payload → image.

Steps are those of :meth:`~hcf_ray.cascade.CascadeEngine.run_stage`: 0 receives (parses and
verifies the wire bytes; the source checks its image), 1..n run the ops, n+1 sends the
payload (nothing to quantize: the op already made the bytes). A relay whose level does not
drop forwards the bytes it received.

:class:`BaselineSet` holds one codec per baseline, built on first use with one rate table
(level → bpp) for all of them. ``hcf-sim eval`` and the simulator give it the bundle's
measured level rates (:func:`hcf_ray.level_rates.level_bpp`), so a baseline's level k means
the same rate as the ladder's level k, in both alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from hcf_ray.bitstream import BitstreamError
from hcf_ray.cascade import OpTiming, Stage, StageOutput
from hcf_ray.codecs.level import check_image_tensor
from hcf_ray.pcf.levels import check_level_bpp
from hcf_ray.pcf.methods import Baseline, Payload, make_baseline


class BaselineSet:
    """The baselines' codecs for one rate table and one tail-drop model."""

    def __init__(
        self,
        level_bpp: Mapping[int, float] | None = None,
        tail_model: str | Path = "default",
    ):
        try:
            self.level_bpp = check_level_bpp(level_bpp) if level_bpp else None
        except ValueError:  # e.g. a random ladder whose rates do not increase with level
            self.level_bpp = None
        self.tail_model = str(tail_model)
        self._made: dict[str, Baseline] = {}

    @property
    def key(self) -> tuple:
        """What the baselines' bytes depend on (for memo keys)."""
        table = tuple(sorted(self.level_bpp.items())) if self.level_bpp else None
        return (table, self.tail_model)

    def run_stage(
        self, stage: Stage, payload, image_size, clock=time.perf_counter, start=0, stop=None
    ):
        """Run a baseline stage (``stage.codecs`` names the baseline); see
        :func:`run_baseline_stage`."""
        return run_baseline_stage(
            self.get(stage.codecs), stage, payload, image_size, clock, start, stop
        )

    def get(self, name: str) -> Baseline:
        if name not in self._made:
            self._made[name] = make_baseline(
                name, level_bpp=self.level_bpp, tail_model=self.tail_model
            )
        return self._made[name]


def run_baseline_stage(
    baseline: Baseline,
    stage: Stage,
    payload,
    image_size: tuple[int, int],
    clock=time.perf_counter,
    start: int = 0,
    stop: int | None = None,
) -> StageOutput:
    """One node's baseline stage, or the slice ``[start, stop)`` of its steps."""
    send_step = len(stage.ops) + 1
    stop = send_step + 1 if stop is None else stop
    if not 0 <= start <= stop <= send_step + 1:
        raise ValueError(f"bad step slice [{start}, {stop}) for a stage of {send_step + 1}")
    timings: list[OpTiming] = []
    value = payload
    if start == 0 < stop:
        if stage.receive is None:
            check_image_tensor(payload)
        else:
            value = _receive(baseline, payload, stage.receive)
    for i in range(max(start, 1), min(stop, send_step)):
        op = stage.ops[i - 1]
        t0 = clock()
        value = _apply(baseline, op, value)
        timings.append(OpTiming(str(op), clock() - t0))
    if stop <= send_step:
        return StageOutput(None, None, timings, value=value)
    if stage.send is None:
        return StageOutput(bitstream=None, image=value, timings=timings)
    if not isinstance(value, Payload) or value.level != stage.send:
        raise ValueError(f"{baseline.name}: stage must send a level-{stage.send} payload")
    return StageOutput(bitstream=value, image=None, timings=timings)


def _receive(baseline: Baseline, payload, level: int) -> Payload:
    if isinstance(payload, bytes | bytearray | memoryview):
        payload = Payload.from_bytes(payload)
    if not isinstance(payload, Payload):
        raise BitstreamError(f"{baseline.name}: expected a payload, got {type(payload).__name__}")
    if payload.method != baseline.name or payload.level != level:
        raise BitstreamError(
            f"received a level-{payload.level} {payload.method} payload, stage expects "
            f"level {level} of {baseline.name}"
        )
    return payload


def _apply(baseline: Baseline, op, value):
    if op.kind == "encode":
        return baseline.encode_source(value, op.level)
    if op.kind == "relay":
        return baseline.relay(value, value.level, op.level)
    if op.kind == "decode":
        return baseline.decode(value, op.level)
    raise ValueError(f"{baseline.name}: unknown op {op.kind!r}")
