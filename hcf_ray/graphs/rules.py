"""The node and link rules: a raw graph (see :mod:`.model`) and the ``graph:`` options in, an
:class:`~hcf_ray.graphs.model.ImportedNetwork` out, every number with where it came from.

**Node names**, node by node: the label mapped onto the node-id charset (:func:`safe_node_id`)
where it is non-empty, not ``"None"`` and unique in the file; else the file's id (``n<id>``
where that is taken or empty), so one bad label renames only its own node.

**Node roles**: ``hyperedge 1`` nodes are a shared medium, not a router. ``hyperedges:
contract`` (the default) removes them and joins each pair of their neighbours with one link
(unless the pair already has a direct link): the medium is no hop, and the pair's latency comes
from its own coordinates; the link's speed is the slower of the two file edges, with that
edge's provenance and ``via hyperedge NAME`` in its detail. ``hyperedges: keep`` keeps them
as nodes with role ``hyperedge`` that routes may cross but that run no codec work (a plan
that codes at one as a relay is refused; ``n_q`` lets it forward).
``Internal 0`` nodes belong to another operator: role ``external``, no codec work, and no
transit unless ``external_transit: true`` (a route may start or end there, not pass through).

**Link speed** (Mbit/s), the first that applies: the edge's ``bandwidth_mbps``;
``LinkSpeedRaw`` (bit/s); ``LinkSpeed`` × ``LinkSpeedUnits`` (k, M, G, T); a speed parsed from
``LinkLabel``, then from ``LinkType`` (:mod:`.speeds`); the configured ``bandwidth_mbps``.

**Link latency** (ms), the first that applies: the configured fixed ``latency_ms``; the edge's
``latency_ms``; great-circle km × ``route_factor`` / ``km_per_ms`` + ``per_hop_ms`` from the
endpoints' coordinates (``coordinates``, or ``estimated-coordinates`` when an endpoint's were
estimated); the configured ``default_latency_ms``. A node without valid coordinates is placed
at the centroid (on the sphere) of its located neighbours, in rounds (a node whose neighbours
were placed in one round is placed in the next), recorded as ``coords_from: neighbours``;
one with no located node in reach keeps none (``coords_from: none``).

**Parallel links** (edges between the same two nodes): ``parallel: sum`` (the default) makes
one link with the sum of the speeds and the lowest latency of its members: Zoo files draw
bundled circuits (Belnet2003's 3 × 1 Gbit/s) as parallel edges, and the simulator carries one
link per pair, so the pair's capacity is their sum; its speed rule is the weakest of the
members' (``default`` if any member is one) and its detail lists them. ``parallel: fastest``
keeps the fastest member (the lower latency among equally fast ones).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, fields

import networkx as nx

from hcf_ray.graphs.errors import GraphError
from hcf_ray.graphs.model import BANDWIDTH_RULES, ImportedLink, ImportedNetwork, ImportedNode

# the node-id charset of hcf_ray.sim.config.NODE_ID_PATTERN (a test keeps the two equal)
NODE_ID_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 _.:-]{0,62}[A-Za-z0-9_.:-])?$"
_NODE_RE = re.compile(NODE_ID_PATTERN)
EARTH_RADIUS_KM = 6371.0
_UNITS = {"": 1.0, "b": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


@dataclass(frozen=True)
class ImportOptions:
    """The ``graph:`` knobs (the same names and defaults as ``GraphImport`` of the config)."""

    bandwidth_mbps: float = 100.0  # speed of a link no rule gives one
    latency_ms: float | None = None  # a fixed latency for every link (None: the rules)
    default_latency_ms: float = 5.0  # latency of a link whose ends have no coordinates
    route_factor: float = 1.0  # fibre route length / great-circle distance
    km_per_ms: float = 200.0  # propagation speed (light in fibre)
    per_hop_ms: float = 0.1  # processing delay added to every coordinate-derived latency
    parallel: str = "sum"  # sum | fastest
    hyperedges: str = "contract"  # contract | keep
    external_transit: bool = False  # may routes pass through Internal 0 nodes

    @classmethod
    def of(cls, options) -> ImportOptions:
        """Options from ``None``, an :class:`ImportOptions`, a mapping or any object with the
        same attribute names (a config's ``GraphImport``); missing names keep their defaults."""
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        get = options.get if isinstance(options, dict) else lambda k, d: getattr(options, k, d)
        opts = cls(**{f.name: get(f.name, f.default) for f in fields(cls)})
        if opts.parallel not in ("sum", "fastest"):
            raise GraphError(f"parallel: {opts.parallel!r}: use sum or fastest")
        if opts.hyperedges not in ("contract", "keep"):
            raise GraphError(f"hyperedges: {opts.hyperedges!r}: use contract or keep")
        for name, low in (("bandwidth_mbps", 0), ("route_factor", 0), ("km_per_ms", 0)):
            x = _number(getattr(opts, name))
            if x is None or x <= low:
                raise GraphError(f"{name}: {getattr(opts, name)!r}: must be a number above 0")
        for name in ("latency_ms", "default_latency_ms", "per_hop_ms"):
            value, x = getattr(opts, name), _number(getattr(opts, name))
            if not (value is None and name == "latency_ms") and (x is None or x < 0):
                raise GraphError(f"{name}: {value!r}: must be a number, 0 or more")
        return opts


def safe_node_id(label) -> str:
    """``label`` mapped onto the node-id charset ('' when nothing is left of it)."""
    text = unicodedata.normalize("NFKD", str(label)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9 _.:-]+", "_", text)
    text = re.sub(r" +", " ", text).strip(" _.:-")[:64].rstrip(" ")
    return text if _NODE_RE.match(text) else ""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))


