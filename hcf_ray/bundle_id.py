"""The identity of a model bundle: a sha256 that changes whenever its weights do.

Import-light (no torch): the simulator's driver, the cost profiles and the level-rate cache
key their data with it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hcf_ray.errors import InputError

_HASH_CACHE: dict[tuple, str] = {}


def _files(root: Path) -> list[tuple[str, Path]]:
    return sorted(
        (p.relative_to(root).as_posix(), p)
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def bundle_sha256(spec: str, phi_dir=None) -> str:
    """Identity of a model bundle spec (see :mod:`hcf_ray.bundle`).

    ``default`` or a directory: sha256 over the sorted relative paths and contents of every
    file in the model directory (and ``phi_dir`` if given). ``random:``/``zoo:`` specs
    (seeded, deterministic initialisation): sha256 of the spec and the torch and compressai
    versions. Cached in-process per (spec, phi_dir, files' sizes and mtimes).
    """
    spec = str(spec)
    if spec.startswith(("random:", "zoo:")) and phi_dir is None:
        text = f"{spec}|torch {_dist_version('torch')}|compressai {_dist_version('compressai')}"
        return hashlib.sha256(text.encode()).hexdigest()
    roots: list[tuple[str, Path]] = []
    if spec.startswith(("random:", "zoo:")):
        roots.append(("spec", None))
    else:
        if spec == "default":
            from hcf_ray.model_spec import default_weights_dir

            model_dir = default_weights_dir()
        else:
            model_dir = Path(spec)
        if not model_dir.is_dir():
            raise InputError(
                f"codec {spec!r}: not 'default', 'zoo:ARCH', 'random:ARCH' or an existing directory"
            )
        roots.append(("models", model_dir))
    if phi_dir is not None:
        if not Path(phi_dir).is_dir():
            raise InputError(f"φ directory {str(phi_dir)!r} does not exist")
        roots.append(("phi", Path(phi_dir)))
    listing = [(tag, _files(root) if root is not None else []) for tag, root in roots]
    signature = tuple(
        (tag, rel, p.stat().st_size, p.stat().st_mtime_ns) for tag, fs in listing for rel, p in fs
    )
    key = (spec, None if phi_dir is None else str(phi_dir), signature)
    if key in _HASH_CACHE:
        return _HASH_CACHE[key]
    h = hashlib.sha256()
    for tag, files in listing:
        if tag == "spec":
            h.update(bundle_sha256(spec).encode())
            continue
        for rel, p in files:
            h.update(f"{tag}/{rel}\0{p.stat().st_size}\0".encode())
            with p.open("rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(chunk)
    digest = h.hexdigest()
    _HASH_CACHE[key] = digest
    return digest
