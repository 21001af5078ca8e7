"""A checked, planned simulation: config → topology, resolved flows, plans, images, codec.

:func:`build_scenario` performs every check ``hcf-sim validate`` reports (field types,
unknown nodes, unreachable destinations, levels, policies, image folders, plan feasibility)
without starting Ray or loading models; problems are :class:`ConfigError` s naming the field.
Every image a flow would send is checked from its header (:func:`hcf_ray.images.inspect_image`)
here too: a bad one is left out of its flow and listed in ``Scenario.image_errors`` (and
``warnings``); a flow left with no usable image is a ConfigError on its ``images`` field.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hcf_ray.images import ImageError, image_files, inspect_image, sample_images, usable_images
from hcf_ray.level_rates import level_bpp
from hcf_ray.methods import get_method
from hcf_ray.policy._environment import PolicyEnvironment, bind_environment
from hcf_ray.policy._resolve import resolve_policy
from hcf_ray.policy._sandbox import PolicyError, UserPolicy
from hcf_ray.policy.base import Policy
from hcf_ray.sim.chain_estimate import estimate_chain
from hcf_ray.sim.codec import CodecChoice, resolve_codec
from hcf_ray.sim.config import (
    SAMPLES,
    ConfigError,
    PolicyRef,
    SimConfig,
    load_config,
    policy_label,
    policy_lists,
)
from hcf_ray.sim.devices import check_priced, node_device, resolve_devices
from hcf_ray.sim.faults import Corrupt, LinkDown
from hcf_ray.sim.planner import FlowDestination, FlowPlan, FlowSpec, plan_flow
from hcf_ray.sim.topology import Topology, build_topology, saturation_warning
from hcf_ray.sim.treelevels import PlanError


@dataclass
class FlowRun:
    spec: FlowSpec
    methods: list[str]
    images: list[Path]
    interval_s: float
    index: int
    skipped: list[Path] = field(default_factory=list)  # unusable images (image_errors)


@dataclass
class Scenario:
    config: SimConfig
    topology: Topology
    codec: CodecChoice
    transport: str
    flows: list[FlowRun]
    plans: dict[tuple[str, str], FlowPlan]  # (flow, method) → plan
    warnings: list[str] = field(default_factory=list)
    source: str = ""
    devices: dict = field(default_factory=dict)  # node → pricing.Device
    # images left out of their flow (missing, not an image, corrupt, too small, too big):
    # path → one-line message naming the file (hcf_ray.images.inspect_image)
    image_errors: dict[Path, str] = field(default_factory=dict)
    # a config with ``policies:`` lists: one scenario per policy index (``worlds[0]`` is this
    # one), each named by the policy its first listed flow runs there; empty: one world
    worlds: list[Scenario] = field(default_factory=list, repr=False, compare=False)
    world_names: list[str] = field(default_factory=list)

    @property
    def timing(self) -> str:
        return self.config.timing

    @property
    def all_worlds(self) -> list[Scenario]:
        """The scenarios simulated one after the other: one per policy index, or this one."""
        return self.worlds or [self]

    def plan(self, flow: str, method: str) -> FlowPlan:
        return self.plans[flow, method]


def load_scenario(
    path: str | Path,
    methods: Sequence[str] | None = None,
    max_images: int | None = None,
    transport: str | None = None,
    timing: str | None = None,
) -> Scenario:
    """Load and check a topology YAML; ConfigErrors carry the file name."""
    try:
        cfg = load_config(path)
        if timing is not None:
            cfg = cfg.model_copy(update={"timing": timing})
        return build_scenario(cfg, methods, max_images, transport, source=str(path))
    except ConfigError as exc:
        raise exc.with_source(path) from None


@dataclass(frozen=True)
class NetworkParts:
    """What every scenario of one network shares whatever its flows: the checked topology,
    the codec and the nodes' devices (a sweep plans each network once per policy × method)."""

    topology: Topology
    codec: CodecChoice
    devices: dict