def apply_rules(raw: nx.MultiGraph, options=None, source: str = "") -> ImportedNetwork:
    """The imported network of a raw graph under ``options`` (see the module doc)."""
    opts = ImportOptions.of(options)
    warnings: list[str] = []
    names, label_of, renamed = _names(raw)
    if renamed:
        warnings.append(f"{renamed} node(s) named by their file id (label empty or repeated)")
    hyper = {n for n, d in raw.nodes(data=True) if _flag(d.get("hyperedge")) == 1}
    external = {n for n, d in raw.nodes(data=True) if _flag(d.get("Internal")) == 0} - hyper
    contract = opts.hyperedges == "contract"
    kept = [n for n in raw.nodes if not (contract and n in hyper)]
    directed = raw.is_directed()

    members = _members(raw, names, hyper if contract else set(), opts, warnings)
    coords, coords_from = _coordinates(raw, kept, members)
    links = []
    for group in members.values():
        rows = [_with_latency(m, coords, coords_from, opts) for m in group]
        links.append(_merge(rows, opts.parallel, directed))
    if contract and hyper:
        warnings.append(f"{len(hyper)} hyperedge node(s) contracted into direct links")

    nodes = []
    for n in kept:
        role = "hyperedge" if n in hyper else "external" if n in external else "router"
        lat, lon = coords.get(n, (None, None))
        nodes.append(
            ImportedNode(
                name=names[n],
                file_id=str(n),
                label=label_of[n],
                lat=lat,
                lon=lon,
                role=role,
                coords_from=coords_from[n],
                transit=role != "external" or bool(opts.external_transit),
                computes=role == "router",
            )
        )
    _coordinate_warnings(nodes, warnings)
    hit = sum(x.bandwidth_from == "default" for x in links)
    if hit:
        warnings.append(f"{hit} of {len(links)} links use the default speed")
    hit = sum(x.latency_from == "default" for x in links)
    if hit:
        warnings.append(f"{hit} of {len(links)} links use the default latency")
    components = _components(nodes, links)
    if len(components) > 1:
        warnings.append(
            f"{len(components)} disconnected parts (the largest has {len(components[0])} "
            f"of {len(nodes)} nodes)"
        )
    demands = [
        {**d, "src": names.get(d["src"], d["src"]), "dst": names.get(d["dst"], d["dst"])}
        for d in raw.graph.get("demands") or []
    ]
    return ImportedNetwork(
        source=str(source),
        format=str(raw.graph.get("format", "")),
        nodes=nodes,
        links=links,
        demands=demands,
        warnings=warnings,
        components=components,
    )


# -- nodes --------------------------------------------------------------------------------
def _names(raw: nx.Graph) -> tuple[dict, dict, int]:
    """File node → name, file node → label as written (None: no label), nodes renamed."""
    label_of = {}
    for n, d in raw.nodes(data=True):
        label = d.get("label")
        label_of[n] = None if label is None else str(label)
    wanted = {}
    for n, label in label_of.items():
        text = "" if label is None or label.strip() in ("", "None") else safe_node_id(label)
        if text:
            wanted[n] = text
    count = defaultdict(int)
    for text in wanted.values():
        count[text] += 1
    names = {n: text for n, text in wanted.items() if count[text] == 1}
    used = set(names.values())
    renamed = 0
    for n in raw.nodes:
        if n in names:
            continue
        renamed += label_of[n] is not None
        name = safe_node_id(n)
        if not name or name in used:
            name = safe_node_id(f"n{n}")
        base, i = name or "n", 2
        while not name or name in used:
            name, i = f"{base}-{i}", i + 1
        names[n] = name
        used.add(name)
    return names, label_of, renamed


