"""Registry of cascade methods the simulator can run over a multicast tree.

A method answers two questions for one flow: which level crosses each hop of every
destination's route (:meth:`SimMethod.hop_levels`), and what each node on a route does
(:meth:`SimMethod.stages`, one :class:`~hcf_ray.cascade.Stage` per route node, compiled by
:func:`~hcf_ray.cascade.build_program` so the in-process engine runs the very same stages).
The planner merges the per-destination stages into per-node jobs; nothing else in the
simulator branches on the method name. Add a method with :func:`register_method`.

* ``hcf`` — latent-space cascade; the policy gives the level every tree link carries
  (:mod:`hcf_ray.sim.treelevels`), φ modules do the level drops, and a relay whose outgoing
  level equals its incoming one forwards the bytes unchanged.
* ``drf`` — successive recompression with the *same* per-link levels as HCF's plan: every
  relay where the level drops decodes to 8-bit pixels (g_s) and re-encodes at the next level
  (g_a), possibly several levels at once (one decode/re-encode, never extra passes); the other
  relays forward. DRF and HCF are thus compared at equal quantizations n_q on equal links.
* ``ssf`` — single-stage: the source encodes level d once per distinct target level and
  relays forward the bytes unchanged. On a tree with different target levels this is
  simulcast: a shared link carries one stream per distinct level below it.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import ClassVar

from hcf_ray.cascade import Stage, build_program
from hcf_ray.policy import PolicyVector
from hcf_ray.sim.treelevels import TreeProblem, assign_levels


class SimMethod(ABC):
    name: ClassVar[str]
    uses_policy: ClassVar[bool] = True
    needs_phis: ClassVar[bool] = False

    @abstractmethod
    def hop_levels(self, problem: TreeProblem) -> dict[str, tuple[int, ...]]:
        """Level sent over each hop of each destination's route."""

    @abstractmethod
    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        """What each node of a route does: ``len(levels) + 1`` stages, source first."""

    def vector(self, s: int, d: int, levels: tuple[int, ...]) -> PolicyVector | None:
        return PolicyVector.from_levels(s, d, levels)


def with_forwards(stages: tuple[Stage, ...], levels: tuple[int, ...]) -> tuple[Stage, ...]:
    """Spread a program's stages (source, one per level drop, destination) over a route whose
    hops carry ``levels``: a relay whose outgoing level equals its incoming one forwards."""
    src, *relays, dst = stages
    if len(relays) != len(set(levels)) - 1:
        raise ValueError(f"{len(relays)} relay stages for the levels {list(levels)}")
    out, todo = [src], iter(relays)
    for prev, nxt in itertools.pairwise(levels):
        out.append(Stage(prev, (), prev, src.codecs) if nxt == prev else next(todo))
    return (*out, dst)


class HCFMethod(SimMethod):
    name = "hcf"
    needs_phis = True

    def hop_levels(self, problem: TreeProblem) -> dict[str, tuple[int, ...]]:
        return assign_levels(problem)

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        prog = build_program(self.name, s, d, PolicyVector.from_levels(s, d, levels))
        return with_forwards(prog.stages, levels)


class DRFMethod(HCFMethod):
    name = "drf"
    needs_phis = False


class SSFMethod(SimMethod):
    name = "ssf"
    uses_policy = False

    def hop_levels(self, problem: TreeProblem) -> dict[str, tuple[int, ...]]:
        return {
            dest: (problem.targets[dest],) * (len(path) - 1)
            for dest, path in problem.tree.paths.items()
        }

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        src, dst = build_program("ssf", s, d).stages
        return (src, *[Stage(d, (), d)] * (len(levels) - 1), dst)

    def vector(self, s: int, d: int, levels: tuple[int, ...]) -> PolicyVector | None:
        return None


_REGISTRY: dict[str, SimMethod] = {}


def register_method(method: SimMethod) -> None:
    _REGISTRY[method.name] = method


def get_method(name: str) -> SimMethod:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(_REGISTRY)}") from None


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


for _m in (HCFMethod(), DRFMethod(), SSFMethod()):
    register_method(_m)
