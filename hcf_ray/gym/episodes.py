"""Episodes of the environment: one destination of one flow on one network of a sweep.

The networks are a sweep config's (:func:`hcf_ray.sim.sweep.build_sweep`), drawn with its
generators and seeds (or the seeds given here: held-out networks), planned with the sweep's
first policy for the flow's other destinations and the method ``hcf``. For each destination
the planner is run once with a recording policy in its place: the episode's
:class:`~hcf_ray.policy.PolicyContext` is exactly what a policy gets for it inside the
simulator (for a later destination of a multicast tree: the rest of its route after the
shared part, whose levels are then fixed), so a policy trained here decides the same
problem in ``hcf-sim run``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from hcf_ray.gym.observation import RouteView, route_view
from hcf_ray.policy import Decision, EdgePolicy, Policy, PolicyContext
from hcf_ray.policy._environment import bind_environment, environment_of
from hcf_ray.sim.scenario import FlowRun, Scenario


@dataclass(frozen=True)
class Episode:
    """One decision: a destination of a flow of a network, with its context."""

    network: str
    seed: int
    scenario: Scenario
    flow: str
    destination: str
    method: str
    ctx: PolicyContext
    view: RouteView
    prefix: tuple[int, ...]  # levels fixed on the route before the part this policy plans

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.network, self.flow, self.destination)

    @property
    def flow_run(self) -> FlowRun:
        return next(f for f in self.scenario.flows if f.spec.name == self.flow)

    def full_levels(self, levels) -> tuple[int, ...]:
        """The levels of the destination's whole route (the fixed prefix, then ``levels``)."""
        return (*self.prefix, *(int(x) for x in levels))


@dataclass
class EpisodeSet:
    episodes: list[Episode]
    networks: int
    skipped: dict[str, int]  # why destinations were left out → count


class _Recorder(Policy):
    """Stands in for a destination's policy: keeps the context, decides as ``edge``."""

    name = "recorder"

    def __init__(self):
        self.ctx: PolicyContext | None = None

    def decide(self, ctx: PolicyContext) -> Decision:
        self.ctx = ctx
        return EdgePolicy().decide(ctx)


def load_config(path: str | Path, seeds=None, method: str = "hcf"):
    """The sweep config of ``path`` (its paths resolved), with one policy and ``method``
    (and ``seeds`` in place of its own when given)."""
    from hcf_ray.sim.config import config_dir, parse, read_yaml
    from hcf_ray.sim.sweep import SweepConfig

    path = Path(path)
    cfg = parse(SweepConfig, read_yaml(path), path, config_dir(path))
    update = {"policies": cfg.policies[:1], "methods": [method]}
    if seeds is not None:
        update["seeds"] = [int(s) for s in seeds]
    return cfg.model_copy(update=update)


def draw_episodes(path: str | Path, seeds=None, method: str = "hcf") -> EpisodeSet:
    """Every (network, flow, destination) of the sweep at ``path`` that leaves a choice to a
    policy and fits the observation; the others are counted in ``skipped``."""
    from hcf_ray.errors import InputError
    from hcf_ray.sim.config import ConfigError
    from hcf_ray.sim.sweep import build_sweep

    cfg = load_config(path, seeds, method)
    try:
        sweep = build_sweep(cfg)
    except ConfigError as exc:
        raise (exc if exc.source else exc.with_source(Path(path))) from None
    out: list[Episode] = []
    skipped: dict[str, int] = {}
    for world in sweep.worlds:
        sc = world.scenario
        for f in sc.flows:
            for d in f.spec.destinations:
                try:
                    ep = _episode(world.network, world.seed, sc, f, d.node, method)
                except InputError as exc:
                    ep = f"plan refused: {exc}"
                if isinstance(ep, str):
                    skipped[ep] = skipped.get(ep, 0) + 1
                else:
                    out.append(ep)
    return EpisodeSet(out, len(sweep.networks), skipped)


def _episode(network, seed, sc: Scenario, f: FlowRun, node: str, method: str):
    from hcf_ray.methods import get_method
    from hcf_ray.sim.planner import plan_flow
    from hcf_ray.sim.treelevels import PlanError

    spec = f.spec
    rec = _Recorder()
    dests = []
    for d in spec.destinations:
        if d.node == node:
            bind_environment(rec, environment_of(d.policy))
            d = replace(d, policy=rec)
        dests.append(d)
    try:
        plan = plan_flow(
            sc.topology,
            replace(spec, destinations=tuple(dests)),
            get_method(method),
            sc.config.routing.weight,
            sc.codec.max_level,
        )
    except PlanError as exc:
        return f"plan refused: {exc.message}"
    if rec.ctx is None:
        return "no choice (the route forwards a level fixed upstream)"
    ctx = rec.ctx
    view = route_view(ctx)
    if not view.fits:
        return "route or levels beyond the observation (more than hops or levels allowed)"
    full = next(x for x in plan.destinations if x.node == node).levels
    prefix = tuple(full[: len(full) - ctx.num_hops])
    return Episode(network, seed, sc, spec.name, node, method, ctx, view, prefix)
