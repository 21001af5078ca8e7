"""The geographic figure of a network: nodes at their coordinates on longitude/latitude axes
(degrees), links as straight lines whose width grows with the log of their speed, links
whose speed or latency is a configured default dashed (and counted in the legend), and, given
a run's records, each method's route and the nodes where the latent is quantized.

:func:`network_figure` builds a :class:`~matplotlib.figure.Figure` and writes nothing; the
simulator's figures module gives it the project's style and colours and saves it
(``hcf-sim graph FILE --plot PATH`` and ``hcf-sim plot OUT_DIR`` on a run whose network has
coordinates). A record has ``method``, ``image``, ``path`` (the nodes, source first) and
``levels`` (the level sent on each hop); a node quantizes where the level it sends is below
the level it received (the source encodes the first one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import offset_copy

from hcf_ray.graphs.model import ImportedNetwork

LINK_COLOUR = "0.45"
DEFAULT_DASHES = (0, (3.0, 2.0))
SOURCE_COLOUR = "#E69F00"  # as the topology figure's sources and destinations
DEST_COLOUR = "#CC79A7"
FALLBACK_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#56B4E9", "#F0E442", "#000000")
MAX_LABELLED_NODES = 40  # more nodes: no name labels (they would cover the map)
ROUTE_OFFSET_PT = 1.8  # methods' routes drawn side by side, this far apart


def link_width(mbps: float) -> float:
    """Line width (points) of a link: 0.4 at 1 Mbit/s, +0.9 per factor of ten (at most 6)."""
    return min(6.0, 0.4 + 0.9 * math.log10(max(float(mbps), 1.0)))


def speed_text(mbps: float) -> str:
    if mbps >= 1e6:
        return f"{mbps / 1e6:g} Tbit/s"
    if mbps >= 1e3:
        return f"{mbps / 1e3:g} Gbit/s"
    if mbps >= 1:
        return f"{mbps:g} Mbit/s"
    return f"{mbps * 1e3:g} kbit/s"


def _degrees(axis: str) -> FuncFormatter:
    pos, neg = ("E", "W") if axis == "lon" else ("N", "S")

    def fmt(v: float, _pos: Any) -> str:
        v = round(v - 360 if v > 180 else v, 6)  # east of 180°E (see _unwrap): west again
        return f"{abs(v):g}°{pos if v > 0 else neg if v < 0 else ''}"

    return FuncFormatter(fmt)


def _unwrap(located: dict[str, tuple]) -> dict[str, tuple]:
    """Coordinates with the western longitudes moved east by 360° when that makes the
    network narrower (a network across the Pacific is drawn in one piece)."""
    lons = [p[0] for p in located.values()]
    if not lons or max(lons) - min(lons) <= 180:
        return located
    east = [x + 360 if x < 0 else x for x in lons]
    if max(east) - min(east) >= max(lons) - min(lons):
        return located
    return {n: (x + 360 if x < 0 else x, y) for n, (x, y) in located.items()}


def _decades(lo: float, hi: float) -> list[float]:
    """Powers of ten from the one at or below ``lo`` to the one at or above ``hi``."""
    a = math.floor(math.log10(max(lo, 1e-3)) + 1e-9)
    b = math.ceil(math.log10(max(hi, 1e-3)) - 1e-9)
    return [10.0**k for k in range(a, max(a, b) + 1)]


def _uses_default(link: Any) -> bool:
    return link.bandwidth_from == "default" or link.latency_from == "default"


def quantized_at(path: Sequence[str], levels: Sequence[int]) -> list[tuple[str, int, int]]:
    """``(node, level received, level sent)`` for each relay of ``path`` that quantizes:
    the level it sends on its hop is below the level of the hop before."""
    return [
        (path[i], int(levels[i - 1]), int(levels[i]))
        for i in range(1, min(len(levels), len(path) - 1))
        if int(levels[i]) < int(levels[i - 1])
    ]


def network_figure(
    net: ImportedNetwork,
    records: Iterable[Mapping[str, Any]] | None = None,
    image: str | None = None,
    methods: Sequence[str] | None = None,
    colour: Callable[[str], str] | None = None,
) -> Figure:
    """The network on longitude/latitude; with ``records`` (a run's), the routes of one
    image (default: the first record's) for each method (default: in record order)."""
    located = _unwrap(
        {n.name: (n.lon, n.lat) for n in net.nodes if n.lat is not None and n.lon is not None}
    )
    if not located:
        raise ValueError(f"{net.source}: no node has coordinates: nothing to draw on a map")
    routes = _routes(records, image)
    if methods is None:
        methods = list(dict.fromkeys(r["method"] for r in routes))
    else:
        methods = [m for m in methods if any(r["method"] == m for r in routes)]
    colour = colour or _fallback_colour(methods)

    lons = [p[0] for p in located.values()]
    lats = [p[1] for p in located.values()]
    mid = (min(lats) + max(lats)) / 2
    stretch = 1 / max(0.2, math.cos(math.radians(mid)))  # plot units per degree of latitude
    pad_x = max(max(lons) - min(lons), 1.0) * 0.06 + 0.5
    pad_y = max(max(lats) - min(lats), 1.0) * 0.06 + 0.5
    xlim = (min(lons) - pad_x, max(lons) + pad_x)
    ylim = (max(-90.0, min(lats) - pad_y), min(90.0, max(lats) + pad_y))
    ratio = (ylim[1] - ylim[0]) * stretch / (xlim[1] - xlim[0])  # map height / width
    map_w, map_h = 6.5, 6.5 * ratio
    if map_h > 7.0:
        map_w, map_h = max(2.5, 7.0 / ratio), 7.0
    wide = ratio < 0.6  # a wide map: the legend below it, else on its right
    size = (map_w + 1.0, map_h + 2.0) if wide else (map_w + 3.9, max(map_h + 0.9, 4.4))
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect(stretch, adjustable="box")  # a degree of longitude as wide as at mid-latitude

    drawn = [x for x in net.links if x.src in located and x.dst in located]
    plain = [x for x in drawn if not _uses_default(x)]
    dashed = [x for x in drawn if _uses_default(x)]
    for group, style in ((plain, "solid"), (dashed, DEFAULT_DASHES)):
        if group:
            ax.add_collection(
                LineCollection(
                    [[located[x.src], located[x.dst]] for x in group],
                    linewidths=[link_width(x.bandwidth_mbps) for x in group],
                    colors=LINK_COLOUR,
                    linestyles=style,
                    alpha=0.8,
                    zorder=1,
                    capstyle="round",
                )
            )

    handles = _node_layer(ax, net, located)
    _route_layer(fig, ax, routes, methods, located, colour)

    if len(located) <= MAX_LABELLED_NODES:
        for name, (x, y) in located.items():
            ax.annotate(
                name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6,
                color="0.15", zorder=6,
            )  # fmt: skip
    ax.xaxis.set_major_formatter(_degrees("lon"))
    ax.yaxis.set_major_formatter(_degrees("lat"))
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")

    speeds = [x.bandwidth_mbps for x in drawn] or [x.bandwidth_mbps for x in net.links] or [1.0]
    legend = [Line2D([], [], lw=0, label="link speed (log scale):")]
    legend += [
        Line2D([], [], color=LINK_COLOUR, lw=link_width(v), label=f"  {speed_text(v)}")
        for v in _decades(min(speeds), max(speeds))
    ]
    n_default = sum(_uses_default(x) for x in net.links)
    legend.append(
        Line2D(
            [], [], color=LINK_COLOUR, lw=1.6, ls=DEFAULT_DASHES,
            label=f"default speed or latency\n({n_default} of {len(net.links)} links)",
        )
    )  # fmt: skip
    legend += handles
    if routes:
        legend += [Line2D([], [], color=colour(m), lw=2.2, label=f"{m} route") for m in methods]
        legend += [
            Line2D([], [], ls="", marker="D", ms=5, mfc="white", mec="black",
                   label="quantized here\n(level sent, in the method's colour)"),
            Line2D([], [], ls="", marker="*", ms=10, mfc=SOURCE_COLOUR, mec="0.2", label="source"),
            Line2D([], [], ls="", marker="o", ms=7, mfc=DEST_COLOUR, mec="0.2",
                   label="destination"),
        ]  # fmt: skip
    fig.legend(
        handles=legend,
        loc="outside lower center" if wide else "outside right upper",
        ncols=3 if wide else 1,
        frameon=False,
        handlelength=2.6,
    )

    missing = len(net.nodes) - len(located)
    title = f"{Path(net.source).name}: {len(net.nodes)} nodes, {len(net.links)} links"
    if missing:
        title += f" ({missing} node{'s' if missing > 1 else ''} without coordinates not drawn)"
    if routes:
        title += f"\nroutes of {routes[0]['image']} per method"
    ax.set_title(title)
    return fig


def _fallback_colour(methods: Sequence[str]) -> Callable[[str], str]:
    table = {m: FALLBACK_COLOURS[i % len(FALLBACK_COLOURS)] for i, m in enumerate(methods)}
    return lambda m: table.get(m, "0.2")


def _routes(records: Iterable[Mapping[str, Any]] | None, image: str | None) -> list[dict]:
    """One entry per distinct (method, path, levels) of the successful records of ``image``."""
    out: dict[tuple, dict] = {}
    for r in records or ():
        if (r.get("status") or "ok") != "ok" or r.get("path") is None:
            continue
        if image is None:
            image = r.get("image")
        if r.get("image") != image:
            continue
        path = tuple(str(p) for p in r["path"])
        levels = tuple(int(v) for v in (r.get("levels") or ()))
        out.setdefault(
            (r["method"], path, levels),
            {"method": r["method"], "path": path, "levels": levels, "image": image},
        )
    return list(out.values())


def _node_layer(ax: Any, net: ImportedNetwork, located: Mapping[str, tuple]) -> list[Line2D]:
    """Nodes by role (and hollow where the coordinates were estimated); legend handles."""
    size = 22 if len(located) <= 100 else 8
    kinds = {
        "router": ("o", "0.25", "router"),
        "hyperedge": ("s", "white", "shared medium (hyperedge)"),
        "external": ("^", "0.7", "another operator's node"),
    }
    handles = []
    for role, (marker, face, label) in kinds.items():
        for estimated in (False, True):
            pts = [
                located[n.name]
                for n in net.nodes
                if n.name in located
                and (n.role if n.role in kinds else "router") == role
                and (n.coords_from not in ("file", "none")) == estimated
            ]
            if not pts:
                continue
            fc = "none" if estimated else face
            ax.scatter(
                [p[0] for p in pts], [p[1] for p in pts], s=size, marker=marker,
                facecolors=fc, edgecolors="0.2", linewidths=0.6, zorder=2,
            )  # fmt: skip
            text = label + (", estimated coordinates" if estimated else "")
            handles.append(
                Line2D([], [], ls="", marker=marker, ms=5, mfc=fc, mec="0.2", label=text)
            )
    return handles


def _route_layer(
    fig: Figure,
    ax: Any,
    routes: list[dict],
    methods: Sequence[str],
    located: Mapping[str, tuple],
    colour: Callable[[str], str],
) -> None:
    k = len(methods)
    ends: dict[str, set[str]] = {"source": set(), "destination": set()}
    for i, m in enumerate(methods):
        d = (i - (k - 1) / 2) * ROUTE_OFFSET_PT
        shift = offset_copy(ax.transData, fig=fig, x=d, y=d, units="points")
        for r in (r for r in routes if r["method"] == m):
            pts = [located[p] for p in r["path"] if p in located]
            if len(pts) >= 2:
                ax.plot(
                    [p[0] for p in pts], [p[1] for p in pts], color=colour(m), lw=2.0,
                    alpha=0.9, transform=shift, zorder=3, solid_capstyle="round",
                )  # fmt: skip
            ends["source"].add(r["path"][0])
            ends["destination"].add(r["path"][-1])
            for node, _was, now in quantized_at(r["path"], r["levels"]):
                if node not in located:
                    continue
                x, y = located[node]
                ax.plot(
                    [x], [y], ls="", marker="D", ms=5.5, mfc=colour(m), mec="black",
                    mew=0.7, transform=shift, zorder=5,
                )  # fmt: skip
                ax.annotate(
                    f"L{now}", (x, y), xycoords=shift, xytext=(5, -9 - 7 * i),
                    textcoords="offset points",
                    fontsize=6, color=colour(m), fontweight="bold", zorder=6,
                )  # fmt: skip
    for kind, marker, face, size in (
        ("source", "*", SOURCE_COLOUR, 110),
        ("destination", "o", DEST_COLOUR, 45),
    ):
        pts = [located[n] for n in sorted(ends[kind]) if n in located]
        if pts:
            ax.scatter(
                [p[0] for p in pts], [p[1] for p in pts], s=size, marker=marker, c=face,
                edgecolors="0.2", linewidths=0.6, zorder=4,
            )  # fmt: skip
