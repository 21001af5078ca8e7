"""Policies as references of a search (pure: no Ray, no models).

A search may name policies, in the grammar of a run's ``policies:`` list (built-in names
``edge``/``late``/``uniform``, 0/1 vectors, ``path/to/file.py:Class``, ``{name: NAME, class:
…, args: {…}}``): the topology's list for the searched flow (``flows[i].policies``, else the
top-level ``policies`` when the flow names no ``policy``), or ``--policies`` on the command
line, which replaces it. Paths in the YAML are relative to its folder (as for ``run``); on the
command line, relative to the current directory.

Each listed policy decides the searched destination only, with the context a run gives it
(route, image size, the nodes' devices, the codec's rate model); the flow's other
destinations keep the plan the search starts from, so the policy's levels are those of one
candidate and its metrics are that candidate's. A policy whose plan the planner refuses is
*infeasible* here (the reason is kept); one whose code fails is a user error naming its place
in the list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from hcf_ray.methods import get_method
from hcf_ray.policy._environment import bind_environment, environment_of
from hcf_ray.policy._resolve import resolve_policy
from hcf_ray.policy._sandbox import PolicyError
from hcf_ray.sim.config import (
    PolicyRef,
    PolicySpec,
    policy_label,
    policy_lists,
    pydantic_error,
)
from hcf_ray.sim.planner import plan_flow
from hcf_ray.sim.scenario import Scenario, policy_name, policy_sha256
from hcf_ray.sim.search.objective import SearchError
from hcf_ray.sim.treelevels import PlanError

if TYPE_CHECKING:  # space imports this module to plan the listed policies
    from hcf_ray.sim.search.space import Target


@dataclass
class ListedPolicy:
    """One listed policy planned on one target: per method its levels, or why it has none."""

    name: str  # how tables, search.json and figures name it (and policy:NAME in --objective)
    label: str  # the spec as written (``my.py:Mine(budget_j=0.5)``)
    where: str  # its place: ``policies[2]``, ``flows[0].policies[1]``, ``--policies[0]``
    sha256: str | None  # a policy file's contents (None: built-in or a vector)
    levels: dict[str, tuple[int, ...]] = field(default_factory=dict)  # method → per hop
    n_q: dict[str, int] = field(default_factory=dict)
    infeasible: dict[str, str] = field(default_factory=dict)  # method → the planner's reason


def parse_cli_policies(values: Sequence[str], cwd: str | None = None) -> list:
    """``--policies`` values as (policy spec, how to show its resolved path) pairs: each a built-in name, ``path/to/file.py:Class``
    (relative to ``cwd``, default the current directory) or a YAML flow mapping/list such as
    ``'{name: tight, class: my.py:Mine, args: {budget_j: 0.5}}'`` or ``'[1, 0, 1]'``."""
    adapter = TypeAdapter(PolicySpec)
    out = []
    for k, text in enumerate(values):
        where = f"--policies[{k}] {text!r}"
        value: Any = text
        if text.lstrip().startswith(("{", "[")):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                why = str(getattr(exc, "problem", None) or "not YAML").strip()
                raise SearchError(f"{where}: {why}") from None
        context = {"base_dir": cwd or os.getcwd(), "written": {}}
        try:
            spec = adapter.validate_python(value, context=context)
        except ValidationError as exc:
            raise SearchError(f"{where}: {pydantic_error(exc).message}") from None
        written = context["written"]
        out.append((spec, lambda v, w=written: w.get(v, v) if isinstance(v, str) else v))
    return out


def config_policies(scenario: Scenario, flow: str) -> tuple[str, list] | None:
    """The topology's policy list of ``flow`` (its field and entries), or None."""
    cfg = scenario.config
    for i in range(len(cfg.flows)):
        if cfg.flow_name(i) == flow:
            return policy_lists(cfg).get(i)
    return None


def plan_policies(
    scenario: Scenario, targets: Sequence[Target], cli: Sequence[tuple] | None = None
) -> None:
    """Plan each listed policy (``cli``: :func:`parse_cli_policies`, else the topology's
    list of the target's flow) on every target; fills ``Target.policies``."""
    for t in targets:
        if cli is not None:
            entries = [(f"--policies[{k}]", spec, shown) for k, (spec, shown) in enumerate(cli)]
        else:
            listed = config_policies(scenario, t.flow)
            entries = []
            if listed is not None:
                where, specs = listed
                shown = scenario.config.as_written
                entries = [(f"{where}[{k}]", s, shown) for k, s in enumerate(specs)]
        t.policies = [_plan_one(scenario, t, *e) for e in entries]
        seen: dict[str, str] = {}
        for p in t.policies:
            if p.name in seen:
                raise SearchError(
                    f"{seen[p.name]} and {p.where} are both named {p.name!r}; give each a "
                    "unique name: {name: NAME, class: ..., args: ...}"
                )
            seen[p.name] = p.where


def _plan_one(scenario: Scenario, t: Target, where: str, spec, as_written) -> ListedPolicy:
    """``spec`` resolved as a run resolves it, with the environment of the destination's own
    policy, planned on the target for each of its methods."""
    try:
        if isinstance(spec, PolicyRef):
            policy = resolve_policy(spec.cls, spec.args, shown=as_written(spec.cls))
        elif isinstance(spec, str):
            policy = resolve_policy(spec, shown=as_written(spec))
        else:
            policy = resolve_policy(spec)
    except (ValueError, PolicyError) as exc:
        raise SearchError(f"{where}: {exc}") from None
    run = next(f for f in scenario.flows if f.spec.name == t.flow)
    mine = next(d for d in run.spec.destinations if d.node == t.destination)
    bind_environment(policy, environment_of(mine.policy))  # what a run gives it
    label = policy_label(spec, as_written)
    out = ListedPolicy(policy_name(policy, spec), label, where, policy_sha256(spec))
    dest = replace(mine, policy=policy, policy_label=label, field=where)
    flow = replace(
        run.spec,
        destinations=tuple(dest if d.node == t.destination else d for d in run.spec.destinations),
    )
    cfg, codec = scenario.config, scenario.codec
    for m in t.methods:
        try:
            plan = plan_flow(
                scenario.topology, flow, get_method(m), cfg.routing.weight, codec.max_level
            )
        except PlanError as exc:
            out.infeasible[m] = exc.message
            continue
        except PolicyError as exc:  # the policy's own code failed
            raise SearchError(f"{where}: {exc}") from None
        except ValueError as exc:
            out.infeasible[m] = str(exc)
            continue
        got = next(x for x in plan.destinations if x.node == t.destination)
        out.levels[m] = tuple(got.levels)
        out.n_q[m] = len(dict.fromkeys(got.levels))
    return out


def identity(targets: Sequence[Target]) -> list:
    """What the references of a search are a function of (for ``--resume``)."""
    return [
        [t.flow, t.destination, [[p.name, p.label, p.sha256] for p in t.policies]] for t in targets
    ]