def network_parts(cfg: SimConfig, codec: CodecChoice | None = None) -> NetworkParts:
    """``cfg``'s topology (its routing weight checked), codec (``codec`` if given, resolved
    already) and devices."""
    topology = build_topology(cfg)
    topology.oracle = cfg.oracle  # policies may read future link capacities (policy.context.Hop)
    try:
        topology.check_weight(cfg.routing.weight)
    except ValueError as exc:
        raise ConfigError(str(exc), "routing.weight") from None
    if codec is None:
        codec = resolve_codec(cfg.codec, cfg.phi_dir, requested=cfg.as_written(cfg.codec))
    return NetworkParts(topology, codec, resolve_devices(cfg, topology))


def build_scenario(
    cfg: SimConfig,
    methods: Sequence[str] | None = None,
    max_images: int | None = None,
    transport: str | None = None,
    source: str = "",
    parts: NetworkParts | None = None,
) -> Scenario:
    """Check and plan ``cfg``. Its paths are used as they are (:func:`load_config` resolved
    them against the config file's folder); ``methods`` (``--methods``: names or user files,
    from the current directory) replace every flow's. ``parts``: :func:`network_parts` of a
    config with the same nodes, links, codec and node defaults, made once for many.

    A config with ``policies:`` lists gives one scenario per policy index
    (:func:`policy_worlds`)."""
    parts = parts or network_parts(cfg)
    lists = policy_lists(cfg)
    if lists:
        return policy_worlds(cfg, lists, methods, max_images, transport, source, parts)
    topology, codec, devices = parts.topology, parts.codec, parts.devices
    warns: list[str] = []
    for m in methods or ():
        try:
            get_method(m)
        except ValueError as exc:
            raise ConfigError(str(exc), "--methods") from None
    flows: list[FlowRun] = []
    plans: dict[tuple[str, str], FlowPlan] = {}
    names: set[str] = set()
    image_errors: dict[Path, str] = {}
    for i in range(len(cfg.flows)):
        run = _flow(cfg, i, topology, codec, methods, max_images, image_errors)
        _bind_policy_environment(run, codec, devices, topology, transport or cfg.transport)
        if run.spec.name in names:
            raise ConfigError(f"duplicate flow name {run.spec.name!r}", f"flows[{i}].name")
        names.add(run.spec.name)
        for m in [m for m in run.methods if get_method(m).needs_phis and not codec.has_phis]:
            run.methods.remove(m)
            warns.append(f"codec {codec.requested!r} has no φ modules: skipping {m}")
        for m in run.methods:
            try:
                plans[run.spec.name, m] = plan_flow(
                    topology, run.spec, get_method(m), cfg.routing.weight, codec.max_level
                )
            except PlanError as exc:
                raise ConfigError(f"{m}: {exc.message}", exc.field or f"flows[{i}]") from None
            except PolicyError as exc:  # the user's policy code failed: not a plan problem
                raise ConfigError(str(exc), _policy_field(cfg, i, exc.file)) from None
        flows.append(run)
    check_priced(plans.values(), devices)
    _check_computing(plans, topology)
    _check_faults(cfg.faults, topology)
    warns += _profile_warnings(codec, devices)
    warns += [saturation_warning(e, why) for e, why in topology.saturated.items()]
    warns += [image_warning(msg) for msg in image_errors.values()]
    return Scenario(
        config=cfg,
        topology=topology,
        codec=codec,
        transport=transport or cfg.transport,
        flows=flows,
        plans=plans,
        warnings=list(dict.fromkeys(warns)),
        source=source,
        devices=devices,
        image_errors=image_errors,
    )


_WARNED: dict[tuple, list[str]] = {}


def _profile_warnings(codec, devices) -> list[str]:
    """A profile calibrated for other models prices these ones only approximately."""
    key = (codec.spec, codec.phi_dir, *sorted({d.profile.sha256 for d in devices.values()}))
    if key not in _WARNED:
        _WARNED[key] = _check_profiles(codec, devices)
    return list(_WARNED[key])


