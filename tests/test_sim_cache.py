"""Content-addressed codec work: a 20-network sweep computes each distinct cascade once, and a
second sweep over the same cache directory computes nothing and gives the same records."""

import json

import pytest
import yaml
from configs import small_photos

from hcf_ray.sim.sweep import load_sweep, run_sweep
from hcf_ray.sim.work.cache import CodecCache

SWEEP = {
    "name": "cached",
    "codec": "random:mbt2018-mean",
    "transport": "latent",
    "generators": [
        {"kind": "path", "params": {"n": 5}},
        {"kind": "random_geometric", "params": {"n": 8, "radius": 0.6}},
    ],
    "seeds": list(range(10)),
    "flow": {"destinations": 2, "levels": [1, 4], "max_images": 1, "images": small_photos()},
    "policies": ["edge", "late"],
    "methods": ["hcf", "drf", "ssf"],
    "actors": 2,
}


def stages_to(plan, job: int, branch: int) -> tuple:
    """The computing stages from the source to (job, branch): the cascade's op sequence."""
    chain = []
    while True:
        j = plan.jobs[job]
        br = j.branches[branch]
        if not br.forward:
            chain.append(br.stage)
        if j.input is None:
            return tuple(reversed(chain))
        job, branch = j.input


def cascades(sweep):
    """Every computing branch of every unit of the sweep, as (image, op sequence)."""
    out = []
    for w in sweep.worlds:
        for f in w.scenario.flows:
            for m in f.methods:
                plan = w.scenario.plan(f.spec.name, m)
                for img in f.images:
                    for job in plan.jobs:
                        for b, br in enumerate(job.branches):
                            if not br.forward:
                                out.append((img.name, stages_to(plan, job.index, b)))
    return out


def records(path):
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "wall"} for x in lines]


@pytest.mark.slow
def test_sweep_computes_each_distinct_cascade_once(ray_session, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    sweep = load_sweep(path)
    assert len(sweep.networks) == 20
    occurrences = cascades(sweep)
    distinct = set(occurrences)
    assert len(occurrences) > 3 * len(distinct)  # most of a sweep's codec work repeats

    cold = run_sweep(sweep, tmp_path / "cold", cache=CodecCache(tmp_path / "cache"))
    c = cold["wall"]["cache"]
    assert c["misses"] == c["distinct_computed"] == len(distinct)
    assert c["hits"] + c["shared_in_flight"] + c["misses"] == len(occurrences)

    warm = run_sweep(sweep, tmp_path / "warm", cache=CodecCache(tmp_path / "cache"))
    w = warm["wall"]["cache"]
    assert w["misses"] == 0 and w["disk_hits"] == len(distinct)
    assert w["hits"] + w["shared_in_flight"] == len(occurrences)
    assert warm["wall"]["actors"] == {}  # nothing to compute: no actor was started
    assert records(tmp_path / "warm" / "sweep_results.jsonl") == records(
        tmp_path / "cold" / "sweep_results.jsonl"
    )
