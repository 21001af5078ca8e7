"""What a method is: how it spreads levels over a route and what each node on it does.

A :class:`Method` answers, for one destination at target level ``d`` of a flow whose source
holds level ``s``:

* :meth:`Method.hop_levels` — the level each hop of every destination's route carries (on a
  network, for all destinations of a multicast tree at once; a repeated level is a relay
  forwarding the bytes it received);
* :meth:`Method.stages` — one :class:`~hcf_ray.cascade.Stage` per route node for those
  levels (the source first, the destination last);
* :meth:`Method.eval_levels` — the levels of the chain ``hcf-sim eval`` runs for an RD point
  (one node per transmission, no forwarding relays).

Everything else (the simulator's jobs, the in-process engine, the RD evaluation, the report)
runs those stages, so a method behaves identically everywhere. Register a subclass with
:func:`hcf_ray.methods.register_method`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from hcf_ray.cascade import Program, Stage
from hcf_ray.policy import EdgePolicy, Policy, PolicyContext, PolicyVector

if TYPE_CHECKING:
    from hcf_ray.sim.treelevels import TreeProblem

Assign = Callable[["TreeProblem"], dict[str, tuple[int, ...]]]


class Method(ABC):
    """A cascade method, registered by :attr:`name`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    uses_policy: ClassVar[bool] = True  # the destination's policy and n_q pick the levels
    needs_phis: ClassVar[bool] = False  # runs φ modules (needs a bundle with them)
    include_source_level: ClassVar[bool] = False  # eval: a point at d = s too (SSF)
    is_baseline: ClassVar[bool] = False  # runs a progressive / classical codec (hcf_ray.pcf)

    # -- on a network ---------------------------------------------------------------------
    def hop_levels(self, problem: TreeProblem, assign: Assign) -> dict[str, tuple[int, ...]]:
        """Level sent over each hop of each destination's route: by default the levels the
        destinations' policies choose. ``assign`` is the planner's
        :func:`~hcf_ray.sim.treelevels.assign_levels` (policies → levels on a tree)."""
        return assign(problem)

    @abstractmethod
    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        """What each node of a route does: ``len(levels) + 1`` stages, source first."""

    def policy_label(self, configured: str) -> str:
        """The policy a record names: the destination's (``configured``), or ``-``."""
        return configured if self.uses_policy else "-"

    def vector(self, s: int, d: int, levels: tuple[int, ...]) -> PolicyVector | None:
        """The policy vector π of a route (None: the method has none)."""
        return PolicyVector.from_levels(s, d, levels)

    # -- in the RD evaluation (hcf-sim eval, the report) ------------------------------------
    eval_policy: ClassVar[type[Policy]] = EdgePolicy

    def eval_n_q(self, s: int, d: int) -> int:
        """Quantizations of the chain ``hcf-sim eval`` runs (the paper's protocol)."""
        return 2

    def eval_levels(self, s: int, d: int, n_q: int | None = None) -> tuple[int, ...]:
        """The levels the chain's transmissions carry, one node per transmission. ``n_q``
        overrides :meth:`eval_n_q` (clamped to the levels available)."""
        n = min(n_q or self.eval_n_q(s, d), s - d + 1)
        return self.eval_policy()(PolicyContext(s, d, n)).transmission_levels

    def program(self, s: int, d: int, levels: tuple[int, ...]) -> Program:
        return Program(self.name, s, d, self.vector(s, d, levels), self.stages(s, d, levels))

    def eval_program(self, s: int, d: int, n_q: int | None = None) -> Program:
        return self.program(s, d, self.eval_levels(s, d, n_q))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class FixedPolicyMethod(Method):
    """A method that plans every destination with its own policy (and optionally its own
    n_q) instead of the destination's: e.g. ``hcf-late``, ``drf-nq2``."""

    uses_policy = False
    fixed_n_q: ClassVar[int | None] = None

    def hop_levels(self, problem: TreeProblem, assign: Assign) -> dict[str, tuple[int, ...]]:
        policy = self.eval_policy()
        n_q = dict(problem.n_q or {})
        if self.fixed_n_q is not None:
            s = problem.source_level
            for dest, path in problem.tree.paths.items():
                d = problem.targets[dest]
                n_q[dest] = min(self.fixed_n_q, len(path) - 1, s - d + 1)
        fixed = replace(problem, policies={d: policy for d in problem.targets}, n_q=n_q)
        return assign(fixed)

    def eval_n_q(self, s: int, d: int) -> int:
        return self.fixed_n_q or 2

    def policy_label(self, configured: str) -> str:
        """The method's own policy (and n_q), whatever the destination's says."""
        name = self.eval_policy.name
        return f"{name}, n_q={self.fixed_n_q}" if self.fixed_n_q else name


def with_forwards(stages: tuple[Stage, ...], levels: tuple[int, ...]) -> tuple[Stage, ...]:
    """Spread a chain's stages (source, one per level drop, destination) over a route whose
    hops carry ``levels``: a relay whose outgoing level equals its incoming one forwards."""
    src, *relays, dst = stages
    if len(relays) != len(set(levels)) - 1:
        raise ValueError(f"{len(relays)} relay stages for the levels {list(levels)}")
    out, todo = [src], iter(relays)
    for prev, nxt in itertools.pairwise(levels):
        out.append(Stage(prev, (), prev, src.codecs) if nxt == prev else next(todo))
    return (*out, dst)
