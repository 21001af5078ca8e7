"""All φ modules of a ladder: one inter and one intra module per transition k→k-1."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from hcf_ray.codecs.checkpoint import read_state_dict
from hcf_ray.codecs.ladder import weights_state
from hcf_ray.errors import InputError, read_manifest
from hcf_ray.hcf.modules import PhiConfig, TransformModule

Variant = Literal["inter", "intra"]
VARIANTS: tuple[Variant, Variant] = ("inter", "intra")
MANIFEST = "phi.json"


class PhiBank(nn.Module):
    """``bank.get(k, "inter")`` is φ^inter_{k→k-1}; transitions cover levels 2..s.

    φ^inter is trained for quantized input (after a transmission), φ^intra for unquantized
    input (inside a node); same architecture, separate weights (paper Eq. 6–8).
    """

    def __init__(self, channels: Mapping[int, int], config: PhiConfig | None = None):
        super().__init__()
        self.config = config or PhiConfig()
        self.channels = {int(k): int(v) for k, v in channels.items()}
        levels = sorted(self.channels)
        self.modules_ = nn.ModuleDict()
        for k in levels[1:]:
            for variant in VARIANTS:
                self.modules_[self._key(k, variant)] = TransformModule(
                    self.channels[k], self.channels[k - 1], self.config
                )
        self.eval()

    @staticmethod
    def _key(level: int, variant: str) -> str:
        return f"{level}_{variant}"

    @property
    def max_level(self) -> int:
        return max(self.channels)

    def has(self, level: int) -> bool:
        return self._key(level, "inter") in self.modules_

    def get(self, level: int, variant: Variant) -> TransformModule:
        if variant not in VARIANTS:
            raise ValueError(f"φ variant must be 'inter' or 'intra', got {variant!r}")
        key = self._key(level, variant)
        if key not in self.modules_:
            raise InputError(
                f"no φ module for transition {level}→{level - 1}; the bank covers levels "
                f"{min(self.channels) + 1}..{self.max_level}"
            )
        return self.modules_[key]

    @classmethod
    def for_ladder(cls, ladder, config: PhiConfig | None = None, seed: int = 0) -> PhiBank:
        """Randomly initialised bank matching a ladder's latent channel counts."""
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            return cls({k: ladder.latent_channels(k) for k in ladder.levels}, config)
        finally:
            torch.random.set_rng_state(state)

    def num_parameters(self, level: int | None = None, variant: Variant = "inter") -> int:
        mods = [self.get(level, variant)] if level is not None else list(self.modules_.values())
        return sum(p.numel() for m in mods for p in m.parameters())

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | Path, half: bool = True, extra: dict | None = None) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(weights_state(self, half), path / "phi.pt")
        manifest = {
            "channels": self.channels,
            "config": self.config.to_dict(),
            "file": "phi.pt",
            **(extra or {}),
        }
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    @classmethod
    def from_dir(cls, path: str | Path) -> PhiBank:
        path = Path(path)
        manifest = read_manifest(path, MANIFEST, "φ-module")
        bank = cls(
            {int(k): v for k, v in manifest["channels"].items()}, PhiConfig(**manifest["config"])
        )
        state = read_state_dict(path / manifest["file"])
        bank.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
        return bank.eval()

    @staticmethod
    def exists_in(path: str | Path) -> bool:
        return (Path(path) / MANIFEST).is_file()
