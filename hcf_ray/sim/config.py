"""Topology YAML → typed config (pydantic v2), with one-line errors that name the field.

A topology file describes nodes (Ray resources, speed), links (bandwidth, latency, loss),
flows (source, destinations with target levels, methods, policy, images), the codec and the
transport. A flow, or the topology for every flow that names no ``policy``, may give
``policies:``, a list simulated one policy per world (:func:`policy_lists`; a list entry
``{name: NAME, class: …, args: …}`` names it in records). ``load_config`` parses and checks the field types; :func:`build_scenario` (in
:mod:`hcf_ray.sim.scenario`) checks everything that needs the graph (unknown nodes,
reachability, plan feasibility). Every problem is a :class:`ConfigError` whose ``str`` is
one line: ``topologies/x.yaml: links[2].dst: unknown node 'q'``.

What a config may contain (anything else is refused with one line, never a traceback):

* **names** (``name`` of a topology, sweep or flow; they name output folders): 1–64 letters,
  digits, ``_ . -``, starting with a letter or digit (:data:`NAME_PATTERN`), so a name can
  never point outside ``out/``;
* **node ids** (and every node reference: ``src``, ``dst``, ``source``, ``node``): 1–64
  letters, digits, spaces and ``_ . : -``, starting with a letter or digit and not ending in
  a space (:data:`NODE_ID_PATTERN`; spaces for Topology Zoo city names). Control characters
  (ANSI escapes), slashes and non-ASCII letters are refused; GraphML/GML imports map such
  labels onto the charset (:mod:`hcf_ray.sim.graphio`);
* **numbers**: finite (``.inf`` and ``.nan`` are refused), never a bool or a string;
  counts and levels are strict integers (``level: true`` is not level 1);
  link bandwidth between :data:`MIN_BANDWIDTH_MBPS` (1 kbit/s) and
  :data:`MAX_BANDWIDTH_MBPS`; latencies and image intervals at most :data:`MAX_MS` (an hour);
* **paths** (``images``, a policy or method ``path/to/file.py:Class``, ``codec`` and
  ``phi_dir``, ``profile`` and device profiles, ``graph.file``): resolved once, when the file
  is parsed: a relative path is relative to the YAML file's folder (never the current
  directory), ``~`` and absolute paths are used as given. The parsed config holds absolute
  paths (the special values ``samples``, ``default``, ``random:…``, ``zoo:…``, built-in
  names and 0/1 vectors stay as they are); :meth:`SimConfig.as_written` gives a path's
  spelling in the file (policy labels and messages show it);
* **size**: the file at most :data:`MAX_FILE_BYTES`, nested at most :data:`MAX_DEPTH` levels,
  at most :data:`MAX_VALUES` values in all, with no duplicated mapping key; a network has at
  most :data:`MAX_NODES` nodes and :data:`MAX_LINKS` links.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    model_serializer,
    model_validator,
)

from hcf_ray.sim.faults import Fault

ROLES = ("source", "relay", "destination", "router")
SAMPLES = "samples"

# names of topologies, sweeps and flows (they become file and folder names)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# node ids: as names, plus spaces inside (Topology Zoo city names) and ':'
NODE_ID_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 _.:-]{0,62}[A-Za-z0-9_.:-])?$"
MIN_BANDWIDTH_MBPS = 0.001  # 1 kbit/s: below it one image takes days and tables overflow
MAX_BANDWIDTH_MBPS = 1e7  # 10 Tbit/s
MAX_MS = 3_600_000.0  # latencies and image intervals: at most an hour
MAX_FACTOR = 1e6  # speed / throughput factors lie in [1/MAX_FACTOR, MAX_FACTOR]
MAX_LEVEL = 64  # no ladder has more levels
MAX_NODES = 5000  # nodes of one network (topology file, GML import or generated)
MAX_LINKS = 50_000  # links of one network
MAX_FILE_BYTES = 16 * 1024 * 1024  # a config YAML
MAX_DEPTH = 32  # nesting of a config YAML
MAX_VALUES = 1_000_000  # scalars + containers of a config YAML (aliases counted each time)
MAX_LINE = 200  # an error line (besides the config's file name)

_NAME_RE = re.compile(NAME_PATTERN)
_NODE_RE = re.compile(NODE_ID_PATTERN)


def one_line(text: Any, limit: int | None = None) -> str:
    """``text`` as one printable line: control, format and line-separator characters (ANSI
    escapes, newlines, bidi overrides) are shown escaped; longer than ``limit``: clipped."""
    out = []
    for ch in str(text):
        if ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            out.append(repr(ch)[1:-1] if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    line = "".join(out)
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 1, 0)] + "…"
    return line


def show(value: Any, limit: int = 60) -> str:
    """A short, printable repr of a user value for an error message."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return one_line(text, limit)


