"""``hcf_ray/Cascade-v0``: Gymnasium's checker, determinism, masks against brute force, the
reward against a search's metrics of the same plan, the numpy policy against the env.

Tiny: a random 4-level codec, one 64×64 crop, 4 small networks; the codec work of every plan
is computed once (module fixture) into a disk cache the other environments reuse."""

import itertools
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env
from PIL import Image

import hcf_ray.gym
from hcf_ray.gym.env import CascadeEnv, warm_up
from hcf_ray.gym.episodes import draw_episodes
from hcf_ray.gym.observation import (
    MAX_HOPS,
    N_ACTIONS,
    OBS_SIZE,
    Progress,
    action_mask,
    all_plans,
    next_level,
    observe,
)
from hcf_ray.images import sample_images
from hcf_ray.learn.numpy_policy import MaskedMLPPolicy, save_layers
from hcf_ray.policy._placement import check_placement
from hcf_ray.policy.vector import PolicyVector

pytestmark = pytest.mark.heavy  # scheduled first: codec work on a fresh cache (see conftest.py)


def write_sweep(folder: Path) -> Path:
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    Image.open(sample_images()[0]).convert("RGB").crop((0, 0, 64, 64)).save(images / "a.png")
    cfg = {
        "name": "tiny",
        "codec": "random:mbt2018-mean:4",
        "transport": "latent",
        "generators": [
            {"kind": "random_geometric", "params": {"n": 8, "radius": 0.5}},
            {"kind": "balanced_tree", "params": {"r": 2, "h": 2}},
        ],
        "seeds": [0, 1],
        "links": {"bandwidth_mbps": [1, 50], "latency_ms": [1, 20]},
        "flow": {
            "source_level": 4,
            "destinations": 2,
            "levels": [1, 2],
            "images": "images",
            "max_images": 1,
        },
        "policies": ["edge"],
        "methods": ["hcf"],
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_sweep(tmp_path_factory.mktemp("gym"))


@pytest.fixture(scope="module")
def episodes(sweep):
    """The episodes alone (no codec work, no Ray)."""
    return draw_episodes(sweep)


@pytest.fixture(scope="module")
def env(ray_session, sweep, episodes):
    env = CascadeEnv(sweep, episodes=episodes, cache_dir=sweep.parent / "cache")
    warm_up(env)
    yield env
    env.close()


def test_registered_and_made(sweep, episodes):
    made = gymnasium.make(hcf_ray.gym.ENV_ID, config=sweep, episodes=episodes)
    assert isinstance(made.unwrapped, CascadeEnv)
    assert made.action_space == gymnasium.spaces.Discrete(N_ACTIONS)
    assert made.observation_space["observations"].shape == (OBS_SIZE,)


def test_check_env(env):
    check_env(env)


def rollout(env, seeds):
    """Episodes played with actions drawn (seeded) among the allowed ones."""
    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        obs, info = env.reset(seed=s)
        trace = [obs["observations"].tolist()]
        done = False
        while not done:
            action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            obs, reward, done, truncated, info = env.step(action)
            assert not truncated
            trace.append((obs["observations"].tolist(), reward))
        out.append((info["network"], info["destination"], info["levels"], trace))
    return out


def test_deterministic(sweep, env):
    """A second environment (episodes drawn again, codec work from the disk cache) plays the
    same episodes with the same rewards."""
    other = CascadeEnv(sweep, cache_dir=sweep.parent / "cache")
    try:
        a = rollout(env, range(12))
        b = rollout(other, range(12))
    finally:
        other.close()
    assert a == b
    assert len({(x[0], x[1]) for x in a}) > 1  # the seeds draw different episodes


def brute_force(start, target, hops, n_q, mins):
    """Per-hop levels: non-increasing, within target..start, last = target, n_q distinct
    levels, each ≥ its hop's minimum."""
    out = []
    for lv in itertools.product(range(start, target - 1, -1), repeat=hops):
        if any(b > a for a, b in itertools.pairwise(lv)) or lv[-1] != target:
            continue
        if len(set(lv)) == n_q and all(x >= m for x, m in zip(lv, mins)):
            out.append(lv)
    return sorted(out)


def test_masks_give_exactly_the_valid_plans(episodes):
    assert len(episodes.episodes) >= 4
    for ep in episodes.episodes:
        v = ep.view
        plans = all_plans(v)
        assert sorted(plans) == brute_force(
            v.start_level, v.target_level, v.num_hops, v.n_q, v.min_level
        )
        for lv in plans:  # the policy library accepts each as the context's decision
            vec = PolicyVector.from_levels(v.start_level, v.target_level, set(lv))
            assert vec.n_q == ep.ctx.n_q
            check_placement(vec, lv, ep.ctx.num_hops)


def test_mask_of_one_route_by_hand():
    """start 4, target 1, n_q 2 on 3 hops: the first hop may carry 4, 3 or 2 (not 1: two
    levels are needed); after 4, forward (4, then 1) or drop to 1 at once (a drop to 3 or 2
    would need a third level to end at 1)."""
    from hcf_ray.gym.observation import RouteView

    v = RouteView(4, 1, 2, (10.0,) * 3, (1.0,) * 3, (0, 0, 0), (1.0,) * 3, (0.0,) * 3, (0.0,) * 3)
    first = action_mask(v, Progress())
    assert np.flatnonzero(first).tolist() == [0, 2, 3]  # 0 = forward = keep level 4
    after4 = action_mask(v, Progress((4,)))
    assert np.flatnonzero(after4).tolist() == [0, 1]
    after2 = action_mask(v, Progress((4, 2)))  # two levels used: only 1 may follow
    assert np.flatnonzero(after2).tolist() == []  # 2 is not the target, 1 would be a third
    assert np.flatnonzero(action_mask(v, Progress((4, 1)))).tolist() == [0]


def test_reward_equals_search_metrics(ray_session, env, sweep):
    """The reward of a plan = the objective computed here from the metrics that the search
    (its own pipeline, world simulated as a Ray task) gives the same candidate."""
    from hcf_ray.sim.driver import RunOptions
    from hcf_ray.sim.search import plan_search, run_search
    from hcf_ray.sim.work.cache import CodecCache

    ep = max(env.episodes.episodes, key=lambda e: (len(all_plans(e.view)), e.key))
    plans = all_plans(ep.view)
    assert len(plans) > 1
    levels = plans[-1]
    index = env.episodes.episodes.index(ep)
    env.reset(options={"episode": index})
    for lv in levels:
        action = 0 if lv == env.done.current_level(ep.view) else lv
        _, reward, done, _, info = env.step(action)
    assert done and info["levels"] == [*ep.prefix, *levels]
    targets = plan_search(ep.scenario, ep.flow, ep.destination, methods=["hcf"])
    cache = CodecCache(sweep.parent / "cache")
    result = run_search(ep.scenario, targets, options=RunOptions(timeout_s=300), cache=cache)
    cand = next(c for c in result.targets[0].candidates if list(c.levels) == info["levels"])
    m = cand.metrics
    by_hand = 1.0 * m["psnr"] - 10.0 * m["bpp"] - 0.01 * m["latency_ms"] - 1.0 * m["energy_j"]
    assert reward == pytest.approx(by_hand, rel=1e-9, abs=1e-9)
    assert 0 < m["bpp"] < 24 and m["latency_ms"] > 0


def test_objective_weights_are_checked(sweep, env):
    from hcf_ray.gym.reward import RewardError

    with pytest.raises(RewardError, match="unknown metric 'ssim'"):
        CascadeEnv(sweep, objective={"ssim": 1.0}, episodes=env.episodes)
    custom = CascadeEnv(sweep, objective={"bpp": -1.0}, episodes=env.episodes, pricer=env.pricer)
    ep = env.episodes.episodes[0]
    lv = all_plans(ep.view)[0]
    reward, info = custom.plan_reward(ep, lv)
    assert reward == pytest.approx(-info["metrics"]["bpp"])
    assert info["objective"] == {"psnr": 0.0, "bpp": -1.0, "latency_ms": 0.0, "energy_j": 0.0}


def test_numpy_policy_decides_as_the_env_observes(tmp_path, episodes):
    """A hand-made linear policy that scores action k by k (forward by 10): it forwards
    whenever allowed, else takes the highest allowed level; in the simulator's context it
    picks the same levels as playing the env greedily with the same scores."""
    w = np.zeros((N_ACTIONS, OBS_SIZE))
    b = np.arange(N_ACTIONS, dtype=float)
    b[0] = 10.0
    save_layers(tmp_path / "w.npz", [(w, b, "linear")])
    policy = MaskedMLPPolicy(tmp_path / "w.npz")
    for ep in episodes.episodes:
        decided = policy.decide(ep.ctx).levels
        done = Progress()
        while len(done.levels) < ep.view.num_hops:
            mask = action_mask(ep.view, done)
            assert observe(ep.view, done).shape == (OBS_SIZE,)
            action = 0 if mask[0] else int(np.flatnonzero(mask)[-1])
            done = Progress((*done.levels, next_level(ep.view, done, action)))
        assert tuple(decided) == done.levels
        assert tuple(decided) in all_plans(ep.view)


def test_long_routes_fall_back_to_edge(tmp_path):
    from hcf_ray.policy import EdgePolicy, PolicyContext

    w = np.zeros((N_ACTIONS, OBS_SIZE))
    save_layers(tmp_path / "w.npz", [(w, np.zeros(N_ACTIONS), "linear")])
    ctx = PolicyContext(6, 1, 3, num_hops=MAX_HOPS + 1)
    got = MaskedMLPPolicy(tmp_path / "w.npz").decide(ctx)
    assert tuple(got.levels) == EdgePolicy().hop_levels(ctx)
