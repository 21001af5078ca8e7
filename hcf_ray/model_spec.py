"""The one grammar of model specs, accepted wherever models are named.

Topology ``codec:``, ``eval/report/calibrate --models``, ``train hcf --ladder`` and
``train hyper --models`` all take:

* ``default`` — the shipped models (``hcf_ray/weights/default``);
* ``random:ARCH[:N[:M[:LEVELS]]]`` — random init (tiny by default), for tests and dry runs;
* ``zoo:ARCH`` / ``zoo:ARCH@Q1-Q2`` (or ``@Q``) — CompressAI's pretrained zoo models of
  qualities Q1..Q2 as ladder levels 1..n (level i = quality Q1+i-1); without ``@`` the
  qualities 1..6 (fewer when the zoo has fewer);
* a directory — a ladder written by ``QualityLadder.save`` (+ φ bank, overlay), or a bundle
  exported by ``train hcf --export`` whose ``ladder.json`` *references* its ladder
  (``{"format": "hcf-sim-bundle/1", "ladder": {"spec": ..., "sha256": {...}}}``).

:func:`parse_spec` checks a spec without loading or downloading weights; every refusal is a
:class:`SpecError` with a one-line message. The zoo helpers below find, fetch and verify the
pretrained files in torch hub's cache (``$TORCH_HOME/hub/checkpoints``), where CompressAI's
``pretrained=True`` loads them from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from hcf_ray.errors import InputError

DEFAULT_SPEC = "default"
BUNDLE_FORMAT = "hcf-sim-bundle/1"
LADDER_MANIFEST = "ladder.json"
ZOO_DEFAULT_LEVELS = 6
ZOO_METRIC = "mse"
RANDOM_MAX_WIDTH = 1024  # N, M of random:ARCH:N:M (bigger models do not fit an actor)
RANDOM_MAX_LEVELS = 16
RANDOM_DEFAULT_ARCH = "mbt2018-mean"
MAX_LEVELS = 64
NOT_A_SPEC = "is not 'default', 'zoo:ARCH', 'random:ARCH' or an existing directory"


def default_weights_dir() -> Path:
    """The shipped ``default`` models (``hcf_ray/weights/default``)."""
    from importlib import resources

    return Path(str(resources.files("hcf_ray"))) / "weights" / "default"


class SpecError(InputError):
    """A bad model spec, a missing download or a file that does not match (one line)."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec. ``levels`` are the ladder's levels 1..n; ``qualities[i-1]`` is the zoo
    quality of level i; ``ladder`` is the referenced ladder of a bundle directory (whose
    ``sha256`` maps level → the expected sha256 of that level's weights file)."""

    kind: str  # "default" | "random" | "zoo" | "dir" | "bundle"
    text: str
    arch: str = ""
    N: int = 16
    M: int = 24
    qualities: tuple[int, ...] = ()
    path: Path | None = None
    num_levels: int = 0
    ladder: ModelSpec | None = None
    sha256: dict[int, str] = field(default_factory=dict)

    @property
    def levels(self) -> list[int]:
        return list(range(1, self.num_levels + 1))

    @property
    def base(self) -> ModelSpec:
        """The spec the base ladder comes from (a bundle's referenced ladder, else itself)."""
        return self.ladder if self.ladder is not None else self


def parse_spec(spec, base_dir: str | Path | None = None) -> ModelSpec:
    """Check ``spec`` (see the module doc) without loading weights; a relative directory is
    looked up under ``base_dir`` (default: the working directory)."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"{spec!r} {NOT_A_SPEC}")
    spec = spec.strip()
    if spec == DEFAULT_SPEC:
        path = default_weights_dir()
        if not (path / LADDER_MANIFEST).is_file():
            raise SpecError(
                f"shipped default models not found in {path} (broken install?); "
                "reinstall hcf-sim or name a model directory"
            )
        return _parse_dir(path, spec)
    if spec.startswith("random:"):
        return _parse_random(spec)
    if spec.startswith("zoo:"):
        return _parse_zoo(spec)
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_dir():
        raise SpecError(f"{spec!r} {NOT_A_SPEC}")
    return _parse_dir(path, spec)


def _parse_random(spec: str) -> ModelSpec:
    parts = spec.split(":")[1:]
    if len(parts) > 4:
        raise SpecError(f"{spec!r}: expected random:ARCH[:N[:M[:LEVELS]]]")
    arch = parts[0] or RANDOM_DEFAULT_ARCH
    check_arch(arch, spec, zoo=False)
    nums = []
    for name, part, top in zip(
        ("N", "M", "LEVELS"), parts[1:], (RANDOM_MAX_WIDTH, RANDOM_MAX_WIDTH, RANDOM_MAX_LEVELS)
    ):
        if not (part.isascii() and part.isdigit() and 1 <= int(part) <= top):
            raise SpecError(
                f"{spec!r}: {name} must be an integer in 1..{top} (random:ARCH[:N[:M[:LEVELS]]])"
            )
        nums.append(int(part))
    return ModelSpec(
        "random",
        spec,
        arch,
        N=nums[0] if nums else 16,
        M=nums[1] if len(nums) > 1 else 24,
        num_levels=nums[2] if len(nums) > 2 else 6,
    )


def _parse_zoo(spec: str) -> ModelSpec:
    body = spec.split(":", 1)[1]
    arch, at, rng = body.partition("@")
    check_arch(arch, spec, zoo=True)
    available = zoo_qualities(arch)
    if not at:
        qualities = tuple(q for q in available if q <= ZOO_DEFAULT_LEVELS)
    else:
        lo, dash, hi = rng.partition("-")
        hi = hi if dash else lo
        ok = all(p.isascii() and p.isdigit() for p in (lo, hi))
        first, last = (int(lo), int(hi)) if ok else (0, 0)
        span = f"{available[0]}..{available[-1]}"
        if not ok or first not in available or last not in available:
            raise SpecError(
                f"{spec!r}: expected zoo:ARCH@Q1-Q2 with qualities in {span} (the zoo's "
                f"{arch} qualities)"
            )
        if first > last:
            raise SpecError(f"{spec!r}: Q1 > Q2 in zoo:ARCH@Q1-Q2; write @{last}-{first}")
        qualities = tuple(range(first, last + 1))
    return ModelSpec("zoo", spec, arch, qualities=qualities, num_levels=len(qualities))


def _parse_dir(path: Path, spec: str) -> ModelSpec:
    manifest_path = path / LADDER_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict):
            raise TypeError
    except (OSError, ValueError, TypeError, RecursionError):
        raise SpecError(f"{manifest_path}: missing or unreadable ladder manifest") from None
    kind = "default" if spec == DEFAULT_SPEC else "dir"
    if "format" in manifest:
        return _parse_bundle(path, spec, manifest, manifest_path)
    try:
        levels = sorted(int(k) for k in manifest["levels"])
        arch = str(manifest["arch"])
    except (KeyError, ValueError, TypeError):
        raise SpecError(f"{manifest_path}: missing or unreadable ladder manifest") from None
    if not levels or levels != list(range(1, len(levels) + 1)) or len(levels) > MAX_LEVELS:
        raise SpecError(f"{manifest_path}: ladder levels must be 1..n (n <= {MAX_LEVELS})")
    return ModelSpec(kind, spec, arch, path=path, num_levels=len(levels))


def _parse_bundle(path: Path, spec: str, manifest: dict, manifest_path: Path) -> ModelSpec:
    if manifest.get("format") != BUNDLE_FORMAT:
        raise SpecError(
            f"{manifest_path}: unknown bundle format {str(manifest.get('format'))[:40]!r} "
            f"(this hcf-sim reads {BUNDLE_FORMAT})"
        )
    ref = manifest.get("ladder")
    if not isinstance(ref, dict) or not isinstance(ref.get("spec"), str):
        raise SpecError(f'{manifest_path}: \'ladder\' must be {{"spec": ..., "sha256": ...}}')
    inner_text = ref["spec"]
    try:
        inner = parse_spec(inner_text, base_dir=path)
    except SpecError as exc:
        raise SpecError(f"{manifest_path}: ladder {exc}") from None
    if inner.kind == "bundle":
        inner = inner.base
    try:
        sha = {int(k): str(v) for k, v in (ref.get("sha256") or {}).items()}
    except (ValueError, TypeError, AttributeError):
        raise SpecError(f"{manifest_path}: ladder.sha256 must map levels to hashes") from None
    if inner.kind == "zoo" and set(sha) != set(inner.levels):
        raise SpecError(
            f"{manifest_path}: ladder.sha256 must list levels {inner.levels} of {inner_text!r}"
        )
    return ModelSpec(
        "bundle",
        spec,
        inner.arch,
        path=path,
        num_levels=inner.num_levels,
        ladder=inner,
        sha256=sha,
    )


def check_arch(arch: str, spec: str, zoo: bool) -> None:
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
        raise SpecError(f"{spec!r}: {got} in {what}; choose from {', '.join(known)}")


def zoo_qualities(arch: str, metric: str = ZOO_METRIC) -> list[int]:
    from compressai.zoo.image import model_urls

    return sorted(model_urls[arch][metric])


# -- the zoo's files in torch hub's cache ----------------------------------------------------
def hub_checkpoints() -> Path:
    """Where CompressAI's ``pretrained=True`` looks first (``torch.hub.get_dir()``: the
    ``torch.hub.set_dir`` directory, else ``$TORCH_HOME/hub``, + ``/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def zoo_files(spec: ModelSpec) -> dict[int, tuple[str, Path]]:
    """Level → (URL, cache file) of a ``zoo:`` spec (or a bundle referencing one)."""
    from compressai.zoo.image import model_urls

    spec = spec.base
    if spec.kind != "zoo":
        return {}
    hub = hub_checkpoints()
    out = {}
    for level, q in zip(spec.levels, spec.qualities):
        url = model_urls[spec.arch][ZOO_METRIC][q]
        out[level] = (url, hub / url.rsplit("/", 1)[-1])
    return out


def missing_zoo_files(spec: ModelSpec) -> list[Path]:
    return [f for _, f in zoo_files(spec).values() if not f.is_file()]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _offline_message(path: Path, exc: BaseException) -> str:
    # short enough for one error line (MAX_LINE) with the field name in front
    return (
        f"{path.name} not cached, no download ({type(exc).__name__}, offline?): copy it into "
        "$TORCH_HOME/hub/checkpoints or set TORCH_HOME to a cache with it"
    )


def fetch_zoo_file(spec: ModelSpec, level: int, timeout_s: float | None = None) -> Path:
    """The cache file of one zoo level, downloaded when missing (through CompressAI's
    ``load_state_dict_from_url``, what ``pretrained=True`` uses); a failed download is one
    :class:`SpecError` line naming the file and what to do."""
    url, path = zoo_files(spec)[level]
    if path.is_file():
        return path
    import socket

    import compressai.zoo.image as zoo_image

    previous = socket.getdefaulttimeout()
    if timeout_s is not None:
        socket.setdefaulttimeout(timeout_s)
    try:
        zoo_image.load_state_dict_from_url(url, progress=False)
    except Exception as exc:  # URLError, HTTPError, timeouts, a corrupt download
        raise SpecError(_offline_message(path, exc)) from None
    finally:
        socket.setdefaulttimeout(previous)
    if not path.is_file():  # a download function that did not store the file
        raise SpecError(_offline_message(path, FileNotFoundError()))
    return path


_VERIFIED: dict[tuple[str, int, int, str], bool] = {}


def verify_file(path: Path, expected: str | None, what: str) -> None:
    """``path``'s sha256 must be ``expected`` (nothing to check when None); checked once per
    file version (path, size, mtime) in a process."""
    if not expected:
        return
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, expected)
    if key in _VERIFIED:
        return
    got = file_sha256(path)
    if got != expected:
        raise SpecError(
            f"{path.name}: sha256 {got[:16]}… but {what} expects {expected[:16]}…: restore "
            "the file the bundle was made with"
        )
    _VERIFIED[key] = True


