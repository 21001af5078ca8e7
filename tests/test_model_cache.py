"""A worker's models: loaded on first use, bounded by a memory budget, evicted least recently
used, and never changing a bit of the output."""

import pytest
import torch

from hcf_ray.bundle import load_bundle
from hcf_ray.sim.actors import NodeWorker
from hcf_ray.sim.planner import ModelNeeds
from hcf_ray.sim.work.models import ModelCache


def image(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g)


def run_stages(cache, program, x):
    payload, size = x, (x.shape[-2], x.shape[-1])
    held = []
    for stage in program.stages:
        needs = ModelNeeds.of_stage(stage)
        out = cache.engine(needs).run_stage(stage, payload, size, transport="bitstream")
        held.append((cache.units_of(needs, cache.source.has_tuned), cache.held()))
        payload = out.bitstream if out.bitstream is not None else out.value
    return out.image, held


@pytest.mark.parametrize("spec", ["random:mbt2018-mean", "default"])
def test_bounded_cache_gives_the_full_bundles_bits(spec):
    full = load_bundle(spec).engine()
    x = image()
    for method, s, d in (("hcf", 6, 2), ("drf", 5, 1), ("ssf", 3, 3)):
        program = full.program(method, s, d, "edge" if method == "hcf" else None)
        want = full.execute(program, x).x_hat
        tiny = ModelCache(spec, None, "n", budget_mb=1e-6)
        got, held = run_stages(tiny, program, x)
        assert torch.equal(got, want), (spec, method)
        for needed, resident in held:
            # past the budget only the current stage's models stay
            assert sorted(resident) == sorted(needed)
        unbounded = ModelCache(spec, None, "n")
        got2, held2 = run_stages(unbounded, program, x)
        assert torch.equal(got2, want)
        distinct = {u for needed, _ in held2 for u in needed}
        assert unbounded.stats.loads == len(distinct)
        assert unbounded.stats.evictions == 0
        assert set(unbounded.held()) == distinct


def test_lru_drops_the_model_used_longest_ago():
    spec = "random:mbt2018-mean"
    cache = ModelCache(spec, None, "n")
    one = cache.source.level(1)
    per_level_mb = sum(p.numel() * p.element_size() for p in one.model.parameters())
    per_level_mb += sum(b.numel() * b.element_size() for b in one.model.buffers())
    cache.budget_mb = 2.5 * per_level_mb / 2**20  # room for two levels
    for k in (1, 2, 1, 3):
        cache.engine(ModelNeeds(base=frozenset({k})))
    # level 2 was used longest ago when level 3 arrived
    assert cache.held() == [("base", 1), ("base", 3)]
    assert (cache.stats.loads, cache.stats.evictions) == (3, 1)
    cache.engine(ModelNeeds(base=frozenset({2})))
    assert cache.held() == [("base", 3), ("base", 2)]
    assert (cache.stats.loads, cache.stats.evictions) == (4, 2)


def test_engine_refuses_a_model_it_was_not_asked_for():
    cache = ModelCache("random:mbt2018-mean", None, "relay")
    engine = cache.engine(ModelNeeds(base=frozenset({2})))
    with pytest.raises(ValueError, match="node 'relay' has no level-3 model loaded"):
        engine.ladder[3]


def test_pool_worker_loads_nothing_until_a_job_needs_it():
    lazy = NodeWorker("pool0", "random:mbt2018-mean", model_budget_mb=64)
    info = lazy.prepare(ModelNeeds(base=frozenset({1, 2, 3})), eager=False)
    assert info["levels"] == [] and info["models"]["loads"] == 0
    eager = NodeWorker("cam", "random:mbt2018-mean")
    info = eager.prepare(ModelNeeds(base=frozenset({1, 2, 3})))
    assert info["levels"] == [1, 2, 3] and info["models"]["loads"] == 3


def test_bad_codec_fails_at_prepare():
    worker = NodeWorker("pool0", "no/such/dir")
    with pytest.raises(ValueError, match="no/such/dir"):
        worker.prepare(ModelNeeds(), eager=False)