class ConfigError(ValueError):
    """A bad config; ``str(err)`` is one line ``FILE: FIELD: message`` (printable, the part
    after the file name at most :data:`MAX_LINE` - 20 characters)."""

    def __init__(self, message: str, field: str = "", source: str | Path | None = None):
        self.message = message
        self.field = field
        self.source = str(source) if source is not None else ""
        super().__init__(self.__str__())

    def with_source(self, source: str | Path) -> ConfigError:
        return ConfigError(self.message, self.field, source)

    def __str__(self) -> str:
        rest = ": ".join(p for p in (self.field, self.message) if p)
        parts = [one_line(self.source)] if self.source else []
        return ": ".join([*parts, one_line(rest, MAX_LINE - 20)])


# -- field types --------------------------------------------------------------------------
def _policy_spec(v: Any, info: ValidationInfo) -> str | list[int] | PolicyRef:
    if isinstance(v, PolicyRef):
        return v
    if isinstance(v, str) and v.strip():
        return _file_class(_path_str(v.strip()), info)
    if _is_vector(v):
        return [int(b) for b in v]
    if isinstance(v, dict):
        return _policy_ref(v, info)
    raise ValueError(
        "policy must be a built-in name, a 0/1 list, path/to/file.py:ClassName, or "
        "{class: NAME, args: {...}}"
    )


def _is_vector(v: Any) -> bool:
    """A 0/1 policy vector (a non-empty list of the ints 0 and 1, never True/False)."""
    return (
        isinstance(v, list | tuple) and bool(v) and all(type(b) is int and b in (0, 1) for b in v)
    )


def _policy_ref(v: dict, info: ValidationInfo) -> PolicyRef:
    """``{class: NAME, args: {...}}``: NAME as a string policy; args keyword arguments of
    plain YAML values (strings, numbers, booleans, null, lists and mappings of them)."""
    unknown = [k for k in v if k not in ("class", "args", "name")]
    if unknown:
        raise ValueError(f"unknown key {show(unknown[0], 30)} (allowed: class, args, name)")
    label = v.get("name")
    if label is not None and (not isinstance(label, str) or not _NAME_RE.match(label)):
        raise ValueError(
            f"name {show(label, 40)} is not allowed: use 1-64 letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    name = v.get("class")
    if _is_vector(name):  # {name: NAME, class: [1, 0, 1]}: a named explicit vector
        if v.get("args"):
            raise ValueError("an explicit 0/1 policy vector takes no args")
        return PolicyRef(cls=tuple(int(b) for b in name), name=label)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            "'class' must be a built-in name, path/to/file.py:ClassName or a 0/1 list"
            + (f" (got {show(name, 30)})" if "class" in v else " (missing)")
        )
    args = v.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValueError(f"args must be a mapping of names to values (got {show(args, 30)})")
    for key, value in args.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"args: {show(key, 30)} is not a valid argument name")
        _plain(value, f"args.{key}")
    return PolicyRef(cls=_file_class(_path_str(name.strip()), info), args=args, name=label)


