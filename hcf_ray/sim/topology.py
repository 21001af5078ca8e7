"""The network as a NetworkX ``DiGraph``, shortest-path routing and multicast trees.

Nodes carry a :class:`NodeSpec` (Ray resources, speed factor); every directed edge carries
``bandwidth_mbps``, ``latency_ms``, ``loss`` plus the derived routing weights ``hops`` (1)
and ``inv_bandwidth`` (1/Mbit/s). A flow's multicast tree is the union of the shortest paths
from its source to its destinations taken from one Dijkstra run, so the paths share their
prefixes and form a tree (a relay where they part is a fork).
"""

from __future__ import annotations

import itertools
import math
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
    TraceConfig,
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
    """One direction of a link. ``capacity`` (:mod:`hcf_ray.sim.net.traces`): the capacity
    the images get when it changes over time or is shared with background traffic (None: the
    constant ``bandwidth_mbps``); ``bandwidth_mbps`` is then its ``nominal_mbps``, the one
    figure routing and policies use. ``dynamics``: what the capacity is made of, for
    ``validate``, records and ``summary.json`` (:func:`link_dynamics`)."""

    src: str
    dst: str
    bandwidth_mbps: float
    latency_ms: float
    loss: float = 0.0
    capacity: Any = field(default=None, compare=False, repr=False)
    dynamics: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    # the figure routes are computed on when it differs from bandwidth_mbps (a link loaded
    # by demands: routes are computed before the demands' load, so it never moves them)
    route_mbps: float | None = field(default=None, compare=False, repr=False)


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
        self._dynamic: dict[tuple[str, str], LinkSpec] = {}
        for link in links:
            if link.capacity is not None:
                self._dynamic[link.src, link.dst] = link
            mbps = link.bandwidth_mbps if link.route_mbps is None else link.route_mbps
            self.graph.add_edge(
                link.src,
                link.dst,
                spec=link,
                bandwidth_mbps=link.bandwidth_mbps,
                latency_ms=link.latency_ms,
                loss=link.loss,
                hops=1,
                # a link that leaves the images nothing: no route through it when another exists
                inv_bandwidth=1.0 / mbps if mbps > 0 else math.inf,
            )

    @property
    def dynamic_links(self) -> dict[tuple[str, str], LinkSpec]:
        """The directed links whose capacity changes or is shared (trace, background,
        demands), in link order."""
        return dict(self._dynamic)

    @property
    def saturated(self) -> dict[tuple[str, str], str]:
        """Directed links loaded at or past their capacity (no share is left to the images
        on average): link → why, in one phrase."""
        return {
            e: ln.dynamics["saturated"]
            for e, ln in self._dynamic.items()
            if ln.dynamics and ln.dynamics.get("saturated")
        }

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
        dynamic = link.trace or link.reverse_trace or link.background
        caps = link_capacities(cfg, link, where) if dynamic else None
        for k, (u, v) in enumerate(pairs):  # later entries (YAML) override earlier ones
            if caps is None:
                directed[u, v] = LinkSpec(u, v, link.bandwidth_mbps, link.latency_ms, link.loss)
            else:
                cap, dyn = caps[k]
                directed[u, v] = LinkSpec(
                    u, v, cap.nominal_mbps, link.latency_ms, link.loss, cap, dyn
                )
    nodes = [node_spec(n, cfg.node_defaults) for n in node_cfgs.values()]
    topology = Topology(nodes, directed.values(), cfg.name, imported=imported)
    if cfg.demands is not None:
        topology = with_demands(cfg, topology)
    return topology


# -- link dynamics: traces, background, demands -------------------------------------------
def read_capacity(cfg: SimConfig, trace: TraceConfig, where: str) -> Any:
    """The :class:`~hcf_ray.sim.net.traces.Capacity` of a trace config; a bad trace file is a
    ConfigError of ``where`` whose message names the file (as the config spells it) and the
    line."""
    from hcf_ray.sim.net.traces import TraceError, read_trace

    try:
        return read_trace(trace.file, trace.format, **trace.read_args()).capacity(
            trace.offset_s, trace.loop, name=cfg.as_written(trace.file)
        )
    except TraceError as exc:
        raise ConfigError(_as_written(str(exc), trace.file, cfg), where) from None


