"""The network generators of a sweep, each with its own parameter schema.

A sweep's ``generators: [{kind: waxman, params: {n: 30, beta: 0.5}}]`` names one of
:data:`KINDS` (or its NetworkX function name, e.g. ``waxman_graph``); ``params`` are checked
against that generator's schema before anything is built: unknown names, wrong types
(``n: true``, ``n: "12"``), non-finite or out-of-range numbers are one-line errors naming
``generators[i].params.<name>``. The seed comes from the sweep's ``seeds``, never ``params``.

Size limits, checked before building (:data:`~hcf_ray.sim.config.MAX_NODES` nodes and
:data:`~hcf_ray.sim.config.MAX_LINKS` links per network): the node count follows from the
parameters; generators that look at every pair of nodes (``random_geometric``, ``waxman``,
``erdos_renyi``, ``complete``) are limited to :data:`MAX_PAIRS` pairs (n ≤ 1000), and where
the expected number of links is known from the parameters it must stay under MAX_LINKS. A
built network with more links than that is refused too. Any exception NetworkX raises
becomes a one-line error naming ``generators[i].params``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import networkx as nx
from pydantic import Field, ValidationError, model_validator

from hcf_ray.sim.config import MAX_LINKS, MAX_NODES, ConfigError, StrictModel, pydantic_error, show

MAX_PAIRS = 500_000  # node pairs a quadratic generator may look at (n ≤ 1000)

Nodes = Annotated[int, Field(strict=True, ge=1, le=MAX_NODES)]
Prob = Annotated[float, Field(strict=True, ge=0, le=1)]
Positive = Annotated[float, Field(strict=True, gt=0, le=1e6)]


class _Params(StrictModel):
    """Keyword arguments of one generator; ``nodes()`` and ``links()`` are what the
    parameters imply (``links()``: expected or exact count, None when unknown)."""

    quadratic: ClassVar[bool] = False

    def nodes(self) -> int:
        return self.n  # type: ignore[attr-defined]

    def links(self) -> float | None:
        return None

    def build(self, seed: int) -> nx.Graph:
        raise NotImplementedError


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


class PathParams(_Params):
    n: Nodes

    def links(self) -> float:
        return self.n - 1

    def build(self, seed: int) -> nx.Graph:
        return nx.path_graph(self.n)


class CycleParams(PathParams):
    def links(self) -> float:
        return self.n

    def build(self, seed: int) -> nx.Graph:
        return nx.cycle_graph(self.n)


class StarParams(_Params):
    n: Annotated[int, Field(strict=True, ge=1, le=MAX_NODES - 1)]  # leaves (n + 1 nodes)

    def nodes(self) -> int:
        return self.n + 1

    def links(self) -> float:
        return self.n

    def build(self, seed: int) -> nx.Graph:
        return nx.star_graph(self.n)


class CompleteParams(_Params):
    n: Nodes
    quadratic: ClassVar[bool] = True

    def links(self) -> float:
        return _pairs(self.n)

    def build(self, seed: int) -> nx.Graph:
        return nx.complete_graph(self.n)


class Grid2dParams(_Params):
    m: Nodes
    n: Nodes
    periodic: bool = Field(False, strict=True)

    def nodes(self) -> int:
        return self.m * self.n

    def links(self) -> float:
        return 2 * self.m * self.n

    def build(self, seed: int) -> nx.Graph:
        return nx.grid_2d_graph(self.m, self.n, periodic=self.periodic)


class BalancedTreeParams(_Params):
    r: Annotated[int, Field(strict=True, ge=1, le=MAX_NODES)]  # children per node
    h: Annotated[int, Field(strict=True, ge=0, le=MAX_NODES)]  # height

    def nodes(self) -> int:
        total, width = 1, 1
        for _ in range(self.h):  # stops as soon as the tree is too big
            width *= self.r
            total += width
            if total > MAX_NODES:
                return total
        return total

    def links(self) -> float:
        return self.nodes() - 1

    def build(self, seed: int) -> nx.Graph:
        return nx.balanced_tree(self.r, self.h)


class BarabasiAlbertParams(_Params):
    n: Nodes
    m: Annotated[int, Field(strict=True, ge=1, le=MAX_NODES)]  # links of each new node

    @model_validator(mode="after")
    def _m_below_n(self):
        if self.m >= self.n:
            raise ValueError(f"m={self.m} must be below n={self.n}")
        return self

    def links(self) -> float:
        return self.m * (self.n - self.m)

    def build(self, seed: int) -> nx.Graph:
        return nx.barabasi_albert_graph(self.n, self.m, seed=seed)


class PowerlawClusterParams(BarabasiAlbertParams):
    p: Prob  # probability of adding a triangle after a random link

    def build(self, seed: int) -> nx.Graph:
        return nx.powerlaw_cluster_graph(self.n, self.m, self.p, seed=seed)


class WattsStrogatzParams(_Params):
    n: Nodes
    k: Annotated[int, Field(strict=True, ge=1, le=MAX_NODES)]  # ring neighbours
    p: Prob  # rewiring probability

    @model_validator(mode="after")
    def _k_below_n(self):
        if self.k >= self.n:
            raise ValueError(f"k={self.k} must be below n={self.n}")
        return self

    def links(self) -> float:
        return self.n * (self.k // 2)

    def build(self, seed: int) -> nx.Graph:
        return nx.watts_strogatz_graph(self.n, self.k, self.p, seed=seed)


class ErdosRenyiParams(_Params):
    n: Nodes
    p: Prob  # link probability of each pair
    quadratic: ClassVar[bool] = True

    def links(self) -> float:
        return self.p * _pairs(self.n)

    def build(self, seed: int) -> nx.Graph:
        return nx.gnp_random_graph(self.n, self.p, seed=seed)


class RandomGeometricParams(_Params):
    n: Nodes
    radius: Positive  # nodes closer than this (in the unit cube) are linked
    dim: Annotated[int, Field(strict=True, ge=1, le=10)] = 2
    p: Annotated[float, Field(strict=True, ge=1, le=1e3)] = 2.0  # Minkowski distance
    quadratic: ClassVar[bool] = True

    def links(self) -> float:
        # expected links ≤ pairs · volume of the radius ball (the ∞-norm ball is the biggest)
        ball = min(1.0, (2 * self.radius) ** self.dim) if self.radius < 1 else 1.0
        return ball * _pairs(self.n)

    def build(self, seed: int) -> nx.Graph:
        return nx.random_geometric_graph(self.n, self.radius, dim=self.dim, p=self.p, seed=seed)


class WaxmanParams(_Params):
    n: Nodes
    beta: Annotated[float, Field(strict=True, gt=0, le=1)] = 0.4  # link density
    alpha: Positive = 0.1  # short links versus long ones
    L: Positive | None = None  # maximum distance (None: measured from the nodes)
    quadratic: ClassVar[bool] = True

    def links(self) -> float:
        return self.beta * _pairs(self.n)  # an upper bound (alpha makes it smaller)

    def build(self, seed: int) -> nx.Graph:
        return nx.waxman_graph(self.n, self.beta, self.alpha, L=self.L, seed=seed)


KINDS: dict[str, type[_Params]] = {
    "random_geometric": RandomGeometricParams,
    "waxman": WaxmanParams,
    "barabasi_albert": BarabasiAlbertParams,
    "balanced_tree": BalancedTreeParams,
    "path": PathParams,
    "cycle": CycleParams,
    "star": StarParams,
    "complete": CompleteParams,
    "grid_2d": Grid2dParams,
    "erdos_renyi": ErdosRenyiParams,
    "watts_strogatz": WattsStrogatzParams,
    "powerlaw_cluster": PowerlawClusterParams,
}
ALIASES = {
    **{f"{k}_graph": k for k in KINDS},
    "gnp_random_graph": "erdos_renyi",
    "binomial_graph": "erdos_renyi",
}


def check_generator(kind: str, params: dict[str, Any], where: str) -> _Params:
    """The checked parameters of ``generators[i]`` (``where``), or a one-line ConfigError."""
    name = ALIASES.get(kind, kind)
    schema = KINDS.get(name)
    if schema is None:
        raise ConfigError(
            f"unknown generator {show(kind, 40)}; use {', '.join(KINDS)}", f"{where}.kind"
        )
    try:
        spec = schema.model_validate(params)
    except ValidationError as exc:
        err = pydantic_error(exc)
        if err.message == "unknown field":
            allowed = ", ".join(schema.model_fields)
            err = ConfigError(f"unknown parameter of {name} (it takes {allowed})", err.field)
        field = f"{where}.params" + (f".{err.field}" if err.field else "")
        raise ConfigError(err.message, field) from None
    nodes = spec.nodes()
    if nodes > MAX_NODES:
        raise ConfigError(
            f"{name} with these parameters has {nodes} nodes; at most {MAX_NODES}",
            f"{where}.params",
        )
    if spec.quadratic and _pairs(nodes) > MAX_PAIRS:
        top = int((1 + math.sqrt(1 + 8 * MAX_PAIRS)) / 2)
        raise ConfigError(
            f"{name} looks at every pair of its {nodes} nodes; at most {top} nodes",
            f"{where}.params.n",
        )
    links = spec.links()
    if links is not None and links > 2 * MAX_LINKS:
        raise ConfigError(
            f"{name} with these parameters makes about {links:.0f} links; at most {MAX_LINKS}",
            f"{where}.params",
        )
    return spec


def build_graph(kind: str, spec: _Params, seed: int, where: str) -> nx.Graph:
    """Run the generator; any failure is a one-line ConfigError naming its params."""
    try:
        g = spec.build(seed)
    except Exception as exc:  # whatever networkx raises for these parameters
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"{kind}: {type(exc).__name__}: {msg}".rstrip(": "), f"{where}.params"
        ) from None
    if g.number_of_edges() > MAX_LINKS:
        raise ConfigError(
            f"{kind} made {g.number_of_edges()} links (seed {seed}); at most {MAX_LINKS}",
            f"{where}.params",
        )
    return g