def _plain(value: Any, where: str, depth: int = 0) -> None:
    """A plain YAML value: str, int, finite float, bool, None, or lists / mappings of them."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: must be a finite number (no .inf or .nan)")
        return
    if isinstance(value, list):
        for i, x in enumerate(value):
            _plain(x, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, x in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: mapping key {show(k, 30)} is not a string")
            _plain(x, f"{where}.{k}", depth + 1)
        return
    raise ValueError(
        f"{where}: {type(value).__name__} {show(value, 30)} is not a plain value (use a "
        "string, number, boolean, null, list or mapping)"
    )


def _gpus(v: Any) -> float | str:
    if v == "auto":
        return "auto"
    if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1e4:
        return float(v)
    raise ValueError("num_gpus must be 'auto' or a number in 0..10000 (a fraction shares a GPU)")


def _path_str(v: str) -> str:
    if not v:
        raise ValueError("empty path")
    if len(v) > 1024 or any(len(part.encode()) > 255 for part in v.split("/")):
        raise ValueError(f"path {show(v, 40)} is too long")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") for ch in v):
        raise ValueError(f"path {show(v, 40)} contains control characters")
    return v


def resolve_path(value: str, base_dir: str | Path) -> str:
    """``value`` as an absolute path: ``~`` expanded, a relative path joined to ``base_dir``
    (the config file's folder, never the current directory), normalised (symlinks
    followed). ValueError for a ``~user`` that does not exist."""
    try:
        p = Path(value).expanduser()
    except RuntimeError:  # ~user that does not exist
        raise ValueError(f"path {show(value, 40)}: cannot expand '~' (no such user)") from None
    if not p.is_absolute():
        p = Path(base_dir) / p
    try:
        return str(p.resolve())
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a name too long
        return os.path.normpath(p)


def _resolved(value: str, info: ValidationInfo) -> str:
    """A path field resolved against the config file's folder (the validation context's
    ``base_dir``, set by :func:`load_config` / the sweep loader); the spelling in the file is
    remembered in the context's ``written``. Without a context (a config built in code) the
    value is kept as given."""
    ctx = info.context
    if not isinstance(ctx, dict) or ctx.get("base_dir") is None:
        return value
    out = resolve_path(value, ctx["base_dir"])
    ctx.setdefault("written", {}).setdefault(out, value)
    return out


def _file_class(spec: str, info: ValidationInfo) -> str:
    """``path/to/file.py:ClassName`` with the path resolved; anything else (a built-in name)
    unchanged."""
    path, colon, cls = spec.rpartition(":")
    if not colon or not path or not cls.isidentifier():
        return spec
    out = f"{_resolved(path, info)}:{cls}"
    if isinstance(info.context, dict) and out != spec:
        info.context.setdefault("written", {}).setdefault(out, spec)
    return out


def _codec_path(v: str, info: ValidationInfo) -> str:
    """``codec``: a checkpoint directory is resolved; ``default``, ``random:…``, ``zoo:…``
    are not paths."""
    if v == "default" or v.startswith(("random:", "zoo:")):
        return v
    return _resolved(v, info)


def _images_path(v: str, info: ValidationInfo) -> str:
    return v if v == SAMPLES else _resolved(v, info)


def _method_spec(v: str, info: ValidationInfo) -> str:
    """A method: a registered name, or a user file ``path/to/file.py:ClassName`` (resolved)."""
    return _file_class(_path_str(v), info) if ".py:" in v else v


def _name(v: str) -> str:
    if not _NAME_RE.match(v):
        raise ValueError(
            f"name {show(v, 40)} is not allowed: use 1-64 letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return v


def _node_id(v: str) -> str:
    if not _NODE_RE.match(v):
        raise ValueError(
            f"node id {show(v, 40)} is not allowed: use 1-64 letters, digits, spaces, '_', "
            "'.', ':', '-', starting with a letter or digit"
        )
    return v


def _min_bandwidth(v: float) -> float:
    if v < MIN_BANDWIDTH_MBPS:
        raise ValueError(
            f"bandwidth {v:g} Mbit/s is below the minimum {MIN_BANDWIDTH_MBPS:g} Mbit/s (1 kbit/s)"
        )
    return v


def _min_factor(v: float) -> float:
    if v < 1 / MAX_FACTOR:
        raise ValueError(f"{v:g} is below the minimum {1 / MAX_FACTOR:g}")
    return v


class PolicyRef(BaseModel):
    """``policy: {class: NAME, args: {...}}``: a built-in name or ``path/to/file.py:Class``,
    made with ``args`` as keyword arguments (checked by :func:`_policy_ref`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    cls: str | tuple[int, ...] = Field(alias="class")  # a tuple: an explicit 0/1 vector
    args: dict[str, Any] = Field(default_factory=dict)
    # the policy's name in records, tables and figures (None: the class's ``name``)
    name: str | None = None

    def __init__(
        self, cls: str | tuple[int, ...], args: dict | None = None, name: str | None = None
    ):
        super().__init__(**{"class": cls, "args": dict(args or {}), "name": name})

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _without_unset(handler(self), ("name",))


def _without_unset(data: Any, keys: Sequence[str]) -> Any:
    """A model's dump without the fields of ``keys`` that hold None: configs written before
    those fields existed dump (and so identify their output folders) as they always did."""
    if isinstance(data, dict):
        for key in keys:
            if data.get(key, 0) is None:
                del data[key]
    return data


def policy_label(spec: Any, as_written: Callable[[Any], Any] | None = None) -> str:
    """A policy spec as written: ``edge``, ``[1,0,1]``, ``p.py:P``, ``p.py:P(deadline_ms=80)``
    (``as_written``, e.g. :meth:`SimConfig.as_written`, maps a resolved ``file.py:Class`` back
    to the config file's spelling)."""
    written = as_written or (lambda v: v)
    if isinstance(spec, PolicyRef):
        args = ",".join(f"{k}={v!r}" for k, v in spec.args.items())
        if not isinstance(spec.cls, str):
            return "[" + ",".join(map(str, spec.cls)) + "]"
        cls = written(spec.cls)
        return f"{cls}({args})" if args else cls
    if isinstance(spec, str):
        return written(spec)
    return "[" + ",".join(map(str, spec)) + "]"


PolicySpec = Annotated[str | list[int] | PolicyRef, BeforeValidator(_policy_spec)]
MAX_POLICIES = 64  # policies of one list (each is one world of the run)
PolicyList = Annotated[list[PolicySpec], Field(min_length=1, max_length=MAX_POLICIES)]
GpuSpec = Annotated[float | str, BeforeValidator(_gpus)]
# numbers: an int or a float, never a bool or a string; finite (the models' allow_inf_nan)
Num = Annotated[float, Field(strict=True)]
Weight = Annotated[float, Field(strict=True, gt=0, le=MAX_FACTOR), AfterValidator(_min_factor)]
Bandwidth = Annotated[
    float,
    Field(strict=True, gt=0, le=MAX_BANDWIDTH_MBPS),
    AfterValidator(_min_bandwidth),
]
Millis = Annotated[float, Field(strict=True, ge=0, le=MAX_MS)]
Level = Annotated[int, Field(strict=True, ge=1, le=MAX_LEVEL)]
Count = Annotated[int, Field(strict=True, ge=1)]
Seed = Annotated[int, Field(strict=True, ge=-(2**63), lt=2**63)]
Name = Annotated[str, AfterValidator(_name)]
PathStr = Annotated[str, AfterValidator(_path_str)]  # a checked path string, as given
# path fields, resolved against the config file's folder when it is parsed (see the module doc)
FilePath = Annotated[str, AfterValidator(_path_str), AfterValidator(_resolved)]
CodecSpec = Annotated[str, AfterValidator(_path_str), AfterValidator(_codec_path)]
ImagesPath = Annotated[str, AfterValidator(_path_str), AfterValidator(_images_path)]
MethodSpec = Annotated[str, AfterValidator(_method_spec)]
NodeId = Annotated[str, AfterValidator(_node_id)]


class StrictModel(BaseModel):
    # inf/nan are refused in every float field (and in nested dicts/tuples of floats)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DeviceConfig(StrictModel):
    """The hardware a node simulates: who prices its ops, how fast, how much power.

    An op on the node takes ``profile.seconds(op, size) / (throughput · speed)`` simulated
    seconds. ``profile`` is a calibration file (``hcf-sim calibrate``; default: the run's
    ``profile``); ``throughput`` scales it (2.0: twice as fast as the profiled machine).
    ``busy_w`` / ``idle_w``: power draw with all cores busy / idle (W), for energy in joules.
    """

    profile: FilePath | None = None
    throughput: Weight = 1.0
    busy_w: Num = Field(0.0, ge=0, le=1e9)
    idle_w: Num = Field(0.0, ge=0, le=1e9)


DeviceRef = str | DeviceConfig  # a name from the top-level ``devices`` table, or inline
Resources = dict[str, Annotated[float, Field(strict=True, ge=0, le=1e9)]]


class NodeDefaults(StrictModel):
    """Defaults for every node (sized so a whole topology fits a 2-core laptop)."""

    num_cpus: Num = Field(0.25, ge=0, le=1e4)
    num_gpus: GpuSpec = "auto"  # auto: share the cluster's GPUs among the nodes, 0 without
    resources: Resources = Field(default_factory=dict)
    speed: Weight = 1.0
    # jobs a node runs at once in simulated time (others queue)
    cores: int = Field(1, strict=True, ge=1, le=1024)
    device: DeviceRef | None = None  # None: the run's profile, throughput 1, no power model


class NodeConfig(StrictModel):
    id: NodeId
    role: Literal["source", "relay", "destination", "router"] = "relay"
    num_cpus: Num | None = Field(None, ge=0, le=1e4)
    num_gpus: GpuSpec | None = None
    resources: Resources | None = None  # custom Ray resources: pin to machines
    speed: Weight | None = None  # compute-speed factor: op time is divided by it
    cores: int | None = Field(None, strict=True, ge=1, le=1024)
    device: DeviceRef | None = None


TRACE_FORMATS = ("pensieve", "mahimahi", "csv")
MAX_OFFSET_S = 1e9  # a trace offset: at most ~30 years


def _csv_cell(v: Any) -> str | int | float:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError(f"a where value must be a string or a number (got {show(v, 30)})")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("a where value must be finite (no .inf or .nan)")
    return v


CsvCell = Annotated[str | int | float, BeforeValidator(_csv_cell)]


def check_csv_fields(trace):
    """A csv trace names its ``column`` and ``step_s``; other formats take neither (nor
    ``where``). Shared by a link's trace and a sweep's trace draws."""
    if trace.format == "csv":
        for name in ("column", "step_s"):
            if getattr(trace, name) is None:
                raise ValueError(f"a csv trace needs {name}")
    else:
        for name in ("column", "step_s", "where"):
            if getattr(trace, name) is not None:
                raise ValueError(f"{name} applies to csv traces only (format {trace.format})")
    return trace


class TraceConfig(StrictModel):
    """A capacity trace (:mod:`hcf_ray.sim.net.traces`): ``file`` in ``format``; the
    capacity at simulation time t is the trace's value at ``t + offset_s``; ``loop``: the
    trace repeats (else its last value holds). ``csv``: ``column`` (Mbit/s) sampled every
    ``step_s`` seconds, from the rows that match every ``where`` ``{COLUMN: VALUE}``."""

    file: FilePath
    format: Literal["pensieve", "mahimahi", "csv"]
    offset_s: Num = Field(0.0, ge=0, le=MAX_OFFSET_S)
    loop: bool = Field(True, strict=True)
    column: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    step_s: Num | None = Field(None, gt=0, le=MAX_MS / 1000.0)
    where: dict[Annotated[str, Field(min_length=1, max_length=200)], CsvCell] | None = None

    @model_validator(mode="after")
    def _csv_fields(self) -> TraceConfig:
        return check_csv_fields(self)

    def read_args(self) -> dict:
        """Keyword arguments of :func:`hcf_ray.sim.net.traces.read_trace`."""
        if self.format != "csv":
            return {}
        return {"column": self.column, "step_s": self.step_s, "where": dict(self.where or {})}


_FRACTION, _TRACE = "utilisation-fraction", "utilisation-trace"  # union tags (not shown)


class BackgroundConfig(StrictModel):
    """Background traffic on a link, as a share of its capacity (the fluid model: the images
    get ``capacity × (1 − utilisation)``): a constant in [0, 1], or a trace whose values are
    the utilisation over time (read like a capacity trace, its numbers taken as fractions)."""

    utilisation: Annotated[
        Annotated[float, Field(strict=True, ge=0, le=1), Tag(_FRACTION)]
        | Annotated[TraceConfig, Tag(_TRACE)],
        Discriminator(lambda v: _TRACE if isinstance(v, dict | TraceConfig) else _FRACTION),
    ]


class LinkConfig(StrictModel):
    src: NodeId
    dst: NodeId
    # a traced link needs none (its routing figure is the trace's mean)
    bandwidth_mbps: Bandwidth | None = None
    latency_ms: Millis = 1.0
    loss: Num = Field(0.0, ge=0, lt=1)  # packet-loss probability (0..1), retransmitted
    # False: the link exists both ways with the same parameters
    directed: bool = Field(False, strict=True)
    trace: TraceConfig | None = None  # capacity of src → dst (and dst → src without reverse)
    reverse_trace: TraceConfig | None = None  # capacity of dst → src
    background: BackgroundConfig | None = None  # other traffic's share, both directions

    @model_validator(mode="after")
    def _speed(self) -> LinkConfig:
        if self.trace is not None and self.bandwidth_mbps is not None:
            raise ValueError(
                "give bandwidth_mbps or trace, not both (a traced link's speed is its trace)"
            )
        if self.trace is None and self.bandwidth_mbps is None:
            raise ValueError("bandwidth_mbps: field required (or give a trace)")
        if self.reverse_trace is not None and self.directed:
            raise ValueError("reverse_trace: a directed link has no reverse direction")
        return self


class DestinationConfig(StrictModel):
    node: NodeId
    level: Level
    policy: PolicySpec | None = None  # overrides the flow's policy for this destination
    n_q: Level | None = None  # overrides the flow's n_q for this destination


class FlowConfig(StrictModel):
    name: Name | None = None
    source: NodeId
    source_level: Level | None = None  # None: the ladder's top level
    destinations: list[DestinationConfig] = Field(min_length=1)
    methods: list[MethodSpec] = Field(default_factory=lambda: ["hcf", "drf", "ssf"], min_length=1)
    policy: PolicySpec = "edge"
    # several policies, one per world (instead of policy; see policy_lists)
    policies: PolicyList | None = None
    # quantizations along each destination's route (HCF/DRF); None: one per hop while the
    # levels allow, min(hops, s-d+1); fewer than hops: relays forward the bytes unchanged
    n_q: Level | None = None
    images: ImagesPath = SAMPLES  # 'samples' (bundled photos) or an image folder
    max_images: Count | None = None
    interval_ms: Millis = 0.0  # image i is released at i·interval (0: a burst)

    @model_validator(mode="after")
    def _one_of_policy_policies(self) -> FlowConfig:
        if self.policies is not None and "policy" in self.model_fields_set:
            raise ValueError("give policy or policies, not both")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _without_unset(handler(self), ("policies",))


class RoutingConfig(StrictModel):
    # link attribute minimised by the shortest path: latency_ms, hops, or inv_bandwidth
    weight: str = "latency_ms"


class GraphImport(StrictModel):
    """Nodes and links from a graph file: Topology Zoo GML / GraphML, SNDlib, Rocketfuel
    (the rules and their order: :mod:`hcf_ray.graphs.rules`)."""

    file: FilePath
    bandwidth_mbps: Bandwidth = 100.0  # speed of a link whose file gives none
    latency_ms: Millis | None = None  # one fixed latency for every link (None: the rules)
    default_latency_ms: Millis = 5.0  # a link with no latency and no coordinates in reach
    route_factor: float = Field(1.0, strict=True, ge=1, le=10)  # route km / great-circle km
    km_per_ms: float = Field(200.0, strict=True, gt=0, le=300)  # propagation (fibre: 200)
    per_hop_ms: Millis = 0.1  # processing delay added to each coordinate-derived latency
    parallel: Literal["sum", "fastest"] = "sum"  # parallel edges: capacities add up
    hyperedges: Literal["contract", "keep"] = "contract"  # shared media: no hop / no codec
    external_transit: bool = Field(False, strict=True)  # routes through Internal 0 nodes


class ResolvedConfig(StrictModel):
    """A config whose paths were resolved when it was parsed (:func:`parse` with a
    ``base_dir``); :meth:`as_written` maps a resolved value back to its spelling in the file."""

    _written: dict[str, str] = PrivateAttr(default_factory=dict)

    def as_written(self, value: Any) -> Any:
        """How the config file spelled a resolved path (or ``file.py:Class``), for labels and
        messages; other values (and configs built in code) unchanged."""
        return self._written.get(value, value) if isinstance(value, str) else value

    def with_written(self, other: ResolvedConfig) -> ResolvedConfig:
        """This config, knowing the spellings ``other`` knows too (a sweep's worlds)."""
        self._written = {**other._written, **self._written}
        return self


class SimConfig(ResolvedConfig):
    name: Name = "topology"
    codec: CodecSpec = "default"  # default | checkpoint dir | zoo:ARCH | random:ARCH[:N[:M[:L]]]
    phi_dir: FilePath | None = None
    transport: Literal["bitstream", "latent"] = "bitstream"
    routing: RoutingConfig = RoutingConfig()
    node_defaults: NodeDefaults = NodeDefaults()
    graph: GraphImport | None = None
    nodes: list[NodeConfig] = Field(default_factory=list, max_length=MAX_NODES)
    links: list[LinkConfig] = Field(default_factory=list, max_length=MAX_LINKS)
    flows: list[FlowConfig] = Field(min_length=1, max_length=1000)
    seed: Seed = 0  # seeds link loss (one stream per directed link and method)
    # profile: ops priced by a calibrated cost model (deterministic); measured: the wall
    # clock of each op inside the actors (varies with host load; for studies of the real system)
    timing: Literal["profile", "measured"] = "profile"
    profile: FilePath | None = None  # cost profile (hcf-sim calibrate); None: the shipped CPU one
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)  # named device models
    # pool: codec work multiplexed onto one actor per CPU of the cluster; dedicated: one actor
    # per topology node with that node's Ray resources (map the topology onto machines)
    placement: Literal["pool", "dedicated"] = "pool"
    # pool: models one actor holds at most (MB of weights); the ones used longest ago are
    # dropped past it and loaded again when needed. None: no bound
    model_budget_mb: Num | None = Field(2048.0, gt=0, le=1e9)
    faults: list[Fault] = Field(default_factory=list)  # injected faults (hcf_ray.sim.faults)
    # background traffic matrix (SNDlib native or XML, Mbit/s), routed on the shortest paths
    demands: FilePath | None = None
    # policies may see link capacities ahead of time (upper bounds; recorded in the summary)
    oracle: bool = Field(False, strict=True)
    # several policies for every flow that names none itself, one per world
    policies: PolicyList | None = None

    def flow_name(self, index: int) -> str:
        f = self.flows[index]
        return f.name or f"flow{index}"

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _without_unset(handler(self), ("policies",))