def level_file(spec: ModelSpec, level: int) -> Path | None:
    """The weights file of ``level`` of a directory ladder (None for other kinds)."""
    spec = spec.base
    if spec.kind not in ("default", "dir") or spec.path is None:
        return None
    manifest = json.loads((spec.path / LADDER_MANIFEST).read_text())
    return spec.path / manifest["levels"][str(level)]["file"]


def prepare_level(spec: ModelSpec, level: int, timeout_s: float | None = None) -> None:
    """Make ``level`` of the spec's base ladder loadable: fetch a missing zoo file and, for a
    bundle, check the file against the sha256 its manifest recorded."""
    base = spec.base
    if base.kind == "zoo":
        path = fetch_zoo_file(spec, level, timeout_s)
    else:
        path = level_file(spec, level) if spec.kind == "bundle" else None
    if spec.kind == "bundle" and path is not None:
        verify_file(path, spec.sha256.get(level), "the bundle's ladder.json")


def prepare(spec: ModelSpec, timeout_s: float | None = None) -> None:
    """:func:`prepare_level` for every level (what a run checks before starting actors)."""
    for k in spec.levels:
        prepare_level(spec, k, timeout_s)


def ladder_reference(spec: ModelSpec) -> dict:
    """What a bundle's ``ladder.json`` records about the ladder it was trained on: the spec
    and the sha256 of each level's weights file (zoo: the hub cache file; a directory: its
    level files). Zoo files must be in the cache (they are, once the ladder was loaded)."""
    if spec.kind == "bundle":
        return {"spec": spec.ladder.text, "sha256": {str(k): v for k, v in spec.sha256.items()}}
    if spec.kind == "random":
        return {"spec": spec.text, "sha256": {}}
    text = spec.text
    if spec.kind == "dir":
        text = str(Path(spec.path).resolve())
    sha = {}
    for k in spec.levels:
        path = fetch_zoo_file(spec, k) if spec.kind == "zoo" else level_file(spec, k)
        sha[str(k)] = file_sha256(path)
    return {"spec": text, "sha256": sha}


def bundle_manifest(spec: ModelSpec) -> dict:
    return {"format": BUNDLE_FORMAT, "ladder": ladder_reference(spec)}
