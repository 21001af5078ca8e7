"""Matplotlib figures of the report; each function writes one PNG and returns its path.

Figures are built without pyplot (no global backend or state), so importing this module
leaves matplotlib's backend as the caller set it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from hcf_ray.evaluate import Curve


@dataclass(frozen=True)
class Series:
    """One line of an RD plot; ``ms_ssim_db`` may be None (PSNR-only reference)."""

    label: str
    bpp: Sequence[float]
    psnr: Sequence[float] | None
    ms_ssim_db: Sequence[float] | None = None
    style: str = "-o"
    reference: bool = False  # published curve, drawn thin and dashed


def curve_series(curves: dict[str, Curve]) -> list[Series]:
    return [Series(name, c.bpp, c.psnr, c.ms_ssim_db) for name, c in curves.items()]


def rd_plot(series: Sequence[Series], path: str | Path, title: str) -> Path:
    """PSNR and MS-SSIM (dB) vs bpp side by side."""
    fig = Figure(figsize=(12, 4.6))
    axes = fig.subplots(1, 2)
    for ax, key, ylabel in (
        (axes[0], "psnr", "PSNR (dB)"),
        (axes[1], "ms_ssim_db", "MS-SSIM (dB)"),
    ):
        for s in series:
            ys = getattr(s, key)
            if ys is None:
                continue
            pts = sorted(zip(s.bpp, ys))
            kw = {"lw": 1.0, "alpha": 0.6, "ms": 3} if s.reference else {"lw": 1.6, "ms": 4}
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "--" if s.reference else s.style,
                label=s.label,
                **kw,
            )
        ax.set_xlabel("bpp")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def policy_plot(table, path: str | Path) -> Path:
    """One panel per n_q: PSNR vs bpp of every policy, coloured by target d, edge starred."""
    n_qs = sorted({g.n_q for g in table.groups})
    fig = Figure(figsize=(5 * len(n_qs), 4.2))
    axes = fig.subplots(1, len(n_qs), squeeze=False)
    cmap = matplotlib.colormaps["viridis"]
    ds = sorted({g.d for g in table.groups})
    for ax, n_q in zip(axes[0], n_qs):
        for g in (g for g in table.groups if g.n_q == n_q):
            color = cmap(ds.index(g.d) / max(1, len(ds) - 1))
            for r in g.rows:
                ax.plot(
                    r.point.bpp,
                    r.point.psnr,
                    "*" if r.is_edge else "o",
                    color=color,
                    ms=13 if r.is_edge else 5,
                    mec="k" if r.is_edge else color,
                    label=f"d={g.d}" if r.is_edge else None,
                )
        ax.set_title(f"n_q = {n_q} (★ = edge policy)", fontsize=9)
        ax.set_xlabel("bpp")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Policy comparison, s = {table.s}: every π ∈ Π(s, d; n_q)", fontsize=10)
    return _save(fig, path)


def entropy_plot(result, path: str | Path) -> Path:
    """Fig. 3 style: entropy per level for each policy, stars at quantizations + jump labels."""
    fig = Figure(figsize=(7, 4.6))
    ax = fig.subplots()
    for i, c in enumerate(result.curves):
        color = f"C{i}"
        pre = [(p.level, p.bits) for p in c.points if not p.quantized]
        # the path the latent takes: pre-Q value, then (at a quantization) the jump to ŷ
        xs, ys = [], []
        for p in c.points:
            xs.append(p.level)
            ys.append(p.bits)
        ax.plot(xs, ys, "-", color=color, lw=1.5, label=f"π = {c.policy}")
        ax.plot([q[0] for q in pre], [q[1] for q in pre], "o", color=color, ms=4)
        for p in (p for p in c.points if p.quantized):
            before = next(b for lv, b in pre if lv == p.level)
            ax.plot(p.level, p.bits, "*", color=color, ms=13, mec="k")
            ax.annotate(
                f"+{p.bits - before:.1f}" if p.bits >= before else f"{p.bits - before:.1f}",
                (p.level, p.bits),
                textcoords="offset points",
                xytext=(12, 14 - 13 * i),
                fontsize=7,
                color=color,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
            )
    ax.invert_xaxis()
    ax.set_xticks(range(result.d, result.s + 1))
    ax.set_xlabel("level (the cascade runs left to right: s → d)")
    ax.set_ylabel("differential entropy (bits / latent vector)")
    ax.set_title(
        f"Kozachenko–Leonenko estimate, k={result.k}, ties={result.ties}, "
        f"dim={result.dims} (★ = after quantization)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def efficiency_plot(tables, paper: dict, path: str | Path) -> Path:
    """Reductions (%) per node for each model: ours (bars) and the paper's (black ticks)."""
    keys = [("flops", "FLOPs"), ("params", "params"), ("memory", "peak memory"), ("time", "time")]
    fig = Figure(figsize=(5.5 * len(tables), 4.2))
    axes = fig.subplots(1, len(tables), squeeze=False)
    for ax, tab in zip(axes[0], tables):
        width = 0.2
        for j, (key, label) in enumerate(keys):
            xs = [n.node + (j - 1.5) * width for n in tab.nodes]
            vals = [n.reductions()[key] for n in tab.nodes]
            ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=label)
            ref = paper.get(tab.model)
            if ref:
                ax.plot(xs, [ref[n.node - 1][j] for n in tab.nodes], "k_", ms=9)
        ax.set_ylim(0, 105)
        ax.set_xticks([n.node for n in tab.nodes])
        ax.set_xlabel("node")
        ax.set_ylabel("reduction HCF vs DRF (%)")
        ax.set_title(
            f"{tab.model} ({tab.device}, {tab.image_size[1]}×{tab.image_size[0]})", fontsize=9
        )
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Per-node reduction, HCF vs DRF (black ticks: paper Table 3)", fontsize=10)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
