"""Published rate–distortion curves shipped as data (CompressAI zoo results, DPICT)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from hcf_ray.errors import InputError

DATASETS = {"kodak": "compressai_kodak.json", "clic2020": "compressai_clic2020.json"}


@dataclass(frozen=True)
class RDCurve:
    name: str
    bpp: tuple[float, ...]
    psnr: tuple[float, ...]
    ms_ssim: tuple[float, ...] | None = None  # linear MS-SSIM in [0, 1]
    dataset: str = ""


@cache
def _load(dataset: str) -> dict:
    if dataset not in DATASETS:
        raise InputError(
            f"unknown reference dataset {dataset!r}; choose from {', '.join(DATASETS)}"
        )
    text = resources.files("hcf_ray.data").joinpath(DATASETS[dataset]).read_text()
    return json.loads(text)["curves"]


def reference_curve(key: str, dataset: str = "kodak") -> RDCurve:
    """A CompressAI results curve, e.g. ``compressai-bmshj2018-hyperprior_mse_cuda``."""
    curves = _load(dataset)
    if key not in curves:
        raise KeyError(f"no reference curve {key!r} for {dataset}")
    c = curves[key]
    res = c["results"]
    ms = res.get("ms-ssim-rgb")
    return RDCurve(
        c.get("name", key),
        tuple(res["bpp"]),
        tuple(res["psnr-rgb"]),
        tuple(ms) if ms else None,
        dataset,
    )


def dpict_curve() -> RDCurve:
    """DPICT (CVPR 2022) Kodak PSNR curve, sorted by rate."""
    text = (
        resources.files("hcf_ray.data")
        .joinpath("dpict_kodak_psnr.csv")
        .read_text(encoding="utf-8-sig")
    )
    rows = sorted((float(r[0]), float(r[1])) for r in csv.reader(text.splitlines()) if r)
    return RDCurve("DPICT", tuple(r[0] for r in rows), tuple(r[1] for r in rows), None, "kodak")


@dataclass(frozen=True)
class PaperValues:
    """The HCF paper's published numbers (Tables 1–4, Figs. 3 and 6), keyed for lookup.

    ``table1``: (n_q, d, policy) → (bpp, PSNR, MS-SSIM dB, η_PSNR, η_MS-SSIM);
    ``fig3_jumps``: policy → (level of the first quantization, jump there, final jump), bits;
    ``table2``: method → (Kodak BD-rate %, Kodak BD-PSNR dB, CLIC BD-rate %, CLIC BD-PSNR dB),
    ``table2_ours``: our method name → the paper's row for it;
    ``table3``: arch → per node (FLOPs, params, memory, time) reductions in %;
    ``table4``: (source k, anchor k+1) → (BD-rate_P, BD-rate_M) %;
    ``fig6``: the ablation's qualitative findings, ``fig6_worse_at``: variant → "low"/"high".
    """

    table1: dict[tuple[int, int, str], tuple[float, ...]]
    fig3_jumps: dict[str, tuple[int, float, float]]
    fig3_latent_channels: int
    table2: dict[str, tuple[float, ...]]
    table2_ours: dict[str, str]
    table3: dict[str, list[tuple[float, ...]]]
    table4: dict[tuple[int, int], tuple[float, ...]]
    fig6: str
    fig6_worse_at: dict[str, str]


@cache
def paper_values() -> PaperValues:
    """The paper's numbers from ``hcf_ray/data/paper_reference.json``."""
    raw = json.loads(resources.files("hcf_ray.data").joinpath("paper_reference.json").read_text())
    t2 = raw["table2"]["rows"]
    return PaperValues(
        table1={(r["n_q"], r["d"], r["policy"]): tuple(r["values"]) for r in raw["table1"]["rows"]},
        fig3_jumps={r["policy"]: tuple(r["values"]) for r in raw["fig3"]["rows"]},
        fig3_latent_channels=raw["fig3"]["latent_channels"],
        table2={r["method"]: tuple(r["values"]) for r in t2},
        table2_ours={r["ours"]: r["method"] for r in t2 if "ours" in r},
        table3={k: [tuple(v) for v in rows] for k, rows in raw["table3"]["models"].items()},
        table4={
            (r["source"], r["anchor_source"]): tuple(r["values"]) for r in raw["table4"]["rows"]
        },
        fig6=raw["fig6"]["findings"],
        fig6_worse_at=dict(raw["fig6"]["worse_at"]),
    )