def _check_profiles(codec, devices) -> list[str]:
    from hcf_ray.bundle_id import bundle_sha256

    out = []
    try:
        mine = bundle_sha256(codec.spec, codec.phi_dir)
    except (OSError, ValueError):
        return out
    for dev in {id(d.profile): d for d in devices.values()}.values():
        theirs = dev.profile.meta.get("models", {}).get("bundle_sha256")
        if theirs and theirs != mine:
            out.append(
                f"cost profile {dev.profile.label} was calibrated for other models "
                f"({dev.profile.meta.get('models', {}).get('spec')}); times are approximate "
                f"for {codec.requested!r} (hcf-sim calibrate makes a matching one)"
            )
    return out


def policy_worlds(cfg, lists, methods, max_images, transport, source, parts) -> Scenario:
    """One scenario per index of the ``policies`` lists (every list as long as the first):
    a listed flow runs its k-th policy in world k, the other flows their one policy in every
    world. Methods that use no policy run in world 0 only. Each listed flow's policies must
    have distinct names (a ``name:`` tells two apart)."""
    (first, lst0), *rest = lists.values()
    for where, lst in rest:
        if len(lst) != len(lst0):
            raise ConfigError(
                f"{len(lst)} policies, but {first} has {len(lst0)} (one policy per world: "
                "the lists must be equally long)",
                where,
            )
    worlds: list[Scenario] = []
    for k in range(len(lst0)):
        flows = [
            f.model_copy(update={"policy": lists[i][1][k], "policies": None}) if i in lists else f
            for i, f in enumerate(cfg.flows)
        ]
        world_cfg = cfg.model_copy(update={"flows": flows, "policies": None})
        try:
            world = build_scenario(world_cfg, methods, max_images, transport, source, parts)
        except ConfigError as exc:
            raise ConfigError(exc.message, _list_field(exc.field, lists, k)) from None
        if k > 0:  # a method that uses no policy gives the same records in every world
            for run in world.flows:
                for m in [m for m in run.methods if not get_method(m).uses_policy]:
                    run.methods.remove(m)
                    del world.plans[run.spec.name, m]
        worlds.append(world)
    names = _check_names(worlds, lists)
    out = worlds[0]
    out.config = cfg
    out.worlds, out.world_names = worlds, names
    return out


def _list_field(field: str, lists, k: int) -> str:
    """A world's ``flows[i].policy`` as the config wrote it: ``flows[i].policies[k]`` (or
    the topology's ``policies[k]``)."""
    for i, (where, _) in lists.items():
        if field == f"flows[{i}].policy" or field.startswith(f"flows[{i}].policy:"):
            return f"{where}[{k}]"
    return field


def _check_names(worlds: list[Scenario], lists) -> list[str]:
    """Each listed flow's policy names, one per world, unique; the first listed flow's name
    each world."""
    out: list[str] = []
    for n, (i, (where, _)) in enumerate(lists.items()):
        overridden = {d.node for d in worlds[0].config.flows[i].destinations if d.policy}
        seen: dict[str, int] = {}
        for k, world in enumerate(worlds):
            run = world.flows[i]
            own = [d for d in run.spec.destinations if d.node not in overridden]
            name = own[0].name if own else f"world{k}"
            if name in seen:
                raise ConfigError(
                    f"policies {seen[name]} and {k} are both named {name!r}; give each a "
                    "unique name: {name: NAME, class: ..., args: ...} (a vector: {name: "
                    "NAME, class: [1, 0, 1]})",
                    f"{where}[{k}]",
                )
            seen[name] = k
            if n == 0:
                out.append(name)
    return out


def policy_name(policy: Policy, spec) -> str:
    """How records, tables and figures name a policy: the ``name`` the config gives it, else
    its class's ``name`` attribute, else its class name."""
    if isinstance(spec, PolicyRef) and spec.name:
        return spec.name
    inner = policy.inner if isinstance(policy, UserPolicy) else policy
    name = getattr(type(inner), "name", None)
    return name if isinstance(name, str) and name != Policy.name else type(inner).__name__


