"""Where a sweep's flow starts and ends on a network: seeded source and destination placement.

Generated networks start at node ``0``. On a network read from a file (a sweep's ``graphs:``)
``placement: {source: random|degree|hop}`` chooses, among the *eligible* nodes (those that
run codec work: a file's hyperedge and external nodes are not eligible):

* ``random``: the source uniformly (a seeded shuffle, taking the first one that has a
  destination), the destinations among the other eligible nodes;
* ``degree``: the eligible node with the most neighbours as the source (ties: the smallest
  name), the destinations among the other eligible nodes;
* ``hop``: the source as for ``random``, the destinations among the eligible nodes whose
  shortest path from it, counted in links, is one of ``hops``.

Destinations are drawn as for generated networks (:func:`destinations`): each with a seeded
target level in ``flow.levels``, reachable from the source, and (without ``n_q``) with a
route, by latency, short enough for its level, compatible with the other destinations', and
through no node that runs no codec work (without ``n_q`` every relay of a route quantizes).
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import Field, model_validator

from hcf_ray.sim.config import MAX_NODES, StrictModel

RULES = ("random", "degree", "hop")
Hops = Annotated[int, Field(strict=True, ge=1, le=MAX_NODES)]


class Placement(StrictModel):
    """``graphs.placement`` of a sweep: how the source is chosen, and for ``hop`` the hop
    distances the destinations lie at."""

    source: Literal["random", "degree", "hop"] = "random"
    hops: list[Hops] | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _hops(self) -> Placement:
        if self.source == "hop" and not self.hops:
            raise ValueError("source 'hop' needs hops: the destinations' hop distances, e.g. [2]")
        if self.source != "hop" and self.hops is not None:
            raise ValueError(f"hops applies to source 'hop' only (source is {self.source!r})")
        return self


def place(
    g: nx.Graph,
    placement: Placement,
    flow: Any,
    rng: random.Random,
    eligible: list | None = None,
    idle: frozenset = frozenset(),
) -> tuple[Any, list[dict]] | None:
    """``(source, destinations)`` on ``g`` (links weighted by ``latency_ms``), or None when
    no eligible source has an eligible destination. ``eligible``: the nodes that may be the
    source or a destination, in a fixed order (None: every node of ``g``, in its order);
    ``idle``: the nodes that run no codec work; ``flow`` has the sweep flow's
    ``destinations``, ``levels``, ``source_level`` and ``n_q``."""
    nodes = list(g.nodes) if eligible is None else [n for n in eligible if n in g]
    if placement.source == "degree":
        sources = sorted(nodes, key=lambda n: (-_degree(g, n), str(n)))[:1]
    else:
        sources = list(nodes)
        rng.shuffle(sources)
    for source in sources:
        candidates = [n for n in nodes if n != source]
        if placement.source == "hop":
            dist = nx.single_source_shortest_path_length(g, source)
            want = set(placement.hops or ())
            candidates = [n for n in candidates if dist.get(n) in want]
        found = destinations(g, source, candidates, flow, rng, idle)
        if found:
            return source, found
    return None


def _degree(g: nx.Graph, n) -> int:
    """Neighbours of ``n`` (a link both ways counts once in a directed graph)."""
    if g.is_directed():
        return len(set(g.successors(n)) | set(g.predecessors(n)))
    return g.degree(n)


def destinations(
    g: nx.Graph,
    source,
    candidates: list,
    flow: Any,
    rng: random.Random,
    idle: frozenset = frozenset(),
) -> list[dict]:
    """Seeded destinations among ``candidates`` (shuffled here) whose routes from ``source``
    fit their levels (levels drop by ≥ 1 per hop, also past a destination that lies on
    another destination's route) and cross no ``idle`` relay (a node that runs no codec
    work); with ``n_q`` set, any reachable candidate (relays forward, the planner rejects
    what n_q cannot hold). At most ``flow.destinations`` of them."""
    _, paths = nx.single_source_dijkstra(g, source, weight="latency_ms")
    candidates = list(candidates)
    rng.shuffle(candidates)
    lo, hi = flow.levels
    chosen: dict = {}
    for n in candidates:
        level = rng.randint(lo, min(hi, flow.source_level))
        if n not in paths:
            continue
        fits = flow.n_q is not None or (
            len(paths[n]) - 1 <= flow.source_level - level + 1
            and not idle.intersection(paths[n][1:-1])
            and all(
                _compatible(paths, n, level, a, la) and _compatible(paths, a, la, n, level)
                for a, la in chosen.items()
            )
        )
        if fits:
            chosen[n] = level
        if len(chosen) == flow.destinations:
            break
    return [{"node": str(n), "level": lv} for n, lv in chosen.items()]


def _compatible(paths, n, level: int, a, level_a: int) -> bool:
    """If ``a`` lies on ``n``'s route, ``a`` must be able to pass a level down to ``n``."""
    route = paths[n]
    if a not in route:
        return True
    return level_a >= level + (len(route) - 1 - route.index(a))
