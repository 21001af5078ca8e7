"""The files a run, sweep or search reads, each with its sha256: its identity by contents.

A run's records are a function of its config *and* of the files the config names, so an
output folder remembers both (``run.json``, :mod:`hcf_ray.sim.outdir`). The files are:

* the config file itself (when the run was started from one);
* ``graph.file`` (a GraphML / GML import);
* every policy and method given as ``path/to/file.py:Class`` (also through ``--methods``);
* every image the flows send (after ``max_images``; the bundled samples too);
* the codec's files: every file of a bundle or ladder directory (``default``: the shipped
  ``hcf_ray/weights/default``; a bundle that references a ladder directory: that one too) and
  of ``phi_dir``. ``random:`` and ``zoo:`` codecs have no files of their own (the spec, part
  of the config, names them; zoo downloads are checked against their published sha256);
* every cost profile a node is priced with (``profile``, ``devices``; default: the shipped
  CPU profile);
* every link trace (``trace``, ``reverse_trace``, a ``background`` utilisation trace) and the
  ``demands`` file.

Each file is named as the config spells it (``as_written``); a file the config does not spell
(the shipped ones, an image of a folder) is named by its path under the package
(``hcf_ray/…``), else relative to the current directory when it lies below it, else by its
absolute path. A file is hashed once per process while its size, times and inode stay the
same: a sweep's thousands of worlds share the same few files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]  # the hcf_ray package folder
MISSING = "missing"  # the "sha256" of an input that could not be read

_HASHES: dict[str, tuple[tuple, str]] = {}  # real path → (stat signature, sha256)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, computed once per process while its stat is unchanged
    (:data:`MISSING` when it cannot be read)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return MISSING
    sig = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    hit = _HASHES.get(real)
    if hit is not None and hit[0] == sig:
        return hit[1]
    h = hashlib.sha256()
    try:
        with open(real, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return MISSING
    digest = h.hexdigest()
    _HASHES[real] = (sig, digest)
    return digest


def shown(path: str | Path) -> str:
    """A file's name when the config does not spell it: ``hcf_ray/…`` for the package's own
    files, relative to the current directory below it, else absolute."""
    p = Path(os.path.abspath(path))
    for root, prefix in ((PACKAGE, "hcf_ray/"), (Path.cwd(), "")):
        try:
            return prefix + p.relative_to(root).as_posix()
        except ValueError:
            continue
    return p.as_posix()


class InputFiles:
    """Collects input files (each once, by real path) and hashes them: :meth:`hashed`."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # real path → name
        self._taken: set[str] = set()
        self._codecs: set[tuple] = set()
        self._real: dict[str, str] = {}  # path as given → real path (worlds share files)

    def add(self, path: str | Path, name: str | None = None) -> None:
        given = str(path)
        real = self._real.get(given)
        if real is None:
            real = self._real[given] = os.path.realpath(given)
        if real in self._names:
            return
        name = name or shown(path)
        if name in self._taken:  # two files spelled alike: the second by its real path
            name = Path(real).as_posix()
        self._names[real] = name
        self._taken.add(name)

    def add_folder(self, folder: str | Path, name: str | None = None) -> None:
        """Every file below ``folder`` (``__pycache__`` left out), named ``NAME/relative``."""
        root = Path(folder)
        if not root.is_dir():
            return
        base = (name or shown(root)).rstrip("/")
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                self.add(p, f"{base}/{p.relative_to(root).as_posix()}")

    def add_config(self, path: str | Path) -> None:
        self.add(path, shown(path))

    def add_codec(self, spec: str, phi_dir: str | None, as_written=lambda v: v) -> None:
        """The files of a codec spec (see the module doc) and of its φ folder."""
        key = (spec, phi_dir)
        if key in self._codecs:
            return
        self._codecs.add(key)
        if phi_dir:
            self.add_folder(phi_dir, as_written(phi_dir))
        if spec.startswith(("random:", "zoo:")):
            return
        from hcf_ray.model_spec import SpecError, default_weights_dir, parse_spec

        folder = default_weights_dir() if spec == "default" else Path(spec)
        self.add_folder(folder, None if spec == "default" else as_written(spec))
        try:
            parsed = parse_spec(spec)
        except SpecError:
            return
        inner = parsed.ladder
        if inner is not None and inner.path is not None:  # a bundle naming a ladder folder
            self.add_folder(inner.path)

    def add_scenario(self, scenario: Any) -> None:
        """Every file a checked scenario reads (its config file aside)."""
        cfg = scenario.config
        written = cfg.as_written
        if cfg.graph is not None:
            self.add(cfg.graph.file, written(cfg.graph.file))
        for path in _link_files(cfg):
            self.add(path, written(path))
        for spec in _file_specs(cfg):
            self.add(spec.rpartition(":")[0], written(spec).rpartition(":")[0])
        for name in {m for f in scenario.flows for m in f.methods}:
            path = _method_file(name)  # also the ones --methods named
            if path is not None:
                self.add(path)
        for run in scenario.flows:
            folder = cfg.flows[run.index].images
            for image in run.images:
                self.add(image, _image_name(image, folder, written(folder)))
        self.add_codec(scenario.codec.spec, scenario.codec.phi_dir, written)
        for path in {dev.profile.path for dev in scenario.devices.values()}:
            self.add(path, written(path) if written(path) != path else None)

    def hashed(self) -> dict[str, str]:
        """``{name: sha256}``, sorted by name."""
        return dict(sorted((name, file_sha256(real)) for real, name in self._names.items()))


