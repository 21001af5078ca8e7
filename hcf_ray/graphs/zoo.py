"""Topology Zoo GML and GraphML files read into the raw graph of :mod:`.model`.

Both readers use NetworkX's own parsers and then agree on one shape, so that the same network
comes out identical from either file:

* a ``networkx.MultiGraph`` (``MultiDiGraph`` for a directed file), whatever the file declares:
  many Zoo GML files hold parallel edges without ``multigraph 1``, which NetworkX's GML parser
  refuses; the GML text is therefore read as a multigraph (its ``multigraph`` key is replaced
  by ``multigraph 1``);
* node keys are the file's ids as strings (GML ``id 3`` and GraphML ``<node id="3">`` are both
  ``"3"``), in file order;
* GML text may be UTF-8 or Latin-1 (tried in that order); HTML/XML character references
  (``&#233;``, ``&amp;``) are decoded in every string, in both formats (some GraphML files
  carry them escaped twice);
* the ``id`` / ``key`` bookkeeping attributes of the writers are dropped; the graph gets
  ``format`` (``"gml"`` / ``"graphml"``).

NetworkX's errors (an undefined edge end, a duplicated node id, broken XML) pass through:
:func:`hcf_ray.graphs.read_raw` reports them as one line naming the file.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from xml.etree import ElementTree

import networkx as nx

from hcf_ray.graphs.errors import GraphError

_MULTIGRAPH_KEY = re.compile(r"(?m)^([ \t]*)multigraph[ \t]+[0-9]+[ \t]*$")
_GRAPH_OPEN = re.compile(r"(?m)^[ \t]*graph\s*\[")  # the Zoo's layout: at a line's start
_GRAPH_ANYWHERE = re.compile(r"\bgraph\s*\[")


class GraphFileError(GraphError):
    """A graph file that the parser refuses; ``str()`` is one line (without the file name:
    :func:`hcf_ray.graphs.read_network` adds it)."""


def decode_text(data: bytes) -> str:
    """File bytes as text: UTF-8 (a leading BOM dropped), else Latin-1 (which never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_gml(path: str | Path) -> nx.MultiGraph:
    """A Topology Zoo GML file as a raw multigraph (see the module doc)."""
    return parse_gml_text(decode_text(Path(path).read_bytes()))


def parse_gml_text(text: str) -> nx.MultiGraph:
    """GML text as a raw multigraph: parallel edges kept with or without ``multigraph 1``."""
    match = _GRAPH_OPEN.search(text) or _GRAPH_ANYWHERE.search(text)
    if match is None:
        raise GraphFileError("no 'graph [' section")
    head, body = text[: match.end()], text[match.end() :]
    body = _MULTIGRAPH_KEY.sub(r"\1", body)
    # on the same line, so that the parser's line numbers stay the file's
    return _normalise(nx.parse_gml(head + " multigraph 1 " + body, label="id"), "gml")


def read_graphml(path: str | Path) -> nx.MultiGraph:
    """A GraphML file as a raw multigraph (see the module doc); a node id given twice is an
    error (NetworkX would merge the two nodes)."""
    seen: set[str] = set()
    for _, elem in ElementTree.iterparse(path):
        if elem.tag.rpartition("}")[2] == "node":
            node_id = elem.get("id")
            if node_id in seen:
                raise GraphFileError(f"node id {node_id!r} is duplicated")
            seen.add(node_id)
        elem.clear()
    return _normalise(nx.read_graphml(Path(path), force_multigraph=True), "graphml")


def _normalise(g: nx.Graph, fmt: str) -> nx.MultiGraph:
    out = nx.MultiDiGraph() if g.is_directed() else nx.MultiGraph()
    out.graph.update({k: _text(v) for k, v in g.graph.items() if k not in ("node", "edge")})
    out.graph["format"] = fmt
    for n, data in g.nodes(data=True):
        key = str(n)
        if key in out:
            raise GraphFileError(f"node id {key!r} is duplicated")
        out.add_node(key, **{k: _text(v) for k, v in data.items() if k != "id"})
    for u, v, data in g.edges(data=True):
        out.add_edge(str(u), str(v), **{k: _text(x) for k, x in data.items() if k not in _BOOK})
    return out


_BOOK = ("id", "key")


def _text(value):
    """Strings with character references decoded (idempotent on already decoded text)."""
    if isinstance(value, str) and "&" in value:
        return html.unescape(value)
    return value
