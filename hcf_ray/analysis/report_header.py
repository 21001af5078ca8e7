"""The facts of the report's header: models, images, the run, and the models' training."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from hcf_ray.analysis.runner import Evaluator, ImageItem
from hcf_ray.bundle import ModelBundle


def header_facts(
    cfg,
    b: ModelBundle,
    dirs: list[Path],
    items: dict[Path, list[ImageItem]],
    seconds: dict[str, float],
    ev: Evaluator,
    training: list[dict],
) -> dict:
    """Models, images, run statistics, training notes and memo statistics, unformatted."""
    main = items[dirs[0]]
    return {
        "arch": b.ladder.arch,
        "max_level": b.max_level,
        "widths": sorted(
            {(c.model.N, c.latent_channels) for c in b.ladder if hasattr(c.model, "N")}
        ),
        "phi": b.phis.config,
        "n_phi": b.phis.num_parameters(b.max_level, "inter"),
        "overlay": b.hcf_ladder is not None,
        "folders": [(d, len(items[d])) for d in dirs],
        "first_size": main[0].size if main else (0, 0),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "seconds": seconds,
        "training": training,
        "steps_reused": ev.engine.steps_reused,
        "steps_total": ev.engine.steps_run + ev.engine.steps_reused,
        "random_models": cfg.models.startswith("random:"),
    }


def training_notes(spec: str) -> list[dict]:
    """What the bundle's manifests say about its training (shipped / directory bundles).

    One dict per manifest that has a ``training`` record: ``what`` (codec ladder / φ modules)
    and, where recorded, ``hours``, ``jobs`` / ``sessions``, ``phase1_iters`` /
    ``phase1_done`` and ``phase2_done``.
    """
    from hcf_ray.bundle import DEFAULT_SPEC, default_weights_dir

    path = default_weights_dir() if spec == DEFAULT_SPEC else Path(spec)
    notes = []
    for name, what in (("ladder.json", "codec ladder"), ("phi.json", "φ modules")):
        try:
            train = json.loads((path / name).read_text()).get("training") or {}
        except (OSError, ValueError):
            continue
        if not train:
            continue
        recipe = train.get("recipe") or {}
        sessions = train.get("sessions") or [train]
        note = {
            "what": what,
            "hours": train.get("hours"),
            "jobs": sum(t.get("jobs_done", 0) for t in sessions),
            "sessions": len(sessions),
            "phase1_iters": recipe.get("phase1_iters"),
            "phase1_done": train.get("phase1_done", "?"),
        }
        if "phase2_done" in train:
            note["phase2_done"] = train["phase2_done"] or "none"
        notes.append(note)
    return notes
