"""What the simulator tells a policy besides the route (image size, level rates, devices),
attached to a resolved policy by the scenario and read through the policy's context."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hcf_ray.policy._timer import untimed
from hcf_ray.policy.estimate import NodeDevice, Pricer

if TYPE_CHECKING:
    from hcf_ray.policy.base import Policy


class PolicyEnvironment:
    """What the simulator knows besides the route: the image size, the codec's level rates
    (``level_bpp``, measured on first use, for :meth:`PolicyContext.rate_model`), the
    nodes' devices (for :meth:`PolicyContext.cost_model`) and the simulator's pricing of a
    plan (for :meth:`PolicyContext.estimate`). Made by the scenario; a policy reads it
    through its context. ``devices`` maps node → an object with ``seconds(ops, height,
    width)`` (a :class:`hcf_ray.sim.net.pricing.Device`); ``node_speed`` node → speed factor;
    ``node_devices`` node → :class:`~hcf_ray.policy.estimate.NodeDevice` (what
    ``route.devices`` shows); ``pricer`` prices a chain, ``pricer(ctx, levels, nbytes)`` →
    :class:`~hcf_ray.policy.estimate.Estimate` (the simulator's is
    :func:`hcf_ray.sim.chain_estimate.estimate_chain`; None: ``estimate`` is not available)."""

    def __init__(
        self,
        image_size: tuple[int, int] | None = None,
        devices: Mapping[str, Any] | None = None,
        node_speed: Mapping[str, float] | None = None,
        level_bpp: Callable[[], Mapping[int, float]] | None = None,
        node_devices: Mapping[str, NodeDevice] | None = None,
        pricer: Pricer | None = None,
    ):
        self.image_size = image_size_of(image_size)
        self.devices = dict(devices or {})
        self.node_speed = dict(node_speed or {})
        self.node_devices = dict(node_devices or {})
        self.pricer = pricer
        self._level_bpp = level_bpp
        self._table: dict[int, float] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Picklable (a scenario travels to Ray tasks): everything but the lock."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def level_bpp(self) -> dict[int, float]:
        """Mean bpp per level of the codec, measured on first use (seconds with real models,
        then cached on disk: :func:`hcf_ray.level_rates.level_bpp`)."""
        with self._lock:
            if self._table is None:
                with untimed():  # not charged to the policy's time limit
                    if self._level_bpp is None:
                        raise LookupError("rate_model: no codec is known here")
                    table = self._level_bpp()
                self._table = {int(k): float(v) for k, v in table.items()}
            return dict(self._table)


_ENV_ATTR = "_hcf_policy_environment"


def bind_environment(policy: Policy, env: PolicyEnvironment | None) -> Policy:
    """Attach the simulator's environment to a resolved policy (the scenario does this; the
    contexts the planner builds for this policy then carry it)."""
    object.__setattr__(policy, _ENV_ATTR, env)
    return policy


def environment_of(policy: Policy) -> PolicyEnvironment | None:
    return getattr(policy, _ENV_ATTR, None)


def image_size_of(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    h, w = (int(v) for v in value)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")
    return h, w