def policy_lists(cfg: SimConfig) -> dict[int, tuple[str, list]]:
    """Flow index → (its field, its policy list) for each flow that runs several policies:
    its own ``policies``, else the topology's ``policies`` when it names no ``policy``."""
    out: dict[int, tuple[str, list]] = {}
    for i, f in enumerate(cfg.flows):
        if f.policies is not None:
            out[i] = (f"flows[{i}].policies", list(f.policies))
        elif cfg.policies is not None and "policy" not in f.model_fields_set:
            out[i] = ("policies", list(cfg.policies))
    return out


# -- loading -----------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                dup = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {show(key, 40)}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _flow_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside quotes (a cheap upper bound on the depth of
    flow collections), computed only when the text has many brackets."""
    if text.count("[") + text.count("{") <= 4 * MAX_DEPTH:
        return 0
    depth = deepest = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote or ch == "\n":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


def read_yaml(path: str | Path) -> dict:
    """The YAML mapping of a config file; every problem (missing file, syntax, too big, too
    deep, duplicate key) is a one-line ConfigError naming the file."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError("file not found", source=path)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", source=path
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot read: {exc}", source=path) from None
    if _flow_depth(text) > 4 * MAX_DEPTH:  # refused before the recursive parser sees it
        raise ConfigError(f"YAML nested too deeply (at most {MAX_DEPTH} levels)", source=path)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"YAML syntax error{where}: {problem}", source=path) from None
    except RecursionError:
        raise ConfigError(
            f"YAML nested too deeply (at most {MAX_DEPTH} levels)", source=path
        ) from None
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        # e.g. a timestamp or a number PyYAML cannot convert
        raise ConfigError(f"YAML value error: {type(exc).__name__}: {exc}", source=path) from None
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping", source=path)
    check_shape(data, path)
    return data


