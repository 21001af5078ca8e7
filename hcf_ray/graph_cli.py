"""``hcf-sim graph FILE``: how a graph file (or a topology YAML) is imported, node by node and
link by link, with where every number came from; loads no models (neither torch nor Ray).

Registered by :func:`add_graph_command`. The outputs are :mod:`hcf_ray.graphs.cli`'s; this
module reads the input (a graph file through :func:`hcf_ray.graphs.read_network`, a
topology YAML through the simulator's config loader, whose ``graph:`` options then apply)
and writes the result. It sits with the other command modules because it needs both the
graph readers and the simulator's config, and the graph readers may not import the simulator.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hcf_ray.errors import InputError, UserError

FORMATS = ("text", "json", "yaml")
YAML_SUFFIXES = (".yaml", ".yml")
FIGURE_SUFFIXES = (".pdf", ".png", ".svg")


def add_graph_command(sub) -> argparse.ArgumentParser:
    """Register ``graph`` on the ``hcf-sim`` sub-parsers."""
    g = sub.add_parser(
        "graph",
        help="show how a graph file or topology YAML is imported: nodes, links, and where "
        "each link's speed and latency came from",
    )
    g.add_argument(
        "file",
        metavar="FILE",
        help="a graph file (Topology Zoo GML/GraphML, SNDlib, Rocketfuel) or a topology YAML",
    )
    g.add_argument("--json", action="store_true", help="print one JSON object (= --format json)")
    g.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="text (default): tables; json: one object; yaml: an editable topology YAML",
    )
    g.add_argument("--out", default=None, metavar="PATH", help="write the output to PATH")
    g.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="draw the network on longitude/latitude into PATH.pdf and PATH.png",
    )
    g.set_defaults(func=cmd_graph)
    return g


def _warn(msg: str) -> None:
    print(f"hcf-sim: warning: {msg}", file=sys.stderr)


def load_network(path: str):
    """``(network, graph file)`` of ``path``: a graph file, or a topology YAML (its
    ``graph:`` file read with its options, and its own nodes and links, provenance
    ``yaml``; graph file None without a ``graph:`` section). Bad input: a UserError."""
    from hcf_ray.sim.config import ConfigError

    try:
        if Path(path).suffix.lower() in YAML_SUFFIXES:
            return _from_yaml(path)
        from hcf_ray.graphs import read_network

        return read_network(path, None), path
    except (ConfigError, InputError) as exc:  # a graph file's GraphError is an InputError
        text = str(exc)
        raise UserError(text if path in text else f"{path}: {text}") from None


def _from_yaml(path: str):
    from hcf_ray.graphs import read_network
    from hcf_ray.graphs.cli import with_yaml
    from hcf_ray.sim.config import ConfigError, load_config, read_yaml
    from hcf_ray.sim.topology import build_topology, with_speeds

    data = read_yaml(path)
    if "generators" in data or "graphs" in data:
        raise ConfigError("a sweep YAML: give a topology YAML or a graph file", source=path)
    cfg = load_config(path)
    try:
        topo = build_topology(cfg)
    except ConfigError as exc:
        raise exc.with_source(path) from None
    imported = getattr(topo, "imported", None)
    if imported is None and cfg.graph is not None:
        imported = read_network(cfg.graph.file, cfg.graph)
    graph_file = cfg.graph.file if cfg.graph is not None else None
    links = with_speeds(cfg, topo).links  # a traced link: its nominal speed
    return with_yaml(imported, cfg.nodes, links, source=path), graph_file


def cmd_graph(args: argparse.Namespace) -> int:
    from hcf_ray.graphs import cli as out

    fmt = "json" if args.json else (args.format or "text")
    if args.json and args.format not in (None, "json"):
        raise UserError(f"--json and --format {args.format}: give one of them")
    net, graph_file = load_network(args.file)
    figure = network_figure(net) if args.plot else None  # no map to draw: refused up front
    if fmt == "json":
        import json

        text = json.dumps(out.json_report(net), indent=1, ensure_ascii=False) + "\n"
    elif fmt == "yaml":
        attribution = out.attribution_of(graph_file) if graph_file else None
        text = out.topology_yaml(net, attribution)
    else:
        text = out.text_report(net)
    warning = out.default_warning(net)
    if args.out:
        from hcf_ray.atomic import atomic_path

        dest = Path(args.out)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dest, fsync=False) as tmp:
                Path(tmp).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
        print(f"hcf-sim: wrote {dest}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if warning:
        _warn(warning)
    if figure is not None:
        for p in save_plot(figure, args.plot):
            print(f"hcf-sim: wrote {p}", file=sys.stderr)
    return 0


def network_figure(net):
    """The geographic figure of ``net`` in the figures' style (UserError: no coordinates)."""
    from hcf_ray.sim.figures import geo_figure

    try:
        return geo_figure(net)
    except ValueError as exc:
        raise UserError(f"--plot: {exc}") from None


def save_plot(figure, path: str) -> list[Path]:
    """``figure`` as ``PATH.pdf`` and ``PATH.png`` (a ``.pdf``, ``.png`` or ``.svg`` ending
    of PATH is dropped first), with the figures' fixed metadata (byte-stable files)."""
    from hcf_ray.sim.figures import save_figures

    p = Path(path)
    if p.suffix.lower() in FIGURE_SUFFIXES:
        p = p.with_suffix("")
    try:
        return save_figures({p.name: figure}, p.parent, ("pdf", "png"))
    except OSError as exc:
        raise UserError(f"--plot {path}: cannot write: {exc.strerror or exc}") from None
