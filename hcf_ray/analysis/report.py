"""``hcf-sim report``: every analysis of the paper on one image folder, as ``report.md``.

:func:`build_report` runs the six analyses (policy table, entropy, BD table, efficiency,
cross-quality, ablation) plus the RD curves on the shipped (or any) models, writes
``report.md``, ``report.json`` and the PNG plots into the output folder, and puts the paper's
numbers next to ours. All RD numbers come from real bitstreams (:mod:`.runner`).

This module runs the analyses; :mod:`.report_tables` turns their results into table data,
:mod:`.report_render` lays the data out with the Jinja2 templates in ``templates/``,
:mod:`.report_plots` draws the PNGs and :mod:`.report_json` writes ``report.json``. The
paper's numbers are data (:func:`hcf_ray.reference.paper_values`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hcf_ray.analysis import report_tables as tables
from hcf_ray.analysis.ablation import ablation
from hcf_ray.analysis.crossq import cross_quality
from hcf_ray.analysis.efficiency import (
    KODAK_SIZE,
    EfficiencyTable,
    cheng2020_models,
    efficiency_table,
)
from hcf_ray.analysis.entropy import entropy_analysis
from hcf_ray.analysis.policies import policy_table
from hcf_ray.analysis.rd import rd_comparison
from hcf_ray.analysis.report_header import header_facts, training_notes
from hcf_ray.analysis.report_json import report_json
from hcf_ray.analysis.report_plots import report_plots
from hcf_ray.analysis.report_render import render_report
from hcf_ray.analysis.runner import Evaluator, crop_items, load_items
from hcf_ray.bundle import ModelBundle, load_bundle
from hcf_ray.errors import InputError
from hcf_ray.images import image_files
from hcf_ray.reference import paper_values

SECTIONS = (
    "1. Policy comparison (Table 1)",
    "2. Differential-entropy analysis (Fig. 3)",
    "3. BD table (Table 2)",
    "4. Efficiency (Table 3)",
    "5. Cross-quality adaptation (Table 4)",
    "6. Ablation (Fig. 6)",
    "7. Rate–distortion curves",
)
CHENG_ARCHS = ("cheng2020-attn", "cheng2020-anchor")
QUICK_CPU_EFFICIENCY_SIZE = (256, 384)  # (H, W): a quarter of a Kodak image, for --quick


@dataclass
class ReportConfig:
    """What to run.

    Defaults fit a 30-minute budget on 2 CPU cores with the shipped models: every image is
    centre-cropped to ``crop`` px (640: about a Kodak image's pixel count; None = full size)
    and the policy table (50 policies + 10 references per image) runs on the first
    ``policy_images`` images (None = all) at ``policy_crop`` px; efficiency is measured on a
    Kodak-size input. ``quick``: 2 images at 512 px, the shipped models' efficiency at
    256×384, no full-size cheng2020 timing (its parameter / FLOP counts are still measured).
    """

    image_dirs: Sequence[str | Path]
    out: str | Path
    models: str = "default"
    quick: bool = False
    max_images: int | None = None
    crop: int | None = 640
    policy_crop: int | None = 512
    policy_images: int | None = None
    n_q_values: tuple[int, ...] = (2, 3, 4)
    entropy_source: int = 4
    entropy_k: int = 1
    entropy_ties: str = "drop"
    entropy_max_samples: int | None = 4096
    efficiency_size: tuple[int, int] | None = None  # None: Kodak 512×768 (quick CPU: 256×384)
    efficiency_repeats: int = 3
    full_size_timing: bool | None = None  # None: not in quick mode
    baselines: Sequence[str] | None = None  # None: every hcf_ray.pcf baseline
    tail_model: str = "default"
    device: str | None = None  # efficiency measurements; None: cuda if available
    cache_bytes: int = 1 << 30

    def resolved(self) -> ReportConfig:
        """Apply the quick-mode and device defaults."""
        c = ReportConfig(**self.__dict__)
        if c.quick:
            c.max_images = min(c.max_images or 2, 2)
            c.crop = 512 if not c.crop or c.crop > 512 else c.crop
            c.entropy_max_samples = min(c.entropy_max_samples or 2048, 2048)
            c.efficiency_repeats = min(c.efficiency_repeats, 2)
        if c.full_size_timing is None:
            c.full_size_timing = not c.quick
        if c.device is None:
            c.device = "cuda" if torch.cuda.is_available() else "cpu"
        if c.efficiency_size is None:
            cpu_quick = c.quick and not c.device.startswith("cuda")
            c.efficiency_size = QUICK_CPU_EFFICIENCY_SIZE if cpu_quick else KODAK_SIZE
        if c.crop and c.policy_crop and c.policy_crop >= c.crop:
            c.policy_crop = None
        return c


@dataclass
class ReportResult:
    path: Path
    sections: list[str]
    plots: list[Path]
    seconds: dict[str, float] = field(default_factory=dict)


# -- running ---------------------------------------------------------------------------------
def build_report(
    config: ReportConfig, progress: Callable[[str], None] | None = None
) -> ReportResult:
    """Run every analysis and write ``report.md`` / ``report.json`` / PNGs into ``out``."""
    cfg = config.resolved()
    say = progress or (lambda _m: None)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = [Path(d) for d in cfg.image_dirs]
    if not dirs:
        raise InputError("no image folder given")
    files = {d: image_files(d)[: cfg.max_images] for d in dirs}
    bundle = load_bundle(cfg.models)
    training = training_notes(cfg.models)  # read with the weights, not at the end of the run
    if bundle.phis is None:
        raise InputError(f"models {cfg.models!r} have no φ modules: HCF cannot run")
    s = bundle.max_level
    if s < 3:
        raise InputError(f"the report needs a ladder with at least 3 levels, got {s}")
    ev = Evaluator(bundle, cache_bytes=cfg.cache_bytes, tail_model=cfg.tail_model)
    items = {d: load_items(files[d], cfg.crop) for d in dirs}
    main_items = items[dirs[0]]
    seconds: dict[str, float] = {}

    def timed(name: str, fn):
        say(f"[{name}]")
        t0 = time.perf_counter()
        res = fn()
        seconds[name] = time.perf_counter() - t0
        say(f"[{name}] {seconds[name]:.0f} s")
        return res

    rd = {
        d: timed(
            f"BD / RD curves: {d.name}",
            lambda d=d: rd_comparison(ev, items[d], d.name, cfg.baselines, s, say),
        )
        for d in dirs
    }
    abl = timed("ablation", lambda: ablation(ev, main_items, s, progress=say))
    xq = timed("cross-quality", lambda: cross_quality(ev, main_items, s, progress=say))
    es = min(cfg.entropy_source, s)
    ent = timed(
        "entropy",
        lambda: entropy_analysis(
            ev,
            main_items,
            s=es,
            d=1,
            n_q=2,
            k=cfg.entropy_k,
            ties=cfg.entropy_ties,
            max_samples=cfg.entropy_max_samples,
            progress=say,
        ),
    )
    pol_items = crop_items(main_items[: cfg.policy_images], cfg.policy_crop)
    pol = timed(
        "policies",
        lambda: policy_table(ev, pol_items, s, cfg.n_q_values, progress=say),
    )
    eff = timed("efficiency", lambda: _efficiency(bundle, cfg, say))
    say(f"memo: {ev.engine.steps_run} steps run, {ev.engine.steps_reused} reused")

    plot_paths = report_plots(out, rd, abl, xq, ent, pol, eff, bundle.ladder.arch)
    paper = paper_values()
    md = render_report(
        sections=SECTIONS,
        cfg=cfg,
        h=header_facts(cfg, bundle, dirs, items, seconds, ev, training),
        overlay=bundle.hcf_ladder is not None,
        plots={k: p.name for k, p in plot_paths.items()},
        rd_plots=[(d.name, plot_paths[f"rd:{d}"].name) for d in rd],
        p=tables.policies_section(pol, paper),
        ent=tables.entropy_section(ent, paper),
        bd=tables.bd_section(rd, paper),
        eff=tables.efficiency_section(eff, paper),
        crossq=tables.crossq_rows(xq, paper),
        abl=tables.ablation_section(abl, paper),
    )
    path = out / "report.md"
    path.write_text(md)
    data = report_json(cfg, seconds, rd, abl, xq, ent, pol, eff)
    (out / "report.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    return ReportResult(path, list(SECTIONS), list(plot_paths.values()), seconds)


def _efficiency(bundle: ModelBundle, cfg: ReportConfig, say) -> list[EfficiencyTable]:
    result = []
    nodes = min(5, bundle.max_level - 1)
    result.append(
        efficiency_table(
            bundle.ladder,
            bundle.phis,
            f"{'shipped' if cfg.models == 'default' else 'models'} ({cfg.models})",
            cfg.efficiency_size,
            cfg.device,
            cfg.efficiency_repeats,
            measure=True,
            nodes=nodes,
            progress=say,
        )
    )
    for arch in CHENG_ARCHS:
        ladder, phis = cheng2020_models(arch)
        size = cfg.efficiency_size if cfg.full_size_timing else (128, 128)
        result.append(
            efficiency_table(
                ladder,
                phis,
                arch,
                size,
                cfg.device,
                cfg.efficiency_repeats,
                measure=bool(cfg.full_size_timing),
                progress=say,
            )
        )
        del ladder, phis
    return result
