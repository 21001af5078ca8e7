"""What an imported network is: nodes and links, each number with where it came from.

Every reader (:mod:`.zoo` for Topology Zoo GML / GraphML, :mod:`.sndlib`, :mod:`.rocketfuel`)
turns a file into a *raw graph*: a ``networkx.MultiGraph`` (``MultiDiGraph`` for directed
files) whose attributes use the Topology Zoo's names, whatever the format:

* graph: ``format`` (``"gml"``, ``"graphml"``, ``"sndlib-native"``, ``"sndlib-xml"``,
  ``"rocketfuel"``), ``demands`` (SNDlib demands: a list of ``{"src", "dst", "value_mbps"}``,
  else absent);
* node: ``label`` (as written, entities decoded), ``Latitude`` / ``Longitude`` (floats, absent
  when unknown), ``hyperedge`` (1 for a shared medium drawn as a node), ``Internal`` (0 for
  another operator's node);
* edge: any of ``bandwidth_mbps``, ``LinkSpeedRaw`` (bit/s), ``LinkSpeed`` +
  ``LinkSpeedUnits``, ``LinkLabel``, ``LinkType``, ``latency_ms``; a reader whose format has
  its own meaning for a number also sets ``bandwidth_from`` / ``latency_from`` (e.g.
  ``"sndlib:capacity"``, ``"rocketfuel:latency"``) to name the rule in the provenance.

:mod:`.rules` then applies the node and link rules of the ``graph:`` options and gives an
:class:`ImportedNetwork`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

# Where a link's speed came from, in the order the rules try them (plus reader-specific
# names such as "sndlib:capacity" / "sndlib:module"). "default" is the configured default.
BANDWIDTH_RULES = (
    "bandwidth_mbps",
    "LinkSpeedRaw",
    "LinkSpeed",
    "LinkLabel",
    "LinkType",
    "default",
)
# Where a link's latency came from: a fixed latency_ms of the graph: options, the edge's own
# latency_ms, the endpoints' coordinates, coordinates of which at least one was estimated
# (see ImportedNode.coords_from), or the configured default.
LATENCY_RULES = ("fixed", "latency_ms", "coordinates", "estimated-coordinates", "default")
ROLES = ("router", "hyperedge", "external")


@dataclass(frozen=True)
class ImportedNode:
    name: str  # the node id configs use: the label where unique and non-empty, else the id
    file_id: str  # the node's id in the file
    label: str | None  # the label as written (None: the file has none)
    lat: float | None
    lon: float | None
    role: str = "router"  # router | hyperedge (a shared medium) | external (another operator)
    coords_from: str = "file"  # file | neighbours (centroid of located neighbours) | none
    transit: bool = True  # may routes pass through it (external nodes: no, by default)
    computes: bool = True  # may it run codec work (hyperedges and external nodes: no)


@dataclass(frozen=True)
class ImportedLink:
    src: str
    dst: str
    bandwidth_mbps: float
    latency_ms: float
    bandwidth_from: str  # one of BANDWIDTH_RULES or a reader-specific rule name
    latency_from: str  # one of LATENCY_RULES or a reader-specific rule name
    detail: str = ""  # e.g. "LinkLabel 'OC-192c' → OC-192", "range 1-20Gbps: lower bound"
    members: int = 1  # parallel file edges merged into this link
    directed: bool = False


@dataclass
class ImportedNetwork:
    source: str  # the file, as given
    format: str
    nodes: list[ImportedNode]
    links: list[ImportedLink]  # one per (undirected) link, after the parallel-link rule
    demands: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    components: list[list[str]] = field(default_factory=list)  # node names, largest first

    def summary(self) -> dict:
        """Counts per rule: links per bandwidth and latency rule, nodes per role and per
        coordinate rule, merged parallel links, components."""
        return {
            "nodes": len(self.nodes),
            "links": len(self.links),
            "bandwidth_from": dict(sorted(Counter(x.bandwidth_from for x in self.links).items())),
            "latency_from": dict(sorted(Counter(x.latency_from for x in self.links).items())),
            "roles": dict(sorted(Counter(n.role for n in self.nodes).items())),
            "coords_from": dict(sorted(Counter(n.coords_from for n in self.nodes).items())),
            "parallel_merged": sum(x.members - 1 for x in self.links),
            "components": len(self.components) or 1,
        }

    def link_table(self) -> list[dict]:
        return [asdict(x) for x in self.links]

    def link_table_sha256(self) -> str:
        """sha256 of the link table as canonical JSON (what ``summary.json`` records)."""
        text = json.dumps(self.link_table(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def default_share(self) -> float:
        """Share of links whose speed or latency is a configured default."""
        if not self.links:
            return 0.0
        hit = sum(x.bandwidth_from == "default" or x.latency_from == "default" for x in self.links)
        return hit / len(self.links)

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "nodes": [
                {"name": n.name, "label": n.label, "lat": n.lat, "lon": n.lon, "role": n.role}
                for n in self.nodes
            ],
            "links": [
                {
                    "src": x.src,
                    "dst": x.dst,
                    "bandwidth_mbps": x.bandwidth_mbps,
                    "latency_ms": x.latency_ms,
                    "bandwidth_from": x.bandwidth_from,
                    "latency_from": x.latency_from,
                    "detail": x.detail,
                    "members": x.members,
                }
                for x in self.links
            ],
            "summary": self.summary(),
            "link_table_sha256": self.link_table_sha256(),
            "warnings": list(self.warnings),
        }
