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
from hcf_ray.sim.config import MAX_LEVEL, ConfigError, resolve_path

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
        return CodecChoice(spec, spec, _random_levels(spec), True, phi)
    if spec.startswith("zoo:"):
        _check_arch(spec.split(":", 1)[1], spec, zoo=True)
        return CodecChoice(spec, spec, ZOO_LEVELS, True, phi)
    path = resolve_path(spec, base_dir)
    if not path.is_dir():
        raise ConfigError(
            f"{spec!r} is not 'default', 'zoo:ARCH', 'random:ARCH' or an existing directory",
            "codec",
        )
    return _from_dir(path, str(path), spec, phi)


RANDOM_MAX_WIDTH = 1024  # N, M of random:ARCH:N:M (bigger models do not fit an actor)
RANDOM_MAX_LEVELS = 16


def _random_levels(spec: str) -> int:
    """Levels of ``random:ARCH[:N[:M[:LEVELS]]]``, every part checked (ARCH empty: the
    default mbt2018-mean; N, M in 1..1024; LEVELS in 1..16)."""
    parts = spec.split(":")[1:]
    if len(parts) > 4:
        raise ConfigError(f"{spec!r}: expected random:ARCH[:N[:M[:LEVELS]]]", "codec")
    _check_arch(parts[0] or "mbt2018-mean", spec, zoo=False)
    nums = []
    for name, part, top in zip(
        ("N", "M", "LEVELS"), parts[1:], (RANDOM_MAX_WIDTH, RANDOM_MAX_WIDTH, RANDOM_MAX_LEVELS)
    ):
        if not (part.isascii() and part.isdigit() and 1 <= int(part) <= top):
            raise ConfigError(
                f"{spec!r}: {name} must be an integer in 1..{top} (random:ARCH[:N[:M[:LEVELS]]])",
                "codec",
            )
        nums.append(int(part))
    return nums[2] if len(nums) > 2 else 6


def _check_arch(arch: str, spec: str, zoo: bool) -> None:
    """The architecture must be one the ladder can build (and, for ``zoo:``, one of
    CompressAI's zoo models); checked without loading or downloading anything."""
    from hcf_ray.codecs.ladder import ARCHITECTURES

    known = list(ARCHITECTURES)
    if zoo:
        from compressai.zoo import image_models

        known = [a for a in known if a in image_models]
    if arch not in known:
        what = "zoo:ARCH" if zoo else "random:ARCH"
        got = f"unknown architecture {arch!r}" if arch else "no architecture"
        raise ConfigError(f"{spec!r}: {got} in {what}; choose from {', '.join(known)}", "codec")


def zoo_checkpoints(arch: str, metric: str = "mse") -> list[tuple[str, Path]]:
    """(URL, cache file) of every pretrained zoo level, where torch.hub keeps the download."""
    import torch
    from compressai.zoo.image import model_urls

    hub = Path(torch.hub.get_dir()) / "checkpoints"
    urls = [model_urls[arch][metric][q] for q in range(1, ZOO_LEVELS + 1)]
    return [(url, hub / url.rsplit("/", 1)[-1]) for url in urls]


def missing_downloads(choice: CodecChoice) -> list[Path]:
    """Pretrained weights a ``zoo:`` codec still has to download (empty: all cached)."""
    if not choice.spec.startswith("zoo:"):
        return []
    try:
        return [f for _, f in zoo_checkpoints(choice.spec.split(":", 1)[1]) if not f.is_file()]
    except (KeyError, ImportError):
        return []


def fetch_codec(
    choice: CodecChoice, source: str | Path | None = None, timeout_s: float = 30.0
) -> None:
    """Download what a ``zoo:`` codec needs now, in this process, so that a run without
    internet stops here with a one-line ConfigError (exit 2) instead of failing in the
    actors. Nothing to do for the other codecs or when the weights are cached."""
    if not missing_downloads(choice):
        return
    import socket

    from compressai.zoo.image import load_state_dict_from_url

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        for url, path in zoo_checkpoints(choice.spec.split(":", 1)[1]):
            if not path.is_file():
                load_state_dict_from_url(url, progress=False)
    except Exception as exc:  # URLError, HTTPError, timeouts, a corrupt download
        reason = str(getattr(exc, "reason", "") or exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"{choice.spec!r}: cannot download the pretrained weights "
            f"({type(exc).__name__}: {reason}); offline, use default, a model dir or random:ARCH",
            "codec",
            source,
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def _from_dir(path: Path, spec: str, requested: str, phi: str | None) -> CodecChoice:
    manifest = path / "ladder.json"
    try:
        levels = [int(k) for k in json.loads(manifest.read_text())["levels"]]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        raise ConfigError(f"{manifest}: missing or unreadable ladder manifest", "codec") from None
    if not levels or not all(1 <= k <= MAX_LEVEL for k in levels):
        raise ConfigError(f"{manifest}: ladder levels must lie in 1..{MAX_LEVEL}", "codec")
    has_phis = PhiBank.exists_in(Path(phi) if phi else path)
    return CodecChoice(spec, requested, max(levels), has_phis, phi)