def check_shape(data: Any, source: str | Path | None = None) -> None:
    """Refuse data nested deeper than MAX_DEPTH or with more than MAX_VALUES values (YAML
    aliases make a small file expand; validating it would never end)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"more than {MAX_VALUES} values (YAML aliases?)", source=source)
        if isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:
                raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=source)
            items = value.values() if isinstance(value, dict) else value
            if isinstance(value, dict):
                count += len(value)  # the keys
            stack.extend((v, depth + 1) for v in items)


def parse(
    model: type[BaseModel],
    data: dict,
    source: str | Path | None = None,
    base_dir: str | Path | None = None,
) -> Any:
    """Validate ``data`` into ``model``; the first problem becomes a one-line ConfigError.

    With ``base_dir`` (the config file's folder) every path field is resolved against it
    (see the module doc); without, paths are kept as given."""
    check_shape(data, source)
    context: dict[str, Any] = {"base_dir": base_dir, "written": {}}
    try:
        out = model.model_validate(data, context=context)
        if isinstance(out, ResolvedConfig):
            out._written = dict(context["written"])
        return out
    except ValidationError as exc:
        raise pydantic_error(exc, source) from None
    except RecursionError:
        raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=source) from None


def pydantic_error(exc: ValidationError, source: str | Path | None = None) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    field = field_path(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "missing":
        msg = "field required"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
        if kind == "finite_number":
            msg = "must be a finite number (no .inf or .nan)"
        if "input" in err and not isinstance(err["input"], dict | list):
            got = show(err["input"], 40)
            if kind != "value_error" or got not in msg:  # our messages show the value
                msg += f" (got {got})"
    return ConfigError(msg, field, source)


_TAG_RE = re.compile(r"^[A-Za-z_][\w-]*\[.*\]$")  # 'list[int]', 'function-after[...]'


_TAGS = ("function-before", "function-after", _FRACTION, _TRACE)


def field_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif _TAG_RE.match(str(part)) or str(part) in _TAGS:
            continue  # union / validator tags pydantic adds to the location
        else:
            text = one_line(part, 40)
            out += f".{text}" if out else text
    return out


def config_dir(path: str | Path) -> Path:
    """The folder a config file's relative paths are relative to: the file's own."""
    return Path(path).resolve().parent


def load_config(path: str | Path) -> SimConfig:
    """Parse a topology YAML; its paths come back absolute, resolved against its folder."""
    path = Path(path)
    return parse(SimConfig, read_yaml(path), path, config_dir(path))
