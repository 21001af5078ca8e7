"""A config's ``graph:`` file as node and link configs.

The file is read by :func:`hcf_ray.graphs.read_network` (Topology Zoo GML / GraphML, SNDlib,
Rocketfuel; the node and link rules, every ``graph:`` knob and its default are documented in
:mod:`hcf_ray.graphs.rules`). Here its nodes become :class:`NodeConfig` (role ``relay``) and
its links :class:`LinkConfig` (an undirected link runs both ways), within the YAML limits: at
most ``MAX_NODES`` nodes and ``MAX_LINKS`` links, a speed or latency outside the limits is an
error naming the link. A file that cannot be read is a :class:`ConfigError` of ``graph.file``
naming it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from hcf_ray.graphs import read_network
from hcf_ray.graphs.errors import GraphError
from hcf_ray.graphs.model import ImportedNetwork
from hcf_ray.graphs.rules import haversine_km, safe_node_id
from hcf_ray.sim.config import (
    MAX_LINKS,
    MAX_NODES,
    ConfigError,
    GraphImport,
    LinkConfig,
    NodeConfig,
    pydantic_error,
)

__all__ = ["haversine_km", "import_graph", "import_network", "safe_node_id"]


def import_network(
    spec: GraphImport, path: Path
) -> tuple[ImportedNetwork, list[NodeConfig], list[LinkConfig]]:
    """The imported network of ``spec``'s file and its nodes and links as configs."""
    try:
        found = path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"graph file {spec.file!r} not found", "graph.file")
    try:
        net = read_network(path, spec)
    except GraphError as exc:
        raise ConfigError(str(exc), "graph.file") from None
    if len(net.nodes) > MAX_NODES or len(net.links) > MAX_LINKS:
        raise ConfigError(
            f"{path}: {len(net.nodes)} nodes, {len(net.links)} links: at most {MAX_NODES} "
            f"nodes and {MAX_LINKS} links per network",
            "graph.file",
        )
    nodes = [NodeConfig(id=n.name) for n in net.nodes]
    links = []
    for x in net.links:
        try:
            links.append(
                LinkConfig(
                    src=x.src,
                    dst=x.dst,
                    bandwidth_mbps=x.bandwidth_mbps,
                    latency_ms=x.latency_ms,
                    directed=x.directed,
                )
            )
        except ValidationError as exc:
            err = pydantic_error(exc)
            raise ConfigError(
                f"edge {x.src!r}–{x.dst!r}: {err.field}: {err.message} (in {path})", "graph.file"
            ) from None
    return net, nodes, links


def import_graph(spec: GraphImport, path: Path) -> tuple[list[NodeConfig], list[LinkConfig]]:
    """Nodes and links of a graph file as configs (roles default to ``relay``)."""
    _, nodes, links = import_network(spec, path)
    return nodes, links
