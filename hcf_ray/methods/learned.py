"""The learned cascades over the quality ladder: HCF (latent space), DRF (pixels), SSF.

* ``hcf`` — latent-space cascade: the source runs ``g_a^s`` once, φ modules do every level
  drop (inter after a link, intra inside a node), the destination runs ``g_s^d`` once; the
  policy gives the level every link carries and a relay whose level does not drop forwards
  the bytes. In ``hcf-sim eval``: the edge policy with n_q = 2 (paper §5).
* ``hcf-late`` — HCF with the late policy (every quantization at the end of the cascade),
  whatever the destination's policy says.
* ``drf`` — successive recompression with the *same* per-link levels as HCF's plan: a relay
  where the level drops decodes to 8-bit pixels (``g_s``) and re-encodes (``g_a``), possibly
  several levels at once. In ``hcf-sim eval``: every level drop is a transmission (paper
  Fig. 1).
* ``drf-nq2`` — DRF with two quantizations (one relay decodes level s and re-encodes level
  d), the equal-transmissions counterpart of HCF's default.
* ``ssf`` — single-stage: the source encodes level d once per distinct target level and
  relays forward the bytes (on a tree with several target levels: simulcast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcf_ray.cascade import Stage, build_program
from hcf_ray.methods.base import FixedPolicyMethod, Method, with_forwards
from hcf_ray.policy import LatePolicy, PolicyVector

if TYPE_CHECKING:
    from hcf_ray.sim.treelevels import TreeProblem


class HCF(Method):
    name = "hcf"
    description = "HCF, edge policy, n_q=2"
    needs_phis = True

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        prog = build_program("hcf", s, d, PolicyVector.from_levels(s, d, levels))
        return with_forwards(prog.stages, levels)


class HCFLate(FixedPolicyMethod, HCF):
    name = "hcf-late"
    description = "HCF, late policy, n_q=2"
    eval_policy = LatePolicy

    def eval_n_q(self, s: int, d: int) -> int:
        return 2


class DRF(Method):
    name = "drf"
    description = "successive recompression, every level drop a transmission"

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        prog = build_program("drf", s, d, PolicyVector.from_levels(s, d, levels))
        return with_forwards(prog.stages, levels)

    def eval_n_q(self, s: int, d: int) -> int:
        return s - d + 1


class DRFNq2(FixedPolicyMethod, DRF):
    name = "drf-nq2"
    description = "recompression at n_q=2: one decode/re-encode s→d"
    fixed_n_q = 2


class SSF(Method):
    name = "ssf"
    description = "single-stage codec at level d (upper bound)"
    uses_policy = False
    include_source_level = True

    def hop_levels(self, problem: TreeProblem, assign=None) -> dict[str, tuple[int, ...]]:
        return {
            dest: (problem.targets[dest],) * (len(path) - 1)
            for dest, path in problem.tree.paths.items()
        }

    def stages(self, s: int, d: int, levels: tuple[int, ...]) -> tuple[Stage, ...]:
        src, dst = build_program("ssf", s, d).stages
        return (src, *[Stage(d, (), d)] * (len(levels) - 1), dst)

    def vector(self, s: int, d: int, levels: tuple[int, ...]) -> PolicyVector | None:
        return None

    def eval_levels(self, s: int, d: int, n_q: int | None = None) -> tuple[int, ...]:
        return (d,)