def _flag(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _coordinates(raw: nx.Graph, kept: list, members: dict) -> tuple[dict, dict]:
    """Node → (lat, lon) and node → coords_from, with the neighbour-centroid rule."""
    coords, coords_from = {}, {}
    for n in kept:
        d = raw.nodes[n]
        lat, lon = _number(d.get("Latitude")), _number(d.get("Longitude"))
        if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
            coords[n] = (lat, lon)
            coords_from[n] = "file"
    neighbours = defaultdict(set)
    for group in members.values():
        u, v = group[0]["u"], group[0]["v"]
        neighbours[u].add(v)
        neighbours[v].add(u)
    todo = [n for n in kept if n not in coords]
    while todo:
        placed = {}
        for n in todo:
            around = [coords[m] for m in neighbours[n] if m in coords]
            centre = _centroid(around) if around else None
            if centre is not None:
                placed[n] = centre
        if not placed:
            break
        coords.update(placed)
        coords_from.update(dict.fromkeys(placed, "neighbours"))
        todo = [n for n in todo if n not in placed]
    coords_from.update(dict.fromkeys(todo, "none"))
    return coords, coords_from


def _centroid(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Mean of the points' unit vectors, back on the sphere (None when it is the centre)."""
    x = y = z = 0.0
    for lat, lon in points:
        p, q = math.radians(lat), math.radians(lon)
        x += math.cos(p) * math.cos(q)
        y += math.cos(p) * math.sin(q)
        z += math.sin(p)
    norm = math.sqrt(x * x + y * y + z * z)
    if norm < 1e-9 * len(points):
        return None
    lat = math.degrees(math.asin(max(-1.0, min(1.0, z / norm))))
    lon = math.degrees(math.atan2(y, x))
    return round(lat, 6), round(lon, 6)


def _coordinate_warnings(nodes: list[ImportedNode], warnings: list[str]) -> None:
    estimated = sum(n.coords_from == "neighbours" for n in nodes)
    if estimated:
        warnings.append(f"{estimated} node(s) placed at the centroid of their located neighbours")
    missing = sum(n.coords_from == "none" for n in nodes)
    if missing:
        warnings.append(f"{missing} node(s) without coordinates")


def _components(nodes: list[ImportedNode], links: list[ImportedLink]) -> list[list[str]]:
    g = nx.Graph()
    g.add_nodes_from(n.name for n in nodes)
    g.add_edges_from((x.src, x.dst) for x in links)
    parts = [sorted(c) for c in nx.connected_components(g)]
    return sorted(parts, key=lambda c: (-len(c), c[0]))


# -- links --------------------------------------------------------------------------------
def _members(raw, names, contracted: set, opts: ImportOptions, warnings: list) -> dict:
    """(u, v) key → the file edges (dicts) that become that link, in file order."""
    directed = raw.is_directed()
    groups: dict[tuple, list[dict]] = {}
    pos = {n: i for i, n in enumerate(raw.nodes)}

    def key(u, v):
        return (u, v) if directed else tuple(sorted((u, v), key=pos.get))

    loops = 0
    for u, v, data in raw.edges(data=True):
        if u == v:
            loops += 1
            continue
        if u in contracted or v in contracted:
            continue
        u, v = key(u, v)  # an undirected link runs from the node first in the file
        groups.setdefault((u, v), []).append({"u": u, "v": v, "data": data, "via": None})
    if loops:
        warnings.append(f"{loops} edge(s) from a node to itself left out")
    for h in [n for n in raw.nodes if n in contracted]:
        # each neighbour with its slowest edge to the medium (the medium's speed toward it)
        ends: dict = {}
        for u, v, data in raw.edges(h, data=True) if not directed else _both(raw, h):
            other = v if u == h else u
            if other == h or other in contracted:
                continue
            speed = _bandwidth(data, opts)
            if other not in ends or speed[0] < ends[other][0][0]:
                ends[other] = (speed, data)
        around = list(ends)
        for i, a in enumerate(around):
            for b in around[i + 1 :]:
                pairs = [(a, b), (b, a)] if directed else [(a, b)]
                for u, v in pairs:
                    u, v = key(u, v)
                    if (u, v) in groups:
                        continue  # a direct link (or an earlier medium) already joins them
                    slow = min((ends[a], ends[b]), key=lambda e: e[0][0])
                    via = names[h]
                    groups[u, v] = [{"u": u, "v": v, "data": slow[1], "via": via}]
    for group in groups.values():
        for m in group:
            m["bandwidth"] = _bandwidth(m["data"], opts)
            m["src_name"], m["dst_name"] = names[m["u"]], names[m["v"]]
        # the same order from either file format: fastest first, then by provenance
        group.sort(key=lambda m: (-m["bandwidth"][0], m["bandwidth"][1:]))
    # links in the file's node order (GML and GraphML may list the edges differently)
    return dict(sorted(groups.items(), key=lambda kv: (pos[kv[0][0]], pos[kv[0][1]])))


def _both(raw, h):
    yield from raw.in_edges(h, data=True)
    yield from raw.out_edges(h, data=True)


def _bandwidth(data: dict, opts: ImportOptions) -> tuple[float, str, str]:
    """(Mbit/s, rule, detail) of one file edge."""
    own = _positive(data.get("bandwidth_mbps"))
    if own is not None:
        return own, str(data.get("bandwidth_from") or "bandwidth_mbps"), ""
    raw_bps = _positive(data.get("LinkSpeedRaw"))
    if raw_bps is not None:
        return raw_bps / 1e6, "LinkSpeedRaw", f"LinkSpeedRaw {data['LinkSpeedRaw']!r} bit/s"
    speed = _positive(data.get("LinkSpeed"))
    units = str(data.get("LinkSpeedUnits", "")).strip()
    if speed is not None and units[:1].lower() in _UNITS:
        mbps = speed * _UNITS[units[:1].lower()] / 1e6
        return mbps, "LinkSpeed", f"LinkSpeed {data['LinkSpeed']} {units}".rstrip()
    for attr in ("LinkLabel", "LinkType"):
        text = data.get(attr)
        if isinstance(text, str) and text.strip():
            parsed = _parse_speed(text)
            if parsed is not None and parsed.mbps > 0:
                return float(parsed.mbps), attr, f"{attr} {text.strip()!r}: {parsed.detail}"
    return float(opts.bandwidth_mbps), "default", ""


def _parse_speed(text: str):
    """:func:`hcf_ray.graphs.speeds.parse_speed` where that module is installed, else None."""
    try:
        from hcf_ray.graphs.speeds import parse_speed
    except ImportError:
        return None
    return parse_speed(text)


def _with_latency(m: dict, coords: dict, coords_from: dict, opts: ImportOptions) -> dict:
    """The member with its latency (ms), latency rule and latency detail."""
    data = m["data"] if m["via"] is None else {}
    if opts.latency_ms is not None:
        return {**m, "latency": float(opts.latency_ms), "latency_from": "fixed"}
    own = _number(data.get("latency_ms"))
    if own is not None and own >= 0:
        return {**m, "latency": own, "latency_from": str(data.get("latency_from") or "latency_ms")}
    u, v = m["u"], m["v"]
    if u in coords and v in coords:
        km = haversine_km(*coords[u], *coords[v])
        ms = round(km * opts.route_factor / opts.km_per_ms + opts.per_hop_ms, 6)
        estimated = "neighbours" in (coords_from[u], coords_from[v])
        rule = "estimated-coordinates" if estimated else "coordinates"
        return {**m, "latency": ms, "latency_from": rule, "km": km}
    return {**m, "latency": float(opts.default_latency_ms), "latency_from": "default"}


def _rank(rule: str) -> int:
    return BANDWIDTH_RULES.index(rule) if rule in BANDWIDTH_RULES else 1


def _merge(rows: list[dict], parallel: str, directed: bool) -> ImportedLink:
    first = rows[0]
    fastest = min(rows, key=lambda r: (-r["bandwidth"][0], r["latency"]))
    quickest = min(rows, key=lambda r: r["latency"])
    if len(rows) == 1 or parallel == "fastest":
        pick = fastest
        mbps, rule, detail = pick["bandwidth"]
        latency, latency_from = pick["latency"], pick["latency_from"]
        if len(rows) > 1:
            detail = f"fastest of {len(rows)} parallel links" + (f"; {detail}" if detail else "")
    else:
        mbps = sum(r["bandwidth"][0] for r in rows)
        rule = max((r["bandwidth"][1] for r in rows), key=_rank)
        parts = [f"{_fmt(r['bandwidth'][0])} Mbit/s ({r['bandwidth'][1]})" for r in rows]
        detail = f"sum of {len(rows)} parallel links: " + " + ".join(parts)
        latency, latency_from = quickest["latency"], quickest["latency_from"]
    if first["via"] is not None:
        detail = f"via hyperedge {first['via']}" + (f"; {detail}" if detail else "")
    return ImportedLink(
        src=first["src_name"],
        dst=first["dst_name"],
        bandwidth_mbps=round(mbps, 9),
        latency_ms=latency,
        bandwidth_from=rule,
        latency_from=latency_from,
        detail=detail,
        members=len(rows),
        directed=directed,
    )


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _positive(v) -> float | None:
    x = _number(v)
    return x if x is not None and x > 0 else None
