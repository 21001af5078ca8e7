"""A model bundle = quality ladder + φ bank, resolved from a short spec string.

Specs accepted everywhere a codec is configured (CLI ``--models``, topology YAML ``codec``):

* ``default`` — the ladder and φ modules shipped in ``hcf_ray/weights/default``;
* a directory path — written by ``QualityLadder.save`` (+ ``PhiBank.save`` for HCF);
* ``zoo:ARCH`` — CompressAI zoo models with ``pretrained=True`` (needs internet), qualities 1..6,
  with untrained full-size φ modules unless a ``phi`` directory is given;
* ``random:ARCH[:N[:M[:LEVELS]]]`` — random init (tiny by default), for tests and dry runs.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from hcf_ray.codecs.ladder import QualityLadder, load_weights, weights_state
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.hcf.bank import PhiBank
from hcf_ray.hcf.modules import PhiConfig

DEFAULT_SPEC = "default"
TINY_PHI = PhiConfig(hidden=16, num_res=2)
OVERLAY_DIR = "hcf"
OVERLAY_MANIFEST = "overlay.json"
# parts of a level re-trained in phase 2 (synthesis + entropy model); g_a is never stored twice
TUNED_PREFIXES = ("g_s.", "h_a.", "h_s.", "entropy_bottleneck.", "gaussian_conditional.")


@dataclass
class ModelBundle:
    """Base ladder (SSF, DRF, HCF's source encoder), φ bank, and the HCF-tuned ladder."""

    ladder: QualityLadder
    phis: PhiBank | None
    spec: str = ""
    hcf_ladder: QualityLadder | None = None

    def engine(self):
        from hcf_ray.cascade import CascadeEngine

        return CascadeEngine(self.ladder, self.phis, self.hcf_ladder)

    @property
    def max_level(self) -> int:
        return self.ladder.max_level


def default_weights_dir() -> Path:
    return Path(str(resources.files("hcf_ray"))) / "weights" / "default"


def load_bundle(spec: str = DEFAULT_SPEC, phi_dir: str | Path | None = None) -> ModelBundle:
    """Resolve a spec (see module doc) into a ladder and φ bank. Raises ValueError on bad specs."""
    if spec == DEFAULT_SPEC:
        path = default_weights_dir()
        if not (path / "ladder.json").is_file():
            raise ValueError(f"no shipped default models found in {path}")
        return _from_dir(path, spec, phi_dir)
    if spec.startswith("random:"):
        parts = spec.split(":")[1:]
        arch = parts[0] or "mbt2018-mean"
        nums = [int(p) for p in parts[1:]]
        N = nums[0] if len(nums) > 0 else 16
        M = nums[1] if len(nums) > 1 else 24
        levels = nums[2] if len(nums) > 2 else 6
        ladder = QualityLadder.random(arch, num_levels=levels, N=N, M=M)
        return ModelBundle(ladder, PhiBank.for_ladder(ladder, TINY_PHI), spec)
    if spec.startswith("zoo:"):
        arch = spec.split(":", 1)[1]
        ladder = QualityLadder.from_zoo(arch, range(1, 7), pretrained=True)
        phis = PhiBank.from_dir(phi_dir) if phi_dir else PhiBank.for_ladder(ladder)
        return ModelBundle(ladder, phis, spec)
    path = Path(spec)
    if not path.is_dir():
        raise ValueError(
            f"codec {spec!r}: not 'default', 'zoo:ARCH', 'random:ARCH' or an existing directory"
        )
    return _from_dir(path, spec, phi_dir)


def _from_dir(path: Path, spec: str, phi_dir: str | Path | None) -> ModelBundle:
    ladder = QualityLadder.from_dir(path)
    phi_path = Path(phi_dir) if phi_dir else path
    phis = PhiBank.from_dir(phi_path) if PhiBank.exists_in(phi_path) else None
    overlay = phi_path / OVERLAY_DIR
    hcf = load_hcf_overlay(ladder, overlay) if (overlay / OVERLAY_MANIFEST).is_file() else None
    return ModelBundle(ladder, phis, spec, hcf)


def save_hcf_overlay(hcf_ladder: QualityLadder, path: str | Path, levels) -> None:
    """Store only the phase-2 tuned parts of the given levels (fp16 weights)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"levels": {}, "prefixes": list(TUNED_PREFIXES)}
    for k in levels:
        state = weights_state(hcf_ladder[k].model, half=True, prefixes=TUNED_PREFIXES)
        torch.save(state, path / f"level{k}.pt")
        manifest["levels"][str(k)] = f"level{k}.pt"
    (path / OVERLAY_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def load_hcf_overlay(base: QualityLadder, path: str | Path) -> QualityLadder:
    """The base ladder with the overlay's tuned parts loaded into copies of its levels."""
    path = Path(path)
    manifest = json.loads((path / OVERLAY_MANIFEST).read_text())
    codecs = []
    for c in base:
        fname = manifest["levels"].get(str(c.level))
        if fname is None:
            codecs.append(c)
            continue
        model = copy.deepcopy(c.model)
        state = torch.load(path / fname, map_location="cpu", weights_only=True)
        try:
            load_weights(model, state, partial=True)
        except ValueError as exc:
            raise ValueError(f"{path / fname}: {exc}") from None
        codecs.append(LevelCodec(model, c.level, c.arch, c.lmbda))
    return QualityLadder(codecs)
