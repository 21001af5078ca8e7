"""A model bundle = quality ladder + φ bank, resolved from a short spec string.

Specs accepted everywhere a codec is configured (CLI ``--models``, topology YAML ``codec``):

* ``default`` — the ladder and φ modules shipped in ``hcf_ray/weights/default``;
* a directory path — written by ``QualityLadder.save`` (+ ``PhiBank.save`` for HCF);
* ``zoo:ARCH[@Q1-Q2]`` — CompressAI zoo models with ``pretrained=True`` (torch hub's cache, or a
  download), qualities 1..6 or Q1..Q2 as levels 1..n, with untrained full-size φ modules unless
  a ``phi`` directory is given;
* ``random:ARCH[:N[:M[:LEVELS]]]`` — random init (tiny by default), for tests and dry runs;
* a bundle directory written by ``train hcf --export``: ``ladder.json`` references the ladder
  (spec + sha256 of each weights file), next to the φ bank and the ``hcf/`` overlay.

The grammar and its checks live in :mod:`hcf_ray.model_spec`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from hcf_ray.codecs.checkpoint import read_state_dict
from hcf_ray.codecs.ladder import (
    MANIFEST,
    QualityLadder,
    build_model,
    load_weights,
    weights_state,
    zoo_level,
)
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.errors import InputError
from hcf_ray.hcf.bank import PhiBank
from hcf_ray.hcf.modules import PhiConfig
from hcf_ray.model_spec import default_weights_dir  # noqa: F401  (re-exported: its old home)

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


def load_bundle(spec: str = DEFAULT_SPEC, phi_dir: str | Path | None = None) -> ModelBundle:
    """Resolve a spec (see module doc) into a ladder and φ bank. Raises ValueError on bad specs."""
    return BundleSource(spec, phi_dir).bundle()


class BundleSource:
    """Where a bundle's models come from; loads any one level (base or HCF-tuned) or the φ
    bank on its own, so a worker can hold only the models its jobs use and load the others
    when they are first needed. :meth:`bundle` loads everything (what :func:`load_bundle`
    returns). The spec is checked by :func:`hcf_ray.model_spec.parse_spec` (a bad one is a
    one-line :class:`~hcf_ray.model_spec.SpecError`, a ValueError)."""

    def __init__(self, spec: str = DEFAULT_SPEC, phi_dir: str | Path | None = None):
        from hcf_ray.model_spec import parse_spec

        self.spec = str(spec)
        self.phi_dir = Path(phi_dir) if phi_dir else None
        self.parsed = parse_spec(self.spec)
        base = self.parsed.base
        self.path: Path | None = self.parsed.path  # the bundle's own dir (φ, overlay)
        self._random: tuple[str, int, int] | None = None
        self._zoo: str | None = None
        self._ladder_dir: Path | None = None
        if base.kind == "random":
            self._random = (base.arch, base.N, base.M)
        elif base.kind == "zoo":
            self._zoo = base.arch
        else:
            self._ladder_dir = base.path
            self._manifest = json.loads((base.path / MANIFEST).read_text())
        self.levels = base.levels
        phi_path = (self.phi_dir or self.path) if self.path is not None else None
        overlay = phi_path / OVERLAY_DIR if phi_path is not None else None
        self._overlay = overlay if overlay and (overlay / OVERLAY_MANIFEST).is_file() else None

    @property
    def max_level(self) -> int:
        return max(self.levels)

    @property
    def has_tuned(self) -> bool:
        """Whether HCF has its own fine-tuned levels (else it uses the base ladder)."""
        return self._overlay is not None

    def level(self, k: int, tuned: bool = False) -> LevelCodec:
        """Level ``k`` of the base ladder, or of the HCF-tuned ladder with ``tuned``."""
        from hcf_ray.model_spec import prepare_level

        if k not in self.levels:
            raise InputError(f"level {k} is outside the ladder's levels 1..{self.max_level}")
        if tuned and self._overlay is not None:
            return _tuned_level(self.level(k), self._overlay)
        if self._random is not None:
            arch, n, m = self._random
            return QualityLadder.random(arch, num_levels=k, N=n, M=m, only=(k,))[k]
        prepare_level(self.parsed, k)  # zoo: fetched (or one-line error); bundle: sha256
        if self._zoo is not None:
            quality = self.parsed.base.qualities[k - 1]
            return zoo_level(self._zoo, quality, level=k)
        assert self._ladder_dir is not None
        return _dir_level(self._ladder_dir, self._manifest, k)

    def ladder(self) -> QualityLadder:
        """The base ladder alone (what a trainer starts from)."""
        return QualityLadder([self.level(k) for k in self.levels])

    def phis(self, ladder: QualityLadder | None = None) -> PhiBank | None:
        """The φ bank, or None when the bundle has none (HCF cannot run). A zoo or random
        ladder without a φ directory gets untrained modules (full-size / tiny)."""
        if self.phi_dir is not None and self._zoo is not None:
            return PhiBank.from_dir(self.phi_dir)
        if self.path is not None:  # a directory: its φ bank (or the phi_dir's) if it has one
            phi_path = self.phi_dir or self.path
            if PhiBank.exists_in(phi_path):
                return PhiBank.from_dir(phi_path)
            if self._ladder_dir is not None:
                return None
        ladder = ladder or self.ladder()
        return PhiBank.for_ladder(ladder, TINY_PHI if self._random else None)

    def bundle(self) -> ModelBundle:
        ladder = self.ladder()
        hcf = None
        if self._overlay is not None:
            hcf = load_hcf_overlay(ladder, self._overlay)
        return ModelBundle(ladder, self.phis(ladder), self.spec, hcf)


def _dir_level(path: Path, manifest: dict, level: int) -> LevelCodec:
    entry = manifest["levels"][str(level)]
    model = build_model(manifest["arch"], entry["N"], entry.get("M"))
    state = read_state_dict(path / entry["file"])
    load_weights(model, state)
    return LevelCodec(model, level, manifest["arch"], entry.get("lambda"))


def _tuned_level(base: LevelCodec, overlay: Path) -> LevelCodec:
    manifest = json.loads((overlay / OVERLAY_MANIFEST).read_text())
    fname = manifest["levels"].get(str(base.level))
    if fname is None:
        return base
    model = copy.deepcopy(base.model)
    state = read_state_dict(overlay / fname)
    try:
        load_weights(model, state, partial=True)
    except InputError as exc:
        raise InputError(f"{overlay / fname}: {exc}") from None
    return LevelCodec(model, base.level, base.arch, base.lmbda)


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
    return QualityLadder([_tuned_level(c, Path(path)) for c in base])
