"""The prefix-sharing job planner (pure Python)."""

from hcf_ray.cascade import Op, Stage
from hcf_ray.sim.planner import Branch, merge_stages, plan_segments


def test_fork_segments_share_the_common_prefix():
    phi = [Op("phi", 6, "inter"), Op("phi", 5, "intra"), Op("phi", 4, "intra")]
    a = Stage(6, (phi[0],), 5)
    b = Stage(6, tuple(phi[:2]), 4)
    c = Stage(6, tuple(phi), 3)
    segs = plan_segments([Branch(a, ("x",)), Branch(b, ("y",)), Branch(c, ("z",))])
    # a: D, φ6 (shared by all) | Q/E5 ; b: φ5 (shared with c) | Q/E4 ; c: φ4, Q/E3
    assert [(s.branch, s.start, s.stop, s.source, s.final) for s in segs] == [
        (0, 0, 2, None, False),
        (0, 2, 3, 0, True),
        (1, 2, 3, 0, False),
        (1, 3, 4, 2, True),
        (2, 3, 5, 2, True),
    ]
    ops_run = sum(s.stop - s.start for s in segs)
    assert ops_run == 1 + 3 + 3  # one decode, three φ, three encodes


def test_merge_dedups_identical_stages_and_keeps_one_job_per_stream():
    src = Stage(None, (Op("analysis", 3),), 3)
    fwd = Stage(3, (), 3)
    dst = Stage(3, (Op("synthesis", 3),), None)
    jobs, chains = merge_stages(
        [(("s", "r", "d1"), (src, fwd, dst)), (("s", "r", "d2"), (src, fwd, dst))]
    )
    assert [j.node for j in jobs] == ["s", "r", "d1", "d2"]
    assert jobs[1].branches[0].targets == ("d1", "d2")  # one stream, sent on two links
    assert not jobs[1].computes
    assert chains[0][:2] == chains[1][:2]