def _image_name(image: Path, folder: str, written: str) -> str | None:
    """An image of a flow's folder as the config spells the folder (None: it does not)."""
    if written == folder:
        return None
    parts = Path(image).parts
    root = Path(folder).parts
    if parts[: len(root)] != root:
        return None
    return "/".join([written.rstrip("/"), *parts[len(root) :]])


def _link_files(cfg: Any) -> Iterable[str]:
    """The trace files of a config's links and its ``demands`` file."""
    for link in cfg.links:
        bg = link.background.utilisation if link.background is not None else None
        for trace in (link.trace, link.reverse_trace, bg):
            if getattr(trace, "file", None) is not None:
                yield trace.file
    if getattr(cfg, "demands", None) is not None:
        yield cfg.demands


def _file_specs(cfg: Any) -> Iterable[str]:
    """The ``file.py:Class`` policy and method specs of a config's flows."""
    from hcf_ray.sim.config import PolicyRef

    top = getattr(cfg, "policies", None) or ()  # policies: lists (one policy per world)
    for f in cfg.flows:
        listed = [*top, *(getattr(f, "policies", None) or ())]
        for spec in [f.policy, *(d.policy for d in f.destinations), *f.methods, *listed]:
            if isinstance(spec, PolicyRef):
                spec = spec.cls
            if isinstance(spec, str) and ".py:" in spec:
                yield spec


def _method_file(name: str) -> str | None:
    """The file a user method (``file.py:Class``, loaded by name) was read from."""
    from hcf_ray.methods import get_method
    from hcf_ray.policy._usercode import code_of

    try:
        method = get_method(name)
    except ValueError:
        return None
    code = code_of(type(method).__module__)
    return code.filename if code is not None else None


def scenario_inputs(scenario: Any, config_file: str | Path | None = None) -> dict[str, str]:
    """``{file: sha256}`` of a run (or search) of ``scenario``, started from ``config_file``."""
    files = InputFiles()
    if config_file:
        files.add_config(config_file)
    files.add_scenario(scenario)
    return files.hashed()


def sweep_inputs(sweep: Any, config_file: str | Path | None = None) -> dict[str, str]:
    """``{file: sha256}`` of a sweep: its config file, the graph files its networks were read
    from (``Sweep.graph_files``) and every world's files."""
    files = InputFiles()
    if config_file:
        files.add_config(config_file)
    base = Path(config_file).resolve().parent if config_file else None
    for path in getattr(sweep, "graph_files", None) or ():  # named from the sweep's folder
        rel = os.path.relpath(path, base) if base is not None else ""
        files.add(path, rel if rel and not rel.startswith("..") else None)
    for world in sweep.worlds:
        files.add_scenario(world.scenario)
    return files.hashed()
