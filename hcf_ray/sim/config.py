"""Topology YAML → typed config (pydantic v2), with one-line errors that name the field.

A topology file describes nodes (Ray resources, speed), links (bandwidth, latency, loss),
flows (source, destinations with target levels, methods, policy, images), the codec and the
transport. ``load_config`` parses and checks the field types; ``check_config`` (in
:mod:`hcf_ray.sim.validate`) checks everything that needs the graph (unknown nodes,
reachability, plan feasibility). Every problem is a :class:`ConfigError` whose ``str`` is
one line: ``topologies/x.yaml: links[2].dst: unknown node 'q'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from hcf_ray.sim.faults import Fault

ROLES = ("source", "relay", "destination", "router")
SAMPLES = "samples"


class ConfigError(ValueError):
    """A bad config; ``str(err)`` is one line ``FILE: FIELD: message``."""

    def __init__(self, message: str, field: str = "", source: str | Path | None = None):
        self.message = message
        self.field = field
        self.source = str(source) if source is not None else ""
        super().__init__(self.__str__())

    def with_source(self, source: str | Path) -> ConfigError:
        return ConfigError(self.message, self.field, source)

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join([*parts, self.message])


# -- field types --------------------------------------------------------------------------
def _policy_spec(v: Any) -> str | list[int]:
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, list | tuple) and all(isinstance(b, int) and b in (0, 1) for b in v) and v:
        return [int(b) for b in v]
    raise ValueError("policy must be a built-in name, a 0/1 list, or path/to/file.py:ClassName")


def _gpus(v: Any) -> float | str:
    if v == "auto":
        return "auto"
    if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
        return float(v)
    raise ValueError("num_gpus must be 'auto' or a number >= 0 (a fraction shares a GPU)")


PolicySpec = Annotated[str | list[int], BeforeValidator(_policy_spec)]
GpuSpec = Annotated[float | str, BeforeValidator(_gpus)]
Weight = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Model):
    """The hardware a node simulates: who prices its ops, how fast, how much power.

    An op on the node takes ``profile.seconds(op, size) / (throughput · speed)`` simulated
    seconds. ``profile`` is a calibration file (``hcf-sim calibrate``; default: the run's
    ``profile``); ``throughput`` scales it (2.0: twice as fast as the profiled machine).
    ``busy_w`` / ``idle_w``: power draw with all cores busy / idle (W), for energy in joules.
    """

    profile: str | None = None
    throughput: Weight = 1.0
    busy_w: float = Field(0.0, ge=0)
    idle_w: float = Field(0.0, ge=0)


DeviceRef = str | DeviceConfig  # a name from the top-level ``devices`` table, or inline


class NodeDefaults(_Model):
    """Defaults for every node (sized so a whole topology fits a 2-core laptop)."""

    num_cpus: float = Field(0.25, ge=0)
    num_gpus: GpuSpec = "auto"  # auto: share the cluster's GPUs among the nodes, 0 without
    resources: dict[str, float] = Field(default_factory=dict)
    speed: Weight = 1.0
    cores: int = Field(1, ge=1)  # jobs a node runs at once in simulated time (others queue)
    device: DeviceRef | None = None  # None: the run's profile, throughput 1, no power model


class NodeConfig(_Model):
    id: str = Field(min_length=1)
    role: Literal["source", "relay", "destination", "router"] = "relay"
    num_cpus: float | None = Field(None, ge=0)
    num_gpus: GpuSpec | None = None
    resources: dict[str, float] | None = None  # custom Ray resources: pin to machines
    speed: Weight | None = None  # compute-speed factor: op time is divided by it
    cores: int | None = Field(None, ge=1)
    device: DeviceRef | None = None


class LinkConfig(_Model):
    src: str
    dst: str
    bandwidth_mbps: Weight
    latency_ms: float = Field(1.0, ge=0)
    loss: float = Field(0.0, ge=0, lt=1)  # packet-loss probability (0..1), retransmitted
    directed: bool = False  # False: the link exists both ways with the same parameters


class DestinationConfig(_Model):
    node: str
    level: int = Field(ge=1)
    policy: PolicySpec | None = None  # overrides the flow's policy for this destination
    n_q: int | None = Field(None, ge=1)  # overrides the flow's n_q for this destination


class FlowConfig(_Model):
    name: str | None = None
    source: str
    source_level: int | None = Field(None, ge=1)  # None: the ladder's top level
    destinations: list[DestinationConfig] = Field(min_length=1)
    methods: list[str] = Field(default_factory=lambda: ["hcf", "drf", "ssf"], min_length=1)
    policy: PolicySpec = "edge"
    # quantizations along each destination's route (HCF/DRF); None: one per hop while the
    # levels allow, min(hops, s-d+1); fewer than hops: relays forward the bytes unchanged
    n_q: int | None = Field(None, ge=1)
    images: str = SAMPLES  # 'samples' (bundled photos) or an image folder
    max_images: int | None = Field(None, ge=1)
    interval_ms: float = Field(0.0, ge=0)  # image i is released at i·interval (0: a burst)


class RoutingConfig(_Model):
    # link attribute minimised by the shortest path: latency_ms, hops, or inv_bandwidth
    weight: str = "latency_ms"


class GraphImport(_Model):
    """Nodes and links from a GraphML/GML file (Internet Topology Zoo style)."""

    file: str
    bandwidth_mbps: Weight = 100.0  # when the file has no LinkSpeedRaw/bandwidth attribute
    latency_ms: float | None = Field(None, ge=0)  # None: from coordinates, else 5 ms


class SimConfig(_Model):
    name: str = "topology"
    codec: str = "default"  # default | checkpoint dir | zoo:ARCH | random:ARCH[:N[:M[:L]]]
    phi_dir: str | None = None
    transport: Literal["bitstream", "latent"] = "bitstream"
    routing: RoutingConfig = RoutingConfig()
    node_defaults: NodeDefaults = NodeDefaults()
    graph: GraphImport | None = None
    nodes: list[NodeConfig] = Field(default_factory=list)
    links: list[LinkConfig] = Field(default_factory=list)
    flows: list[FlowConfig] = Field(min_length=1)
    seed: int = 0  # seeds link loss (one stream per directed link and method)
    # profile: ops priced by a calibrated cost model (deterministic); measured: the wall
    # clock of each op inside the actors (varies with host load; for studies of the real system)
    timing: Literal["profile", "measured"] = "profile"
    profile: str | None = None  # cost profile (hcf-sim calibrate); None: the shipped CPU one
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)  # named device models
    # pool: codec work multiplexed onto one actor per CPU of the cluster; dedicated: one actor
    # per topology node with that node's Ray resources (map the topology onto machines)
    placement: Literal["pool", "dedicated"] = "pool"
    # pool: models one actor holds at most (MB of weights); the ones used longest ago are
    # dropped past it and loaded again when needed. None: no bound
    model_budget_mb: float | None = Field(2048.0, gt=0)
    faults: list[Fault] = Field(default_factory=list)  # injected faults (hcf_ray.sim.faults)

    def flow_name(self, index: int) -> str:
        f = self.flows[index]
        return f.name or f"flow{index}"


# -- loading -----------------------------------------------------------------------------
def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file not found", source=path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"YAML syntax error{where}: {problem}", source=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=path) from None
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping", source=path)
    return data


def parse(model: type[BaseModel], data: dict, source: str | Path | None = None) -> Any:
    """Validate ``data`` into ``model``; the first problem becomes a one-line ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(exc, source) from None


def pydantic_error(exc: ValidationError, source: str | Path | None = None) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    field = field_path(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "missing":
        msg = "field required"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        if "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
    return ConfigError(msg, field, source)


def field_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part) or str(part) in ("function-before", "function-after"):
            continue  # union / validator tags pydantic adds to the location
        else:
            out += f".{part}" if out else str(part)
    return out


def load_config(path: str | Path) -> tuple[SimConfig, Path]:
    """Parse a topology YAML; returns the config and the directory relative paths start from."""
    path = Path(path)
    cfg = parse(SimConfig, read_yaml(path), path)
    return cfg, path.resolve().parent


def resolve_path(value: str | Path, base_dir: Path | None) -> Path:
    """A path as given if it exists, else relative to the config file's directory."""
    p = Path(value).expanduser()
    if p.exists() or p.is_absolute() or base_dir is None:
        return p
    return base_dir / p
