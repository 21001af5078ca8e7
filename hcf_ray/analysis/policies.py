"""Policy comparison (paper Table 1): every π ∈ Π(s, d; n_q), its RD point and RQSI η.

For each n_q and every target d < s with a non-empty policy space, each policy runs as a real
HCF cascade (``CascadeEngine`` stages, real bitstreams); the row holds the mean bpp of the
final bitstream, mean PSNR and MS-SSIM (dB) over the images, and η^PSNR, η^MS-SSIM
(:mod:`hcf_ray.analysis.rqsi`, on those means). Per group (n_q, d) the summary says whether the
edge policy (Eq. 16) has the highest PSNR / MS-SSIM and the lowest η, and by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hcf_ray.analysis.rqsi import RQS, reference_policies, rqsi
from hcf_ray.analysis.runner import Evaluator, ImageItem, Point, Progress, mean_point
from hcf_ray.policy import EdgePolicy, PolicyVector, enumerate_policies


@dataclass
class PolicyRow:
    policy: PolicyVector
    point: Point
    eta_psnr: RQS
    eta_msssim: RQS
    is_edge: bool


@dataclass
class PolicyGroup:
    n_q: int
    d: int
    rows: list[PolicyRow]

    @property
    def edge(self) -> PolicyRow:
        return next(r for r in self.rows if r.is_edge)

    def others(self) -> list[PolicyRow]:
        return [r for r in self.rows if not r.is_edge]

    def edge_margin(self, key: str) -> float | None:
        """Edge minus the best other policy (quality: higher is better; η: lower is better,
        so the margin is ``best other η − edge η``). None when the edge policy is alone."""
        others = self.others()
        if not others:
            return None
        if key in ("psnr", "ms_ssim_db"):
            return getattr(self.edge.point, key) - max(getattr(r.point, key) for r in others)
        attr = {"eta_psnr": "eta_psnr", "eta_msssim": "eta_msssim"}[key]
        return min(getattr(r, attr).value for r in others) - getattr(self.edge, attr).value

    def edge_rank(self, key: str) -> int:
        """1 = best. Quality keys rank descending, η keys ascending."""
        if key in ("psnr", "ms_ssim_db"):
            vals = sorted((getattr(r.point, key) for r in self.rows), reverse=True)
            return vals.index(getattr(self.edge.point, key)) + 1
        vals = sorted(getattr(r, key).value for r in self.rows)
        return vals.index(getattr(self.edge, key).value) + 1


@dataclass
class PolicyTable:
    s: int
    images: list[str]
    groups: list[PolicyGroup]
    references: dict[int, tuple[Point, Point]] = field(default_factory=dict)  # d -> (π_*, π^*)

    def summary(self) -> dict[str, int]:
        contested = [g for g in self.groups if g.others()]
        return {
            "groups": len(self.groups),
            "contested": len(contested),
            "edge_best_psnr": sum(g.edge_rank("psnr") == 1 for g in contested),
            "edge_best_msssim": sum(g.edge_rank("ms_ssim_db") == 1 for g in contested),
            "edge_best_eta_psnr": sum(g.edge_rank("eta_psnr") == 1 for g in contested),
            "edge_best_eta_msssim": sum(g.edge_rank("eta_msssim") == 1 for g in contested),
        }


def policy_space(
    s: int, n_q_values: Sequence[int] = (2, 3, 4), targets: Sequence[int] | None = None
) -> list[tuple[int, int, list[PolicyVector]]]:
    """(n_q, d, Π(s, d; n_q)) for every d < s where the space is non-empty."""
    out = []
    for n_q in n_q_values:
        for d in targets or range(1, s):
            if 1 <= d < s and n_q <= s - d + 1:
                out.append((n_q, d, enumerate_policies(s, d, n_q)))
    return out


def policy_table(
    evaluator: Evaluator,
    images: Sequence[ImageItem],
    s: int | None = None,
    n_q_values: Sequence[int] = (2, 3, 4),
    targets: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> PolicyTable:
    s = s or evaluator.max_level
    space = policy_space(s, n_q_values, targets)
    levels = sorted({d for _, d, _ in space})
    refs = {d: reference_policies(s, d) for d in levels}
    # images outer: every cascade of one image runs while its memo is hot
    for img in images:
        for d in levels:
            for ref in refs[d]:
                evaluator.run(img, evaluator.program("hcf", s, d + 1, ref))
        for _, d, pols in space:
            for pol in pols:
                evaluator.run(img, evaluator.program("hcf", s, d, pol))
        if progress:
            n = sum(len(p) for _, _, p in space)
            progress(f"  policies: {img.name}: {n} policies + {2 * len(levels)} references")

    def mean(program) -> Point:
        return mean_point([evaluator.run(img, program) for img in images])

    ref_points = {
        d: tuple(mean(evaluator.program("hcf", s, d + 1, ref)) for ref in refs[d]) for d in levels
    }
    groups = []
    for n_q, d, pols in space:
        edge = EdgePolicy().vector(s, d, n_q)
        low, high = ref_points[d]
        rows = []
        for pol in pols:
            p = mean(evaluator.program("hcf", s, d, pol))
            rows.append(
                PolicyRow(
                    pol,
                    p,
                    rqsi(p.psnr, p.bpp, (low.psnr, low.bpp), (high.psnr, high.bpp)),
                    rqsi(
                        p.ms_ssim_db, p.bpp, (low.ms_ssim_db, low.bpp), (high.ms_ssim_db, high.bpp)
                    ),
                    pol == edge,
                )
            )
        groups.append(PolicyGroup(n_q, d, rows))
    return PolicyTable(s, [i.name for i in images], groups, ref_points)
