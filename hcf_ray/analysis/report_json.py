"""``report.json``: every analysis result of the report as JSON-safe data."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path


def report_json(cfg, seconds: dict[str, float], rd, abl, xq, ent, pol, eff) -> dict:
    """The report's data; non-finite floats become None (see :func:`clean`)."""
    return clean(
        {
            "config": dict(cfg.__dict__),
            "seconds": seconds,
            "policies": {
                "s": pol.s,
                "images": pol.images,
                "summary": pol.summary(),
                "rows": [
                    {
                        "n_q": g.n_q,
                        "d": g.d,
                        "policy": str(r.policy),
                        "edge": r.is_edge,
                        **asdict(r.point),
                        "eta_psnr": r.eta_psnr.value,
                        "eta_msssim": r.eta_msssim.value,
                        "eta_clipped": r.eta_psnr.clipped or r.eta_msssim.clipped,
                    }
                    for g in pol.groups
                    for r in g.rows
                ],
            },
            "entropy": {
                **{k: v for k, v in asdict(ent).items() if k != "curves"},
                "curves": [
                    {
                        "policy": c.policy,
                        "bpp": c.bpp,
                        "points": [
                            {"level": p.level, "quantized": p.quantized, "bits": p.bits}
                            for p in c.points
                        ],
                        "jumps": c.jumps(),
                    }
                    for c in ent.curves
                ],
            },
            "bd": {
                str(f): {
                    "curves": {n: c.to_compressai_json() for n, c in res.curves.items()},
                    "bd": res.bd,
                    "skipped": res.skipped,
                }
                for f, res in rd.items()
            },
            "efficiency": [
                {
                    **{k: v for k, v in asdict(t).items() if k != "nodes"},
                    "nodes": [{**asdict(n), "reductions": n.reductions()} for n in t.nodes],
                }
                for t in eff
            ],
            "cross_quality": {
                "curves": {c.method: c.to_compressai_json() for c in xq.curves.values()},
                "bd": xq.rows,
            },
            "ablation": {
                "curves": {n: c.to_compressai_json() for n, c in abl.curves.items()},
                "bd": abl.bd,
            },
        }
    )


def clean(o):
    """JSON-safe copy: non-finite floats → None, tuples → lists, keys → str."""
    if isinstance(o, dict):
        return {str(k): clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, Path):
        return str(o)
    return o
