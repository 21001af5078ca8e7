"""Quantization policies: where along a cascade the latent is quantized and transmitted.

This is the one file a policy author needs. A policy turns a :class:`PolicyContext` (source
level ``s``, target level ``d``, number of transmissions ``n_q``, and — inside the simulator —
the route with its links and nodes) into a :class:`PolicyVector` ``π = [π_s, …, π_d]``:

* ``π_k = 1``: after reaching level ``k`` the latent is quantized with the level-k entropy
  model, entropy-coded and sent over the next link; the receiver applies φ^inter_{k→k-1}.
* ``π_k = 0``: the latent stays unquantized inside the node; φ^intra_{k→k-1} is applied.
* ``π_d = 1`` always (the destination needs a bitstream), and ``Σ π_k = n_q``.

In the simulator a route has ``ctx.hops`` links and ``ctx.n_q ≤ ctx.hops`` quantizations
(the destination's ``n_q`` in the topology YAML; by default one per hop while the levels
allow it). :meth:`Policy.place` then spreads the vector's transmission levels over the hops:
a hop that carries the same level as the one before it is a relay forwarding the bytes
unchanged (no decode, no compute). The default placement drops levels as early as possible
(the i-th ``1`` of ``π`` on hop i, the target level on every remaining hop); override
``place`` to choose *which relays* do the work. On a multicast tree the links nearer the
source are shared: they are planned first (for the destination with the highest target level)
and a later destination's policy only sees the rest of its route, starting at the relay where
it leaves the shared part — ``ctx.route`` then has ``upstream_level`` set (what that relay
received; the policy's ``source_level`` is one below it), ``Hop.min_level`` says how low
a hop may go so that every destination further down the tree stays reachable, and
``Route.forks`` names the relays whose stream also serves another destination.

Writing a policy::

    # my_policies.py
    from hcf_ray.policy import Policy, PolicyContext, PolicyVector

    class SlowestLinkLast(Policy):
        name = "slowest-link-last"

        def choose(self, ctx: PolicyContext) -> PolicyVector:
            ...  # look at ctx.route.hops[i].bandwidth_mbps, return a vector
            return PolicyVector.from_levels(ctx.source_level, ctx.target_level, [6, 2, 1])

and reference it from a topology YAML as ``policy: my_policies.py:SlowestLinkLast``.
To also choose where the drops happen on a route longer than ``n_q`` hops::

        def place(self, ctx, vector):           # levels per hop, e.g. (6, 6, 2, 1)
            ...
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


# -- the vector ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyVector:
    """``π = [π_s, π_{s-1}, …, π_d]`` with validation (paper Eq. 8–10, 16)."""

    source_level: int
    target_level: int
    bits: tuple[int, ...]

    def __post_init__(self) -> None:
        s, d = self.source_level, self.target_level
        object.__setattr__(self, "bits", tuple(int(b) for b in self.bits))
        check_levels(s, d)
        if len(self.bits) != s - d + 1:
            raise ValueError(
                f"policy vector {list(self.bits)} has length {len(self.bits)}; "
                f"s={s}, d={d} needs length s-d+1 = {s - d + 1}"
            )
        if any(b not in (0, 1) for b in self.bits):
            raise ValueError(f"policy vector {list(self.bits)} must contain only 0 and 1")
        if self.bits[-1] != 1:
            raise ValueError(
                f"policy vector {list(self.bits)}: π_d (last entry) must be 1, the target "
                "level is always transmitted"
            )

    @classmethod
    def from_levels(cls, s: int, d: int, levels: Sequence[int]) -> PolicyVector:
        """Vector from the set of transmission levels, e.g. ``(6, 1)`` → ``[1,0,0,0,0,1]``."""
        check_levels(s, d)
        bad = [k for k in levels if not d <= k <= s]
        if bad:
            raise ValueError(f"transmission levels {bad} are outside {d}..{s}")
        chosen = set(levels)
        return cls(s, d, tuple(1 if k in chosen else 0 for k in range(s, d - 1, -1)))

    def pi(self, level: int) -> int:
        if not self.target_level <= level <= self.source_level:
            raise ValueError(f"level {level} outside {self.target_level}..{self.source_level}")
        return self.bits[self.source_level - level]

    @property
    def n_q(self) -> int:
        return sum(self.bits)

    @property
    def transmission_levels(self) -> tuple[int, ...]:
        """Levels at which a transmission happens, from the source side (descending)."""
        s = self.source_level
        return tuple(s - i for i, b in enumerate(self.bits) if b)

    def __str__(self) -> str:
        return "[" + ",".join(map(str, self.bits)) + "]"


def check_levels(s: int, d: int, max_level: int | None = None) -> None:
    if d < 1:
        raise ValueError(f"target level d={d} must be >= 1")
    if s < d:
        raise ValueError(f"source level s={s} is below target level d={d} (need s >= d)")
    if max_level is not None and s > max_level:
        raise ValueError(f"source level s={s} is above the ladder's top level {max_level}")


def check_n_q(s: int, d: int, n_q: int) -> None:
    if not 1 <= n_q <= s - d + 1:
        raise ValueError(
            f"n_q={n_q} quantizations impossible for s={s}, d={d}: need 1 <= n_q <= {s - d + 1}"
        )


def enumerate_policies(s: int, d: int, n_q: int) -> list[PolicyVector]:
    """The policy space Π(s, d; n_q) in lexicographic order, edge policy first."""
    check_levels(s, d)
    check_n_q(s, d, n_q)
    free = range(s, d, -1)  # levels s..d+1 may carry the other n_q-1 transmissions
    out = [PolicyVector.from_levels(s, d, (*c, d)) for c in itertools.combinations(free, n_q - 1)]
    return out


def _fitting(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    levels = tuple(levels)
    if not 1 <= len(levels) <= hops:
        raise ValueError(f"{len(levels)} transmission levels do not fit a route of {hops} hops")
    return levels


def place_early(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    """Levels per hop, dropping as early as possible: ``(6, 3)`` on 4 hops → ``(6, 3, 3, 3)``
    (the first relay does the work, later relays forward the level-3 bytes)."""
    levels = _fitting(levels, hops)
    return levels + (levels[-1],) * (hops - len(levels))


def place_late(levels: Sequence[int], hops: int) -> tuple[int, ...]:
    """Levels per hop, dropping as late as possible: ``(6, 3)`` on 4 hops → ``(6, 6, 6, 3)``
    (the source's stream is forwarded until the last relay, which does the work)."""
    levels = _fitting(levels, hops)
    return (levels[0],) * (hops - len(levels)) + levels


def check_placement(vector: PolicyVector, hop_levels: Sequence[int], hops: int) -> None:
    """A placement must give every hop a level, never raise the level, and use exactly the
    vector's transmission levels (a repeated level = a relay forwarding the bytes)."""
    lv = tuple(hop_levels)
    if len(lv) != hops:
        raise ValueError(f"placement {list(lv)} gives {len(lv)} levels for a route of {hops} hops")
    if any(b > a for a, b in itertools.pairwise(lv)):
        raise ValueError(f"placement {list(lv)} raises the level along the route")
    if tuple(dict.fromkeys(lv)) != vector.transmission_levels:
        raise ValueError(
            f"placement {list(lv)} does not carry exactly the levels "
            f"{list(vector.transmission_levels)} of policy {vector}"
        )


# -- what a policy sees -----------------------------------------------------------------------
@dataclass(frozen=True)
class Hop:
    """One directed link of a route."""

    src: str
    dst: str
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0
    min_level: int | None = None  # lowest level this hop may carry (multicast trees)


@dataclass(frozen=True)
class Route:
    """The path one transmission chain takes: ``nodes[0]`` is the source (or the relay a
    multicast branch starts from, which already holds level ``upstream_level``)."""

    nodes: tuple[str, ...]
    hops: tuple[Hop, ...]
    node_resources: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    node_speed: Mapping[str, float] = field(default_factory=dict)
    upstream_level: int | None = None
    # relays of this route where the flow's multicast tree branches off or another
    # destination sits: the stream they receive also serves someone else
    forks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PolicyContext:
    source_level: int
    target_level: int
    n_q: int  # quantizations (= transmissions of a new level) the vector must have
    route: Route | None = None  # set inside the simulator
    flow: Any = None  # the flow config (simulator), for policies that want more
    max_level: int | None = None
    hops: int | None = None  # links on the route (None: n_q, one transmission per hop)

    def __post_init__(self) -> None:
        check_levels(self.source_level, self.target_level, self.max_level)
        check_n_q(self.source_level, self.target_level, self.n_q)
        if self.hops is None:
            object.__setattr__(self, "hops", len(self.route.hops) if self.route else self.n_q)
        if self.hops < self.n_q:
            raise ValueError(
                f"n_q={self.n_q} quantizations need at least {self.n_q} hops; "
                f"the route has {self.hops}"
            )


# -- policies ---------------------------------------------------------------------------------
class Policy(ABC):
    """Subclass and implement :meth:`choose`; return a vector or a list of 0/1 bits."""

    name: ClassVar[str] = "policy"

    @abstractmethod
    def choose(self, ctx: PolicyContext) -> PolicyVector | Sequence[int]: ...

    def __call__(self, ctx: PolicyContext) -> PolicyVector:
        out = self.choose(ctx)
        vec = (
            out
            if isinstance(out, PolicyVector)
            else PolicyVector(ctx.source_level, ctx.target_level, tuple(out))
        )
        if (vec.source_level, vec.target_level) != (ctx.source_level, ctx.target_level):
            raise ValueError(
                f"policy {self.name!r} returned a vector for s={vec.source_level}, "
                f"d={vec.target_level}; expected s={ctx.source_level}, d={ctx.target_level}"
            )
        if vec.n_q != ctx.n_q:
            raise ValueError(
                f"policy {self.name!r} returned {vec} with {vec.n_q} transmissions; "
                f"the context needs n_q={ctx.n_q}"
            )
        return vec

    def place(self, ctx: PolicyContext, vector: PolicyVector) -> Sequence[int]:
        """Level sent over each of the route's ``ctx.hops`` links (source side first).

        Default: drop as early as possible (:func:`place_early`). A repeated level is a relay
        forwarding the bytes it received; override to pick the relays that do the work."""
        return place_early(vector.transmission_levels, ctx.hops)

    def hop_levels(self, ctx: PolicyContext) -> tuple[int, ...]:
        """:meth:`choose` + :meth:`place`, checked: the level each hop carries."""
        vec = self(ctx)
        levels = tuple(int(k) for k in self.place(ctx, vec))
        try:
            check_placement(vec, levels, ctx.hops)
        except ValueError as exc:
            raise ValueError(f"policy {self.name!r}: {exc}") from None
        return levels

    def vector(self, s: int, d: int, n_q: int, max_level: int | None = None) -> PolicyVector:
        return self(PolicyContext(s, d, n_q, max_level=max_level))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EdgePolicy(Policy):
    """Edge quantization (Eq. 16): ``[1]*(n_q-1) + [0]*(s-d+1-n_q) + [1]``."""

    name = "edge"

    def choose(self, ctx: PolicyContext) -> Sequence[int]:
        s, d, n = ctx.source_level, ctx.target_level, ctx.n_q
        return [1] * (n - 1) + [0] * (s - d + 1 - n) + [1]


class LatePolicy(Policy):
    """All quantizations at the end of the cascade: ``[0]*(s-d+1-n_q) + [1]*n_q``."""

    name = "late"

    def choose(self, ctx: PolicyContext) -> Sequence[int]:
        s, d, n = ctx.source_level, ctx.target_level, ctx.n_q
        return [0] * (s - d + 1 - n) + [1] * n


class UniformPolicy(Policy):
    """Transmission levels spread evenly from s to d (n_q ≥ 2 includes both ends)."""

    name = "uniform"

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        s, d, n = ctx.source_level, ctx.target_level, ctx.n_q
        if n == 1:
            return PolicyVector.from_levels(s, d, [d])
        levels = [s - round(i * (s - d) / (n - 1)) for i in range(n)]
        return PolicyVector.from_levels(s, d, levels)


class ExplicitPolicy(Policy):
    """A fixed vector given by the user, e.g. ``[0, 1, 0, 1]``."""

    name = "explicit"

    def __init__(self, bits: Sequence[int]):
        self.bits = tuple(int(b) for b in bits)

    def choose(self, ctx: PolicyContext) -> PolicyVector:
        return PolicyVector(ctx.source_level, ctx.target_level, self.bits)

    def __repr__(self) -> str:
        return f"ExplicitPolicy({list(self.bits)})"


BUILTIN_POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (EdgePolicy, LatePolicy, UniformPolicy)
}


