"""Which model bundle a simulation uses, decided without loading any weights.

``codec: default`` uses the trained ladder shipped in ``hcf_ray/weights/default``. A missing
directory means a broken install, and is an error naming the path: a simulation never
silently swaps in untrained models (ask for ``random:ARCH`` explicitly for that).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hcf_ray.bundle import DEFAULT_SPEC, default_weights_dir
from hcf_ray.hcf.bank import PhiBank
from hcf_ray.sim.config import ConfigError, resolve_path

ZOO_LEVELS = 6


@dataclass(frozen=True)
class CodecChoice:
    spec: str  # what the actors load (load_bundle spec)
    requested: str  # what the config asked for
    max_level: int
    has_phis: bool
    phi_dir: str | None = None


def resolve_codec(spec: str, phi_dir: str | None, base_dir: Path | None) -> CodecChoice:
    phi = str(resolve_path(phi_dir, base_dir)) if phi_dir else None
    if phi is not None and not Path(phi).is_dir():
        raise ConfigError(f"φ directory {phi_dir!r} not found", "phi_dir")
    if spec == DEFAULT_SPEC:
        path = default_weights_dir()
        if not (path / "ladder.json").is_file():
            raise ConfigError(
                f"shipped default models not found in {path} (broken install?); "
                "reinstall hcf-sim or name a model directory",
                "codec",
            )
        return _from_dir(path, spec, spec, phi)
    if spec.startswith("random:"):
        parts = spec.split(":")[1:]
        try:
            levels = int(parts[3]) if len(parts) > 3 else 6
        except ValueError:
            raise ConfigError(f"bad random codec spec {spec!r}", "codec") from None
        return CodecChoice(spec, spec, levels, True, phi)
    if spec.startswith("zoo:"):
        return CodecChoice(spec, spec, ZOO_LEVELS, True, phi)
    path = resolve_path(spec, base_dir)
    if not path.is_dir():
        raise ConfigError(
            f"{spec!r} is not 'default', 'zoo:ARCH', 'random:ARCH' or an existing directory",
            "codec",
        )
    return _from_dir(path, str(path), spec, phi)


def _from_dir(path: Path, spec: str, requested: str, phi: str | None) -> CodecChoice:
    manifest = path / "ladder.json"
    try:
        levels = [int(k) for k in json.loads(manifest.read_text())["levels"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{manifest}: missing or unreadable ladder manifest", "codec") from None
    has_phis = PhiBank.exists_in(Path(phi) if phi else path)
    return CodecChoice(spec, requested, max(levels), has_phis, phi)
