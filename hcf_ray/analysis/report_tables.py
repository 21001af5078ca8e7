"""The report's tables as data: one builder per section, numbers unformatted.

Each ``*_section`` function turns an analysis result into a plain dataclass (rows of raw
values plus the few facts the prose needs); :mod:`.report_render` formats and lays them out
with the Jinja2 templates. The paper's numbers come from :func:`hcf_ray.reference.paper_values`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hcf_ray.analysis.ablation import Ablation
from hcf_ray.analysis.crossq import CrossQuality
from hcf_ray.analysis.efficiency import EfficiencyTable
from hcf_ray.analysis.entropy import EntropyResult
from hcf_ray.analysis.policies import PolicyTable
from hcf_ray.analysis.rd import RDComparison
from hcf_ray.reference import PaperValues


@dataclass
class PoliciesSection:
    s: int
    n_images: int
    summary: dict
    groups: list[dict]  # per (n_q, d): margins and ranks of the edge policy
    paper_rows: list[dict]  # the policies the paper lists: ours (or None) and the paper's
    gaps: list[dict]  # edge − other PSNR / bpp gaps, ours and the paper's
    rows: list[dict]  # every policy
    references: list[dict]  # level-(d+1) references per d


def policies_section(pol: PolicyTable, paper: PaperValues) -> PoliciesSection:
    groups = []
    for g in pol.groups:
        row = {"n_q": g.n_q, "d": g.d, "n": len(g.rows), "edge": str(g.edge.policy)}
        if g.others():
            best_other = max(g.others(), key=lambda r: r.point.psnr)
            row["dbpp"] = g.edge.point.bpp - best_other.point.bpp
            for key in ("psnr", "ms_ssim_db", "eta_psnr", "eta_msssim"):
                row[key] = (g.edge_margin(key), g.edge_rank(key))
        groups.append(row)
    paper_rows = [
        {"n_q": n_q, "d": d, "policy": name, "ours": _policy_row(pol, n_q, d, name), "paper": v}
        for (n_q, d, name), v in paper.table1.items()
    ]
    listed: dict[tuple[int, int], list[str]] = {}
    for n_q, d, name in paper.table1:
        listed.setdefault((n_q, d), []).append(name)
    gaps = []
    for (n_q, d), names in listed.items():
        if len(names) < 2:
            continue
        a, b = names[:2]
        ra, rb = _policy_row(pol, n_q, d, a), _policy_row(pol, n_q, d, b)
        pa, pb = paper.table1[(n_q, d, a)], paper.table1[(n_q, d, b)]
        if ra and rb:
            gaps.append(
                {
                    "n_q": n_q,
                    "d": d,
                    "a": a,
                    "b": b,
                    "dpsnr": ra.point.psnr - rb.point.psnr,
                    "dbpp": ra.point.bpp - rb.point.bpp,
                    "paper_dpsnr": pa[1] - pb[1],
                    "paper_dbpp": pa[0] - pb[0],
                }
            )
    rows = [
        {"n_q": g.n_q, "d": g.d, "row": r, "policy": str(r.policy)}
        for g in pol.groups
        for r in g.rows
    ]
    refs = [{"d": d, "lo": lo, "hi": hi} for d, (lo, hi) in sorted(pol.references.items())]
    return PoliciesSection(
        pol.s, len(pol.images), pol.summary(), groups, paper_rows, gaps, rows, refs
    )


def _policy_row(pol: PolicyTable, n_q: int, d: int, name: str):
    for g in pol.groups:
        if (g.n_q, g.d) == (n_q, d):
            for r in g.rows:
                if str(r.policy) == name:
                    return r
    return None


@dataclass
class EntropySection:
    result: EntropyResult
    rows: list[dict]
    best: str  # policy with the smallest final-quantization jump
    edge: str
    finals: dict[str, float]
    paper_order: list[tuple[str, float]]  # the paper's policies by final jump, ascending
    paper_latent_channels: int


def entropy_section(ent: EntropyResult, paper: PaperValues) -> EntropySection:
    rows = []
    for c in ent.curves:
        jumps = c.jumps()
        levels = sorted(jumps, reverse=True)
        first, final = levels[0], min(levels)
        rows.append(
            {
                "policy": c.policy,
                "points": [(pt.bits, pt.quantized) for pt in c.points],
                "first_level": first,
                "first_jump": jumps[first] if first != final else None,
                "final_jump": jumps[final],
                "before_final": c.before_final_quantization(),
                "bpp": c.bpp,
                "paper": paper.fig3_jumps.get(c.policy),
            }
        )
    finals = {c.policy: c.jumps()[ent.d] for c in ent.curves}
    order = sorted(((p, v[2]) for p, v in paper.fig3_jumps.items()), key=lambda pv: pv[1])
    return EntropySection(
        ent,
        rows,
        best=min(finals, key=finals.get),
        edge=ent.curves[0].policy,  # enumerate_policies lists the edge policy first
        finals=finals,
        paper_order=order,
        paper_latent_channels=paper.fig3_latent_channels,
    )


@dataclass
class BDFolder:
    folder: Path
    n_images: int
    rows: list[dict]  # BD metrics of each method relative to HCF-edge
    skipped: dict[str, str]
    ssf_beaten: bool  # HCF beats its own single-stage upper bound
    curves: list[dict]
    drf: dict | None


@dataclass
class BDSection:
    folders: list[BDFolder]
    paper_rows: list[tuple[str, tuple[float, ...]]]
    paper_drf: tuple[float, ...] | None


def bd_section(rd: dict[Path, RDComparison], paper: PaperValues) -> BDSection:
    from hcf_ray.methods import get_method, method_names

    desc = {k: get_method(k).description for k in method_names()}
    folders = []
    for folder, res in rd.items():
        rows = [{**r, "what": desc.get(r["test"], "")} for r in res.bd]
        ssf = next((r for r in res.bd if r["test"] == "ssf"), None)
        curves = [
            {"method": name, "d": d, "bpp": b, "psnr": p, "msssim_db": m}
            for name, c in res.curves.items()
            for d, b, p, m in zip(c.levels, c.bpp, c.psnr, c.ms_ssim_db)
        ]
        drf = next((r for r in res.bd if r["test"] == "drf"), None)
        folders.append(
            BDFolder(
                folder,
                len(res.images),
                rows,
                dict(res.skipped),
                bool(ssf and ssf["bd_rate_psnr_pct"] > 0),
                curves,
                drf,
            )
        )
    drf_name = paper.table2_ours.get("drf")
    return BDSection(
        folders, list(paper.table2.items()), paper.table2.get(drf_name) if drf_name else None
    )


@dataclass
class EfficiencySection:
    tables: list[dict]
    paper_memory: tuple[float, float]  # range of the paper's memory reductions, %
    paper_time: tuple[float, float]  # range of the paper's time reductions, %


def efficiency_section(eff: list[EfficiencyTable], paper: PaperValues) -> EfficiencySection:
    tables = []
    for tab in eff:
        ref = paper.table3.get(tab.model)
        nodes = [
            {"n": n, "red": n.reductions(), "paper": ref[n.node - 1] if ref else None}
            for n in tab.nodes
        ]
        deviation = None
        if ref:
            deviation = max(
                max(abs(x["red"]["flops"] - x["paper"][0]) for x in nodes),
                max(abs(x["red"]["params"] - x["paper"][1]) for x in nodes),
            )
        tables.append({"table": tab, "nodes": nodes, "deviation": deviation})
    published = [v for rows in paper.table3.values() for v in rows]
    return EfficiencySection(
        tables,
        (min(v[2] for v in published), max(v[2] for v in published)),
        (min(v[3] for v in published), max(v[3] for v in published)),
    )


def crossq_rows(xq: CrossQuality, paper: PaperValues) -> list[dict]:
    return [{**r, "paper": paper.table4.get((r["source"], r["anchor_source"]))} for r in xq.rows]


@dataclass
class AblationSection:
    bd: list[dict]
    levels: list[tuple[int, float]]  # (d, full HCF's bpp) per column of the delta table
    deltas: list[dict]  # per variant: ΔPSNR, Δbpp and ΔPSNR at equal rate per level
    reading: list[dict]  # where each variant loses, vs the paper's finding
    paper_findings: str


def ablation_section(abl: Ablation, paper: PaperValues) -> AblationSection:
    full = abl.curves["hcf"]
    deltas = [
        {
            "name": name,
            "psnr": abl.deltas(name),
            "bpp": abl.deltas(name, "bpp"),
            "equal_rate": abl.equal_rate_deltas(name),
        }
        for name in ("inter-only", "intra-only")
    ]
    return AblationSection(
        abl.bd,
        list(zip(full.levels, full.bpp)),
        deltas,
        [_ablation_reading(abl, n, c) for n, c in paper.fig6_worse_at.items()],
        paper.fig6,
    )


def _ablation_reading(abl: Ablation, name: str, claim: str) -> dict:
    """Where does the variant lose: at the lower-rate or the higher-rate half of its curve?
    Uses the equal-rate PSNR differences where defined, else the same-level ones."""
    var = abl.curves[name]
    pairs = [(r, v) for r, v in zip(var.bpp, abl.equal_rate_deltas(name)) if v is not None]
    how = "at equal rate"
    if len(pairs) < 2:
        pairs, how = list(zip(var.bpp, abl.deltas(name))), "at the same level"
    pairs.sort()
    half = max(1, len(pairs) // 2)
    low = sum(v for _, v in pairs[:half]) / half
    high = sum(v for _, v in pairs[-half:]) / half
    worse_at = "low" if low < high else "high"
    return {
        "name": name,
        "how": how,
        "half": half,
        "low": low,
        "high": high,
        "worse_at": worse_at,
        "claim": claim,
    }
