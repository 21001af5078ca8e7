"""A search's outputs: ``search.json`` and the printed table (its figure is
:func:`hcf_ray.sim.figures.search_figure`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hcf_ray.sim.search.objective import FRONT, FRONT_TEXT, METRICS, Objective, SearchError
from hcf_ray.sim.search.run import SearchResult
from hcf_ray.sim.search.space import Candidate, Target, levels_text


def search_json(result: SearchResult) -> dict:
    """``search.json``: every candidate with its metrics and ``pareto`` flag, the references,
    the objective's pick per target; host-dependent figures under ``wall``."""
    sc = result.scenario
    from hcf_ray.sim.pipeline import bundle_hash

    targets = []
    for t in result.targets:
        targets.append(
            {
                "flow": t.flow,
                "destination": t.destination,
                "source_level": t.source_level,
                "target_level": t.level,
                "path": list(t.path),
                "hops": t.hops,
                "n_q_values": list(t.n_q_values),
                "methods": list(t.methods),
                "images": t.images,
                "candidates": [
                    {
                        "id": c.id,
                        "method": c.method,
                        "n_q": c.n_q,
                        "vector": list(c.vector.bits),
                        "transmission_levels": list(c.vector.transmission_levels),
                        "levels": list(c.levels),
                        "metrics": c.metrics,
                        "pareto": c.pareto,
                        "dominated_by": c.dominated_by,
                        "references": c.refs,
                        "error": c.error,
                    }
                    for c in t.candidates
                ],
                "front": [c.id for c in t.front],
                "infeasible": t.infeasible,
                "policies": [
                    {"name": p.name, "spec": p.label, "where": p.where, "sha256": p.sha256}
                    for p in t.policies
                ],
                "references": t.references,
                "chosen": _chosen(t, result.objective),
            }
        )
    return {
        "name": sc.config.name,
        "config": sc.source,
        "timing": sc.timing,
        "transport": sc.transport,
        "codec": {"used": sc.codec.spec, "bundle_sha256": bundle_hash(sc)},
        "front_axes": {m: "max" if sign > 0 else "min" for m, sign in FRONT},
        "metrics": METRICS,
        "objective": str(result.objective) if result.objective else None,
        "targets": targets,
        "wall": result.wall,
    }


def _chosen(t: Target, objective: Objective | None) -> dict | None:
    if objective is None:
        return None
    c = t.chosen
    if c is None:
        return {"id": None, "reason": t.chosen_reason or "no candidate satisfies the constraints"}
    return {"id": c.id, "method": c.method, "vector": list(c.vector.bits), "levels": list(c.levels)}


def format_search(result: SearchResult) -> str:
    """The printed report: per target the front as a table, edge/late, the pick."""
    out = []
    for t in result.targets:
        done = [c for c in t.candidates if c.metrics is not None]
        out.append(
            f"{t.title} ({'/'.join(t.methods)}; levels {t.source_level}→{t.level}, {t.hops} "
            f"hop(s) {'→'.join(t.path)}, n_q {','.join(map(str, t.n_q_values))}): "
            f"{_count(len(t.candidates), 'candidate')}"
            + (f" ({len(t.infeasible)} more infeasible)" if t.infeasible else "")
            + f", {len(t.front)} on the Pareto front ({FRONT_TEXT}; "
            f"mean over {len(t.images)} image(s))"
        )
        head = (
            f"  {'#':>4} {'method':<7}{'n_q':>3}  {'π':<{_w(t, 'vec')}}  "
            f"{'levels/hop':<{_w(t, 'lv')}}{'PSNR dB':>9}{'bpp':>8}{'latency ms':>12}"
            f"{'link kB/img':>13}{'compute ms':>12}{'energy J':>10}  reference"
        )
        out.append(head)
        out.append("  " + "-" * (len(head) - 2))
        for c in sorted(t.front, key=lambda c: (c.metrics["bpp"], -c.metrics["psnr"], c.id)):
            out.append(_row(t, c))
        for c in t.candidates:
            if c.error:
                out.append(f"  {c.id:>4} {c.method:<7}{c.n_q:>3}  {c.label}: failed: {c.error}")
        out += _reference_lines(t, done)
        if result.objective is not None:
            c = t.chosen
            if c is None:
                why = t.chosen_reason or "no candidate satisfies it"
                out.append(f"  objective {result.objective}: {why}")
            else:
                m = c.metrics
                out.append(
                    f"  objective {result.objective}: #{c.id} {c.method} {c.label} "
                    f"(PSNR {m['psnr']:.2f} dB, {m['bpp']:.4f} bpp, {m['latency_ms']:.1f} ms, "
                    f"{m['energy_j']:.3f} J, {m['link_bytes'] / 1000:.1f} kB/img"
                    + (", on the front)" if c.pareto else ", dominated)")
                )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _reference_lines(t: Target, done: list[Candidate]) -> list[str]:
    """One line per distinct reference placement (edge and late coincide at the extreme
    n_q), with the position of each method's candidate; the infeasible ones on one line."""
    groups: dict[tuple, list[dict]] = {}
    for ref in t.references:
        key = tuple(ref["levels"]) if ref["levels"] is not None else ("-", ref["policy"])
        groups.setdefault(key, []).append(ref)
    lines, infeasible = [], []
    for levels, refs in groups.items():
        names = " = ".join(dict.fromkeys(_ref_name(r) for r in refs))
        if all(r["position"] == "infeasible" for r in refs):
            infeasible.append((names, refs[0]))
            continue
        wheres = {}
        for m in dict.fromkeys(r["method"] for r in refs):
            ref = next(r for r in refs if r["method"] == m)
            if ref["position"] == "front":
                where = f"#{ref['candidate']} on the front"
            elif ref["position"] == "dominated":
                by = ref["dominated_by"]
                first = next(c for c in done if c.id == by[0])
                where = f"#{ref['candidate']} dominated by #{first.id} ({first.method} " + (
                    f"{first.label})" + (f" and {len(by) - 1} more" if len(by) > 1 else "")
                )
            elif ref["position"] == "failed":
                where = f"#{ref['candidate']} failed"
            else:
                where = f"{ref['position']} ({ref['reason']})"
            wheres[m] = where
        if len(set(wheres.values())) == 1:
            parts = [next(iter(wheres.values()))]
        else:
            parts = [f"{m} {w}" for m, w in wheres.items()]
        lines.append(f"  {names} {refs[0]['vector']} {levels_text(levels)}: {'; '.join(parts)}")
    if infeasible:
        names = ", ".join(n for n, _ in infeasible)
        _, ref = infeasible[0]
        shown = levels_text(ref["levels"]) if ref["levels"] is not None else ref["policy"]
        lines.append(f"  infeasible here: {names} (e.g. {shown}: {ref['reason']})")
    return lines


