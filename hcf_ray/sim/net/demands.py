"""Background load from a traffic matrix: demands routed on the network's shortest paths.

A *demand* is a constant rate in Mbit/s from one node to another (an SNDlib ``DEMANDS``
entry, as :func:`hcf_ray.graphs.sndlib.read_sndlib` lists them: ``{"src", "dst",
"value_mbps"}``; a ``(src, dst, mbps)`` tuple works too). Each demand follows the one
shortest path (by the routing ``weight``) from its source to its target that the images of a
flow from that source would take (:meth:`hcf_ray.sim.topology.Topology.multicast_tree`, so
the same Dijkstra run, the same ties and the same non-transit nodes), and adds its rate to
every directed link of that path. A link's background utilisation is its load divided by
its nominal capacity (:func:`utilisation`); at or past 1 the link leaves the images nothing
(:class:`~hcf_ray.sim.net.traces.SharedCapacity`). No demand is split over several paths,
and the load does not react to the images (a fluid model).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hcf_ray.errors import InputError

Link = tuple[str, str]


def _demand(d: Any, i: int) -> tuple[str, str, float]:
    try:
        if isinstance(d, Mapping):
            src, dst, v = d["src"], d["dst"], d["value_mbps"]
        else:
            src, dst, v = d
        v = float(v)
    except (KeyError, TypeError, ValueError):
        raise InputError(f"demand {i}: expected src, dst and value_mbps: {d!r}"[:200]) from None
    if not (math.isfinite(v) and v >= 0):
        raise InputError(f"demand {i} ({src}->{dst}): value_mbps must be finite and >= 0: {v}")
    return str(src), str(dst), v


def link_loads(topology, demands: Iterable[Any], weight: str = "latency_ms") -> dict[Link, float]:
    """Mbit/s of background traffic on each directed link (only loaded links are listed, in
    the order they are first used). Bad demands (an unknown or unreachable node, a negative
    rate) raise :class:`~hcf_ray.errors.InputError` naming the demand."""
    nodes = topology.nodes
    by_source: dict[str, list[tuple[int, str, float]]] = {}
    for i, d in enumerate(demands):
        src, dst, v = _demand(d, i)
        for end in (src, dst):
            if end not in nodes:
                raise InputError(f"demand {i} ({src}->{dst}): unknown node {end!r}")
        if src != dst and v > 0:
            by_source.setdefault(src, []).append((i, dst, v))
    loads: dict[Link, float] = {}
    for src, items in by_source.items():
        dests = list(dict.fromkeys(dst for _, dst, _ in items))
        try:
            tree = topology.multicast_tree(src, dests, weight)
        except ValueError as exc:
            i, dst, _ = next(x for x in items if x[1] == getattr(exc, "node", x[1]))
            raise InputError(f"demand {i} ({src}->{dst}): {exc}"[:200]) from None
        for _, dst, v in items:
            path = tree.paths[dst]
            for e in itertools.pairwise(path):
                loads[e] = loads.get(e, 0.0) + v
    return loads


def utilisation(
    loads: Mapping[Link, float], nominal_mbps: Mapping[Link, float]
) -> dict[Link, float]:
    """``load / nominal`` per loaded link; a link with no nominal capacity (0) and some load
    is fully used (``inf``), never a division by zero."""
    out = {}
    for e, load in loads.items():
        cap = float(nominal_mbps[e])
        out[e] = load / cap if cap > 0 else (math.inf if load > 0 else 0.0)
    return out


def nominal_capacities(topology) -> dict[Link, float]:
    """Each directed link's nominal Mbit/s: its capacity's ``nominal_mbps`` when it has one
    (a trace: the trace's mean), else ``bandwidth_mbps``."""
    out = {}
    for e, ln in topology.links.items():
        cap = getattr(ln, "capacity", None)
        out[e] = float(cap.nominal_mbps if cap is not None else ln.bandwidth_mbps)
    return out


def background_utilisation(
    topology, demands: Iterable[Any], weight: str = "latency_ms"
) -> dict[Link, float]:
    """The background utilisation each demand-loaded directed link gets from ``demands``
    (:func:`link_loads` over :func:`nominal_capacities`)."""
    return utilisation(link_loads(topology, demands, weight), nominal_capacities(topology))
