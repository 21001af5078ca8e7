"""Injected faults (a topology's ``faults:`` list), for testing and for studies.

Two kinds of time:

* **virtual** (simulated seconds, deterministic; they change latencies, never bits):

  - ``{kind: link_down, src: a, dst: b, from_ms: 100, to_ms: 300}``: no message starts on
    the link ``a → b`` in that interval (``both: true``: both directions);
  - ``{kind: node_down, node: r1, from_ms: 0, to_ms: 50}``: the node starts no job then.

* **real** (the host: they exercise the simulator's own fault handling):

  - ``{kind: crash, node: r1, after_units: 3}``: the process of the Ray actor running node
    ``r1``'s job of the 4th unit (units counted in release order from 0; the first unit from
    there that computes at ``r1``) dies with the job in hand. Ray restarts the actor, the unit
    is computed again and counted as a retry;
  - ``{kind: corrupt, src: a, dst: b, mode: flip|truncate|append|empty, image: x.png}``: the
    bitstream crossing ``a → b`` (for that image, or every image) is damaged on the way; the
    receiver's integrity check turns that unit into an error record;
  - ``{kind: image_error, image: x.png}``: reading that image fails; its units become error
    records.

``validate`` checks node and link names; outages are shown on the plan's links.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkDown(_Fault):
    kind: Literal["link_down"]
    src: str
    dst: str
    from_ms: NonNeg
    to_ms: NonNeg
    both: bool = False

    @model_validator(mode="after")
    def _order(self):
        if self.to_ms <= self.from_ms:
            raise ValueError("to_ms must be after from_ms")
        return self


class NodeDown(_Fault):
    kind: Literal["node_down"]
    node: str
    from_ms: NonNeg
    to_ms: NonNeg

    @model_validator(mode="after")
    def _order(self):
        if self.to_ms <= self.from_ms:
            raise ValueError("to_ms must be after from_ms")
        return self


class Crash(_Fault):
    kind: Literal["crash"]
    node: str
    after_units: Annotated[int, Field(ge=0, strict=True)] = 0


CORRUPT_MODES = ("flip", "truncate", "append", "empty")


class Corrupt(_Fault):
    kind: Literal["corrupt"]
    src: str
    dst: str
    mode: Literal["flip", "truncate", "append", "empty"] = "flip"
    image: str | None = None  # file name; None: every image


class ImageFault(_Fault):
    kind: Literal["image_error"]
    image: str


Fault = Annotated[LinkDown | NodeDown | Crash | Corrupt | ImageFault, Field(discriminator="kind")]


def outages(faults) -> tuple[dict, dict]:
    """Virtual outages as ``{(u, v): ((from_s, to_s), ...)}`` and ``{node: (...)}``."""
    link_down: dict[tuple[str, str], list[tuple[float, float]]] = {}
    node_down: dict[str, list[tuple[float, float]]] = {}
    for f in faults:
        if isinstance(f, LinkDown):
            span = (f.from_ms / 1000.0, f.to_ms / 1000.0)
            pairs = [(f.src, f.dst)] + ([(f.dst, f.src)] if f.both else [])
            for pair in pairs:
                link_down.setdefault(pair, []).append(span)
        elif isinstance(f, NodeDown):
            node_down.setdefault(f.node, []).append((f.from_ms / 1000.0, f.to_ms / 1000.0))
    return (
        {k: tuple(sorted(v)) for k, v in link_down.items()},
        {k: tuple(sorted(v)) for k, v in node_down.items()},
    )


def corrupt_bytes(data: bytes, mode: str) -> bytes:
    """Damage a wire-format stream the way a faulty link would."""
    if mode == "empty":
        return b""
    if mode == "truncate":
        return data[: len(data) // 2]
    if mode == "append":
        return data + bytes(range(100))
    raw = bytearray(data)  # flip: one bit in the middle of the payload
    if raw:
        raw[len(raw) // 2] ^= 0x10
    return bytes(raw)
