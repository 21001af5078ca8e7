"""Which model bundle a simulation uses, decided without loading any weights.

``codec: default`` uses the trained ladder shipped in ``hcf_ray/weights/default``. A missing
directory means a broken install, and is an error naming the path: a simulation never
silently swaps in untrained models (ask for ``random:ARCH`` explicitly for that). The spec
grammar (``zoo:ARCH@Q1-Q2``, bundle directories referencing a zoo ladder, ...) is
:mod:`hcf_ray.model_spec`'s; :func:`fetch_codec` makes a zoo ladder's files present and
checked before any actor starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hcf_ray.model_spec import ZOO_DEFAULT_LEVELS
from hcf_ray.sim.config import MAX_LEVEL, ConfigError

ZOO_LEVELS = ZOO_DEFAULT_LEVELS
# = hcf_ray.hcf.bank.MANIFEST; not imported, so that checking a codec stays torch-free
PHI_MANIFEST = "phi.json"


@dataclass(frozen=True)
class CodecChoice:
    spec: str  # what the actors load (load_bundle spec)
    requested: str  # what the config asked for
    max_level: int
    has_phis: bool
    phi_dir: str | None = None


def resolve_codec(spec: str, phi_dir: str | None, *, requested: str | None = None) -> CodecChoice:
    """Check a ``codec:`` spec (grammar: :mod:`hcf_ray.model_spec`) without loading weights:
    levels and whether HCF has φ modules, from the spec or the directory's manifests.

    Paths are used as given (a config's arrive resolved against its folder);
    ``requested``: the codec as the config file spelled it (default: ``spec``)."""
    from hcf_ray.model_spec import SpecError, parse_spec

    requested = spec if requested is None else requested
    phi = str(phi_dir) if phi_dir else None
    if phi is not None and not Path(phi).is_dir():
        raise ConfigError(f"φ directory {phi!r} not found", "phi_dir")
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        raise ConfigError(str(exc), "codec") from None
    if parsed.num_levels > MAX_LEVEL:
        raise ConfigError(f"{spec!r}: ladder levels must lie in 1..{MAX_LEVEL}", "codec")
    has_phis = parsed.base.kind in ("random", "zoo")
    if parsed.path is not None:
        has_phis = has_phis or (Path(phi or parsed.path) / PHI_MANIFEST).is_file()
    return CodecChoice(spec, requested, parsed.num_levels, has_phis, phi)


def zoo_checkpoints(arch: str, metric: str = "mse") -> list[tuple[str, Path]]:
    """(URL, cache file) of every pretrained zoo level of ``zoo:ARCH``, where torch.hub keeps
    the download."""
    from hcf_ray.model_spec import parse_spec, zoo_files

    return list(zoo_files(parse_spec(f"zoo:{arch}")).values())


def missing_downloads(choice: CodecChoice) -> list[Path]:
    """Pretrained zoo weights a codec (``zoo:`` or a bundle referencing a zoo ladder) still
    has to download (empty: all cached, or no zoo ladder)."""
    from hcf_ray.model_spec import SpecError, missing_zoo_files, parse_spec

    try:
        return missing_zoo_files(parse_spec(choice.spec))
    except (SpecError, KeyError, ImportError):
        return []


def fetch_codec(
    choice: CodecChoice, source: str | Path | None = None, timeout_s: float = 30.0
) -> None:
    """Download what a zoo ladder (``zoo:`` or a bundle referencing one) needs now, in this
    process, and check a bundle's files against its manifest's sha256, so that a run without
    internet (or with a different file under a zoo name) stops here with a one-line
    ConfigError (exit 2) instead of failing in the actors."""
    from hcf_ray.model_spec import SpecError, parse_spec, prepare

    try:
        parsed = parse_spec(choice.spec)
        if parsed.base.kind == "random":
            return
        prepare(parsed, timeout_s)
    except SpecError as exc:
        raise ConfigError(str(exc), "codec", source) from None
