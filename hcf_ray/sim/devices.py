"""Device models of a topology's nodes, resolved from the config (profiles loaded once).

``profile`` (top level) prices every node whose device names no profile; a node's
``device`` is a name from the ``devices`` table or an inline mapping. Profile paths are used
as the config holds them (resolved against the topology file's folder when it was parsed).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hcf_ray.policy.estimate import NodeDevice
from hcf_ray.sim.config import ConfigError, DeviceConfig, SimConfig
from hcf_ray.sim.net.costs import CostProfile, ProfileError
from hcf_ray.sim.net.pricing import Device, stage_ops


@lru_cache(maxsize=64)
def _load(path: str) -> CostProfile:
    return CostProfile.load(path)


def load_profile(value: str | None, field: str) -> CostProfile:
    try:
        if value is None:
            return CostProfile.default()
        return _load(str(Path(value).resolve()))
    except ProfileError as exc:
        raise ConfigError(str(exc), field) from None


def resolve_devices(cfg: SimConfig, topology) -> dict[str, Device]:
    default = load_profile(cfg.profile, "profile")
    named: dict[str, Device] = {}
    for name, dc in cfg.devices.items():
        named[name] = _device(name, dc, default, f"devices.{name}")
    out: dict[str, Device] = {}
    for node, spec in topology.nodes.items():
        ref = spec.device
        if ref is None:
            out[node] = Device("default", default)
        elif isinstance(ref, str):
            if ref not in named:
                choices = ", ".join(sorted(named)) or "none defined"
                raise ConfigError(
                    f"unknown device {ref!r} (devices: {choices})", f"nodes[{node}].device"
                )
            out[node] = named[ref]
        else:
            out[node] = _device(f"{node}-device", ref, default, f"nodes[{node}].device")
    return out


def node_device(device: Device, node) -> NodeDevice:
    """What a policy sees of a node's device (``route.devices``): the device's name,
    throughput and power with the node's ``cores`` and ``speed`` (a topology NodeSpec), the
    numbers the simulator prices and charges the node's jobs with."""
    return NodeDevice(
        name=device.name,
        cores=int(node.cores),
        speed=float(node.speed),
        throughput=float(device.throughput),
        busy_w=float(device.busy_w),
        idle_w=float(device.idle_w),
    )


def _device(name: str, dc: DeviceConfig, default: CostProfile, field: str) -> Device:
    if dc.idle_w > dc.busy_w:
        raise ConfigError(
            f"idle_w {dc.idle_w:g} W is above busy_w {dc.busy_w:g} W", f"{field}.idle_w"
        )
    profile = default if dc.profile is None else load_profile(dc.profile, field)
    return Device(name, profile, dc.throughput, dc.busy_w, dc.idle_w)


def check_priced(plans, devices: dict[str, Device]) -> None:
    """Every op a plan runs on a node must be in that node's profile."""
    for plan in plans:
        for job in plan.jobs:
            dev = devices[job.node]
            for br in job.branches:
                for op in stage_ops(br.stage):
                    if not dev.profile.has(op):
                        raise ConfigError(
                            f"the cost profile {dev.profile.label} has no op {op!r} (node "
                            f"{job.node!r}); calibrate one for these models: hcf-sim calibrate",
                            "profile",
                        )
