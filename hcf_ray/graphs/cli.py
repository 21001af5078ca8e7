"""What ``hcf-sim graph FILE`` shows of an imported network, as text, JSON or an editable
topology YAML, and the rule summary ``hcf-sim validate`` prints too.

The command itself (arguments, loading a graph file or a topology YAML, ``--plot``) is
:mod:`hcf_ray.graph_cli`; everything here works on an
:class:`~hcf_ray.graphs.model.ImportedNetwork` and imports neither the simulator nor torch
or Ray.

* :func:`with_yaml` lays a topology YAML's own ``nodes:`` / ``links:`` over the network
  imported by its ``graph:`` section (or over nothing), as the simulator does: a YAML link
  replaces the imported link between the same nodes; its provenance is ``yaml``.
* :func:`text_report`: the nodes (name, label as written, latitude, longitude, role), the
  links (ends, Mbit/s, ms, and the rule each number came from, with its detail), then
  :func:`summary_lines`.
* :func:`json_report`: one object, ``nodes``, ``links`` (one per undirected link),
  ``summary`` (counts per rule), ``link_table_sha256``, ``default_links``, ``warnings``.
* :func:`topology_yaml`: a topology YAML ``hcf-sim validate`` loads, every link's
  provenance and every node's label, coordinates and role in comments, an example flow.
* :func:`default_warning`: one line when more than :data:`DEFAULT_WARN_SHARE` of the links
  take their speed or latency from a configured default.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hcf_ray.graphs.model import ImportedLink, ImportedNetwork, ImportedNode

DEFAULT_WARN_SHARE = 0.10  # warn when more than this share of links use a default
YAML_PROVENANCE = "yaml"  # bandwidth_from / latency_from of a link written in the YAML
ZOO_ATTRIBUTION = (
    "Internet Topology Zoo (topology-zoo.org), licence CC BY 4.0; cite S. Knight et al., "
    '"The Internet Topology Zoo", IEEE JSAC 29(9), 2011'
)


# -- a topology YAML's own nodes and links --------------------------------------------------
def with_yaml(
    imported: ImportedNetwork | None,
    nodes: Iterable[Any] = (),
    links: Iterable[Any] = (),
    source: str = "",
) -> ImportedNetwork:
    """``imported`` (None: an empty network) with a YAML's nodes and links laid over it.

    ``nodes`` have ``id`` and ``role``; ``links`` ``src``, ``dst``, ``bandwidth_mbps``,
    ``latency_ms`` and ``directed`` (the simulator's NodeConfig / LinkConfig). A YAML node
    that the file has already keeps the file's label and coordinates; a new one has none and
    its YAML role. A YAML link replaces the imported one between the same two nodes (the
    same direction for a directed link)."""
    nodes, links = list(nodes), list(links)
    if imported is not None and not nodes and not links:
        return replace(imported, source=source or imported.source)
    out_nodes: dict[str, ImportedNode] = {n.name: n for n in imported.nodes} if imported else {}
    for n in nodes:
        if n.id not in out_nodes:
            out_nodes[n.id] = ImportedNode(
                name=n.id,
                file_id=n.id,
                label=None,
                lat=None,
                lon=None,
                role=str(getattr(n, "role", "relay")),
                coords_from="none",
            )
    out_links: dict[tuple, ImportedLink] = {}
    for x in imported.links if imported else ():
        out_links[_key(x.src, x.dst, x.directed)] = x
    for i, x in enumerate(links):
        directed = bool(getattr(x, "directed", False))
        if not directed:  # both directions of the file's link(s) between the two
            for key in (_key(x.src, x.dst, False), (x.src, x.dst, True), (x.dst, x.src, True)):
                out_links.pop(key, None)
        out_links[_key(x.src, x.dst, directed)] = ImportedLink(
            src=x.src,
            dst=x.dst,
            bandwidth_mbps=float(x.bandwidth_mbps),
            latency_ms=float(x.latency_ms),
            bandwidth_from=YAML_PROVENANCE,
            latency_from=YAML_PROVENANCE,
            detail=f"links[{i}]",
            directed=directed,
        )
    return ImportedNetwork(
        source=source or (imported.source if imported else ""),
        format=imported.format if imported else "yaml",
        nodes=list(out_nodes.values()),
        links=list(out_links.values()),
        demands=list(imported.demands) if imported else [],
        warnings=list(imported.warnings) if imported else [],
        components=[list(c) for c in imported.components] if imported and not links else [],
    )


def _key(u: str, v: str, directed: bool) -> tuple:
    return (u, v, True) if directed else (*sorted((u, v)), False)


# -- summary and warning --------------------------------------------------------------------
def default_links(net: ImportedNetwork) -> dict[str, int]:
    """Links whose speed, latency, or either comes from a configured default."""
    bw = sum(x.bandwidth_from == "default" for x in net.links)
    lat = sum(x.latency_from == "default" for x in net.links)
    either = sum(x.bandwidth_from == "default" or x.latency_from == "default" for x in net.links)
    return {"bandwidth": bw, "latency": lat, "either": either}


def default_warning(net: ImportedNetwork) -> str | None:
    """One line when more than 10 % of the links use a default speed or latency, else None."""
    d, n = default_links(net), len(net.links)
    if not n or d["either"] <= DEFAULT_WARN_SHARE * n:
        return None
    return (
        f"{d['either']} of {n} links ({100 * d['either'] / n:.0f} %) use a default: "
        f"speed on {d['bandwidth']}, latency on {d['latency']} "
        "(`hcf-sim graph FILE` lists them)"
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summary_lines(net: ImportedNetwork) -> list[str]:
    """How many links took each speed and latency rule, nodes per role and coordinate rule
    (each line without indentation)."""
    s = net.summary()
    lines = [
        f"{s['links']} links by speed rule: {_counts(s['bandwidth_from']) or 'none'}",
        f"{s['links']} links by latency rule: {_counts(s['latency_from']) or 'none'}",
        f"{s['nodes']} nodes by role: {_counts(s['roles']) or 'none'}; "
        f"coordinates: {_counts(s['coords_from']) or 'none'}",
    ]
    extra = []
    if s["parallel_merged"]:
        extra.append(f"{s['parallel_merged']} parallel file edges merged")
    if s["components"] > 1:
        extra.append(f"{s['components']} disconnected parts")
    if extra:
        lines.append("; ".join(extra))
    return lines


# -- text -----------------------------------------------------------------------------------
def _num(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _mbps(v: float) -> str:
    """Mbit/s to the kbit/s (and no further: 19906.56, 100, 0.064)."""
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def text_report(net: ImportedNetwork) -> str:
    """The network as tables: nodes, links with the rule of each number, the summary."""
    lines = [f"network {net.source} ({net.format}): {len(net.nodes)} nodes, {len(net.links)} links"]
    lines.append("nodes:")
    lines += _table(
        ["name", "label", "lat", "lon", "coordinates", "role"],
        [
            [
                n.name,
                "-" if n.label is None else repr(n.label),
                _num(n.lat, 4),
                _num(n.lon, 4),
                n.coords_from,
                n.role,
            ]
            for n in net.nodes
        ],
        right={2, 3},
    )
    lines.append("links:")
    lines += _table(
        ["u", "v", "Mbit/s", "ms", "speed from", "latency from", "detail"],
        [
            [
                x.src,
                ("→ " if x.directed else "") + x.dst,
                _mbps(x.bandwidth_mbps),
                f"{x.latency_ms:.3f}",
                x.bandwidth_from,
                x.latency_from,
                x.detail
                + (
                    f" ({x.members} file edges)"
                    if x.members > 1 and "parallel" not in x.detail
                    else ""
                ),
            ]
            for x in net.links
        ],
        right={2, 3},
    )
    lines.append("summary:")
    lines += ["  " + line for line in summary_lines(net)]
    if net.demands:
        lines.append(f"  {len(net.demands)} traffic demands in the file (kept, not simulated)")
    lines += ["  note: " + w for w in net.warnings]
    return "\n".join(lines) + "\n"


# -- JSON -----------------------------------------------------------------------------------
def json_report(net: ImportedNetwork) -> dict:
    """One JSON object: ``nodes``, ``links``, ``summary`` and the link table's sha256."""
    out = net.to_json()
    for row, node in zip(out["nodes"], net.nodes):
        row["coords_from"] = node.coords_from
    for row, link in zip(out["links"], net.links):
        row["directed"] = link.directed
    out["default_links"] = default_links(net)
    out["demands"] = [dict(d) for d in net.demands]
    return out


def network_from_json(doc: dict) -> ImportedNetwork:
    """The network of a :func:`json_report` object (what ``summary.json`` keeps as
    ``graph``), enough to draw it: nodes with their coordinates and roles, links with their
    numbers and rules."""
    nodes = [
        ImportedNode(
            name=str(n["name"]),
            file_id=str(n["name"]),
            label=n.get("label"),
            lat=n.get("lat"),
            lon=n.get("lon"),
            role=str(n.get("role", "router")),
            coords_from=str(n.get("coords_from", "file")),
        )
        for n in doc.get("nodes") or ()
    ]
    links = [
        ImportedLink(
            src=str(x["src"]),
            dst=str(x["dst"]),
            bandwidth_mbps=float(x["bandwidth_mbps"]),
            latency_ms=float(x["latency_ms"]),
            bandwidth_from=str(x["bandwidth_from"]),
            latency_from=str(x["latency_from"]),
            detail=str(x.get("detail", "")),
            members=int(x.get("members", 1)),
            directed=bool(x.get("directed", False)),
        )
        for x in doc.get("links") or ()
    ]
    return ImportedNetwork(
        source=str(doc.get("source", "")),
        format=str(doc.get("format", "")),
        nodes=nodes,
        links=links,
        warnings=list(doc.get("warnings") or ()),
    )


def network_of(config: Any, topology: Any) -> ImportedNetwork | None:
    """The network a topology YAML with a ``graph:`` section runs on: the network its
    topology imported (``topology.imported``) with the YAML's own nodes and links laid
    over it; None without a ``graph:`` section."""
    if getattr(config, "graph", None) is None:
        return None
    imported = getattr(topology, "imported", None)
    if imported is None:
        return None
    return with_yaml(imported, config.nodes, config.links)


# -- an editable topology YAML --------------------------------------------------------------
_ZOO_MARK = re.compile(rb'Creator\s+"Topology Zoo Toolset"|>Topology Zoo Toolset<')


def attribution_of(path: str | Path) -> str | None:
    """Who made a graph file and under which licence, where that is known: a Topology Zoo
    file (its ``Creator`` is the Zoo's toolset), else the first line of a README next to
    it (or one folder up) and the LICENSE file there."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        head = b""
    if _ZOO_MARK.search(head):
        return ZOO_ATTRIBUTION
    for folder in (path.parent, path.parent.parent):
        readme = next((p for p in sorted(folder.glob("README*")) if p.is_file()), None)
        if readme is None:
            continue
        try:
            first = readme.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        except (OSError, IndexError):
            continue
        licence = next((p for p in sorted(folder.glob("LICEN[CS]E*")) if p.is_file()), None)
        text = first.lstrip("# ").strip()
        return f"{text} (see {readme}" + (f" and {licence})" if licence else ")")
    return None


def _comment(text: str) -> str:
    """``text`` safe inside a one-line YAML comment (no line breaks or control characters)."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def _s(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML string


def _f(value: float) -> str:
    return repr(float(value))


def _name_of(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).stem).strip("_.-")[:64]
    return stem or "imported"