def _ref_name(ref: dict) -> str:
    """``edge n_q=2``; a listed policy: ``policy NAME n_q=2`` (``policy NAME`` when it has no
    plan here)."""
    if not ref.get("listed"):
        return f"{ref['policy']} n_q={ref['n_q']}"
    return f"policy {ref['policy']}" + (f" n_q={ref['n_q']}" if ref["n_q"] is not None else "")


def _w(t: Target, what: str) -> int:
    if what == "vec":
        return max([2, *(len(str(c.vector)) for c in t.candidates)])
    return max([10, *(len(levels_text(c.levels)) for c in t.candidates)])


def _row(t: Target, c: Candidate) -> str:
    m = c.metrics
    mark = "*" if t.chosen is c else " "
    return (
        f" {mark}{c.id:>4} {c.method:<7}{c.n_q:>3}  {c.vector!s:<{_w(t, 'vec')}}  "
        f"{levels_text(c.levels):<{_w(t, 'lv')}}{m['psnr']:>9.2f}{m['bpp']:>8.4f}"
        f"{m['latency_ms']:>12.1f}{m['link_bytes'] / 1000:>13.1f}{m['compute_ms']:>12.1f}"
        f"{m['energy_j']:>10.3f}  {_ref_names(c.refs)}"
    ).rstrip()


def _ref_names(refs: Sequence[str]) -> str:
    """``["edge n_q=1", "late n_q=1", "edge n_q=2"]`` → ``"edge=late n_q=1, edge n_q=2"``."""
    by_n: dict[str, list[str]] = {}
    for r in refs:
        name, _, n = r.rpartition(" n_q=")
        by_n.setdefault(n, []).append(name)
    return ", ".join(f"{'='.join(names)} n_q={n}" for n, names in by_n.items())


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def write_search(result: SearchResult, out_dir: str | Path) -> list[Path]:
    """``search.json``, ``search.pdf`` and ``search.png`` in ``out_dir``."""
    from hcf_ray.sim.figures import plot_search
    from hcf_ray.sim.outdir import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = search_json(result)
    write_json_atomic(out / "search.json", doc)
    if not any(c.metrics for t in result.targets for c in t.candidates):
        return [out / "search.json"]  # every candidate failed: nothing to draw
    return [out / "search.json", *plot_search(doc, out)]


INPUTS = "inputs"  # the key of a search identity's {file: sha256}


def search_identity(scenario, targets: Sequence[Target]) -> dict:
    """What a search's candidates are a function of (``--resume`` with anything else is
    refused): the run's identity, every target's n_q values and methods, its listed policies
    (name, spec, file sha256), and under
    ``"inputs"`` the sha256 of every file the search reads (:mod:`hcf_ray.sim.inputs`)."""
    from hcf_ray.sim.driver import run_identity, run_inputs
    from hcf_ray.sim.search.policies import identity as policies_identity

    out = {
        **run_identity(scenario),
        "search": [[t.flow, t.destination, list(t.n_q_values), list(t.methods)] for t in targets],
    }
    if any(t.policies for t in targets):  # listed policies (none: as searches before them)
        out["policies"] = policies_identity(targets)
    return {**out, INPUTS: run_inputs(scenario)}


def _split(identity: dict | None) -> tuple[str, dict[str, str]]:
    """The config digest of an identity and its input files."""
    from hcf_ray.sim.outdir import config_digest

    identity = dict(identity or {})
    inputs = identity.pop(INPUTS, {})
    return config_digest(identity), inputs


def check_out_dir(
    path: str | Path, overwrite: bool, resume: bool = False, identity: dict | None = None
) -> Path:
    """The output folder: new or empty; anything with ``overwrite``; with ``resume``, one
    that a search of the same ``identity`` wrote (its codec work in ``cache/`` is reused)."""
    from hcf_ray.sim.outdir import identity_problem

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SearchError(f"--out {p}: exists and is not a folder")
    busy = p.is_dir() and any(p.iterdir())
    if busy and not (overwrite or resume):
        raise SearchError(
            f"--out {p} is not empty; use --resume to complete its search or --overwrite to "
            "replace its search files"
        )
    if busy and resume:
        problem = identity_problem(p, *_split(identity), same="config and options")
        if problem is not None:
            raise SearchError(problem)
    return p


def open_out_dir(path: Path, identity: dict) -> Path:
    """Create the folder and name the search it holds (``run.json``), before any work."""
    from hcf_ray.sim.outdir import MANIFEST, manifest, write_json_atomic

    path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path / MANIFEST, manifest(*_split(identity)))
    return path
