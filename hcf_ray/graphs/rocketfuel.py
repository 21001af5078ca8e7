"""Rocketfuel ISP maps (``weights.intra`` / ``latencies.intra``) read into the raw graph of
:mod:`.model`.

Rocketfuel's inferred link weights and latencies (the IMW 2002 "weights-dist" data) come as
two text files per ISP, one link per line, ``#`` starting a comment::

    weights.intra     node1 node2 weight        (the inferred routing weight)
    latencies.intra   node1 node2 latency_ms    (the estimated link latency, ms)

Router names are written ``City,+Region<number>`` (``Sydney,+Australia227``,
``New+York,+NY1234``; spaces as ``+``), a few without the comma (``London4083``).

Either file may be given (any name ending in ``latencies.intra`` or ``weights.intra``,
e.g. ``1221.latencies.intra``); when the file of the other kind sits next to it (the same
name with the other ending), both are read, always latencies first, so the network is the
same whichever of the two is named. What the raw graph (a ``networkx.MultiGraph``) gets:

* nodes keyed by the router name as written, in order of first appearance; ``label`` = the
  city part (``Sydney``, ``New York``: the name before its first comma with ``+`` as space,
  or without a comma the name without its trailing digits). Routers of one city share a
  label, so the node rules name them by their id. Rocketfuel has no coordinates.
* one undirected edge per router pair: the files list most links once per direction; where
  the two directions (or repeated lines) differ, the lower number is kept. An edge has
  ``latency_ms`` with ``latency_from = "rocketfuel:latency"`` when the latencies file lists
  it, and the routing ``weight`` when the weights file does. Rocketfuel gives no link speed
  (the configured default applies).
* the graph's ``format`` (``"rocketfuel"``) and ``files`` (the file names read).

A broken file raises :class:`~hcf_ray.graphs.errors.GraphError`, one line naming the file
and the line: ``weights.intra:7: expected 'node1 node2 weight', found 2 fields``.

(FNSS's Rocketfuel parser was not used: it needs the latencies file, takes whole-number
latencies only and names no line in its errors.)
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import unquote_plus

import networkx as nx

from hcf_ray.graphs.errors import GraphError

KINDS = ("latencies.intra", "weights.intra")


def read_rocketfuel(path: str | Path) -> nx.MultiGraph:
    """A Rocketfuel ``*latencies.intra`` or ``*weights.intra`` file (and its sibling of the
    other kind, when present) as a raw graph (see the module doc)."""
    path = Path(path)
    kind = next((k for k in KINDS if path.name.endswith(k)), None)
    if kind is None:
        raise GraphError(
            f"{path}: a Rocketfuel file's name ends in 'latencies.intra' or 'weights.intra' "
            "(it says which number the third column is)"
        )
    prefix = path.name[: -len(kind)]
    files = {kind: path}
    for other in KINDS:
        sibling = path.with_name(prefix + other)
        if other != kind and sibling.is_file():
            files[other] = sibling
    g = nx.MultiGraph()
    g.graph["format"] = "rocketfuel"
    g.graph["files"] = [files[k].name for k in KINDS if k in files]
    edges: dict[frozenset, dict] = {}
    for k in KINDS:
        if k in files:
            _read(files[k], k, g, edges)
    pos = {n: i for i, n in enumerate(g.nodes)}
    for ends, attrs in edges.items():
        u, v = sorted(ends, key=pos.__getitem__)
        g.add_edge(u, v, **attrs)
    return g


def city_label(name: str) -> str:
    """The city part of a Rocketfuel router name (``Sydney,+Australia227`` → ``Sydney``)."""
    city = name.split(",", 1)[0] if "," in name else re.sub(r"\d+$", "", name)
    return unquote_plus(city).strip() or name


def _read(path: Path, kind: str, g: nx.MultiGraph, edges: dict[frozenset, dict]) -> None:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    what = "latency_ms" if kind == "latencies.intra" else "weight"
    count = 0
    for i, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 3:
            raise GraphError(
                f"{path}:{i}: expected 'node1 node2 {what}', found {len(fields)} field(s)"
            )
        u, v, number = fields
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise GraphError(f"{path}:{i}: {what} {number!r} is not a number >= 0")
        if u == v:
            raise GraphError(f"{path}:{i}: a link from {u!r} to itself")
        for n in (u, v):
            if n not in g:
                g.add_node(n, label=city_label(n))
        attrs = edges.setdefault(frozenset((u, v)), {})
        if kind == "latencies.intra":
            if "latency_ms" not in attrs or value < attrs["latency_ms"]:
                attrs.update(latency_ms=value, latency_from="rocketfuel:latency")
        elif "weight" not in attrs or value < attrs["weight"]:
            attrs["weight"] = value
        count += 1
    if not count:
        raise GraphError(f"{path}: no links in the file")
