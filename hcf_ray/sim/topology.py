"""The network as a NetworkX ``DiGraph``, shortest-path routing and multicast trees.

Nodes carry a :class:`NodeSpec` (Ray resources, speed factor); every directed edge carries
``bandwidth_mbps``, ``latency_ms``, ``loss`` plus the derived routing weights ``hops`` (1)
and ``inv_bandwidth`` (1/Mbit/s). A flow's multicast tree is the union of the shortest paths
from its source to its destinations taken from one Dijkstra run, so the paths share their
prefixes and form a tree (a relay where they part is a fork).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from hcf_ray.sim.config import (
    MAX_LINKS,
    MAX_NODES,
    ConfigError,
    LinkConfig,
    NodeConfig,
    NodeDefaults,
    SimConfig,
)

if TYPE_CHECKING:
    from hcf_ray.graphs.model import ImportedNetwork

ROUTING_WEIGHTS = ("latency_ms", "hops", "inv_bandwidth")


@dataclass(frozen=True)
class NodeSpec:
    id: str
    role: str = "relay"
    num_cpus: float = 0.25
    num_gpus: float | str = "auto"
    resources: Mapping[str, float] = field(default_factory=dict)
    speed: float = 1.0
    cores: int = 1
    device: Any = None  # DeviceConfig, a device name, or None (resolved by the scenario)


@dataclass(frozen=True)
class LinkSpec:
    src: str
    dst: str
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0


@dataclass(frozen=True)
class MulticastTree:
    """Routes of one flow: ``paths[dest]`` from the source; prefix-closed, hence a tree."""

    source: str
    paths: Mapping[str, tuple[str, ...]]

    @property
    def edges(self) -> list[tuple[str, str]]:
        seen: dict[tuple[str, str], None] = {}
        for path in self.paths.values():
            for e in itertools.pairwise(path):
                seen.setdefault(e, None)
        return list(seen)

    def children(self, node: str) -> list[str]:
        return [v for u, v in self.edges if u == node]


class Topology:
    """Nodes and directed links of one simulated network."""

    def __init__(
        self,
        nodes: Iterable[NodeSpec],
        links: Iterable[LinkSpec],
        name: str = "",
        imported: ImportedNetwork | None = None,
    ):
        self.name = name
        # the graph file's network (rules and provenance), None without a graph: file
        self.imported = imported
        # nodes a route may start or end at but not pass through (imported external nodes)
        self.non_transit = frozenset(
            n.name for n in (imported.nodes if imported else ()) if not n.transit
        )
        self.graph = nx.DiGraph()
        for n in nodes:
            self.graph.add_node(n.id, spec=n)
        for link in links:
            self.graph.add_edge(
                link.src,
                link.dst,
                spec=link,
                bandwidth_mbps=link.bandwidth_mbps,
                latency_ms=link.latency_ms,
                loss=link.loss,
                hops=1,
                inv_bandwidth=1.0 / link.bandwidth_mbps,
            )

    @property
    def nodes(self) -> dict[str, NodeSpec]:
        return {n: d["spec"] for n, d in self.graph.nodes(data=True)}

    @property
    def links(self) -> dict[tuple[str, str], LinkSpec]:
        return {(u, v): d["spec"] for u, v, d in self.graph.edges(data=True)}

    def link(self, u: str, v: str) -> LinkSpec:
        return self.graph.edges[u, v]["spec"]

    def node(self, n: str) -> NodeSpec:
        return self.graph.nodes[n]["spec"]

    def check_weight(self, weight: str) -> None:
        if weight in ROUTING_WEIGHTS:
            return
        if not all(isinstance(d.get(weight), int | float) for *_, d in self.graph.edges(data=True)):
            raise ValueError(
                f"unknown routing weight {weight!r}: use {', '.join(ROUTING_WEIGHTS)} "
                "or a numeric link attribute"
            )

    def multicast_tree(
        self, source: str, destinations: Sequence[str], weight: str = "latency_ms"
    ) -> MulticastTree:
        """Shortest paths (by ``weight``) from ``source``; raises for unreachable nodes."""
        self.check_weight(weight)
        cost = weight
        if self.non_transit - {source}:
            blocked = self.non_transit - {source}

            def cost(u, v, d):  # no edge out of a non-transit node: no route through it
                return None if u in blocked else d[weight]

        _, paths = nx.single_source_dijkstra(self.graph, source, weight=cost)
        missing = [d for d in destinations if d not in paths]
        if missing:
            raise Unreachable(missing[0], source, self._part_hint(source, missing[0], cost))
        return MulticastTree(source, {d: tuple(paths[d]) for d in destinations})

    def _part_hint(self, source: str, node: str, cost) -> str:
        """Why ``node`` is out of reach in an imported graph: the disconnected parts, or the
        nodes routes may not pass through."""
        if self.imported is None:
            return ""
        parts = self.imported.components
        where = {n: i for i, part in enumerate(parts) for n in part}
        if len(parts) > 1 and where.get(source) != where.get(node) and node in where:
            size = len(parts[where[node]])
            return (
                f": the graph file has {len(parts)} disconnected parts; {node!r} is in one "
                f"of {size} node(s)" + (f", {source!r} in another" if source in where else "")
            )
        if not isinstance(cost, str) and nx.has_path(self.graph, source, node):
            return " (routes do not pass through external nodes: graph.external_transit)"
        return ""


class Unreachable(ValueError):
    def __init__(self, node: str, source: str, hint: str = ""):
        self.node = node
        super().__init__(f"node {node!r} is unreachable from source {source!r}{hint}")


# -- from a config ------------------------------------------------------------------------
def node_spec(cfg: NodeConfig, defaults: NodeDefaults) -> NodeSpec:
    return NodeSpec(
        id=cfg.id,
        role=cfg.role,
        num_cpus=defaults.num_cpus if cfg.num_cpus is None else cfg.num_cpus,
        num_gpus=defaults.num_gpus if cfg.num_gpus is None else cfg.num_gpus,
        resources=dict(defaults.resources if cfg.resources is None else cfg.resources),
        speed=defaults.speed if cfg.speed is None else cfg.speed,
        cores=defaults.cores if cfg.cores is None else cfg.cores,
        device=defaults.device if cfg.device is None else cfg.device,
    )


def build_topology(cfg: SimConfig) -> Topology:
    """Nodes and links of a config (imported graph first, then YAML entries override/add)."""
    from hcf_ray.sim.graphio import import_network

    node_cfgs: dict[str, NodeConfig] = {}
    link_cfgs: list[tuple[str, LinkConfig]] = []
    imported = None
    if cfg.graph is not None:
        imported, imported_nodes, imported_links = import_network(cfg.graph, Path(cfg.graph.file))
        node_cfgs.update((n.id, n) for n in imported_nodes)
        link_cfgs += [("graph.file", link) for link in imported_links]
    yaml_ids: set[str] = set()
    for i, n in enumerate(cfg.nodes):
        if n.id in yaml_ids:
            raise ConfigError(f"duplicate node id {n.id!r}", f"nodes[{i}].id")
        yaml_ids.add(n.id)
        node_cfgs[n.id] = n
    link_cfgs += [(f"links[{i}]", link) for i, link in enumerate(cfg.links)]
    if not node_cfgs:
        raise ConfigError("no nodes (give 'nodes' or a 'graph' file)", "nodes")
    if len(node_cfgs) > MAX_NODES:
        raise ConfigError(f"{len(node_cfgs)} nodes: at most {MAX_NODES} per network", "nodes")
    if len(link_cfgs) > MAX_LINKS:
        raise ConfigError(f"{len(link_cfgs)} links: at most {MAX_LINKS} per network", "links")
    directed: dict[tuple[str, str], LinkSpec] = {}
    given: dict[tuple[str, str], tuple[str, LinkConfig]] = {}  # YAML links only
    for where, link in link_cfgs:
        for end in ("src", "dst"):
            if getattr(link, end) not in node_cfgs:
                raise ConfigError(f"unknown node {getattr(link, end)!r}", f"{where}.{end}")
        if link.src == link.dst:
            raise ConfigError(f"link from {link.src!r} to itself", where)
        pairs = [(link.src, link.dst)] + ([] if link.directed else [(link.dst, link.src)])
        if where != "graph.file":  # a YAML link may override an imported one, not another
            for u, v in pairs:
                if (u, v) in given:
                    first, other = given[u, v]
                    both = "" if link.directed and other.directed else " (undirected: both ways)"
                    raise ConfigError(
                        f"duplicate link {u!r}→{v!r}, already given by {first}{both}", where
                    )
            given.update((pair, (where, link)) for pair in pairs)
        for u, v in pairs:  # later entries (YAML) override earlier ones (imported)
            directed[u, v] = LinkSpec(u, v, link.bandwidth_mbps, link.latency_ms, link.loss)
    nodes = [node_spec(n, cfg.node_defaults) for n in node_cfgs.values()]
    return Topology(nodes, directed.values(), cfg.name, imported=imported)
