"""A user policy that keeps each image's compute energy within a budget, at the best quality
it can: the walkthrough policy of the README's *Writing a policy*.

Reference it from a topology YAML with its budget (joules per image) as an argument::

    policy: {class: ../policies/energy_budget.py:EnergyBudget, args: {budget_j: 2.5}}

or list it beside others to compare them in one run::

    policies: [edge, late, {name: frugal, class: ../policies/energy_budget.py:EnergyBudget,
                            args: {budget_j: 2.5}}]

(the path relative to the YAML file's folder, here one in ``topologies/``, never the current
directory; ``hcf-sim check-policy policies/energy_budget.py:EnergyBudget`` takes it from the
current directory).

Idea: every plan of the destination — a vector ``π`` with the destination's ``ctx.n_q``
quantizations and a placement of its levels on the route's hops — is priced with
``ctx.estimate(levels)``, the simulator's own pricing of that plan for one image of the flow's
size on an otherwise idle network (queueing and background traffic left out). Its
``energy_j`` is the busy energy of the plan's compute: every job on a node is charged
``busy_w / cores`` of that node's device per second it computes (``ctx.route.devices[node]``
shows each node's ``busy_w``, ``cores``, ``speed`` and ``throughput``).

Vectors are tried best quality first: ``enumerate_policies`` lists them edge policy first
(the latent stays at high levels as long as possible, paper Eq. 16). The first vector with a
placement whose estimated energy is at most ``budget_j`` is chosen, with its fastest such
placement (ties: the lower energy); when no plan fits the budget, the plan of least energy.
Outside the simulator (``hcf-sim check-policy``'s synthetic routes, where ``ctx.estimate``
raises ``LookupError``) it behaves like the edge policy.
"""

from __future__ import annotations

import math

from hcf_ray.policy import (
    Decision,
    EdgePolicy,
    Policy,
    PolicyContext,
    all_placements,
    enumerate_policies,
)


class EnergyBudget(Policy):
    name = "energy-budget"

    def __init__(self, budget_j: float = 1.0):
        if isinstance(budget_j, bool) or not isinstance(budget_j, int | float):
            raise ValueError(f"budget_j must be a number of joules, got {budget_j!r}")
        if not (math.isfinite(budget_j) and budget_j >= 0):
            raise ValueError(f"budget_j must be a finite number >= 0, got {budget_j!r}")
        self.budget_j = float(budget_j)
        self.estimate = None  # the chosen plan's Estimate (for inspection)

    def decide(self, ctx: PolicyContext) -> Decision:
        if ctx.route is None:
            return EdgePolicy().decide(ctx)
        mins = [hop.min_level for hop in ctx.route]
        frugal = None  # (energy, latency, vector, levels, estimate): the least energy overall
        for vector in enumerate_policies(ctx.start_level, ctx.target_level, ctx.n_q):
            fits = []
            for levels in all_placements(vector.transmission_levels, ctx.num_hops, mins):
                try:
                    est = ctx.estimate(levels)
                except LookupError:  # no simulator to price with (hcf-sim check-policy)
                    return EdgePolicy().decide(ctx)
                key = (est.energy_j, est.latency_s)
                if frugal is None or key < frugal[:2]:
                    frugal = (*key, vector, levels, est)
                if est.energy_j <= self.budget_j:
                    fits.append((est.latency_s, est.energy_j, levels, est))
            if fits:  # the best-quality vector that fits: its fastest placement in budget
                _, _, levels, self.estimate = min(fits, key=lambda f: f[:2])
                return Decision(vector, levels)
        if frugal is None:  # no placement respects the tree's min levels: let the check say so
            return EdgePolicy().decide(ctx)
        *_, vector, levels, self.estimate = frugal
        return Decision(vector, levels)