def _as_written(message: str, path: str, cfg: SimConfig) -> str:
    """A message that starts with a resolved file path, starting with the config's spelling
    of it instead (shorter, and what the user wrote)."""
    shown = cfg.as_written(path)
    return shown + message[len(path) :] if message.startswith(path) else message


def link_capacities(cfg: SimConfig, link: LinkConfig, where: str) -> list[tuple[Any, dict]]:
    """``(capacity, dynamics)`` of each direction of a link with a trace or background
    (src → dst first): ``trace`` drives src → dst, ``reverse_trace`` dst → src (without it
    the same trace serves both); a link without a trace has its constant ``bandwidth_mbps``;
    ``background`` takes its share of both directions (fluid model)."""
    from hcf_ray.sim.net.traces import ConstantCapacity, SharedCapacity

    forward = read_capacity(cfg, link.trace, f"{where}.trace") if link.trace else None
    reverse = forward
    if link.reverse_trace is not None:
        reverse = read_capacity(cfg, link.reverse_trace, f"{where}.reverse_trace")
    load: Any = None
    if link.background is not None:
        u = link.background.utilisation
        load = u
        if isinstance(u, TraceConfig):
            load = read_capacity(cfg, u, f"{where}.background.utilisation")
    out = []
    for base in (forward, reverse):
        if base is None:
            base = ConstantCapacity(link.bandwidth_mbps)
        cap = base if load is None else SharedCapacity(base, load)
        out.append((cap, _dynamics(cfg, base, load, cap)))
    return out


def _source(cfg: SimConfig, cap: Any) -> dict | None:
    src = cap.source
    if src is None:
        return None
    return {**src, "file": cfg.as_written(src["file"])}


def _dynamics(cfg: SimConfig, base: Any, load: Any, cap: Any) -> dict:
    """What a directed link's capacity is made of (JSON-ready; see :func:`link_dynamics`)."""
    out: dict[str, Any] = {"trace": _source(cfg, base)}
    if base.source is None:
        out["bandwidth_mbps"] = base.nominal_mbps
    else:
        out["trace_mean_mbps"] = base.nominal_mbps
    if load is not None:
        if isinstance(load, float | int):
            out["background"] = {"utilisation": float(load)}
        else:
            out["background"] = {
                "utilisation": "trace",
                "trace": _source(cfg, load),
                "mean": load.nominal_mbps,
            }
    out["nominal_mbps"] = cap.nominal_mbps
    out["saturated"] = _saturated(base, load, cap)
    return out


def _saturated(base: Any, load: Any, cap: Any) -> str | None:
    """Why a link leaves the images no capacity on average, or None."""
    if cap.nominal_mbps > 0:
        return None
    if base.nominal_mbps <= 0:
        return "its trace carries nothing"
    if isinstance(load, float | int):
        return f"background utilisation {load:g} of its capacity"
    return "its background utilisation trace averages 1 or more"


def with_demands(cfg: SimConfig, topology: Topology) -> Topology:
    """``topology`` with the background load of the traffic matrix in ``cfg.demands``: each
    demand routed on the shortest path by the routing weight (before any demand load), its
    Mbit/s taken from every link of the path (:mod:`hcf_ray.sim.net.demands`). A link's
    demand load becomes a utilisation of the capacity its own background leaves
    (``demand_mbps / nominal``), applied as a :class:`SharedCapacity` over it: with constant
    capacities the images get ``C·(1 − u) − D``."""
    from hcf_ray.errors import InputError
    from hcf_ray.graphs.errors import GraphError
    from hcf_ray.graphs.sndlib import read_sndlib
    from hcf_ray.sim.net.demands import link_loads, nominal_capacities
    from hcf_ray.sim.net.traces import ConstantCapacity, SharedCapacity

    path = cfg.demands
    shown = cfg.as_written(path)
    try:
        topology.check_weight(cfg.routing.weight)
    except ValueError as exc:
        raise ConfigError(str(exc), "routing.weight") from None
    try:
        demands = read_sndlib(path).graph.get("demands") or []
    except GraphError as exc:
        raise ConfigError(_as_written(str(exc), path, cfg), "demands") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read ({exc.strerror or exc})", "demands") from None
    if not demands:
        raise ConfigError(f"{shown}: the file lists no demands", "demands")
    try:
        loads = link_loads(topology, demands, cfg.routing.weight)
    except InputError as exc:
        raise ConfigError(f"{shown}: {exc}", "demands") from None
    nominal = nominal_capacities(topology)
    links = []
    for e, ln in topology.links.items():
        mbps = loads.get(e, 0.0)
        if mbps <= 0:
            links.append(ln)
            continue
        u = mbps / nominal[e] if nominal[e] > 0 else math.inf
        base = ln.capacity if ln.capacity is not None else ConstantCapacity(ln.bandwidth_mbps)
        cap = SharedCapacity(base, min(u, 1.0))
        dyn = dict(ln.dynamics or {"trace": None, "bandwidth_mbps": ln.bandwidth_mbps})
        dyn["demands"] = {"mbps": mbps, "utilisation": u if math.isfinite(u) else None}
        dyn["nominal_mbps"] = cap.nominal_mbps
        dyn["saturated"] = dyn.get("saturated") or (
            None
            if cap.nominal_mbps > 0
            else f"demands of {mbps:g} Mbit/s on {nominal[e]:g} Mbit/s ({shown})"
        )
        route = ln.route_mbps if ln.route_mbps is not None else ln.bandwidth_mbps
        links.append(
            LinkSpec(*e, cap.nominal_mbps, ln.latency_ms, ln.loss, cap, dyn, route_mbps=route)
        )
    return Topology(topology.nodes.values(), links, topology.name, topology.imported)


