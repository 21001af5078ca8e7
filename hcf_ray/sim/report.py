"""Aggregating records into ``summary.json`` and the printed per-flow, per-method tables."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from hcf_ray.demo_models import models_record
from hcf_ray.sim.provenance import git_commit
from hcf_ray.sim.scenario import Scenario


def spread(values: Iterable[float]) -> dict:
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return {"n": 0}
    return {
        "n": len(v),
        "mean": statistics.fmean(v),
        "std": statistics.pstdev(v) if len(v) > 1 else 0.0,
        "min": v[0],
        "p50": _pct(v, 50),
        "p95": _pct(v, 95),
        "max": v[-1],
    }


def _pct(v: list[float], q: float) -> float:
    k = (len(v) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def _mean(values: Iterable[float]) -> float | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return statistics.fmean(v) if v else None


def summarize(
    scenario: Scenario,
    records: list[dict],
    worlds: Mapping[str, Any],
    status: str,
    error: str | None,
    wall: dict,
    bundle_sha256: str,
) -> dict:
    """``summary.json``: per flow/method/destination means, links, nodes, provenance.

    Everything outside the ``wall`` key is a function of the inputs (with ``timing:
    profile``); ``wall`` holds what depends on the host: wall-clock times, placement, cache.
    """
    by: dict[tuple, list[dict]] = defaultdict(list)
    failed: dict[tuple, int] = defaultdict(int)
    for r in records:
        if r.get("status", "ok") == "ok":
            by[r["flow"], r["method"], r["destination"]].append(r)
        else:
            failed[r["flow"], r["method"], r["destination"]] += 1
    flows = {}
    for f in scenario.flows:
        methods = {}
        named = {d.node: d for d in f.spec.destinations}
        for m in f.methods:
            plan = scenario.plan(f.spec.name, m)
            dests = {}
            for d in plan.destinations:
                rs = by.get((f.spec.name, m, d.node), [])
                dests[d.node] = {
                    "level": d.level,
                    "policy": _named(named.get(d.node), m, d.policy),
                    "policy_spec": d.policy,
                    "path": list(d.path),
                    "levels": list(d.levels),
                    "images": len(rs),
                    "failed": failed.get((f.spec.name, m, d.node), 0),
                    "bpp": _mean(r["bpp"] for r in rs),
                    "psnr": _mean(r["psnr"] for r in rs),
                    "ms_ssim_db": _mean(r["ms_ssim_db"] for r in rs),
                    "latency_s": spread(r["latency_s"] for r in rs),
                    "latency_breakdown": {
                        k: _mean(r["latency_breakdown"][k] for r in rs) for k in BREAKDOWN
                    },
                    "compute_s": _mean(r["compute_s"] for r in rs),
                    "flops": _mean(r["flops"] for r in rs),
                    "energy_j": _mean(r["energy_j"] for r in rs),
                    "total_bytes": _mean(r["total_bytes"] for r in rs),
                }
            world = worlds.get(m)
            units = [u for u in (world.per_unit if world else []) if u["flow"] == f.spec.name]
            methods[m] = {
                "destinations": dests,
                "per_image": _per_image(units),
                "plan": plan.describe().splitlines(),
            }
        flows[f.spec.name] = {
            "source": f.spec.source,
            "source_level": f.spec.source_level,
            "images": [p.name for p in f.images],
            "methods": methods,
        }
    cfg = scenario.config
    profiles = {}
    for dev in scenario.devices.values():
        p = dev.profile
        profiles.setdefault(
            p.sha256,
            {
                "label": p.label,
                "path": str(p.path),
                "device": p.meta.get("device"),
                "torch": p.meta.get("torch"),
                "models": p.meta.get("models"),
            },
        )
    return {
        "name": cfg.name,
        "config": scenario.source,
        "status": status,
        "error": error,
        "timing": scenario.timing,
        "timing_note": TIMING_NOTES[scenario.timing],
        "codec": {
            "requested": scenario.codec.requested,
            "used": scenario.codec.spec,
            "max_level": scenario.codec.max_level,
            "bundle_sha256": bundle_sha256,
        },
        "models": models_record(scenario.codec.requested, scenario.codec.spec, bundle_sha256),
        "pricing": {
            "profiles": profiles,
            "devices": {n: d.describe() for n, d in scenario.devices.items()},
        },
        "seeds": {"links": cfg.seed},
        **dynamics_section(
            scenario, max((w.stats["horizon_s"] for w in worlds.values()), default=0.0)
        ),
        "version": package_version(),
        "git_commit": git_commit(),
        "resolved_config": cfg.model_dump(mode="json"),
        "transport": scenario.transport,
        "warnings": scenario.warnings,
        "records": len(records),
        "flows": flows,
        "links": {m: w.stats["links"] for m, w in worlds.items()},
        "nodes": {m: w.stats["nodes"] for m, w in worlds.items()},
        "horizon_s": {m: w.stats["horizon_s"] for m, w in worlds.items()},
        "memory_method": (
            "peak_mem_mb per node: the largest allocator peak of its ops in the cost profile "
            "(PyTorch allocator on CPU, torch.cuda.max_memory_allocated on GPU)"
        ),
        "wall": wall,
    }


def summarize_worlds(
    scenario: Scenario,
    per_world: list[tuple[Scenario, list[dict], Mapping[str, Any]]],
    status: str,
    error: str | None,
    wall: dict,
    bundle_sha256: str,
) -> dict:
    """:func:`summarize` of a run; with several policies (one world each: ``(scenario,
    records, results)`` in ``per_world``) every flow's methods are keyed ``METHOD/POLICY``
    (the world's policy; a method that uses no policy runs once and keeps its name), as are
    ``links``, ``nodes`` and ``horizon_s``; ``policies`` lists the worlds' policies."""
    if len(per_world) == 1:
        w, recs, results = per_world[0]
        return summarize(w, recs, results, status, error, wall, bundle_sha256)
    records = [r for _, recs, _ in per_world for r in recs]
    out: dict | None = None
    for name, (w, recs, results) in zip(scenario.world_names, per_world, strict=True):
        part = summarize(w, recs, results, status, error, wall, bundle_sha256)

        def key(m: str, w=w, name=name) -> str:
            return f"{m}/{name}" if _uses_policy(m) else m

        if out is None:
            out = {**part, "flows": {f: {**v, "methods": {}} for f, v in part["flows"].items()}}
            for field in ("links", "nodes", "horizon_s"):
                out[field] = {}
        for f, v in part["flows"].items():
            out["flows"][f]["methods"].update({key(m): mv for m, mv in v["methods"].items()})
        for field in ("links", "nodes", "horizon_s"):
            out[field].update({key(m): x for m, x in part[field].items()})
    assert out is not None
    out["records"] = len(records)
    out["resolved_config"] = scenario.config.model_dump(mode="json")
    out["policies"] = list(scenario.world_names)
    return out


def _named(dest: Any, method: str, spec: str) -> str:
    """A destination's policy name (records' ``policy``), or the method's own label."""
    if dest is None or not _uses_policy(method):
        return spec
    return getattr(dest, "name", "") or spec


def _uses_policy(method: str) -> bool:
    from hcf_ray.methods import get_method

    try:
        return get_method(method).uses_policy
    except ValueError:
        return False


SERIES_MAX = 2000  # capacity pieces kept per link in summary.json (else bin means)


def capacity_series(cap: Any, t1: float, fmt: str | None = None) -> dict:
    """A link's capacity over ``[0, t1]`` for plots: ``{"from_s", "to_s", "mbps"}`` lists of
    its constant pieces, or, with more than :data:`SERIES_MAX` of them (or a Mahimahi trace,
    whose pieces are milliseconds), the means over :data:`SERIES_MAX` // 2 equal bins
    (``"binned": true``)."""
    pieces = None
    if fmt != "mahimahi":
        pieces = cap.steps(0.0, t1)
        if len(pieces) > SERIES_MAX:
            pieces = None
    binned = pieces is None
    if binned:
        n = SERIES_MAX // 2
        edges = [t1 * i / n for i in range(n + 1)]
        pieces = [(a, b, cap.mean_mbps(a, b)) for a, b in itertools.pairwise(edges)]
    return {
        "from_s": [a for a, _, _ in pieces],
        "to_s": [b for _, b, _ in pieces],
        "mbps": [r for _, _, r in pieces],
        "binned": binned,
    }


def dynamics_section(scenario: Scenario, horizon_s: float = 0.0) -> dict:
    """The summary's link dynamics: ``link_dynamics`` (each directed link whose capacity
    changes or is shared: :func:`hcf_ray.sim.topology.link_dynamics`, with its
    ``capacity_mbps`` over the run, :func:`capacity_series`, when ``horizon_s`` > 0), ``traces`` (each trace
    file once, as the config spells it, with its sha256, format and the offsets and links it
    drives), ``demands`` (the traffic matrix file and its sha256, or None),
    ``links_at_capacity`` (link → why) and ``oracle``."""
    from hcf_ray.sim.inputs import file_sha256
    from hcf_ray.sim.topology import link_dynamics

    cfg = scenario.config
    dyn = link_dynamics(scenario.topology)
    if horizon_s > 0 and math.isfinite(horizon_s):
        for (u, v), ln in scenario.topology.dynamic_links.items():
            fmt = (dyn[f"{u}->{v}"].get("trace") or {}).get("format")
            dyn[f"{u}->{v}"]["capacity_mbps"] = capacity_series(ln.capacity, horizon_s * 1.02, fmt)
    traces: dict[str, dict] = {}
    for name, d in dyn.items():
        bg = d.get("background") or {}
        for role, tr in (("capacity", d.get("trace")), ("background", bg.get("trace"))):
            if not tr:
                continue
            entry = traces.setdefault(
                tr["file"], {"file": tr["file"], "sha256": tr["sha256"], "format": tr["format"]}
            )
            entry.setdefault("uses", []).append(
                {"link": name, "role": role, "offset_s": tr["offset_s"], "loop": tr["loop"]}
            )
    demands = None
    if cfg.demands is not None:
        demands = {"file": cfg.as_written(cfg.demands), "sha256": file_sha256(cfg.demands)}
    return {
        "link_dynamics": dyn,
        "traces": list(traces.values()),
        "demands": demands,
        "links_at_capacity": {
            f"{u}->{v}": why for (u, v), why in scenario.topology.saturated.items()
        },
        "oracle": cfg.oracle,
    }


BREAKDOWN = ("compute_s", "node_queue_s", "link_queue_s", "transmission_s", "propagation_s")
TIMING_NOTES = {
    "profile": "compute priced by the cost profile of each node's device (deterministic)",
    "measured": "compute = wall clock of each op in the actors on this host (varies run to run)",
}


def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hcf-sim")
    except PackageNotFoundError:
        return None


def _per_image(units: list[dict]) -> dict:
    """Per image, over all destinations: link bytes and compute with shared parts once."""
    return {
        "link_bytes": _mean(u["link_bytes"] for u in units),
        "compute_s": _mean(u["compute_s"] for u in units),
        "flops": _mean(u["flops"] for u in units),
        "energy_j": _mean(u["energy_j"] for u in units),
        "latency_s_all_destinations": _mean(u["latency_s"] for u in units),
    }


# -- printing -----------------------------------------------------------------------------
def format_tables(summary: dict) -> str:
    out = []
    for name, f in summary["flows"].items():
        n_img = len(f["images"])
        first = next(iter(f["methods"].values()), {"destinations": {}})
        dests = ", ".join(f"{d}@{v['level']}" for d, v in first["destinations"].items())
        out.append(
            f"flow {name}: {f['source']}@{f['source_level']} → {dests}  "
            f"({n_img} images, transport {summary['transport']}, timing {summary['timing']})"
        )
        w = max([10, *(len(d) + 2 for mv in f["methods"].values() for d in mv["destinations"])])
        mw = max([7, *(len(m) + 1 for m in f["methods"])])  # method names: hcf … drf-webp
        pw = max(
            [
                7,
                *(
                    len(str(v["policy"])) + 1
                    for mv in f["methods"].values()
                    for v in mv["destinations"].values()
                ),
            ]
        )
        pw = min(pw, 25)
        head = (
            f"  {'method':<{mw}}{'policy':<{pw}}{'dest':<{w}}{'lvl':>4}{'bpp':>9}{'PSNR':>8}"
            f"{'MS-SSIM':>9}{'latency ms':>12}{'p95 ms':>9}{'compute ms':>12}{'GFLOP':>8}"
        )
        out.append(head)
        out.append("  " + "-" * (len(head) - 2))
        for m, mv in f["methods"].items():
            for d, v in mv["destinations"].items():
                lat = v["latency_s"]
                out.append(
                    f"  {m:<{mw}}{_short(v['policy'], pw - 1):<{pw}}{d:<{w}}{v['level']:>4}"
                    f"{_f(v['bpp'], 4):>9}{_f(v['psnr'], 2):>8}{_f(v['ms_ssim_db'], 2):>9}"
                    f"{_f(_ms(lat.get('mean')), 1):>12}{_f(_ms(lat.get('p95')), 1):>9}"
                    f"{_f(_ms(v['compute_s']), 1):>12}{_f(_g(v['flops']), 2):>8}"
                )
        out.append(
            f"  {'method':<{mw}}{'link bytes/img':>16}{'compute ms/img':>16}{'GFLOP/img':>11}"
            f"{'all-dest latency ms':>21}{'energy J/img':>14}   (shared work counted once)"
        )
        for m, mv in f["methods"].items():
            p = mv["per_image"]
            out.append(
                f"  {m:<{mw}}{_f(p['link_bytes'], 0):>16}{_f(_ms(p['compute_s']), 1):>16}"
                f"{_f(_g(p['flops']), 2):>11}{_f(_ms(p['latency_s_all_destinations']), 1):>21}"
                f"{_f(p.get('energy_j'), 3):>14}"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def closing_note(summary: dict) -> str:
    tc = summary.get("transport_check")
    if not tc:
        return ""
    same = "identical" if tc["same_reconstruction"] else "DIFFERENT"
    return (
        f"note: transport={summary['transport']}. On {tc['image']} ({tc['flow']}/{tc['method']}"
        f" → {tc['destination']}) latent transport's entropy estimate gives "
        f"{tc['latent_bpp']:.4f} bpp vs {tc['bitstream_bpp']:.4f} bpp of real bitstreams "
        f"({tc['delta_bpp']:+.4f} bpp, {tc['delta_pct']:+.2f}%); reconstructions {same}."
    )


def _short(s: str, n: int) -> str:
    s = str(s)
    if len(s) <= n:
        return s
    tail = s.rsplit(":", 1)[-1] if ":" in s else s  # a policy file: show the class name
    return tail if len(tail) <= n else tail[: n - 1] + "…"


def _f(v, digits: int) -> str:
    """A table cell: ``digits`` decimals, or 3 significant digits (``1.23e+08``) when that
    would be wider than 8 characters, so that extreme values keep the columns aligned."""
    if v is None:
        return "-"
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return "inf" if v > 0 else "-inf" if v < 0 else "nan"
    text = f"{v:.{digits}f}"
    return text if len(text) <= 8 else f"{v:.3g}"


def _ms(v):
    return None if v is None else v * 1000.0


def _g(v):
    return None if v is None else v / 1e9
