"""The report's PNG plots, with the published reference curves drawn dashed."""

from __future__ import annotations

import math
from pathlib import Path

from hcf_ray.analysis import plots
from hcf_ray.reference import dpict_curve, paper_values, reference_curve


def report_plots(out: Path, rd, abl, xq, ent, pol, eff, arch: str) -> dict[str, Path]:
    """Write every plot into ``out``; keys: section names and ``rd:FOLDER`` per image folder."""
    paths: dict[str, Path] = {}
    paths["policies"] = plots.policy_plot(pol, out / "policies.png")
    paths["entropy"] = plots.entropy_plot(ent, out / "entropy.png")
    paths["efficiency"] = plots.efficiency_plot(eff, paper_values().table3, out / "efficiency.png")
    paths["crossq"] = plots.rd_plot(
        plots.curve_series({c.method: c for c in xq.curves.values()}),
        out / "crossq.png",
        "Cross-quality: HCF-edge paths k→d with one trained φ bank (no retraining)",
    )
    paths["ablation"] = plots.rd_plot(
        plots.curve_series(abl.curves), out / "ablation.png", "Ablation: φ weight switching"
    )
    refs = reference_series(arch)
    for i, (folder, res) in enumerate(rd.items()):
        stem = f"rd_{_slug(folder.name)}" if len(rd) == 1 else f"rd_{i + 1}_{_slug(folder.name)}"
        paths[f"rd:{folder}"] = plots.rd_plot(
            [*plots.curve_series(res.curves), *refs],
            out / f"{stem}.png",
            f"RD curves on {folder.name} ({len(res.images)} images); dashed = published "
            "curves on other datasets",
        )
    return paths


def reference_series(arch: str) -> list[plots.Series]:
    """Published curves of ``arch`` (CompressAI, Kodak and CLIC2020-pro) and DPICT's."""
    out = []
    for key, dataset, label in (
        (f"compressai-{arch}_mse_cuda", "kodak", "Kodak"),
        (f"clic2020-professional/compressai-{arch}_mse_cuda", "clic2020", "CLIC2020-pro"),
    ):
        try:
            c = reference_curve(key, dataset)
        except (KeyError, ValueError):
            continue
        ms = [_db(v) for v in c.ms_ssim] if c.ms_ssim else None
        out.append(
            plots.Series(
                f"CompressAI {arch} pretrained, {label} (other dataset)",
                c.bpp,
                c.psnr,
                ms,
                reference=True,
            )
        )
    c = dpict_curve()
    out.append(
        plots.Series(
            "DPICT (paper's 'Lee' PCF), Kodak (other dataset)", c.bpp, c.psnr, None, reference=True
        )
    )
    return out


def _db(v: float) -> float:
    return float("inf") if v >= 1 else -10 * math.log10(1 - v)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) or "images"
