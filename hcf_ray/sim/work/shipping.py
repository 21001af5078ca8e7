"""Model files shipped to the machines of a Ray cluster, so that no actor reads the driver's disk.

On a cluster of several machines an actor cannot open the driver's paths: a bundle or ladder
directory, a φ directory, CompressAI zoo weights in the driver's torch hub cache. The driver
reads those files once (:func:`ship_codec`), puts them in Ray's object store as one blob, and
hands the actors a :class:`ShippedCodec` instead of the paths. The first actor on a machine
writes the blob to a folder of that machine (:func:`unpack_codec`), named by the blob's
sha256, and every actor there loads from it; a later run with the same files finds the folder
and writes nothing.

Files keep their absolute layout below that folder (``<root>/<sha256>/files/<abs path>``),
so a bundle that refers to its ladder by a relative path (``"../ladder"``) still finds it.
Zoo weights go to ``<root>/<sha256>/hub/checkpoints``, and the actor points
``torch.hub`` there. ``codec: default`` (the installed package's own files, present on every
machine) and ``random:`` codecs need nothing, and are passed on as they are.

Shipping happens when the Ray cluster has more than one machine (a single machine shares one
disk), or always with ``HCF_SHIP_CODEC=1``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIP_ENV = "HCF_SHIP_CODEC"  # "1": always ship, "0": never, unset: when the cluster has >1 node
ROOT_ENV = "HCF_CODEC_CACHE"  # where a machine keeps shipped files (default: its temp folder)


@dataclass(frozen=True)
class ShippedCodec:
    """What an actor gets instead of a codec spec and φ directory naming the driver's paths."""

    spec: str  # the spec, with a directory named as it lies in the unpacked folder
    phi_dir: str | None  # likewise
    digest: str  # sha256 of the blob: the machine-local folder's name
    blob: Any  # a Ray ObjectRef of the packed files (or the packed files themselves)
    zoo: bool  # the blob holds zoo weights: point torch.hub at them


def _package_dir() -> Path:
    import hcf_ray

    return Path(hcf_ray.__file__).resolve().parent


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def codec_files(spec: str, phi_dir: str | None) -> tuple[dict[str, Path], bool]:
    """The driver's files a codec needs: ``{"files/<abs path>" | "hub/checkpoints/<name>":
    path}`` (the installed package's own files left out) and whether zoo weights are among
    them."""
    from hcf_ray.model_spec import parse_spec, zoo_files

    parsed = parse_spec(spec)
    package = _package_dir()
    folders: list[Path] = []
    for p in (parsed.path, getattr(parsed.base, "path", None), phi_dir):
        if p is not None and not _inside(Path(p), package):
            folders.append(Path(p).resolve())
    out: dict[str, Path] = {}
    for folder in folders:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                out["files" + f.resolve().as_posix()] = f
    zoo = zoo_files(parsed)
    for _url, path in zoo.values():
        out[f"hub/checkpoints/{path.name}"] = path
    return out, bool(zoo)


def pack(files: dict[str, Path]) -> tuple[dict[str, bytes], str]:
    """The files' bytes by name, and a sha256 over names and contents."""
    h = hashlib.sha256()
    blob: dict[str, bytes] = {}
    for name in sorted(files):
        data = files[name].read_bytes()
        blob[name] = data
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return blob, h.hexdigest()


def should_ship() -> bool:
    """Whether actors may run on a machine other than the driver's (see the module doc)."""
    flag = os.environ.get(SHIP_ENV, "")
    if flag in ("0", "1"):
        return flag == "1"
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive")) > 1


def ship_codec(spec: str, phi_dir: str | None, put=None) -> str | ShippedCodec:
    """``spec`` unchanged when the actors can read what it names (one machine, or nothing
    outside the package), else a :class:`ShippedCodec` whose blob is in the object store."""
    if not should_ship():
        return spec
    files, zoo = codec_files(spec, phi_dir)
    if not files:
        return spec
    blob, digest = pack(files)
    if put is None:
        import ray

        put = ray.put
    return ShippedCodec(_name(spec, files), _name(phi_dir, files), digest, put(blob), zoo)


def _name(path: str | None, files: dict[str, Path]) -> str | None:
    """``path`` as named inside a shipped folder when it was shipped; else as it is (a
    ``zoo:`` spec, or a folder of the installed package)."""
    from hcf_ray.model_spec import DEFAULT_SPEC

    if path is None or path == DEFAULT_SPEC or (":" in path and not Path(path).is_dir()):
        return path
    name = "files" + Path(path).resolve().as_posix()
    shipped = any(n == name or n.startswith(name + "/") for n in files)
    return "@" + name if shipped else path


def local_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or Path(tempfile.gettempdir()) / "hcf_ray_codecs")


def unpack_codec(codec: str | ShippedCodec, phi_dir: str | None) -> tuple[str, str | None]:
    """In an actor: the spec and φ directory to load from on this machine (a shipped codec is
    written once per machine, atomically, under :func:`local_root`)."""
    if not isinstance(codec, ShippedCodec):
        return codec, phi_dir
    folder = local_root() / codec.digest
    if not (folder / ".complete").is_file():
        blob = codec.blob
        if not isinstance(blob, dict):
            import ray

            blob = ray.get(blob)
        _write_once(folder, blob)
    if codec.zoo:
        import torch

        torch.hub.set_dir(str(folder / "hub"))
    return _moved(codec.spec, folder), _moved(codec.phi_dir, folder)


def _moved(name: str | None, folder: Path) -> str | None:
    """A shipped name (``@files/…``) as a path below ``folder``; anything else unchanged."""
    if name is None or not name.startswith("@"):
        return name
    return str(folder / name[1:])


def _write_once(folder: Path, blob: dict[str, bytes]) -> None:
    """Write ``blob`` into ``folder``: into a fresh sibling first, then renamed, so actors of
    one machine that unpack at the same time never see a half-written folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
    for name, data in blob.items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (tmp / ".complete").write_text("ok\n")
    try:
        os.rename(tmp, folder)
    except OSError:  # another actor of this machine was first: its copy is the same
        shutil.rmtree(tmp, ignore_errors=True)
