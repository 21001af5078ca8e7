"""Route + method + policy → per-node jobs for one flow (pure; no Ray, no models).

For every destination the method gives the levels on its route and one
:class:`~hcf_ray.cascade.Stage` per route node. Routes of a multicast tree share prefixes, so
the per-destination stages are merged into :class:`Job` s, one per (node, incoming stream):
identical stages become one :class:`Branch` (one computation, one stream, possibly sent to
several children), and different branches of a fork share their common step prefix — the
relay decodes once and runs the common φ (or DRF's decode to pixels) once, then each branch
continues from that intermediate value (:class:`Segment`, run with
``CascadeEngine.run_stage(start=, stop=)``). This is HCF's hierarchy: one incoming
transmission feeds several outgoing levels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hcf_ray.cascade import Program, Stage
from hcf_ray.methods import Method
from hcf_ray.policy import Policy
from hcf_ray.sim.topology import Topology, Unreachable
from hcf_ray.sim.treelevels import PlanError, TreeProblem, assign_levels


@dataclass(frozen=True)
class Segment:
    """Steps ``[start, stop)`` of ``branches[branch].stage``; input = output of segment
    ``source`` (None: the job's input); ``final`` segments produce the branch's result."""

    branch: int
    start: int
    stop: int
    source: int | None
    final: bool


@dataclass(frozen=True)
class Branch:
    stage: Stage
    targets: tuple[str, ...]  # children the output is sent to (one transmission per link)
    destination: str | None = None  # this branch reconstructs the image at this node

    @property
    def forward(self) -> bool:
        return self.stage.is_forward


@dataclass(frozen=True)
class Job:
    index: int
    node: str
    input: tuple[int, int] | None  # (job, branch) whose output arrives here; None: the image
    branches: tuple[Branch, ...]
    segments: tuple[Segment, ...]  # execution order; forward branches need none
    crash: bool = False  # an injected fault: the actor's process dies running this job

    @property
    def computes(self) -> bool:
        return bool(self.segments)

    @property
    def has_destination(self) -> bool:
        return any(b.destination for b in self.branches)

    def branch_path(self, branch: int) -> list[int]:
        """Indices of the segments a branch's result depends on (shared ones included)."""
        final = next(
            (i for i, s in enumerate(self.segments) if s.branch == branch and s.final), None
        )
        path: list[int] = []
        while final is not None:
            path.append(final)
            final = self.segments[final].source
        return path[::-1]


@dataclass(frozen=True)
class DestinationPlan:
    node: str
    level: int
    policy: str  # as written in the config ('-' for methods without a policy)
    path: tuple[str, ...]
    levels: tuple[int, ...]  # level sent over each hop
    program: Program  # the same cascade, for the in-process engine
    chain: tuple[tuple[int, int], ...]  # (job, branch) at every route node


@dataclass(frozen=True)
class Transmission:
    job: int
    branch: int
    src: str
    dst: str
    level: int


@dataclass(frozen=True)
class FlowPlan:
    flow: str
    method: str
    source: str
    source_level: int
    jobs: tuple[Job, ...]  # parents before children
    destinations: tuple[DestinationPlan, ...]

    @property
    def transmissions(self) -> list[Transmission]:
        return [
            Transmission(j.index, b, j.node, t, br.stage.send)
            for j in self.jobs
            for b, br in enumerate(j.branches)
            for t in br.targets
        ]

    def describe(self) -> str:
        lines = []
        for j in self.jobs:
            for b in j.branches:
                out = f" ⇒ {', '.join(b.targets)}" if b.targets else " ⇒ image"
                lines.append(f"    {j.node}: {b.stage}{out}")
        return "\n".join(lines)


@dataclass(frozen=True)
class FlowDestination:
    node: str
    level: int
    policy: Policy
    policy_label: str
    field: str = ""
    n_q: int | None = None  # quantizations along the route (None: one per hop, as levels allow)
    n_q_field: str = ""  # the config entry n_q came from (for errors)
    name: str = ""  # how records name the policy (scenario.policy_name; "": policy_label)
    args: dict = dataclasses.field(
        default_factory=dict, compare=False
    )  # the config's args of the policy
    sha256: str | None = None  # a file policy's file (None: built into the package)


@dataclass(frozen=True)
class FlowSpec:
    """A flow with its policies resolved (what the planner needs)."""

    name: str
    source: str
    source_level: int
    destinations: tuple[FlowDestination, ...]
    config: Any = None  # the FlowConfig, handed to policies as ctx.flow
    field: str = ""


@dataclass(frozen=True)
class ModelNeeds:
    """Which models a node must hold: base / HCF-tuned ladder levels and φ modules."""

    base: frozenset[int] = frozenset()
    hcf: frozenset[int] = frozenset()
    phis: frozenset[tuple[int, str]] = field(default_factory=frozenset)
    baselines: frozenset[str] = frozenset()  # progressive / classical codecs (hcf_ray.pcf)

    def __or__(self, other: ModelNeeds) -> ModelNeeds:
        return ModelNeeds(
            self.base | other.base,
            self.hcf | other.hcf,
            self.phis | other.phis,
            self.baselines | other.baselines,
        )

    def __bool__(self) -> bool:
        return bool(self.base or self.hcf or self.phis or self.baselines)

    @classmethod
    def of_stage(cls, stage: Stage) -> ModelNeeds:
        if stage.is_forward:
            return cls()
        if stage.baseline is not None:
            return cls(baselines=frozenset({stage.baseline}))
        coded = {lv for lv in (stage.receive, stage.send) if lv is not None}
        coded |= {op.level for op in stage.ops if op.kind == "synthesis"}
        base = {op.level for op in stage.ops if op.kind == "analysis"}
        phis = {(op.level, op.variant) for op in stage.ops if op.kind == "phi"}
        if getattr(stage, "codecs", "base") == "hcf":
            return cls(frozenset(base), frozenset(coded), frozenset(phis))
        return cls(frozenset(base | coded), frozenset(), frozenset(phis))


def job_needs(job: Job) -> ModelNeeds:
    """The models one job's stages use."""
    need = ModelNeeds()
    for br in job.branches:
        need = need | ModelNeeds.of_stage(br.stage)
    return need


def node_needs(plans: Sequence[FlowPlan]) -> dict[str, ModelNeeds]:
    needs: dict[str, ModelNeeds] = {}
    for plan in plans:
        for job in plan.jobs:
            for br in job.branches:
                needs[job.node] = needs.get(job.node, ModelNeeds()) | ModelNeeds.of_stage(br.stage)
    return needs


# -- planning -------------------------------------------------------------------------------
def plan_flow(
    topology: Topology,
    flow: FlowSpec,
    method: Method,
    weight: str = "latency_ms",
    max_level: int | None = None,
) -> FlowPlan:
    """Plan one flow with one method; raises :class:`PlanError` naming the config field."""
    dests = [d.node for d in flow.destinations]
    try:
        tree = topology.multicast_tree(flow.source, dests, weight)
    except Unreachable as exc:
        where = next((d.field for d in flow.destinations if d.node == exc.node), flow.field)
        raise PlanError(str(exc), where) from None
    except ValueError as exc:
        raise PlanError(str(exc), "routing.weight") from None
    s = flow.source_level
    problem = TreeProblem(
        topology=topology,
        tree=tree,
        source_level=s,
        targets={d.node: d.level for d in flow.destinations},
        policies={d.node: d.policy for d in flow.destinations},
        flow=flow.config,
        max_level=max_level,
        fields={d.node: d.field for d in flow.destinations},
        n_q={d.node: d.n_q for d in flow.destinations},
        n_q_fields={d.node: d.n_q_field for d in flow.destinations},
        method=method.name,
    )
    levels = method.hop_levels(problem, assign_levels)
    per_dest = []
    for d in flow.destinations:
        lv = levels[d.node]
        try:
            stages = method.stages(s, d.level, lv)
            vec = method.vector(s, d.level, lv)
        except ValueError as exc:
            raise PlanError(str(exc), d.field) from None
        program = Program(method.name, s, d.level, vec, tuple(stages))
        label = method.policy_label(d.policy_label)
        per_dest.append((d, tree.paths[d.node], lv, program, label))
    jobs, chains = merge_stages([(p, prog.stages) for _, p, _, prog, _ in per_dest])
    destinations = tuple(
        DestinationPlan(d.node, d.level, label, path, lv, prog, chains[i])
        for i, (d, path, lv, prog, label) in enumerate(per_dest)
    )
    return FlowPlan(flow.name, method.name, flow.source, s, jobs, destinations)


def merge_stages(
    routes: Sequence[tuple[Sequence[str], Sequence[Stage]]],
) -> tuple[tuple[Job, ...], list[tuple[tuple[int, int], ...]]]:
    """Merge per-destination (route, stages) into jobs; returns jobs and each route's chain."""
    builders: dict[Any, dict] = {}
    raw_chains = []
    for path, stages in routes:
        if len(stages) != len(path):
            raise ValueError(f"{len(stages)} stages for a route of {len(path)} nodes")
        in_key = None
        chain = []
        for i, (node, stage) in enumerate(zip(path, stages)):
            key = (node, in_key)
            job = builders.setdefault(key, {"node": node, "input": in_key, "depth": i, "br": {}})
            br = job["br"].setdefault(stage, {"targets": [], "destination": None})
            if i + 1 < len(path):
                if path[i + 1] not in br["targets"]:
                    br["targets"].append(path[i + 1])
            else:
                br["destination"] = node
            chain.append((key, stage))
            in_key = (key, stage)
        raw_chains.append(chain)
    keys = sorted(builders, key=lambda k: builders[k]["depth"])  # stable: parents first
    index = {k: i for i, k in enumerate(keys)}
    branch_index: dict[Any, dict[Stage, int]] = {}
    jobs = []
    for k in keys:
        b = builders[k]
        order = sorted(b["br"], key=lambda st: _branch_order(st, b["br"][st]))
        branch_index[k] = {st: i for i, st in enumerate(order)}
        branches = tuple(
            Branch(st, tuple(b["br"][st]["targets"]), b["br"][st]["destination"]) for st in order
        )
        inp = None
        if b["input"] is not None:
            pk, pst = b["input"]
            inp = (index[pk], branch_index[pk][pst])
        jobs.append(Job(index[k], b["node"], inp, branches, plan_segments(branches)))
    chains = [tuple((index[k], branch_index[k][st]) for k, st in ch) for ch in raw_chains]
    return tuple(jobs), chains


def _branch_order(stage: Stage, info: Mapping) -> tuple:
    # transmissions before local reconstruction; cheap branches first; higher levels first
    return (info["destination"] is not None, len(stage.ops), -(stage.send or 0))


def shared_steps(a: Stage, b: Stage) -> int:
    """Number of leading steps (receive + common ops) two stages of one node share."""
    if a.receive != b.receive or getattr(a, "codecs", "base") != getattr(b, "codecs", "base"):
        return 0
    k = 0
    while k < min(len(a.ops), len(b.ops)) and a.ops[k] == b.ops[k]:
        k += 1
    return 1 + k


def plan_segments(branches: Sequence[Branch]) -> tuple[Segment, ...]:
    """Execution order of a job's branches as a prefix tree: each shared prefix runs once."""
    compute = [i for i, br in enumerate(branches) if not br.forward]
    segs: list[Segment] = []
    done: dict[tuple, int] = {}

    def prefix(st: Stage, steps: int) -> tuple:
        return (st.receive, getattr(st, "codecs", "base"), st.ops[: steps - 1])

    for b in compute:
        st = branches[b].stage
        total = len(st.ops) + 2
        points = sorted(
            {shared_steps(st, branches[c].stage) for c in compute if c != b} - {0, total}
        )
        start, src = 0, None
        for p in range(total - 1, 0, -1):
            if prefix(st, p) in done:
                start, src = p, done[prefix(st, p)]
                break
        for p in points:
            if p > start:
                segs.append(Segment(b, start, p, src, False))
                src = len(segs) - 1
                done[prefix(st, p)] = src
                start = p
        segs.append(Segment(b, start, total, src, True))
    return tuple(segs)


__all__ = [
    "Branch",
    "DestinationPlan",
    "FlowDestination",
    "FlowPlan",
    "FlowSpec",
    "Job",
    "ModelNeeds",
    "PlanError",
    "Segment",
    "Transmission",
    "merge_stages",
    "node_needs",
    "plan_flow",
    "plan_segments",
]
