"""Policy search: every policy vector and placement of one destination, priced and simulated.

For a flow's destination with source level ``s``, target level ``d`` and a route of ``H``
hops, a *candidate* is a choice of the levels each hop carries: a non-increasing tuple of
``H`` levels in ``d..s`` that ends at ``d``. Its distinct levels are the transmission levels
of a policy vector π ∈ Π(s, d; n_q), ``n_q`` of them, and the tuple says which relays
re-quantize (a repeated level is a relay forwarding the bytes): for each π there are
``C(H-1, n_q-1)`` placements, so the space holds ``Σ C(s-d, n-1)·C(H-1, n-1)`` candidates
over the ``n_q`` searched (every allowed one, ``1..min(H, s-d+1)``, by default).

One destination is searched at a time; the flow's other destinations keep their configured
policies (a candidate that leaves one of them without a plan, or that disagrees with the
levels they already fix on a shared link, is *infeasible* and listed as such), and the other
flows of the topology run alongside as configured (cross-traffic). Each candidate is one
world per method (``hcf``; ``drf`` at the same per-hop levels on request): its codec work goes
through one backend and one :class:`~hcf_ray.sim.work.cache.CodecCache`, so a cascade that
several candidates share (a common prefix, the other flows) is computed once; every op is
priced by the cost profile (``timing: profile``) and each world replays the network as an
event simulation.

Every candidate gets the mean over the flow's images of ``psnr`` (dB), ``bpp`` and
``latency_ms`` at the searched destination, and per image for the whole flow (every
destination, shared links and work counted once) ``link_bytes``, ``compute_ms`` and
``energy_j``. The Pareto front is taken over (PSNR ↑, bpp ↓, latency ↓, energy ↓); the
paper's ``edge`` and ``late`` vectors (placed as early as possible, the planner's default),
the configured plan and the *listed policies* (the topology's ``policies:`` list of the flow,
or ``--policies``; each decides the searched destination as in a run) are located on it; an
objective (``max psnr s.t. latency_ms <= 80``, or with a listed policy's own value as a
bound: ``max psnr s.t. energy_j <= policy:NAME``) picks one candidate.

The package, by concern: :mod:`.objective` (the grammar and the Pareto order), :mod:`.space`
(the candidates, planned), :mod:`.policies` (the listed policies, planned), :mod:`.run` (codec work, simulation, fronts and references) and
:mod:`.output` (``search.json``, the printed table); the figure is
:func:`hcf_ray.sim.figures.search_figure`.
"""

from __future__ import annotations

from hcf_ray.sim.search.objective import (
    FRONT,
    FRONT_TEXT,
    GRAMMAR,
    METRICS,
    Constraint,
    Objective,
    SearchError,
    check_policies,
    dominates,
    pareto_flags,
    parse_objective,
)
from hcf_ray.sim.search.output import (
    check_out_dir,
    format_search,
    open_out_dir,
    search_identity,
    search_json,
    write_search,
)
from hcf_ray.sim.search.policies import ListedPolicy, parse_cli_policies, plan_policies
from hcf_ray.sim.search.run import (
    SearchResult,
    policy_metrics,
    run_search,
    variant,
)
from hcf_ray.sim.search.space import (
    MAX_CANDIDATES,
    Candidate,
    PlacedPolicy,
    Target,
    levels_text,
    placements,
    plan_candidate,
    plan_search,
    search_methods,
)

__all__ = [
    "FRONT",
    "FRONT_TEXT",
    "GRAMMAR",
    "MAX_CANDIDATES",
    "METRICS",
    "Candidate",
    "Constraint",
    "ListedPolicy",
    "Objective",
    "PlacedPolicy",
    "SearchError",
    "SearchResult",
    "Target",
    "check_out_dir",
    "check_policies",
    "dominates",
    "format_search",
    "levels_text",
    "open_out_dir",
    "pareto_flags",
    "parse_cli_policies",
    "parse_objective",
    "placements",
    "plan_candidate",
    "plan_policies",
    "plan_search",
    "policy_metrics",
    "run_search",
    "search_identity",
    "search_json",
    "search_methods",
    "variant",
    "write_search",
]