def resolve_policy(
    spec: str | Sequence[int] | Policy, base_dir: str | Path | None = None
) -> Policy:
    """A policy from a built-in name, an explicit 0/1 list, or ``path/to/file.py:ClassName``."""
    if isinstance(spec, Policy):
        return spec
    if isinstance(spec, str):
        if spec in BUILTIN_POLICIES:
            return BUILTIN_POLICIES[spec]()
        if ":" in spec:
            return load_policy_class(spec, base_dir)()
        raise ValueError(
            f"unknown policy {spec!r}: use one of {', '.join(BUILTIN_POLICIES)}, a 0/1 list, "
            "or path/to/file.py:ClassName"
        )
    return ExplicitPolicy(spec)


def load_policy_class(spec: str, base_dir: str | Path | None = None) -> type[Policy]:
    """Import ``ClassName`` from ``path/to/file.py`` (relative paths from ``base_dir``)."""
    path_str, _, cls_name = spec.rpartition(":")
    path = Path(path_str)
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = Path(base_dir) / path
    if not path.is_file():
        raise ValueError(f"policy file {path_str!r} not found")
    mod_name = f"hcf_user_policy_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"policy file {path_str!r} cannot be imported")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise ValueError(f"policy file {path_str!r} failed to import: {exc}") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"{spec!r}: {cls_name!r} is not a Policy subclass in {path_str}")
    return cls


def iter_policy_space(s: int, d: int, n_q_values: Sequence[int]) -> Iterator[PolicyVector]:
    for n in n_q_values:
        yield from enumerate_policies(s, d, n)
