"""The cache counters of codec work (``wall.cache``) are counts: never negative, and every
computing branch of a unit is counted exactly once, as a hit, as shared or as computed.

Plans here are plain trees of jobs (what the lineage keys and the choice of work read:
each job's input branch, each branch's stage and whether it forwards); the cache holds
results with or without their payload, and other units may have work in flight."""

import random
from types import SimpleNamespace as NS

import pytest

from hcf_ray.sim.work.cache import CodecCache, lineage_keys
from hcf_ray.sim.work.codecwork import CodecWork


def plan_of(jobs: list[tuple[tuple[int, int] | None, list[str | None]]]):
    """``jobs``: (input branch or None for the image, stages; None: a forwarding branch)."""
    return NS(
        jobs=[
            NS(
                index=i,
                input=inp,
                branches=[NS(forward=s is None, stage=s) for s in stages],
            )
            for i, (inp, stages) in enumerate(jobs)
        ]
    )


def computing(plan) -> int:
    return sum(not br.forward for job in plan.jobs for br in job.branches)


def choose(plan, cached_info=(), cached_payload=(), in_flight=()):
    """(branches to compute, counters) for one unit, keys given by branch position."""
    keys = lineage_keys(plan, "src")
    cache = CodecCache()
    work = CodecWork(None, cache, "bundle", None)
    for jb in cached_info:
        cache.put(keys[jb], {"level": 1})
    for jb in cached_payload:
        cache.put(keys[jb], {"level": 1}, payload_ref=object())
    for jb in in_flight:
        work._pending[keys[jb]] = object()
    compute = work._to_compute(plan, keys)
    return compute, cache.stats


def assert_counted_once(plan, compute, stats):
    assert stats.hits >= 0 and stats.shared >= 0 and stats.disk_hits >= 0
    assert stats.hits + stats.shared + len(compute) == computing(plan)


def test_a_fork_of_one_stage_whose_second_branch_feeds_a_child():
    """Job 1 runs stage B twice (two children of one stream): the second is shared with the
    first, until its child needs its payload and it is computed after all. By hand: every
    branch is computed, nothing is a hit or shared."""
    plan = plan_of([(None, ["A"]), ((0, 0), ["B", "B"]), ((1, 1), ["C"])])
    compute, stats = choose(plan)
    assert compute == {(0, 0), (1, 0), (1, 1), (2, 0)}
    assert (stats.hits, stats.shared) == (0, 0)
    assert_counted_once(plan, compute, stats)


def test_a_cached_parent_without_its_payload_is_computed_not_hit():
    plan = plan_of([(None, ["A"]), ((0, 0), ["B"])])
    compute, stats = choose(plan, cached_info=[(0, 0)])
    assert compute == {(0, 0), (1, 0)} and stats.hits == 0
    compute, stats = choose(plan, cached_payload=[(0, 0)])
    assert compute == {(1, 0)} and stats.hits == 1
    assert_counted_once(plan, compute, stats)


@pytest.mark.parametrize("seed", range(200))
def test_no_counter_is_ever_negative(seed):
    rng = random.Random(seed)
    jobs: list = []
    for i in range(rng.randint(1, 7)):
        inputs = (
            [None] if i == 0 else [(j, b) for j, (_, st) in enumerate(jobs) for b in range(len(st))]
        )
        stages = [rng.choice(["A", "B", None]) for _ in range(rng.randint(1, 3))]
        jobs.append((rng.choice(inputs), stages))
    plan = plan_of(jobs)
    branches = [
        (j.index, b) for j in plan.jobs for b, br in enumerate(j.branches) if not br.forward
    ]
    pick = lambda: [jb for jb in branches if rng.random() < 0.3]  # noqa: E731
    compute, stats = choose(plan, pick(), pick(), pick())
    assert_counted_once(plan, compute, stats)
