"""Checking a policy before a run: :func:`check_policy` asks it to decide on synthetic routes
that exercise what real topologies do (a route longer than the levels, a later destination of
a multicast tree, fewer quantizations than hops, a hop minimum no plan can meet, a single
hop) and returns what it got wrong, one :class:`Problem` per scenario.

The policy is called exactly as the simulator calls it (with its time limit and one-line
errors for a policy file), with a made-up environment: a 384×256 image, level rates and
device costs that grow with the level, so ``rate_model``, ``cost_model`` and ``transmit_s``
answer."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hcf_ray.policy._environment import PolicyEnvironment, bind_environment, environment_of
from hcf_ray.policy._resolve import resolve_policy
from hcf_ray.policy._sandbox import PolicyError, UserPolicy
from hcf_ray.policy.base import Policy
from hcf_ray.policy.context import Hop, PolicyContext, Route

MAX_LEVEL = 6
IMAGE_SIZE = (256, 384)
LINE_LIMIT = 200


@dataclass(frozen=True)
class Scenario:
    """A synthetic destination: the chain's levels, its route's hop minimums (None: none)."""

    name: str
    start_level: int
    target_level: int
    n_q: int
    min_levels: tuple[int | None, ...]  # one per hop
    upstream_level: int | None = None  # set: the route starts at a fork relay holding it
    forks: tuple[int, ...] = ()  # indices of route nodes where the tree branches
    min_levels_met: bool = True  # a placement exists that keeps every hop at its minimum

    @property
    def hops(self) -> int:
        return len(self.min_levels)

    def describe(self) -> str:
        start = (
            f"from a fork relay holding level {self.upstream_level}, "
            if self.upstream_level is not None
            else ""
        )
        mins = [m for m in self.min_levels if m is not None]
        floor = f", min levels {list(self.min_levels)}" if mins else ""
        return (
            f"{self.hops} hop(s) {start}levels {self.start_level}→{self.target_level}, "
            f"n_q={self.n_q}{floor}"
        )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("long route", 6, 1, 6, (None,) * 8),
    Scenario("fork", 5, 1, 2, (2, 2, None), upstream_level=6, forks=(1,)),
    Scenario("fewer quantizations than hops", 6, 2, 2, (None,) * 4),
    Scenario("min level out of reach", 6, 2, 2, (None, 4, 4), min_levels_met=False),
    Scenario("one hop", 6, 3, 1, (None,)),
)


@dataclass(frozen=True)
class Problem:
    """What a policy got wrong in one scenario; ``str``: one line."""

    scenario: str
    message: str

    def __str__(self) -> str:
        text = f"{self.scenario}: {self.message}"
        return text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    levels: tuple[int, ...] | None  # the level on each hop (None: the policy failed)
    problem: Problem | None = None

    def __str__(self) -> str:
        if self.problem is not None:
            return f"FAIL {self.problem}"
        return f"ok   {self.scenario.name}: {self.scenario.describe()} → " + "-".join(
            map(str, self.levels or ())
        )


def check_policy(spec: Any, args: Mapping[str, Any] | None = None) -> list[Problem]:
    """The problems of a policy (a registered name, ``path/to/file.py:Class``, a 0/1 list or
    a :class:`Policy`; ``args`` for its constructor) over :data:`SCENARIOS`; empty: none. A
    policy that cannot even be made raises, as :func:`resolve_policy` does."""
    return [r.problem for r in run_scenarios(spec, args) if r.problem is not None]


def run_scenarios(
    spec: Any, args: Mapping[str, Any] | None = None, scenarios: Sequence[Scenario] = SCENARIOS
) -> list[Result]:
    """Every scenario's outcome, in order (see :func:`check_policy`)."""
    shown = spec if isinstance(spec, str) else None
    policy = resolve_policy(spec, args, shown=shown)
    if policy is spec:  # the caller's own object: bind the synthetic environment to a copy
        policy = copy.copy(policy)
    bind_environment(policy, _environment(max(len(s.min_levels) for s in scenarios)))
    return [_run(policy, s) for s in scenarios]


def _run(policy: Policy, scenario: Scenario) -> Result:
    ctx = _context(policy, scenario)
    try:
        levels = tuple(policy.hop_levels(ctx))
    except (PolicyError, ValueError) as exc:
        return Result(scenario, None, Problem(scenario.name, _first_line(exc)))
    except Exception as exc:  # a policy written in code, failing in it
        message = f"policy {_label(policy)}: {type(exc).__name__}: {_first_line(exc)}"
        return Result(scenario, None, Problem(scenario.name, message))
    if scenario.min_levels_met:
        for hop, level in zip(ctx.route, levels):
            if hop.min_level is not None and level < hop.min_level:
                message = (
                    f"policy {_label(policy)} sends level {level} on hop {hop.src}→{hop.dst}, "
                    f"below its min_level {hop.min_level} (levels {list(levels)})"
                )
                return Result(scenario, levels, Problem(scenario.name, message))
    return Result(scenario, levels)


def _label(policy: Policy) -> str:
    if isinstance(policy, UserPolicy):
        return policy.source.shown
    return repr(policy.name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- the synthetic world ------------------------------------------------------------------------
BANDWIDTHS_MBPS = (50.0, 5.0, 20.0, 100.0, 10.0, 2.0, 40.0, 8.0)


class _Device:
    """Seconds of ops on an image: a millisecond per op and 100k pixels, more at high levels."""

    def seconds(self, ops: Sequence[str], height: int, width: int) -> float:
        pixels = height * width / 1e5
        return sum(1e-3 * pixels * (1 + _level_of(op) / MAX_LEVEL) for op in ops)


def _level_of(op: str) -> int:
    _, _, rest = op.partition("[")
    return int(rest.rstrip("]")) if rest.rstrip("]").isdigit() else 0


def _nodes(n: int) -> tuple[str, ...]:
    return tuple(f"n{i}" for i in range(n + 1))


def _environment(max_hops: int) -> PolicyEnvironment:
    nodes = _nodes(max_hops)
    return PolicyEnvironment(
        image_size=IMAGE_SIZE,
        devices={x: _Device() for x in nodes},
        node_speed={x: 1.0 + (i % 2) for i, x in enumerate(nodes)},
        level_bpp=lambda: {k: 0.08 * 1.6 ** (k - 1) for k in range(1, MAX_LEVEL + 1)},
    )


def _context(policy: Policy, s: Scenario) -> PolicyContext:
    nodes = _nodes(s.hops)
    hops = tuple(
        Hop(
            nodes[i],
            nodes[i + 1],
            BANDWIDTHS_MBPS[i % len(BANDWIDTHS_MBPS)],
            latency_ms=1.0 + i,
            loss=0.01 if i % 3 == 1 else 0.0,
            min_level=m,
        )
        for i, m in enumerate(s.min_levels)
    )
    route = Route(
        nodes=nodes,
        hops=hops,
        node_resources={x: {"CPU": 1.0} for x in nodes},
        node_speed={x: 1.0 + (i % 2) for i, x in enumerate(nodes)},
        upstream_level=s.upstream_level,
        forks=frozenset(nodes[i] for i in s.forks),
    )
    source = s.upstream_level if s.upstream_level is not None else s.start_level
    return PolicyContext(
        s.start_level,
        s.target_level,
        s.n_q,
        route=route,
        max_level=MAX_LEVEL,
        num_hops=s.hops,
        flow_source_level=source,
        environment=environment_of(policy),
    )
