"""Sweeps: many networks × policies × methods × seeds on one reusable actor pool.

A network is either generated or read from a file. ``generators:`` names NetworkX generators
(``random_geometric``, ``waxman``, ``barabasi_albert``, ``balanced_tree``, ``path``, or any
``networkx`` generator function by name), built with each seed; link bandwidth and latency
are drawn uniformly from the configured ranges, node ``"0"`` is the source and destinations
are drawn (seeded) among the nodes whose route is short enough for their drawn target level.
``links: {trace: {files: GLOB, format: …, offset_s: [a, b]}}`` draws every link's capacity
from trace files instead (seeded, one file and offset per link: :mod:`hcf_ray.sim.tracedraw`),
for generated networks and for the links of networks read from files.
``graphs: {files: [GLOB, …], sample: N, placement: {…}}`` reads real networks (Topology Zoo
GML / GraphML and the other formats of ``graph.file``): the globs are resolved against the
sweep file's folder, each seed draws ``sample`` of the matched files (seeded, without
replacement; all of them when absent), every drawn file is imported once with the sweep's
``graph:`` options, and the source and destinations are placed by
:mod:`hcf_ray.sim.placement` (seeded). A sweep has generators, graphs or both.

Every (network, policy) is one simulated world; SSF does not depend on the policy and runs
once per network. The codec work of every world goes through one pool of ``actors`` actors
(default: one per CPU) and one cache: each job is sent to the next pool actor in turn,
whatever its virtual node (an actor that failed is skipped until it answers again), so
actors are created once and reused by every network, and a stage that several worlds share
is computed once. Compute is priced, or with ``timing: measured`` timed, per job and
attributed to the job's virtual node. The worlds' event simulations then run as Ray tasks.

Outputs: ``sweep_results.jsonl`` (every record, tagged with ``network``, ``generator``
(``"graph"`` for a file), ``seed``, and for a file ``graph`` (its name), ``source`` and
``destinations``; with traced links ``link_traces``, the drawn file, sha256 and offset of
every link on the record's route; appended world by world, so an interrupted sweep keeps
what it finished and ``--resume`` completes it) and ``sweep_summary.json`` (mean and spread
per method × policy and per generator; each network's ``traces``: the draw of every traced
link). There are no per-world folders: filter the combined file by
``network``/``policy``/``method``.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import Field, ValidationInfo, field_validator, model_validator

from hcf_ray.demo_models import models_record
from hcf_ray.images import remembered_inspections
from hcf_ray.sim.config import (
    MAX_NODES,
    Bandwidth,
    CodecSpec,
    ConfigError,
    Count,
    FilePath,
    FlowConfig,
    ImagesPath,
    Level,
    LinkConfig,
    Millis,
    Name,
    NodeConfig,
    NodeDefaults,
    Num,
    PolicySpec,
    ResolvedConfig,
    Seed,
    SimConfig,
    StrictModel,
    config_dir,
    parse,
    policy_label,
    read_yaml,
    show,
)
from hcf_ray.sim.gcpause import without_full_collections
from hcf_ray.sim.generators import KINDS, build_graph, check_generator
from hcf_ray.sim.graphset import (
    GraphFiles,
    GraphNetwork,
    GraphOptions,
    GraphReader,
    base_names,
    draw,
    match_files,
)
from hcf_ray.sim.net.costs import DEFAULT_PROFILE
from hcf_ray.sim.placement import destinations as _draw_destinations
from hcf_ray.sim.placement import place
from hcf_ray.sim.report import spread
from hcf_ray.sim.scenario import NetworkParts, Scenario, build_scenario, network_parts
from hcf_ray.sim.topology import Topology
from hcf_ray.sim.tracedraw import TraceDeck, TraceDraw

GENERATORS = tuple(KINDS)  # generator kinds with a parameter schema (hcf_ray.sim.generators)
# Both caps bound what the driver holds once a sweep is planned (every world's scenario,
# topology graph and plans stay in memory for the run). Measured with RSS after load_sweep on
# a 2-core machine: the shipped topologies/sweep.yaml (12-node networks, 3 policies × 3
# methods) costs 326 KiB per network, 48 KiB per world, 2.8–3.4 KB per unit of work below
# (400 → 1000 networks: +191 MiB, 59.6 s); the smallest world (a 3-node path, 1 policy,
# 1 method) 20 KiB per network. Budget: about 5 GiB for the plan, what a 16 GiB machine
# spares beside the pool actors (about 1 GiB each with the shipped models) and Ray's store.
# generators × seeds of one sweep; at ≥ 20 KiB per network, 100 000 networks take ≥ 2 GiB
MAX_NETWORKS = 100_000
# nodes × (1 + policies × methods) summed over the networks: at ≤ 3.4 KB each, 1.5 million
# plan within about 5 GiB (planning runs about 0.5 ms each: ~12 min at the cap). A
# 10 000-network sweep of the shipped sweep.yaml is about 1.2 million (≈ 3.3 GiB, 10 min).
MAX_SWEEP_WORK = 1_500_000


class Generator(StrictModel):
    kind: str
    # keyword arguments of the generator, checked by its schema (hcf_ray.sim.generators)
    params: dict[str, Any] = Field(default_factory=dict)


def _ordered(v: tuple, info: ValidationInfo) -> tuple:
    if v[0] > v[1]:
        raise ValueError(f"range [{v[0]:g}, {v[1]:g}] is reversed (give [low, high])")
    return v


class Range(StrictModel):
    """Link parameters drawn uniformly from ``[low, high]`` (bandwidth ≥ 1 kbit/s,
    latency in 0..3 600 000 ms, like a topology's links); ``trace``: capacities drawn from
    trace files (:class:`TraceDraw`) instead of ``bandwidth_mbps``."""

    bandwidth_mbps: tuple[Bandwidth, Bandwidth] = (5.0, 100.0)
    latency_ms: tuple[Millis, Millis] = (1.0, 20.0)
    trace: TraceDraw | None = None

    _order = field_validator("bandwidth_mbps", "latency_ms")(_ordered)


class SweepFlow(StrictModel):
    source_level: Level = 6  # at most the codec's top level (checked when loading)
    destinations: Annotated[int, Field(strict=True, ge=1, le=MAX_NODES)] = 2
    # target levels drawn from this inclusive range, within 1..source_level
    levels: tuple[Level, Level] = (1, 4)
    # quantizations per route (None: one per hop, destinations drawn so that their routes fit
    # their levels); set: any reachable node, relays forward beyond n_q (plans that cannot
    # hold n_q, e.g. a destination below another one's, are skipped and counted)
    n_q: Level | None = None
    images: ImagesPath = "samples"
    max_images: Count = 2
    interval_ms: Millis = 100.0

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        _ordered(v, info)
        top = info.data.get("source_level")
        if top is not None and v[1] > top:
            raise ValueError(f"levels [{v[0]}, {v[1]}] go above source_level {top}")
        return v


class SweepConfig(ResolvedConfig):
    """A sweep YAML; its paths (``codec``, ``phi_dir``, ``flow.images``, ``profile``, policy
    files) resolved against the file's folder when it is parsed, like a topology's."""

    name: Name = "sweep"
    codec: CodecSpec = "default"
    phi_dir: FilePath | None = None
    transport: Literal["bitstream", "latent"] = "latent"
    generators: list[Generator] = Field(default_factory=list, max_length=MAX_NETWORKS)
    graphs: GraphFiles | None = None  # networks read from files (hcf_ray.sim.graphset)
    graph: GraphOptions = GraphOptions()  # import options for every file of graphs.files
    seeds: list[Annotated[int, Field(strict=True, ge=0, lt=2**32)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=MAX_NETWORKS
    )
    links: Range = Range()
    flow: SweepFlow = SweepFlow()
    policies: list[PolicySpec] = Field(
        default_factory=lambda: ["edge"], min_length=1, max_length=100
    )
    methods: list[str] = Field(
        default_factory=lambda: ["hcf", "drf", "ssf"], min_length=1, max_length=20
    )
    # codec-work pool size (None: one per CPU)
    actors: Annotated[int, Field(strict=True, ge=1, le=4096)] | None = None
    # models one pool actor holds at most
    model_budget_mb: Num | None = Field(2048.0, gt=0, le=1e9)
    seed: Seed = 0  # link-loss streams of every world
    timing: Literal["profile", "measured"] = "profile"
    profile: FilePath | None = None  # cost profile (None: the shipped CPU profile)
    node_defaults: NodeDefaults = NodeDefaults(num_cpus=0.0, num_gpus=0.0)
    # policies may see link capacities ahead of time (upper bounds), as a topology's oracle
    oracle: bool = Field(False, strict=True)

    @model_validator(mode="after")
    def _networks(self) -> SweepConfig:
        if not self.generators and self.graphs is None:
            raise ValueError("no networks: give generators, graphs (files) or both")
        return self


@dataclass
class World:
    network: str
    generator: str
    seed: int
    policy: str
    scenario: Scenario
    graph: str | None = None  # the file's name, for a network read from a file
    # drawn traces: "u->v" (both directions of a link) → {"file", "sha256", "offset_s"}
    traces: dict[str, dict] | None = None

    def route_traces(self, path) -> list[dict]:
        """The drawn traces of the links along ``path`` (a record's route), in route order."""
        if not self.traces:
            return []
        out = []
        for u, v in itertools.pairwise(path):
            hit = self.traces.get(f"{u}->{v}")
            if hit is not None:
                out.append({"link": f"{u}->{v}", **hit})
        return out


@dataclass
class Sweep:
    config: SweepConfig
    worlds: list[World]
    networks: list[dict]
    warnings: list[str] = field(default_factory=list)
    graph_files: list[str] = field(default_factory=list)  # the files read (absolute paths)

    def describe(self) -> str:
        return (
            f"{len(self.networks)} networks × {len(self.config.policies)} policies × "
            f"{len(self.config.methods)} methods → {len(self.worlds)} simulated worlds, "
            f"{sum(n['skipped'] for n in self.networks)} (network, policy, method) skipped as "
            "infeasible"
        )


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    try:
        cfg = parse(SweepConfig, read_yaml(path), path, config_dir(path))
        return build_sweep(cfg)
    except ConfigError as exc:
        raise (exc if exc.source else exc.with_source(path)) from None


@without_full_collections
def build_sweep(cfg: SweepConfig) -> Sweep:
    """The sweep's worlds, checked and planned; ``cfg``'s paths are used as they are
    (:func:`load_sweep` resolved them against the file's folder)."""
    from hcf_ray.methods import method_names
    from hcf_ray.sim.codec import resolve_codec

    for i, m in enumerate(cfg.methods):
        if m not in method_names():
            raise ConfigError(
                f"unknown method {show(m, 40)}; choose from {', '.join(method_names())}",
                f"methods[{i}]",
            )
    files = match_files(cfg.graphs, cfg.as_written) if cfg.graphs is not None else []
    draws = [(seed, draw(files, cfg.graphs.sample, seed)) for seed in cfg.seeds] if files else []
    drawn = sum(len(d) for _, d in draws)
    if len(cfg.generators) * len(cfg.seeds) + drawn > MAX_NETWORKS:
        what = f"{len(cfg.generators)} generators × {len(cfg.seeds)} seeds"
        raise ConfigError(
            f"{what}{f' + {drawn} graph files drawn' if drawn else ''}: at most "
            f"{MAX_NETWORKS} networks per sweep",
            "seeds",
        )
    codec = resolve_codec(cfg.codec, cfg.phi_dir, requested=cfg.as_written(cfg.codec))
    if cfg.flow.source_level > codec.max_level:
        raise ConfigError(
            f"source level {cfg.flow.source_level} is above the codec's top level "
            f"{codec.max_level}",
            "flow.source_level",
        )
    specs = [
        check_generator(g.kind, g.params, f"generators[{i}]") for i, g in enumerate(cfg.generators)
    ]
    read = GraphReader(cfg.graph)  # each drawn file imported once, whatever the seeds
    per_network = 1 + len(cfg.policies) * len(cfg.methods)
    nodes = sum(spec.nodes() for spec in specs) * len(cfg.seeds)
    nodes += sum(len(read(f).nodes) for _, d in draws for f in d)
    work = nodes * per_network
    if work > MAX_SWEEP_WORK:
        raise ConfigError(
            f"too big to plan: nodes × seeds × (1 + policies × methods) = {work} (at most "
            f"{MAX_SWEEP_WORK}); use fewer nodes, seeds, policies or methods",
            "generators" if cfg.generators else "graphs",
        )
    deck = None
    if cfg.links.trace is not None:
        deck = TraceDeck(cfg.links.trace, cfg.as_written)
        for path, name in deck.names.items():  # worlds name the drawn files as the sweep does
            cfg._written.setdefault(path, name)
    with remembered_inspections():  # the same images are checked for every network
        sweep = _plan_networks(cfg, codec, specs, deck)
        if draws:
            _plan_graphs(cfg, codec, draws, read, base_names(files), sweep, deck)
    if not sweep.worlds:
        field = "generators" if cfg.generators else "graphs"
        raise ConfigError("no feasible network in the sweep (all skipped)", field)
    sweep.warnings = list(dict.fromkeys(sweep.warnings))
    return sweep


def _plan_networks(cfg: SweepConfig, codec, specs, deck: TraceDeck | None = None) -> Sweep:
    worlds: list[World] = []
    networks: list[dict] = []
    warns: list[str] = []
    for gi, gen in enumerate(cfg.generators):
        for seed in cfg.seeds:
            g = generate(gen, seed, f"generators[{gi}]", specs[gi])
            name = f"{gen.kind}-{gi}-s{seed}"
            rng = random.Random(f"{cfg.name}:{name}")
            nodes, links, traces = _nodes_links(g, cfg.links, rng, deck, _trace_rng(cfg, name))
            dests = _draw_destinations(g, 0, [n for n in g.nodes if n != 0], cfg.flow, rng)
            info = {
                "network": name,
                "generator": gen.kind,
                "seed": seed,
                "nodes": g.number_of_nodes(),
                "edges": g.number_of_edges(),
                "destinations": dests,
                "skipped": 0,
                "skip_reasons": [],
            }
            if deck is not None:
                info["traces"] = traces
            networks.append(info)
            if not dests:
                info["skipped"] = len(cfg.policies) * len(cfg.methods)
                info["skip_reasons"].append("no destination close enough to the source")
                continue
            world = partial(World, name, gen.kind, seed, traces=_both_ways(traces))
            warns += _plan_worlds(cfg, codec, info, nodes, links, "0", world, worlds)
    return Sweep(cfg, worlds, networks, warns)


def _plan_graphs(
    cfg: SweepConfig, codec, draws, read: GraphReader, bases, sweep: Sweep, deck=None
) -> None:
    """The worlds of the networks read from files (``graphs:``), appended to ``sweep``; with
    ``deck`` their links' capacities are drawn from traces after the placement."""
    placement = cfg.graphs.placement
    unplaced: list[str] = []
    for seed, files in draws:
        for path in files:
            net: GraphNetwork = read(path)
            name = f"graph-{bases[path]}-s{seed}"
            rng = random.Random(f"{cfg.name}:{name}")
            placed = place(net.graph, placement, cfg.flow, rng, net.eligible, net.idle)
            if placed is None:
                reason = (
                    f"no eligible destination for placement {placement.source!r} with levels "
                    f"{list(cfg.flow.levels)}"
                    + (f" at hops {placement.hops}" if placement.hops else "")
                )
                if cfg.graphs.unplaceable == "error":
                    raise ConfigError(f"{net.name}: {reason}", "graphs.placement")
                unplaced.append(name)
                sweep.networks.append(
                    {
                        **_graph_info(name, net, seed, None, []),
                        "skipped": len(cfg.policies) * len(cfg.methods),
                        "skip_reasons": [reason],
                    }
                )
                continue
            source, dests = placed
            info = _graph_info(name, net, seed, source, dests)
            links, traces = net.links, []
            if deck is not None:
                links, traces = _traced_links(net.links, _trace_rng(cfg, name), deck)
                info["traces"] = traces
            sweep.networks.append(info)
            world = partial(World, name, "graph", seed, graph=net.name, traces=_both_ways(traces))
            sweep.warnings += _plan_worlds(
                cfg, codec, info, net.nodes, links, source, world, sweep.worlds, net.imported
            )
    sweep.graph_files = list(read.read)
    sweep.warnings += _default_warning(list(read.read.values()))
    if unplaced:
        more = f", … ({len(unplaced) - 5} more)" if len(unplaced) > 5 else ""
        sweep.warnings.append(
            f"{len(unplaced)} network{'s' * (len(unplaced) > 1)} skipped: no eligible destination "
            f"({', '.join(unplaced[:5])}{more})"
        )


def _graph_info(name: str, net: GraphNetwork, seed: int, source, dests: list[dict]) -> dict:
    """A network read from a file as ``Sweep.networks`` (and the summary) lists it."""
    return {
        "network": name,
        "generator": "graph",
        "graph": net.name,
        "file": net.path,
        "seed": seed,
        "nodes": len(net.nodes),
        "edges": len(net.links),
        # share of the file's links whose speed or latency is a configured default
        "default_links": round(net.imported.default_share(), 4),
        "source": source,
        "destinations": dests,
        "skipped": 0,
        "skip_reasons": [],
    }


def _default_warning(nets: list[GraphNetwork]) -> list[str]:
    """One line naming the files where more than 10 % of the links take a default speed or
    latency (``hcf-sim graph FILE`` lists them), as ``hcf-sim validate`` warns for one."""
    from hcf_ray.graphs.cli import DEFAULT_WARN_SHARE

    hit = [n.name for n in nets if n.imported.default_share() > DEFAULT_WARN_SHARE]
    if not hit:
        return []
    more = f", … ({len(hit) - 5} more)" if len(hit) > 5 else ""
    return [
        f"{len(hit)} of {len(nets)} graph files have more than {DEFAULT_WARN_SHARE:.0%} of "
        f"their links on a default speed or latency ({', '.join(hit[:5])}{more}; "
        "`hcf-sim graph FILE` lists them)"
    ]


def _plan_worlds(cfg, codec, info, nodes, links, source, world, worlds, imported=None) -> list[str]:
    """One world per policy × method of a network (SSF once); infeasible ones counted in
    ``info``. ``imported``: the network's file, imported (its nodes' roles route the flows).
    Returns the worlds' warnings."""
    warns: list[str] = []
    dests = info["destinations"]
    name = info["network"]
    parts: list = [imported]  # and the network's NetworkParts, made by its first world
    for pi, policy in enumerate(cfg.policies):
        methods = [m for m in cfg.methods if m != "ssf" or pi == 0]
        for m in methods:
            sc = _world(cfg, name, nodes, links, source, dests, policy, [m], codec, parts)
            label = policy_label(policy, cfg.as_written)
            if isinstance(sc, str):
                info["skipped"] += 1
                info["skip_reasons"].append(f"{m}/{label}: {sc}")
                continue
            warns += sc.warnings
            worlds.append(world(policy=label, scenario=sc))
    return warns


def generate(gen: Generator, seed: int, where: str, spec=None) -> nx.Graph:
    """The network of one generator and seed: its parameters checked by the generator's schema
    (:func:`~hcf_ray.sim.generators.check_generator`), self-loops dropped, the source's
    component kept, nodes numbered 0..n-1."""
    spec = spec if spec is not None else check_generator(gen.kind, gen.params, where)
    g = nx.Graph(build_graph(gen.kind, spec, seed, where))
    g.remove_edges_from(nx.selfloop_edges(g))
    if g.number_of_nodes() == 0:
        raise ConfigError(f"{gen.kind} generated an empty graph", f"{where}.params")
    first = next(iter(g.nodes))
    keep = nx.node_connected_component(g, first)  # the source's component
    g = g.subgraph(keep).copy()
    return nx.convert_node_labels_to_integers(g)


def _nodes_links(
    g: nx.Graph,
    rng_cfg: Range,
    rng: random.Random,
    deck: TraceDeck | None = None,
    trace_rng: random.Random | None = None,
):
    """Nodes, links and drawn traces (``{"src", "dst", "file", "sha256", "offset_s"}`` per
    traced link) of a generated network. Per link, from ``rng``: the bandwidth, then the
    latency, as in a sweep without traces (so the same sweep with and without ``links.trace``
    has the same latencies and destinations); with ``deck`` the trace from ``trace_rng``,
    which replaces the bandwidth."""
    nodes = [NodeConfig(id=str(n)) for n in g.nodes]
    links = []
    traces: list[dict] = []
    for u, v in g.edges:
        bw = round(rng.uniform(*rng_cfg.bandwidth_mbps), 3)
        lat = round(rng.uniform(*rng_cfg.latency_ms), 3)
        g.edges[u, v]["latency_ms"] = lat
        drawn = deck.link(trace_rng) if deck is not None else None
        if drawn:
            trace, named = drawn
            traces.append({"src": str(u), "dst": str(v), **named})
            links.append(LinkConfig(src=str(u), dst=str(v), latency_ms=lat, trace=trace))
        else:
            links.append(LinkConfig(src=str(u), dst=str(v), bandwidth_mbps=bw, latency_ms=lat))
    return nodes, links, traces


def _trace_rng(cfg: SweepConfig, network: str) -> random.Random:
    """The stream a network's trace draws come from: seeded by the sweep's and the network's
    names, apart from the stream of its bandwidths, latencies and placement."""
    return random.Random(f"{cfg.name}:{network}:links.trace")


def _traced_links(links: list[LinkConfig], rng: random.Random, deck: TraceDeck):
    """A file network's links with capacities drawn from ``deck`` (in file order; a link not
    drawn keeps its speed); the draws as :func:`_nodes_links` returns them."""
    out, traces = [], []
    for ln in links:
        drawn = deck.link(rng)
        if drawn is None:
            out.append(ln)
            continue
        trace, named = drawn
        traces.append(
            {"src": ln.src, "dst": ln.dst, **named, **({"directed": True} if ln.directed else {})}
        )
        data = ln.model_dump(exclude={"bandwidth_mbps", "trace", "reverse_trace"})
        out.append(LinkConfig(**data, trace=trace))
    return out, traces


def _both_ways(traces: list[dict]) -> dict[str, dict] | None:
    """The draws keyed by each direction of their link, ``"u->v"`` and ``"v->u"`` (a drawn
    trace serves both, unless the link is ``directed``), without ``src``/``dst``; None
    without draws."""
    out: dict[str, dict] = {}
    for t in traces:
        u, v = t["src"], t["dst"]
        named = {k: t[k] for k in ("file", "sha256", "offset_s")}
        out[f"{u}->{v}"] = named
        if not t.get("directed"):
            out[f"{v}->{u}"] = named
    return out or None


def _world(cfg, name, nodes, links, source, dests, policy, methods, codec, parts) -> Scenario | str:
    sim = SimConfig(
        name=name,
        codec=cfg.codec,
        phi_dir=cfg.phi_dir,
        transport=cfg.transport,
        node_defaults=cfg.node_defaults,
        seed=cfg.seed,
        timing=cfg.timing,
        # the shipped profile named by its path: loaded once for every world (profiles
        # are memoised by path), not parsed again for each one
        profile=cfg.profile or str(DEFAULT_PROFILE),
        nodes=nodes,
        links=links,
        oracle=cfg.oracle,
        flows=[
            FlowConfig(
                name="flow",
                source=source,
                source_level=cfg.flow.source_level,
                destinations=dests,
                methods=methods,
                policy=policy,
                n_q=cfg.flow.n_q,
                images=cfg.flow.images,
                max_images=cfg.flow.max_images,
                interval_ms=cfg.flow.interval_ms,
            )
        ],
    )
    try:
        # the sweep's paths are resolved already; its spellings name them in labels and messages
        sim = sim.with_written(cfg)
        if len(parts) == 1:  # topology, codec, devices: the same for every world of the network
            parts.append(_network_parts(sim, codec, parts[0]))
        return build_scenario(sim, source=name, parts=parts[1])
    except ConfigError as exc:
        if exc.field.startswith(("codec", "phi_dir", "flows[0].images", "flows[0].policy")):
            raise ConfigError(exc.message, _sweep_field(exc.field)) from None
        return exc.message  # an infeasible plan on this network: skipped, counted


def _network_parts(sim: SimConfig, codec, imported) -> NetworkParts:
    """:func:`~hcf_ray.sim.scenario.network_parts`; for a network read from a file, its
    topology knows the imported network (no route passes an external node)."""
    parts = network_parts(sim, codec)
    if imported is None:
        return parts
    t = parts.topology
    topology = Topology(t.nodes.values(), t.links.values(), t.name, imported=imported)
    topology.oracle = getattr(t, "oracle", False)
    return replace(parts, topology=topology)


def _sweep_field(field: str) -> str:
    return {"flows[0].images": "flow.images", "flows[0].policy": "policies"}.get(field, field)


# -- running ----------------------------------------------------------------------------------
def open_sweep_output(
    sweep: Sweep,
    out_dir: str | Path,
    max_networks: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    config_file: str | Path | None = None,
):
    """The sweep's output folder, checked before anything runs (see :mod:`.outdir`): the
    sweep's config and the sha256 of every file it reads (``config_file``, the sweep YAML,
    among them; :func:`hcf_ray.sim.inputs.sweep_inputs`)."""
    from hcf_ray.sim.inputs import sweep_inputs
    from hcf_ray.sim.outdir import OutputDir

    identity = {"config": sweep.config.model_dump(mode="json"), "max_networks": max_networks}
    inputs = sweep_inputs(sweep, config_file)
    return OutputDir(out_dir, "sweep_results.jsonl", identity, resume, overwrite, inputs)


def world_keys(world: World) -> list[tuple]:
    """The record keys a world produces (network, flow, destination, image, method, policy)."""
    from hcf_ray.sim.pipeline import units_of

    sc = world.scenario
    return [
        (world.network, u.flow, d.node, u.image.name, u.method, d.policy)
        for u in units_of(sc)
        for d in sc.plan(u.flow, u.method).destinations
    ]


@without_full_collections
def run_sweep(
    sweep: Sweep,
    out_dir,
    max_networks: int | None = None,
    max_in_flight: int = 8,
    timeout_s: float = 600.0,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    cache_dir: str | Path | None = None,
    cache=None,
    resume: bool = False,
    overwrite: bool = False,
    retries: int = 2,
    say: Callable[[str], None] | None = None,
) -> dict:
    """Codec work of every world through one actor pool and one cache (the shared pipeline,
    :mod:`hcf_ray.sim.pipeline`), then every world's event simulation as a Ray task; returns
    the aggregated summary.

    Records are appended to ``sweep_results.jsonl`` world by world, in world order, as the
    simulations finish. With ``resume`` the worlds whose records are all there already are
    skipped. ``out_dir`` is a folder or an :class:`~hcf_ray.sim.outdir.OutputDir`."""
    from hcf_ray.sim import pipeline as pl
    from hcf_ray.sim.driver import merge_records
    from hcf_ray.sim.outdir import OutputDir
    from hcf_ray.sim.planner import node_needs
    from hcf_ray.sim.work.backend import LazyBackend
    from hcf_ray.sim.work.warm import open_pool

    log = log or (lambda _msg: None)
    t0 = time.perf_counter()
    out = (
        out_dir
        if isinstance(out_dir, OutputDir)
        else open_sweep_output(sweep, out_dir, max_networks, resume, overwrite)
    )
    out.open()
    keep = list(dict.fromkeys(w.network for w in sweep.worlds))[: max_networks or None]
    worlds = [w for w in sweep.worlds if w.network in keep]
    todo = [i for i, w in enumerate(worlds) if not all(map(out.is_done, world_keys(w)))]
    cfg = sweep.config
    first = worlds[0].scenario
    cache = pl.codec_cache(cache, cache_dir, out.path)
    options = pl.RunOptions(max_in_flight, timeout_s, progress=progress, say=say, retries=retries)
    backend = LazyBackend(
        lambda: open_pool(
            first.codec.spec, first.codec.phi_dir, timeout_s, cfg.actors, log, cfg.model_budget_mb
        ),
        say,
    )
    appended = 0

    def write(i: int, result) -> None:
        nonlocal appended
        w = worlds[i]
        recs = merge_records({w.network: result}, events.results.errors.get(i))
        for rec in recs:
            rec.update(network=w.network, generator=w.generator, seed=w.seed)
            if w.graph is not None:  # a network read from a file: which, and where placed
                spec = w.scenario.flows[0].spec
                dests = [d.node for d in spec.destinations]
                rec.update(graph=w.graph, source=spec.source, destinations=dests)
            if w.traces is not None:  # drawn traces of the links on the record's route
                rec["link_traces"] = w.route_traces(rec.get("path") or [])
        appended += out.append(recs)

    events = _WorldEvents(worlds, write)
    try:
        backend.prepare(node_needs([p for i in todo for p in worlds[i].scenario.plans.values()]))
        t_ready = time.perf_counter()
        pipe = pl.CodecPipeline(backend, cache, first, options, log)
        items = [
            pl.Item(i, w.scenario, u, f"{u.image.name} ({w.network}/{w.policy}/{u.method})")
            for i in todo
            for w in [worlds[i]]
            for u in pl.units_of(w.scenario)
        ]
        events.expect(items)
        skipped = len(worlds) - len(todo)
        pipe.run(
            items,
            f"codec work: {len(items)} units of {len(todo)} worlds, each world's event "
            f"simulation a Ray task once its units are priced, appended to {out.final}"
            + (f" ({skipped} worlds already in {out.final.name})" if skipped else ""),
            on_item=events.priced,
        )
        actors = _actor_info(backend)
        failures = pipe.failures
    finally:
        backend.close()  # frees the CPUs for the event-simulation tasks
    t_codec = time.perf_counter()
    events.finish()
    t_sim = time.perf_counter()
    records = out.all_records()
    summary = aggregate([r for r in records if r.get("status", "ok") == "ok"])
    failed = [r for r in records if r.get("status", "ok") != "ok"]
    summary.update(
        name=cfg.name,
        transport=cfg.transport,
        timing=cfg.timing,
        codec=first.codec.spec,
        bundle_sha256=pl.bundle_hash(first),
        models=models_record(cfg.codec, first.codec.spec, pl.bundle_hash(first)),
        seeds={"networks": list(cfg.seeds), "links": cfg.seed},
        resolved_config=cfg.model_dump(mode="json"),
        networks=[n for n in sweep.networks if n["network"] in keep],
        worlds=len(worlds),
        failures={
            "error_records": len(failed),
            "first": failed[0]["cause"] if failed else None,
        },
    )
    summary["records"] = len(records)
    summary["wall"] = {
        "wall_s": time.perf_counter() - t0,
        "setup_s": t_ready - t0,
        "codec_work_s": t_codec - t_ready,
        "event_simulation_s": t_sim - t_codec,
        "networks_per_minute": len(keep) / max(time.perf_counter() - t0, 1e-9) * 60.0,
        "cache": cache.describe(),
        "actors": actors,
        "worlds_simulated": len(todo),
        "records_appended": appended,
        "records_kept": len(out.existing),
        "faults": {"retries": sum(f["retried"] for f in failures), "tries": failures},
    }
    out.write_json("sweep_summary.json", summary)
    out.finish()
    return summary


def _actor_info(backend) -> dict:
    """Where the codec work ran and what each actor held (empty when all was cached)."""
    if not backend.started:
        return {}
    backend.actors.refresh()
    keys = ("host", "pid", "device", "models", "rss_peak_mb")
    return {n: {k: v.get(k) for k in keys} for n, v in backend.actors.info.items()}


class _WorldEvents:
    """Each world's event simulation, sent as a Ray task (:class:`~hcf_ray.sim.pipeline.
    EventTasks`) as soon as the last of its units is priced; results reach ``write`` in
    world order. A network's worlds share one event-network description."""

    def __init__(self, worlds: list[World], write: Callable[[int, Any], None]):
        self.worlds = worlds
        self.write = write
        self.left: dict[int, int] = {}
        self.specs: dict[str, Any] = {}
        self.tasks = None  # started by the first finished world
        self.results = None  # the pipeline's results so far (CodecResults)

    def expect(self, items) -> None:
        for item in items:
            self.left[item.world] = self.left.get(item.world, 0) + 1

    def priced(self, item, results) -> None:
        from hcf_ray.sim.pipeline import EventTasks
        from hcf_ray.sim.world import world_spec

        self.results = results
        i = item.world
        self.left[i] -= 1
        if self.left[i]:
            return
        w = self.worlds[i]
        spec = self.specs.get(w.network)
        if spec is None:
            sc = w.scenario
            spec = self.specs[w.network] = world_spec(
                w.network, sc.topology, sc.devices, sc.config.seed
            )
        if self.tasks is None:
            self.tasks = EventTasks(self.write)
        self.tasks.submit(i, spec, results.priced.get(i, []))

    def finish(self) -> None:
        if self.tasks is not None:
            self.tasks.finish()


def aggregate(records: list[dict]) -> dict:
    groups: dict[str, dict[str, list[dict]]] = {
        "by_method_policy": defaultdict(list),
        "by_generator": defaultdict(list),
    }
    for r in records:
        groups["by_method_policy"][f"{r['method']}/{r['policy']}"].append(r)
        groups["by_generator"][f"{r['generator']}/{r['method']}/{r['policy']}"].append(r)
    out: dict[str, Any] = {"records": len(records)}
    for name, group in groups.items():
        out[name] = {
            key: {
                "n": len(rs),
                "networks": len({r["network"] for r in rs}),
                "bpp": spread(r["bpp"] for r in rs),
                "psnr": spread(r["psnr"] for r in rs),
                "latency_s": spread(r["latency_s"] for r in rs),
                "compute_s": spread(r["compute_s"] for r in rs),
                "total_bytes": spread(r["total_bytes"] for r in rs),
            }
            for key, rs in sorted(group.items())
        }
    return out


def format_sweep(summary: dict) -> str:
    lines = [
        f"sweep {summary['name']}: {len(summary['networks'])} networks, {summary['worlds']} "
        f"worlds, {summary['records']} records, transport {summary['transport']} "
        f"(mean ± std over destinations × images × networks)",
        f"  {'method/policy':<26}{'n':>5}{'bpp':>18}{'PSNR':>16}{'latency ms':>20}"
        f"{'compute ms':>18}",
    ]
    for key, v in summary["by_method_policy"].items():
        lines.append(
            f"  {key[:25]:<26}{v['n']:>5}{_ms(v['bpp'], 1, 4):>18}{_ms(v['psnr'], 1, 2):>16}"
            f"{_ms(v['latency_s'], 1000, 1):>20}{_ms(v['compute_s'], 1000, 1):>18}"
        )
    return "\n".join(lines) + "\n"


def _ms(s: dict, scale: float, digits: int) -> str:
    if not s.get("n"):
        return "-"
    return f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"