def policy_sha256(spec) -> str | None:
    """sha256 of a ``file.py:Class`` policy's file (None for built-in policies and 0/1
    vectors, which belong to the installed package)."""
    cls = spec.cls if isinstance(spec, PolicyRef) else spec
    if not isinstance(cls, str) or ":" not in cls:
        return None
    path = cls.rpartition(":")[0]
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _check_computing(plans: dict[tuple[str, str], FlowPlan], topology: Topology) -> None:
    """An imported node that runs no codec work (a shared medium kept with ``hyperedges:
    keep``, or another operator's node) may be a flow's source or destination but, as a relay,
    only forwards what it receives."""
    imported = getattr(topology, "imported", None)
    idle = {n.name: n.role for n in (imported.nodes if imported else ()) if not n.computes}
    if not idle:
        return
    for (flow, method), plan in plans.items():
        for job in plan.jobs:
            relay = job.input is not None and not job.has_destination
            if relay and job.node in idle and job.segments:
                raise ConfigError(
                    f"{method}: node {job.node!r} is a {idle[job.node]} node of the imported "
                    "graph and runs no codec work, but the plan codes there (set n_q so that "
                    "it forwards, or choose other destinations)",
                    f"flows[{_flow_index(plans, flow)}]",
                )


def _flow_index(plans, flow: str) -> int:
    names = list(dict.fromkeys(f for f, _ in plans))
    return names.index(flow)


def _check_faults(faults, topology: Topology) -> None:
    """Every node and link a fault names is in the topology (ConfigError naming the fault)."""
    for i, f in enumerate(faults):
        where = f"faults[{i}]"
        for attr in ("node", "src", "dst"):
            name = getattr(f, attr, None)
            if name is not None and name not in topology.nodes:
                raise ConfigError(f"unknown node {name!r}", f"{where}.{attr}")
        if isinstance(f, LinkDown | Corrupt) and (f.src, f.dst) not in topology.links:
            raise ConfigError(f"no link {f.src} -> {f.dst}", where)
        if isinstance(f, LinkDown) and f.both and (f.dst, f.src) not in topology.links:
            raise ConfigError(f"no link {f.dst} -> {f.src}", where)


def image_warning(message: str) -> str:
    """The warning a scenario keeps for an image left out of its flow."""
    return f"image skipped: {message}"


