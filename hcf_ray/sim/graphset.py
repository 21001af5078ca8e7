"""A sweep's real networks: ``graphs: {files: [GLOB, …], sample: N, placement: {…}}``.

The globs (``*``, ``?``, ``[…]``, ``**`` for any depth) are resolved against the sweep
file's folder like its other paths; a glob that matches no file is an error naming it. Each
seed draws ``sample`` of the matched files (a seeded draw without replacement, the same for
the same seed and files; all files when ``sample`` is absent). Each drawn file is imported
once per sweep, with the sweep's ``graph:`` options (every key of a topology's ``graph:``
but ``file``), however many seeds draw it; a file that cannot be imported is an error naming
it. Placement of the source and destinations: :mod:`hcf_ray.sim.placement`; a network where
no eligible node has an eligible destination (e.g. its routers joined only through external
nodes) is an error naming the file, or with ``unplaceable: skip`` a skipped network.
"""

from __future__ import annotations

import glob
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import networkx as nx
from pydantic import Field, field_validator

from hcf_ray.graphs.model import ImportedNetwork
from hcf_ray.sim.config import (
    ConfigError,
    Count,
    FilePath,
    GraphImport,
    LinkConfig,
    NodeConfig,
    StrictModel,
)
from hcf_ray.sim.placement import Placement

MAX_GRAPH_FILES = 10_000  # files one sweep may match


class GraphOptions(GraphImport):
    """A sweep's ``graph:``: the import options of a topology's ``graph:``, applied to every
    file of ``graphs.files`` (``file`` itself is not given here)."""

    file: FilePath | None = None

    @field_validator("file")
    @classmethod
    def _no_file(cls, v: str | None) -> None:
        if v is not None:
            raise ValueError("a sweep names its graph files under graphs.files")
        return None


class GraphFiles(StrictModel):
    """``graphs:`` of a sweep."""

    files: list[FilePath] = Field(min_length=1, max_length=100)
    sample: Count | None = None  # files drawn per seed (None: every matched file)
    placement: Placement = Placement()
    # a network with no eligible destination: an error naming its file, or skipped (listed
    # among the sweep's networks with the reason, named in one warning)
    unplaceable: Literal["error", "skip"] = "error"


@dataclass(frozen=True)
class GraphNetwork:
    """One imported file: the imported network (rules, roles, provenance), its nodes and
    links as configs, the nodes a flow may start or end at (those that compute, in file
    order), and the graph placement routes on: every link, by ``latency_ms``, none out of a
    node routes may not pass through (an external node)."""

    path: str
    imported: ImportedNetwork
    nodes: list[NodeConfig]
    links: list[LinkConfig]
    eligible: list[str]
    graph: nx.DiGraph

    @property
    def idle(self) -> frozenset[str]:
        """The nodes that run no codec work (they may only forward)."""
        return frozenset(n.name for n in self.imported.nodes if not n.computes)

    @property
    def name(self) -> str:
        return Path(self.path).name


def match_files(graphs: GraphFiles, as_written=lambda v: v) -> list[str]:
    """The files the globs match (absolute, sorted, each once); an error for a glob that
    matches nothing."""
    found: dict[str, None] = {}
    for i, pattern in enumerate(graphs.files):
        hits = sorted(
            p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)
        ) or _plain_file(pattern)
        if not hits:
            what = "matches no file" if glob.has_magic(pattern) else "not found"
            raise ConfigError(f"{as_written(pattern)!r} {what}", f"graphs.files[{i}]")
        found.update(dict.fromkeys(hits))
        if len(found) > MAX_GRAPH_FILES:
            raise ConfigError(
                f"more than {MAX_GRAPH_FILES} files match; narrow the globs", f"graphs.files[{i}]"
            )
    return list(found)


def _plain_file(pattern: str) -> list[str]:
    """A name with glob characters in it that is a file as written (``net[1].gml``)."""
    return [pattern] if glob.has_magic(pattern) and os.path.isfile(pattern) else []


def draw(files: list[str], sample: int | None, seed: int) -> list[str]:
    """The files of one seed: ``sample`` of them drawn without replacement (seeded by the
    seed alone), in the order of ``files``; all of them when ``sample`` is None."""
    if sample is None:
        return list(files)
    if sample > len(files):
        raise ConfigError(
            f"sample {sample} is more than the {len(files)} files the globs match",
            "graphs.sample",
        )
    picked = set(random.Random(f"graphs:{seed}").sample(range(len(files)), sample))
    return [f for i, f in enumerate(files) if i in picked]


class GraphReader:
    """Imports each file once (:func:`hcf_ray.sim.graphio.import_network`) with
    ``options``."""

    def __init__(self, options: GraphImport):
        self.options = options
        self.read: dict[str, GraphNetwork] = {}

    def __call__(self, path: str) -> GraphNetwork:
        net = self.read.get(path)
        if net is None:
            net = self.read[path] = self._import(path)
        return net

    def _import(self, path: str) -> GraphNetwork:
        from hcf_ray.sim.graphio import import_network

        spec = self.options.model_copy(update={"file": path})
        try:
            imported, nodes, links = import_network(spec, Path(path))
        except ConfigError as exc:
            name = Path(path).name
            msg = exc.message if name in exc.message else f"{name}: {exc.message}"
            field = "graphs.files" if exc.field in ("", "graph.file") else exc.field
            raise ConfigError(msg, field) from None
        blocked = {n.name for n in imported.nodes if not n.transit}
        g = nx.DiGraph()
        g.add_nodes_from(n.id for n in nodes)
        for link in links:
            ends = [(link.src, link.dst)] + ([] if link.directed else [(link.dst, link.src)])
            g.add_edges_from(
                (u, v, {"latency_ms": link.latency_ms}) for u, v in ends if u not in blocked
            )
        eligible = [n.name for n in imported.nodes if n.computes]
        return GraphNetwork(path, imported, nodes, links, eligible, g)


def base_names(files: list[str]) -> dict[str, str]:
    """Each file's part of its networks' names, ``graph-<base>-s<seed>``: its stem on the
    name charset, at most 44 characters, numbered (``-2``, ``-3``…) after the first file
    with the same stem, so that every seed's network name is unique and ≤ 64 characters."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for path in files:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:44] or "_"
        base, i = stem, 1
        while base in seen:
            i += 1
            base = f"{stem[: 43 - len(str(i))]}-{i}"
        seen.add(base)
        out[path] = base
    return out