def link_dynamics(topology: Topology) -> dict[str, dict]:
    """``{"u->v": dynamics}`` of every directed link whose capacity changes or is shared:
    ``trace`` (file as the config spells it, sha256, format, offset_s, loop; None for a
    constant ``bandwidth_mbps``), ``trace_mean_mbps``, ``background`` (``utilisation``: a
    fraction, or ``"trace"`` with its ``trace`` and ``mean``), ``demands`` (``mbps``,
    ``utilisation``), ``nominal_mbps`` (the figure routing and policies use) and
    ``saturated`` (why the link leaves the images nothing on average, else None)."""
    return {f"{u}->{v}": dict(ln.dynamics or {}) for (u, v), ln in topology.dynamic_links.items()}


def describe_dynamics(dyn: Mapping[str, Any]) -> str:
    """One line of a directed link's :func:`link_dynamics` entry, for ``hcf-sim validate``."""
    parts = []
    tr = dyn.get("trace")
    if tr:
        parts.append(
            f"trace {tr['file']} ({tr['format']}, offset {tr['offset_s']:g} s, "
            f"{'looped' if tr['loop'] else 'last value held'}; mean "
            f"{dyn.get('trace_mean_mbps', 0.0):.4g} Mbit/s)"
        )
    elif "bandwidth_mbps" in dyn:
        parts.append(f"{dyn['bandwidth_mbps']:g} Mbit/s")
    bg = dyn.get("background")
    if bg:
        u = bg["utilisation"]
        if u == "trace":
            t = bg.get("trace") or {}
            parts.append(f"background utilisation trace {t.get('file')} (mean {bg['mean']:.3g})")
        else:
            parts.append(f"background utilisation {u:g}")
    dem = dyn.get("demands")
    if dem:
        parts.append(f"demands {dem['mbps']:.4g} Mbit/s")
    line = "; ".join(parts) + f" → images get {dyn.get('nominal_mbps', 0.0):.4g} Mbit/s on average"
    if dyn.get("saturated"):
        line += f" (AT CAPACITY: {dyn['saturated']})"
    return line


def saturation_warning(link: tuple[str, str], why: str) -> str:
    """The warning of a link loaded at or past its capacity."""
    return (
        f"link {link[0]}->{link[1]} is loaded at or past its capacity ({why}): the images get "
        "no share of it, and a message that must cross it becomes an error record"
    )


def with_speeds(cfg: SimConfig, topology: Topology) -> SimConfig:
    """``cfg`` with each traced YAML link's ``bandwidth_mbps`` set to its nominal figure (for
    tools that need one number per link, such as the graph summary)."""
    if not any(link.bandwidth_mbps is None for link in cfg.links):
        return cfg
    links = []
    for link in cfg.links:
        if link.bandwidth_mbps is None:
            mbps = topology.link(link.src, link.dst).bandwidth_mbps
            link = link.model_copy(update={"bandwidth_mbps": mbps})
        links.append(link)
    return cfg.model_copy(update={"links": links})
