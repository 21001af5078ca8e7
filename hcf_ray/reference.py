"""Published rate–distortion curves shipped as data (CompressAI zoo results, DPICT)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

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
        raise ValueError(
            f"unknown reference dataset {dataset!r}; choose from {', '.join(DATASETS)}"
        )
    text = resources.files("hcf_ray.data").joinpath(DATASETS[dataset]).read_text()
    return json.loads(text)["curves"]


def reference_names(dataset: str = "kodak") -> list[str]:
    return sorted(_load(dataset))


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
