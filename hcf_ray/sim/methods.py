"""Registry of cascade methods the simulator can run over a multicast tree.

A method answers two questions for one flow: which level crosses each hop of every
destination's route (:meth:`SimMethod.hop_levels`), and what each node on a route does
(:meth:`SimMethod.stages`, one :class:`~hcf_ray.cascade.Stage` per route node, compiled by
:func:`~hcf_ray.cascade.build_program` so the in-process engine runs the very same stages).
The planner merges the per-destination stages into per-node jobs; nothing else in the
simulator branches on the method name. Add a method with :func:`register_method`.

* ``hcf`` — latent-space cascade; the policy places one transmission on every tree link
  (:mod:`hcf_ray.sim.treelevels`), φ modules do the level drops.
* ``drf`` — successive recompression with the *same* transmission levels as HCF's plan: every
  relay decodes to 8-bit pixels (g_s) and re-encodes at the next level (g_a). With the paper's
  "every drop is a transmission" vector this needs a route of s−d+1 hops; on shorter routes a
  relay drops several levels at once (one decode/re-encode per hop, never extra passes), so
  DRF and HCF are compared at equal transmissions per link.
* ``ssf`` — single-stage: the source encodes level d once per distinct target level and
  relays forward the bytes unchanged. On a tree with different target levels this is
  simulcast: a shared link carries one stream per distinct level below it.
"""

from __future__ import annotations

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


class HCFMethod(SimMethod):
    name = "hcf"
    needs_phis = True

    def hop_levels(self, problem: TreeProblem) -> dict[str, tuple[int, ...]]:
        return assign_levels(problem)

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        return build_program("hcf", s, d, PolicyVector.from_levels(s, d, levels)).stages


class DRFMethod(HCFMethod):
    name = "drf"
    needs_phis = False

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        return build_program("drf", s, d, PolicyVector.from_levels(s, d, levels)).stages


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
