from math import comb

import pytest

from hcf_ray.policy import (
    EdgePolicy,
    ExplicitPolicy,
    LatePolicy,
    Policy,
    PolicyContext,
    PolicyVector,
    UniformPolicy,
    enumerate_policies,
)
from hcf_ray.policy._placement import place_late
from hcf_ray.policy._resolve import resolve_policy


def test_builtin_policies_match_paper_definitions():
    assert EdgePolicy().vector(6, 1, 2).bits == (1, 0, 0, 0, 0, 1)
    assert EdgePolicy().vector(6, 1, 4).bits == (1, 1, 1, 0, 0, 1)  # Table 1 row
    assert LatePolicy().vector(6, 1, 4).bits == (0, 0, 1, 1, 1, 1)  # Table 1 row
    assert UniformPolicy().vector(6, 1, 3).transmission_levels == (6, 4, 1)
    assert UniformPolicy().vector(6, 2, 1).bits == (0, 0, 0, 0, 1)
    assert EdgePolicy().vector(4, 1, 2).transmission_levels == (4, 1)


def test_policy_space_is_paper_example_and_complete():
    space = enumerate_policies(4, 1, 2)
    assert [p.bits for p in space] == [(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1)]
    for s, d, n in [(6, 1, 2), (6, 1, 3), (6, 2, 4), (5, 5, 1)]:
        pols = enumerate_policies(s, d, n)
        assert len(pols) == comb(s - d, n - 1) == len({p.bits for p in pols})
        assert all(p.n_q == n and p.bits[-1] == 1 for p in pols)


@pytest.mark.parametrize(
    "s,d,bits,msg",
    [
        (6, 2, (1, 0, 1), "length"),
        (6, 2, (1, 0, 0, 1, 0), "must be 1"),
        (4, 1, (1, 2, 0, 1), "only 0 and 1"),
        (2, 4, (1,), "below target"),
        (3, 0, (1, 1, 1, 1), ">= 1"),
    ],
)
def test_invalid_vectors_raise_clear_errors(s, d, bits, msg):
    with pytest.raises(ValueError, match=msg):
        PolicyVector(s, d, bits)


def test_invalid_contexts():
    with pytest.raises(ValueError, match="n_q=5 quantizations impossible"):
        PolicyContext(6, 3, 5)
    with pytest.raises(ValueError, match="above the ladder's top level 6"):
        PolicyContext(8, 3, 2, max_level=6)
    with pytest.raises(ValueError, match="3 transmissions; the context needs n_q=2"):
        ExplicitPolicy([1, 1, 0, 1]).vector(4, 1, 2)


def test_placement_spreads_levels_over_a_longer_route():
    """n_q < hops: repeated levels are relays forwarding bytes; default drops early."""
    ctx = PolicyContext(6, 3, 2, hops=4)
    assert EdgePolicy().hop_levels(ctx) == (6, 3, 3, 3)
    assert LatePolicy().hop_levels(ctx) == (4, 3, 3, 3)
    assert EdgePolicy().hop_levels(PolicyContext(6, 3, 3)) == (6, 5, 3)  # hops default: n_q

    class WorkAtTheLastRelay(EdgePolicy):
        def place(self, ctx, vector):
            return place_late(vector.transmission_levels, ctx.hops)

    assert WorkAtTheLastRelay().hop_levels(ctx) == (6, 6, 6, 3)

    class Broken(EdgePolicy):
        name = "broken"

        def __init__(self, levels):
            self.levels = levels

        def place(self, ctx, vector):
            return self.levels

    for levels, msg in [
        ((6, 3, 3), "gives 3 levels for a route of 4 hops"),
        ((6, 3, 4, 3), "raises the level"),
        ((6, 5, 3, 3), "does not carry exactly the levels \\[6, 3\\]"),
    ]:
        with pytest.raises(ValueError, match=f"policy 'broken': placement .*{msg}"):
            Broken(levels).hop_levels(ctx)
    with pytest.raises(ValueError, match="n_q=3 quantizations need at least 3 hops"):
        PolicyContext(6, 3, 3, hops=2)


def test_resolve_policy_specs(tmp_path):
    assert isinstance(resolve_policy("edge"), EdgePolicy)
    assert resolve_policy([0, 1, 1]).vector(3, 1, 2).bits == (0, 1, 1)
    with pytest.raises(ValueError, match="unknown policy 'bogus'"):
        resolve_policy("bogus")
    f = tmp_path / "mine.py"
    f.write_text(
        "from hcf_ray.policy import Policy\n"
        "class SecondLevel(Policy):\n"
        "    name = 'second'\n"
        "    def choose(self, ctx):\n"
        "        s, d = ctx.source_level, ctx.target_level\n"
        "        return [0, 1] + [0] * (s - d - 2) + [1]\n"
    )
    pol = resolve_policy(f"{f}:SecondLevel")
    assert isinstance(pol, Policy)
    assert pol.vector(5, 1, 2).transmission_levels == (4, 1)
    with pytest.raises(ValueError, match="not found"):
        resolve_policy(f"{tmp_path}/nope.py:X")
    with pytest.raises(
        ValueError, match=r"no class 'Missing' in .*mine\.py; it defines: SecondLevel"
    ):
        resolve_policy(f"{f}:Missing")