def example_flow(net: ImportedNetwork) -> tuple[str, str] | None:
    """A source and a destination for the YAML's example flow: the first computing node
    of the largest connected part and the node farthest from it in hops (the first such in
    file order); None with fewer than two connected nodes."""
    adj: dict[str, list[str]] = {n.name: [] for n in net.nodes}
    for x in net.links:
        if x.src in adj and x.dst in adj:
            adj[x.src].append(x.dst)
            adj[x.dst].append(x.src)
    order = {n.name: i for i, n in enumerate(net.nodes)}
    best: tuple[int, int, str, str] | None = None
    seen: set[str] = set()
    for n in net.nodes:
        if n.name in seen or not n.computes:
            continue
        dist = {n.name: 0}
        todo = deque([n.name])
        while todo:
            u = todo.popleft()
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    todo.append(v)
        seen |= set(dist)
        far = max(dist, key=lambda v: (dist[v], -order[v]))
        if far != n.name and (best is None or len(dist) > best[0]):
            best = (len(dist), dist[far], n.name, far)
    return None if best is None else (best[2], best[3])


def topology_yaml(net: ImportedNetwork, attribution: str | None = None) -> str:
    """The network as a topology YAML (nodes, links and an example flow to edit), which
    ``hcf-sim validate`` and ``run`` load; the provenance of every number is in comments."""
    out = [
        f"# Imported from {_comment(net.source)} ({net.format}) by `hcf-sim graph --format yaml`.",
    ]
    if attribution:
        out.append(f"# Source and licence: {_comment(attribution)}")
    out += [
        "# Each node's comment: its label in the file, latitude and longitude (degrees), role;",
        "# each link's comment: where its speed and latency came from. Edit freely.",
        f"name: {_s(_name_of(net.source))}",
        "codec: default",
        "transport: latent",
        "nodes:",
    ]
    for n in net.nodes:
        where = "no coordinates" if n.lat is None or n.lon is None else f"{n.lat:.5f}, {n.lon:.5f}"
        if n.coords_from not in ("file", "none"):
            where += f" ({n.coords_from})"
        label = "no label" if n.label is None else f"label {n.label!r}"
        notes = [label, where, n.role]
        if not n.computes:
            notes.append("runs no codec in the file's rules")
        if not n.transit:
            notes.append("not transit in the file's rules")
        out.append(f"  - {{id: {_s(n.name)}}}  # {_comment('; '.join(notes))}")
    out.append("links:")
    for x in net.links:
        fields = [
            f"src: {_s(x.src)}",
            f"dst: {_s(x.dst)}",
            f"bandwidth_mbps: {_f(x.bandwidth_mbps)}",
            f"latency_ms: {_f(x.latency_ms)}",
        ]
        if x.directed:
            fields.append("directed: true")
        why = f"speed: {x.bandwidth_from}; latency: {x.latency_from}"
        if x.detail:
            why += f"; {x.detail}"
        if x.members > 1 and "parallel" not in x.detail:
            why += f"; {x.members} file edges"
        out.append(f"  - {{{', '.join(fields)}}}  # {_comment(why)}")
    if not net.links:
        out[-1] = "links: []"
    pair = example_flow(net)
    if pair is None:
        out.append("# no two connected nodes: add a flow to run this network")
    else:
        src, dst = pair
        out += [
            "flows:  # an example: edit the source, the destinations and the methods",
            "  - name: example",
            f"    source: {_s(src)}",
            f"    destinations: [{{node: {_s(dst)}, level: 1}}]",
            "    methods: [hcf, drf, ssf]",
            "    images: samples",
        ]
    return "\n".join(out) + "\n"
