"""The cascade engine: HCF, DRF and SSF as per-node programs over a quality ladder.

A cascade is compiled into a :class:`Program`: one :class:`Stage` per node that touches the
image, in path order. Consecutive stages are separated by exactly one transmission (a real
:class:`~hcf_ray.bitstream.Bitstream`). The same stages run in-process here
(:meth:`CascadeEngine.run`) and inside the Ray node actors of the simulator, so both produce
identical bits by construction.

HCF (paper Eq. 6–10), transmission levels ``t_1 > … > t_n = d`` taken from ``π``::

    source : g_a^s, φ^intra_{s→s-1}, …, φ^intra_{t1+1→t1}, Q/E^{t1}      ── send ──▶
    node i : D^{ti}, φ^inter_{ti→ti-1}, φ^intra…, Q/E^{t(i+1)}          ── send ──▶
    dest   : D^d, g_s^d

DRF (successive recompression): each receiving node decodes to 8-bit pixels with
``g_s^{ti}`` and re-encodes with ``g_a^{t(i+1)}``; with the all-ones policy every level drop
is a transmission (paper Fig. 1). SSF: ``g_a^d``, one transmission, ``g_s^d``.

What crosses a link is chosen by ``transport``: ``"bitstream"`` (real rANS bytes, the
default) or ``"latent"`` (the quantized latent itself as a
:class:`~hcf_ray.bitstream.LatentPayload`, sized by entropy estimation); both carry the same
``ŷ``. A node that forks a multicast cascade runs a stage in slices (``start``/``stop`` of
:meth:`CascadeEngine.run_stage`) so the shared prefix is computed once.

Compiling a program needs no torch (``hcf-sim validate`` plans without it): the engine
imports torch and the codecs when it runs.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from hcf_ray.bitstream import Bitstream, BitstreamError, LatentPayload, parse_wire
from hcf_ray.errors import InputError
from hcf_ray.policy import EdgePolicy, Policy, PolicyContext, PolicyVector
from hcf_ray.policy._resolve import resolve_policy

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from hcf_ray.codecs.ladder import QualityLadder
    from hcf_ray.hcf.bank import PhiBank

LEARNED = ("hcf", "drf", "ssf")  # the cascades build_program compiles (hcf_ray.methods has all)
PhiMode = Literal["switch", "inter_only", "intra_only"]
Transport = Literal["bitstream", "latent"]
TRANSPORTS: tuple[str, ...] = ("bitstream", "latent")
Payload = Bitstream | LatentPayload


# -- program ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One operator applied inside a node.

    kind: ``analysis`` (pixels→latent at ``level``), ``phi`` (latent at ``level`` →
    ``level-1`` with ``variant``), ``synthesis`` (latent at ``level`` → pixels),
    ``pixels8`` (round a reconstruction to 8 bits, DRF's decoded image). A baseline's ops
    (``variant`` = the baseline's name, :mod:`hcf_ray.pcf.stages`): ``encode`` (image →
    level-``level`` payload), ``relay`` (payload → level ``level``), ``decode`` (payload →
    image).
    """

    kind: Literal["analysis", "phi", "synthesis", "pixels8", "encode", "relay", "decode"]
    level: int
    variant: str | None = None

    def __str__(self) -> str:
        if self.kind == "phi":
            return f"φ{self.variant}[{self.level}→{self.level - 1}]"
        if self.kind in BASELINE_OPS:
            return f"{self.variant}:{self.kind}[{self.level}]"
        return f"{self.kind}[{self.level}]"


BASELINE_OPS = ("encode", "relay", "decode")


@dataclass(frozen=True)
class Stage:
    """What one node does: decode what it received, run ops, encode what it sends.

    ``receive``: level of the incoming bitstream (None at the source).
    ``send``: level of the outgoing bitstream (None at the destination).
    A stage with ``receive == send`` and no ops forwards the bitstream unchanged.
    """

    receive: int | None
    ops: tuple[Op, ...]
    send: int | None
    # which codec set decodes/encodes latents here: "base" ladder, or the "hcf" ladder whose
    # synthesis and entropy models were fine-tuned on cascade latents (paper §4.3), or a
    # baseline's name (pcf-tail, pcf-j2k, drf-jpeg, drf-webp: its payloads, its ops)
    codecs: str = "base"

    @property
    def baseline(self) -> str | None:
        """The baseline whose payloads this stage handles (None: the learned ladder)."""
        return None if self.codecs in ("base", "hcf") else self.codecs

    @property
    def is_forward(self) -> bool:
        return self.receive is not None and self.receive == self.send and not self.ops

    def __str__(self) -> str:
        parts = ([f"D[{self.receive}]"] if self.receive is not None else []) + [
            str(o) for o in self.ops
        ]
        if self.send is not None:
            parts.append(f"Q/E[{self.send}]")
        return " → ".join(parts) if not self.is_forward else f"forward[{self.send}]"


