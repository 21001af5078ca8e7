"""GraphML / GML import (Internet Topology Zoo style) into node and link configs.

Node ids are the nodes' ``label`` attributes (the Zoo's city names) when they are unique,
else the file's own ids, mapped onto the node-id charset of :mod:`hcf_ray.sim.config`
(accents dropped, other characters outside it replaced by ``_``, at most 64 characters:
``São Paulo`` → ``Sao Paulo``, ``a/b`` → ``a_b``; ``n<i>`` when that leaves nothing unique).
At most ``MAX_NODES`` nodes and ``MAX_LINKS`` links; a bandwidth or latency in the file
outside the YAML limits is an error naming the edge.

Per edge, bandwidth comes from ``bandwidth_mbps``, ``LinkSpeedRaw`` (bit/s, the Zoo's field)
or ``LinkSpeed`` + ``LinkSpeedUnits``, else the import default; latency from ``latency_ms``,
else from the great-circle distance between the endpoints' ``Latitude``/``Longitude`` at
200 km/ms (light in fibre), else 5 ms. Undirected graphs give links both ways; parallel edges
(``multigraph 1``) keep the fastest.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import networkx as nx
from pydantic import ValidationError

from hcf_ray.sim.config import (
    MAX_FILE_BYTES,
    MAX_LINKS,
    MAX_NODES,
    NODE_ID_PATTERN,
    ConfigError,
    GraphImport,
    LinkConfig,
    NodeConfig,
    pydantic_error,
)

DEFAULT_LATENCY_MS = 5.0
FIBRE_KM_PER_MS = 200.0
_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def read_graph(path: Path) -> nx.Graph:
    suffix = path.suffix.lower()
    if suffix not in (".gml", ".graphml", ".xml"):
        raise ConfigError(f"{path}: unknown graph format (use .gml or .graphml)", "graph.file")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", "graph.file"
            )
        if suffix == ".gml":
            try:
                return nx.read_gml(path, label="label")
            except nx.NetworkXError:  # duplicate or missing labels: fall back to ids
                return nx.read_gml(path, label="id")
        return nx.read_graphml(path)
    except ConfigError:
        raise
    except Exception as exc:  # any parser failure (networkx, XML, decoding, recursion)
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"cannot read {path}: {type(exc).__name__}: {msg}".rstrip(": "), "graph.file"
        ) from None


def import_graph(spec: GraphImport, path: Path) -> tuple[list[NodeConfig], list[LinkConfig]]:
    """Nodes and links of a GraphML/GML file as configs (roles default to ``relay``)."""
    try:
        found = path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"graph file {spec.file!r} not found", "graph.file")
    g = read_graph(path)
    if g.number_of_nodes() > MAX_NODES or g.number_of_edges() > MAX_LINKS:
        raise ConfigError(
            f"{g.number_of_nodes()} nodes, {g.number_of_edges()} edges: at most {MAX_NODES} "
            f"nodes and {MAX_LINKS} links per network",
            "graph.file",
        )
    names = _node_names(g)
    nodes = [NodeConfig(id=names[n]) for n in g.nodes]
    best: dict[tuple[str, str], LinkConfig] = {}
    for u, v, data in g.edges(data=True):
        if u == v:
            continue
        try:
            link = LinkConfig(
                src=names[u],
                dst=names[v],
                bandwidth_mbps=_bandwidth_mbps(data, spec.bandwidth_mbps),
                latency_ms=_latency_ms(data, g.nodes[u], g.nodes[v], spec.latency_ms),
                directed=g.is_directed(),
            )
        except ValidationError as exc:
            err = pydantic_error(exc)
            raise ConfigError(
                f"edge {names[u]!r}–{names[v]!r}: {err.field}: {err.message}", "graph.file"
            ) from None
        key = (link.src, link.dst) if g.is_directed() else tuple(sorted((link.src, link.dst)))
        if key not in best or link.bandwidth_mbps > best[key].bandwidth_mbps:
            best[key] = link
    return nodes, list(best.values())


_NODE_RE = re.compile(NODE_ID_PATTERN)


def safe_node_id(label) -> str:
    """``label`` mapped onto the node-id charset ('' when nothing is left of it)."""
    text = unicodedata.normalize("NFKD", str(label)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9 _.:-]+", "_", text)
    text = re.sub(r" +", " ", text).strip(" _.:-")[:64].rstrip(" ")
    return text if _NODE_RE.match(text) else ""


def _node_names(g: nx.Graph) -> dict:
    """File node → node id: the labels if they map to unique ids, else the file's ids, else
    ``n0``, ``n1``, …"""
    for raw in (
        [g.nodes[n].get("label", n) for n in g.nodes],
        list(g.nodes),
    ):
        ids = [safe_node_id(x) for x in raw]
        if all(ids) and len(set(ids)) == len(ids):
            return dict(zip(g.nodes, ids))
    return {n: f"n{i}" for i, n in enumerate(g.nodes)}


def _bandwidth_mbps(data: dict, default: float) -> float:
    if _positive(data.get("bandwidth_mbps")):
        return float(data["bandwidth_mbps"])
    if _positive(data.get("LinkSpeedRaw")):
        return float(data["LinkSpeedRaw"]) / 1e6
    speed, units = data.get("LinkSpeed"), str(data.get("LinkSpeedUnits", "")).strip().lower()
    if _positive(speed) and units[:1] in _UNITS:
        return float(speed) * _UNITS[units[:1]] / 1e6
    return default


def _latency_ms(data: dict, a: dict, b: dict, fixed: float | None) -> float:
    if fixed is not None:
        return fixed
    if _number(data.get("latency_ms")) and float(data["latency_ms"]) >= 0:
        return float(data["latency_ms"])
    coords = [a.get("Latitude"), a.get("Longitude"), b.get("Latitude"), b.get("Longitude")]
    if all(_number(c) for c in coords) and all(
        abs(float(c)) <= lim for c, lim in zip(coords, (90, 180, 90, 180))
    ):
        return round(haversine_km(*map(float, coords)) / FIBRE_KM_PER_MS, 3)
    return DEFAULT_LATENCY_MS


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))


def _number(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _positive(v) -> bool:
    return _number(v) and float(v) > 0