def _flow(cfg, i, topology, codec, methods, max_images, image_errors) -> FlowRun:
    f = cfg.flows[i]
    where = f"flows[{i}]"
    nodes = topology.nodes
    if f.source not in nodes:
        raise ConfigError(f"unknown node {f.source!r}", f"{where}.source")
    s = f.source_level if f.source_level is not None else codec.max_level
    if s > codec.max_level:
        raise ConfigError(
            f"source level {s} is above the codec's top level {codec.max_level}",
            f"{where}.source_level",
        )
    dests = []
    seen: set[str] = set()
    for j, d in enumerate(f.destinations):
        dw = f"{where}.destinations[{j}]"
        if d.node not in nodes:
            raise ConfigError(f"unknown node {d.node!r}", f"{dw}.node")
        if d.node == f.source:
            raise ConfigError(f"destination {d.node!r} is the flow's source", f"{dw}.node")
        if d.node in seen:
            raise ConfigError(f"destination {d.node!r} listed twice", f"{dw}.node")
        seen.add(d.node)
        if d.level > s:
            raise ConfigError(
                f"target level {d.level} is above the source level {s} (levels only drop)",
                f"{dw}.level",
            )
        spec = d.policy if d.policy is not None else f.policy
        pfield = f"{dw}.policy" if d.policy is not None else f"{where}.policy"
        try:
            if isinstance(spec, PolicyRef):  # {class: ..., args: {...}}
                policy = resolve_policy(spec.cls, spec.args, shown=cfg.as_written(spec.cls))
            elif isinstance(spec, str):
                policy = resolve_policy(spec, shown=cfg.as_written(spec))
            else:
                policy = resolve_policy(spec)
        except (ValueError, PolicyError) as exc:
            raise ConfigError(str(exc), pfield) from None
        label = policy_label(spec, cfg.as_written)
        n_q, nfield = (d.n_q, f"{dw}.n_q") if d.n_q is not None else (f.n_q, f"{where}.n_q")
        args = dict(spec.args) if isinstance(spec, PolicyRef) else {}
        dests.append(
            FlowDestination(
                d.node,
                d.level,
                policy,
                label,
                dw,
                n_q,
                nfield,
                name=policy_name(policy, spec),
                args=args,
                sha256=policy_sha256(spec),
            )
        )
    chosen = list(methods) if methods else list(dict.fromkeys(f.methods))
    for k, m in enumerate(chosen):
        try:  # a user method file.py:Class is loaded and known by its name from here on
            chosen[k] = get_method(m, shown=cfg.as_written(m)).name
        except ValueError as exc:
            where_m = "--methods" if methods else f"{where}.methods[{k}]"
            raise ConfigError(str(exc), where_m) from None
    chosen = list(dict.fromkeys(chosen))
    name = cfg.flow_name(i)
    spec = FlowSpec(name, f.source, s, tuple(dests), f, where)
    files = _images(f.images, f"{where}.images")
    # every file's header is checked here, before any actor starts; a bad file is left out
    # (recorded in image_errors) and the limit counts good images only
    limit = min(x for x in (f.max_images, max_images, len(files)) if x is not None)
    images, bad = usable_images(files, max(limit, 0))
    image_errors.update(bad)
    if not images and bad:
        first = next(iter(bad.values()))
        raise ConfigError(
            f"no usable image: all {len(bad)} file(s) in {f.images!r} are bad, e.g. {first}",
            f"{where}.images",
        )
    return FlowRun(spec, chosen, images, f.interval_ms / 1000.0, i, list(bad))


def _policy_field(cfg: SimConfig, i: int, file: str) -> str:
    """The config field naming the policy file that failed (a destination's override, else
    the flow's policy); ``file`` as the policy's messages show it (the config's spelling)."""
    for j, d in enumerate(cfg.flows[i].destinations):
        name = d.policy.cls if isinstance(d.policy, PolicyRef) else d.policy
        if isinstance(name, str) and cfg.as_written(name).rpartition(":")[0] == file:
            return f"flows[{i}].destinations[{j}].policy"
    return f"flows[{i}].policy"


def _bind_policy_environment(run: FlowRun, codec, devices, topology, transport: str) -> None:
    """Give the flow's policies what the simulator knows (PolicyContext.image_size,
    rate_model, cost_model, route.devices, estimate): the largest image's (H, W), the codec,
    the nodes' devices, the simulator's pricing of a chain for the run's transport."""
    sizes = []
    for p in run.images:
        try:
            info = inspect_image(p)
        except ImageError:
            continue
        sizes.append((info.height, info.width))
    env = PolicyEnvironment(
        image_size=max(sizes, key=lambda hw: (hw[0] * hw[1], hw)) if sizes else None,
        devices=devices,
        node_speed={n: spec.speed for n, spec in topology.nodes.items()},
        level_bpp=functools.partial(level_bpp, codec.spec),
        node_devices={n: node_device(devices[n], spec) for n, spec in topology.nodes.items()},
        pricer=functools.partial(estimate_chain, transport=transport),
    )
    for d in run.spec.destinations:
        bind_environment(d.policy, env)


def _images(value: str, where: str) -> list[Path]:
    if value == SAMPLES:
        return sample_images()
    try:
        return image_files(value)
    except ImageError as exc:
        raise ConfigError(str(exc), where) from None
