"""``policies/energy_budget.py`` (the README's walkthrough policy) against a search of the same
destination: the energy of every plan comes from the event simulation of its real codec work
(``hcf-sim search``), the policy's choice from ``ctx.estimate``; the expected choice is
worked out here from the search's numbers."""

from pathlib import Path

import pytest
import yaml
from PIL import Image

from hcf_ray.images import sample_images
from hcf_ray.policy import PolicyContext, enumerate_policies
from hcf_ray.sim.driver import RunOptions
from hcf_ray.sim.scenario import load_scenario
from hcf_ray.sim.search import parse_cli_policies, plan_policies, plan_search, run_search
from hcf_ray.sim.work.cache import CodecCache

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "energy_budget.py"
S, D = 4, 1


def test_the_estimate_api_is_there():
    """The policy is written against ``ctx.estimate``; without it this file cannot pass."""
    assert hasattr(PolicyContext, "estimate")


@pytest.fixture(scope="module")
def searched(ray_session, tmp_path_factory):
    """camera → r1 → r2 → screen, levels 4 → 1, two quantizations; r1 runs on a frugal device,
    r2 on a hungry one, so where the drop happens changes the energy."""
    d = tmp_path_factory.mktemp("energy_budget")
    Image.open(sample_images()[0]).convert("RGB").crop((0, 0, 128, 96)).save(d / "crop.png")
    data = {
        "name": "budget",
        "codec": "random:mbt2018-mean",
        "transport": "latent",
        "devices": {
            "cam": {"busy_w": 10.0},
            "frugal": {"busy_w": 4.0, "throughput": 2.0},
            "hungry": {"busy_w": 90.0},
        },
        "node_defaults": {"device": "cam"},
        "nodes": [
            {"id": "camera"},
            {"id": "r1", "device": "frugal"},
            {"id": "r2", "device": "hungry", "cores": 2},
            {"id": "screen"},
        ],
        "links": [
            {"src": "camera", "dst": "r1", "bandwidth_mbps": 20, "latency_ms": 2},
            {"src": "r1", "dst": "r2", "bandwidth_mbps": 5, "latency_ms": 5},
            {"src": "r2", "dst": "screen", "bandwidth_mbps": 10, "latency_ms": 3},
        ],
        "flows": [
            {
                "name": "line",
                "source": "camera",
                "source_level": S,
                "n_q": 2,
                "destinations": [{"node": "screen", "level": D}],
                "methods": ["hcf"],
                "policy": {"class": str(POLICY) + ":EnergyBudget", "args": {"budget_j": 1e9}},
                "images": str(d),
            }
        ],
    }
    cfg = d / "budget.yaml"
    cfg.write_text(yaml.safe_dump(data))
    sc = load_scenario(cfg, timing="profile")
    targets = plan_search(sc, n_q=[2])
    result = run_search(sc, targets, options=RunOptions(timeout_s=300), cache=CodecCache())
    (t,) = result.targets
    return sc, t, {c.levels: c.metrics["energy_j"] for c in t.candidates}


def chosen(sc, t, budget: float) -> tuple[int, ...]:
    spec = f"{{name: b, class: {POLICY}:EnergyBudget, args: {{budget_j: {budget!r}}}}}"
    plan_policies(sc, [t], parse_cli_policies([spec]))
    (p,) = t.policies
    return p.levels["hcf"]


def test_estimated_energy_is_the_simulated_one(searched):
    """With an unbounded budget the policy keeps the edge vector (4, 1); its estimate of the
    plan it picked equals the energy the event simulation charged that plan."""
    sc, _, energy = searched
    assert len(set(energy.values())) > 1  # the placement matters
    policy = sc.flows[0].spec.destinations[0].policy
    inner = getattr(policy, "inner", policy)
    levels = tuple(sc.plan("line", "hcf").destinations[0].levels)
    assert sorted(set(levels), reverse=True) == [4, 1]
    assert inner.estimate.energy_j == pytest.approx(energy[levels], rel=1e-9)


def test_the_best_quality_vector_within_the_budget(searched):
    sc, t, energy = searched
    order = [v.transmission_levels for v in enumerate_policies(S, D, 2)]  # edge first
    assert order[0] == (4, 1)

    def by_hand(budget):
        """The first vector (edge first) with a placement within budget, and those placements;
        none: the plans of least energy."""
        for tl in order:
            fits = [lv for lv, e in energy.items() if set(lv) == set(tl) and e <= budget]
            if fits:
                return fits
        low = min(energy.values())
        return [lv for lv, e in energy.items() if e == low]

    values = sorted(set(energy.values()))
    # nothing fits (the least energy), just the least, between the two least, everything
    budgets = [0.0, values[0], (values[0] + values[1]) / 2, values[-1] * 2]
    for budget in budgets:
        got = chosen(sc, t, budget)
        assert got in by_hand(budget), budget
        if budget >= values[0]:
            assert energy[got] <= budget