@dataclass(frozen=True)
class Program:
    method: str
    source_level: int
    target_level: int
    policy: PolicyVector | None
    stages: tuple[Stage, ...]

    @property
    def transmission_levels(self) -> tuple[int, ...]:
        return tuple(st.send for st in self.stages if st.send is not None)

    def describe(self) -> str:
        return "\n".join(f"  node {i}: {st}" for i, st in enumerate(self.stages))


def build_program(
    method: str,
    s: int,
    d: int,
    policy: PolicyVector | None = None,
    phi_mode: PhiMode = "switch",
) -> Program:
    """Compile a cascade into per-node stages. ``policy`` is required for HCF."""
    if method == "ssf":
        stages = (Stage(None, (Op("analysis", d),), d), Stage(d, (Op("synthesis", d),), None))
        return Program("ssf", s, d, None, stages)
    if policy is None:
        if method == "drf":
            policy = PolicyVector(s, d, (1,) * (s - d + 1))
        else:
            raise InputError("HCF needs a policy vector")
    if (policy.source_level, policy.target_level) != (s, d):
        raise InputError(f"policy {policy} is for s={policy.source_level}, d={policy.target_level}")
    levels = policy.transmission_levels
    if method == "hcf":
        stages = _hcf_stages(s, levels, phi_mode)
    elif method == "drf":
        stages = _drf_stages(levels)
    else:
        raise InputError(
            f"unknown method {method!r} for build_program: it compiles {', '.join(LEARNED)}"
        )
    return Program(method, s, d, policy, tuple(stages))


def _phi_variant(variant: str, phi_mode: PhiMode) -> str:
    if phi_mode == "switch":
        return variant
    if phi_mode == "inter_only":
        return "inter"
    if phi_mode == "intra_only":
        return "intra"
    raise ValueError(f"unknown phi_mode {phi_mode!r}")


def _hcf_stages(s: int, levels: Sequence[int], phi_mode: PhiMode) -> list[Stage]:
    def intra_chain(top: int, bottom: int) -> list[Op]:
        return [Op("phi", k, _phi_variant("intra", phi_mode)) for k in range(top, bottom, -1)]

    # every HCF stage codes, decodes and synthesizes with the phase-2 tuned ("hcf") ladder
    stages = [Stage(None, (Op("analysis", s), *intra_chain(s, levels[0])), levels[0], "hcf")]
    for t_in, t_out in itertools.pairwise(levels):
        ops = [Op("phi", t_in, _phi_variant("inter", phi_mode)), *intra_chain(t_in - 1, t_out)]
        stages.append(Stage(t_in, tuple(ops), t_out, "hcf"))
    d = levels[-1]
    stages.append(Stage(d, (Op("synthesis", d),), None, "hcf"))
    return stages


def _drf_stages(levels: Sequence[int]) -> list[Stage]:
    stages = [Stage(None, (Op("analysis", levels[0]),), levels[0])]
    for t_in, t_out in itertools.pairwise(levels):
        ops = (Op("synthesis", t_in), Op("pixels8", t_in), Op("analysis", t_out))
        stages.append(Stage(t_in, ops, t_out))
    stages.append(Stage(levels[-1], (Op("synthesis", levels[-1]),), None))
    return stages


# -- execution ------------------------------------------------------------------------------
@dataclass
class OpTiming:
    op: str
    seconds: float


@dataclass
class StageOutput:
    """Result of one stage: a payload to send, or the final reconstruction.

    ``bitstream`` is a :class:`Bitstream` (or a :class:`LatentPayload` with
    ``transport="latent"``). ``value`` is the intermediate tensor when only a slice of the
    stage was run (``stop`` before the send step).
    """

    bitstream: Payload | None
    image: Tensor | None
    timings: list[OpTiming] = field(default_factory=list)
    latent: Tensor | None = None  # the decoded ŷ at the destination (for analyses)
    value: Tensor | None = None


@dataclass
class Transmission:
    level: int
    bitstream: Payload

    @property
    def nbytes(self) -> int | float:
        return self.bitstream.nbytes


@dataclass
class CascadeResult:
    program: Program
    transmissions: list[Transmission]
    x_hat: Tensor
    y_hat: Tensor  # quantized latent the destination decoded
    timings: list[list[OpTiming]]  # per stage

    @property
    def method(self) -> str:
        return self.program.method

    @property
    def final(self) -> Transmission:
        return self.transmissions[-1]

    def bpp(self) -> float:
        """Rate of the final (level-d) bitstream the destination receives."""
        return self.final.bitstream.bpp()


def _no_grad(fn):
    """``torch.no_grad()`` around ``fn``, torch imported when it is first called."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


def _check_image_tensor(x) -> None:
    from hcf_ray.codecs.level import check_image_tensor

    check_image_tensor(x)


class CascadeEngine:
    """Runs programs on a ladder (and φ bank for HCF).

    ``hcf_ladder`` optionally holds the levels fine-tuned for cascade latents (phase 2 of the
    paper's training); HCF stages use it for every entropy-coding and synthesis step, while
    ``g_a^s`` at the source always comes from the base ladder. Without it, HCF uses the base
    ladder throughout.
    """

    def __init__(
        self,
        ladder: QualityLadder,
        phis: PhiBank | None = None,
        hcf_ladder: QualityLadder | None = None,
        baselines=None,
    ):
        self.ladder = ladder
        self.phis = phis
        self.hcf_ladder = hcf_ladder or ladder
        # the progressive / classical baselines' codecs (hcf_ray.pcf.stages.BaselineSet)
        self._baselines = baselines
        if self.hcf_ladder.levels != ladder.levels:
            raise ValueError("the HCF ladder must have the same levels as the base ladder")

    @property
    def baselines(self):
        """The baselines' codecs (a :class:`hcf_ray.pcf.stages.BaselineSet`), set by whoever
        runs baseline stages (it holds their rate table)."""
        if self._baselines is None:
            raise ValueError("this engine has no baseline codecs: set engine.baselines first")
        return self._baselines

    @baselines.setter
    def baselines(self, value) -> None:
        self._baselines = value

    def _codecs(self, stage: Stage) -> QualityLadder:
        return self.hcf_ladder if stage.codecs == "hcf" else self.ladder

    # -- planning --------------------------------------------------------------------------
    def program(
        self,
        method: str,
        s: int,
        d: int,
        policy: Policy | PolicyVector | Sequence[int] | str | None = None,
        n_q: int = 2,
        phi_mode: PhiMode = "switch",
    ) -> Program:
        self.ladder.check_level(s, "source level")
        self.ladder.check_level(d, "target level")
        if s < d:
            raise InputError(f"source level s={s} is below target level d={d} (need s >= d)")
        vec = None
        if method != "ssf":
            vec = self._vector(method, s, d, policy, n_q)
        if method == "hcf":
            self._check_phis(vec)
        return build_program(method, s, d, vec, phi_mode)

    def _vector(self, method, s, d, policy, n_q) -> PolicyVector | None:
        if isinstance(policy, PolicyVector):
            return policy
        if policy is None:
            if method == "drf":
                return None
            policy = EdgePolicy()
        pol = resolve_policy(policy)
        if not isinstance(policy, Policy | str):  # explicit list: n_q is implied
            n_q = sum(int(b) for b in policy)
        return pol(PolicyContext(s, d, n_q, max_level=self.ladder.max_level))

    def _check_phis(self, vec: PolicyVector) -> None:
        if vec.source_level == vec.target_level:
            return
        if self.phis is None:
            raise InputError("HCF needs φ modules (a PhiBank) for this ladder")
        for k in range(vec.source_level, vec.target_level, -1):
            if not self.phis.has(k):
                raise InputError(f"the φ bank has no module for transition {k}→{k - 1}")

    # -- one stage (what a node actor runs) ------------------------------------------------
    @_no_grad
    def run_stage(
        self,
        stage: Stage,
        payload: Tensor | Payload,
        image_size: tuple[int, int],
        clock=time.perf_counter,
        transport: Transport = "bitstream",
        start: int = 0,
        stop: int | None = None,
    ) -> StageOutput:
        """Run one node's stage, or the slice ``[start, stop)`` of its steps.

        Steps: ``0`` receive (decode the incoming payload; at the source, check the image),
        ``1..len(ops)`` the ops, ``len(ops)+1`` send (quantize + code; at the destination,
        return the reconstruction). With ``start > 0`` the payload is the intermediate tensor
        of an earlier slice; with ``stop <= len(ops)+1`` the intermediate tensor is returned
        in ``StageOutput.value``. ``transport`` picks what the send step produces; either
        payload kind is accepted on receive.
        """
        if stage.is_forward:
            return StageOutput(bitstream=payload, image=None)
        if stage.baseline is not None:  # a progressive / classical codec's stage
            return self.baselines.run_stage(stage, payload, image_size, clock, start, stop)
        if transport not in TRANSPORTS:
            raise InputError(f"unknown transport {transport!r}; choose from {TRANSPORTS}")
        send_step = len(stage.ops) + 1
        stop = send_step + 1 if stop is None else stop
        if not 0 <= start <= stop <= send_step + 1:
            raise ValueError(f"bad step slice [{start}, {stop}) for a stage of {send_step + 1}")
        timings: list[OpTiming] = []

        def timed(name, fn, *a):
            t0 = clock()
            out = fn(*a)
            timings.append(OpTiming(name, clock() - t0))
            return out

        codecs = self._codecs(stage)
        value = payload
        latent = None
        if start == 0 < stop:
            if stage.receive is None:
                _check_image_tensor(payload)
            else:
                value = latent = self._receive(codecs[stage.receive], payload, timed)
        for i in range(max(start, 1), min(stop, send_step)):
            op = stage.ops[i - 1]
            value = timed(str(op), self._apply, op, value, image_size, codecs)
        if stop <= send_step:
            return StageOutput(None, None, timings, latent=latent, value=value)
        if stage.send is None:
            return StageOutput(bitstream=None, image=value, timings=timings, latent=latent)
        codec = codecs[stage.send]
        if transport == "latent":
            out = timed(f"Q[{stage.send}]", _quantize, codec, value, image_size)
        else:
            out = timed(f"Q/E[{stage.send}]", codec.compress_latent, value, image_size)
        return StageOutput(bitstream=out, image=None, timings=timings)

    @staticmethod
    def _receive(codec, payload, timed) -> Tensor:
        """Decode what arrived: wire bytes (parsed and verified here), a :class:`Bitstream`
        (checked against this level's model before the rANS decoder sees it), or a
        :class:`LatentPayload`. Integrity failures raise :class:`BitstreamError`."""
        level = codec.level
        if isinstance(payload, bytes | bytearray | memoryview):
            payload = parse_wire(payload)
        if isinstance(payload, LatentPayload) and payload.level == level:
            return timed(f"recv[{level}]", _latent_tensor, payload.y_hat, codec.device)
        if isinstance(payload, Bitstream):
            if payload.level != level:
                raise BitstreamError(
                    f"received a level-{payload.level} bitstream, stage expects level {level}"
                )
            return timed(f"D[{level}]", codec.decompress_latent, payload)
        raise ValueError(f"stage expects a level-{level} bitstream")

    def _apply(
        self, op: Op, value: Tensor, image_size: tuple[int, int], codecs: QualityLadder
    ) -> Tensor:
        if op.kind == "analysis":  # g_a always from the base ladder (the source's encoder)
            return self.ladder[op.level].analysis(value)
        if op.kind == "phi":
            return self.phis.get(op.level, op.variant)(value)
        if op.kind == "synthesis":
            return codecs[op.level].synthesis(value, image_size)
        if op.kind == "pixels8":
            return value.mul(255.0).round_().div_(255.0)
        raise ValueError(f"unknown op {op.kind!r}")

    # -- whole cascade in-process ----------------------------------------------------------
    def execute(
        self, program: Program, x: Tensor, transport: Transport = "bitstream"
    ) -> CascadeResult:
        _check_image_tensor(x)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        payload: Tensor | Payload = x
        transmissions: list[Transmission] = []
        timings: list[list[OpTiming]] = []
        out = None
        for stage in program.stages:
            out = self.run_stage(stage, payload, size, transport=transport)
            timings.append(out.timings)
            if out.bitstream is not None:
                # what crosses the link is the serialized stream; the receiver parses it
                # (from_bytes verifies the CRC; the next stage checks it against its model)
                wire = out.bitstream
                if not isinstance(wire, LatentPayload):
                    wire = parse_wire(wire.to_bytes())
                transmissions.append(Transmission(wire.level, wire))
                payload = wire
        return CascadeResult(program, transmissions, out.image, out.latent, timings)

    def run(
        self,
        x: Tensor,
        method: str,
        s: int,
        d: int,
        policy: Policy | PolicyVector | Sequence[int] | str | None = None,
        n_q: int = 2,
        phi_mode: PhiMode = "switch",
    ) -> CascadeResult:
        return self.execute(self.program(method, s, d, policy, n_q, phi_mode), x)


def _quantize(codec, value: Tensor, image_size: tuple[int, int]) -> LatentPayload:
    """``Q^k`` + entropy estimation: the latent-transport payload."""
    import torch

    y_hat, bits = codec.quantize_latent(value)
    arr = np.ascontiguousarray(y_hat.detach().to("cpu", torch.float32).numpy())
    return LatentPayload(codec.level, arr, bits, (int(image_size[0]), int(image_size[1])))


def _latent_tensor(arr: np.ndarray, device: torch.device) -> Tensor:
    # arrays from Ray's object store are read-only views: copy into a writable tensor
    import torch

    return torch.from_numpy(np.array(arr, dtype=np.float32, copy=True)).to(device)
