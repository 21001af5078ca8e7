"""``hcf_ray/Cascade-v0``: choose, hop by hop, the level a destination's route carries.

See docs/learning.md. Spaces:

* action: ``Discrete(N_ACTIONS)``: 0 forwards (the hop carries the current level), ``k``
  quantizes to level ``k``;
* observation: ``Dict(observations=Box(OBS_SIZE), action_mask=Box(N_ACTIONS))``
  (:mod:`hcf_ray.gym.observation`); a masked action is replaced by the first allowed one
  (forward if allowed, else the highest allowed level) and ``info["masked_action"]`` names
  it.

The reward is 0 on every hop but the last, where it is the objective of the plan's simulated
metrics (:mod:`hcf_ray.gym.reward`); ``info`` then holds ``metrics``, ``levels`` (the
whole route's) and ``objective``.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from hcf_ray.gym.episodes import EpisodeSet, draw_episodes
from hcf_ray.gym.observation import (
    N_ACTIONS,
    OBS_BOUND,
    OBS_SIZE,
    Progress,
    action_mask,
    next_level,
    observe,
)
from hcf_ray.gym.reward import Infeasible, Objective, PlanPricer, RewardError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "topologies" / "sweep.yaml"
# The reward of a plan that the flow's other destinations rule out (the mask only knows the
# route; rare: with a sweep's default n_q it does not happen). Far below any plan's
# objective with the default weights (PSNR ≥ 0 dB, bpp ≤ 24, ...).
INFEASIBLE_REWARD = -100.0


class CascadeEnv(gym.Env):
    """One episode = one destination of one flow on one network of a sweep config.

    ``config``: the sweep YAML (default: the shipped ``topologies/sweep.yaml``, whose codec
    is ``default``, the trained ladder shipped with the package); ``seeds``: networks to draw
    (default: the config's ``seeds``); ``objective``: metric weights (default
    :data:`~hcf_ray.gym.reward.DEFAULT_WEIGHTS`); ``cache_dir``: codec-work cache on disk
    (default: memory); ``episodes``: an :class:`EpisodeSet` already drawn (shared by several
    environments)."""

    metadata = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(
        self,
        config: str | Path | None = None,
        seeds=None,
        objective=None,
        cache_dir: str | Path | None = None,
        method: str = "hcf",
        episodes: EpisodeSet | None = None,
        pricer: PlanPricer | None = None,
        infeasible_reward: float = INFEASIBLE_REWARD,
    ):
        self.config = Path(config) if config is not None else DEFAULT_CONFIG
        self.objective = objective if isinstance(objective, Objective) else Objective.of(objective)
        self.episodes = episodes or draw_episodes(self.config, seeds, method)
        if not self.episodes.episodes:
            raise RewardError(
                f"{self.config}: no destination leaves a choice to a policy "
                f"(skipped: {self.episodes.skipped})"
            )
        self.pricer = pricer or PlanPricer(cache_dir)
        self.infeasible_reward = float(infeasible_reward)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = gym.spaces.Dict(
            {
                "observations": gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (OBS_SIZE,), np.float32),
                "action_mask": gym.spaces.Box(0.0, 1.0, (N_ACTIONS,), np.float32),
            }
        )
        self.episode = None
        self.done = Progress()

    # -- gymnasium -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        eps = self.episodes.episodes
        index = (options or {}).get("episode")
        if index is None:
            index = int(self.np_random.integers(len(eps)))
        self.episode = eps[int(index)]
        self.done = Progress()
        return self._obs(), self._info()

    def step(self, action):
        if self.episode is None:
            raise RuntimeError("call reset() before step()")
        action = int(action)
        mask = action_mask(self.episode.view, self.done)
        replaced = None
        if not 0 <= action < N_ACTIONS or not mask[action]:
            # a masked action (a policy that ignores the mask, check_env's random actions)
            # is replaced by the first allowed one: forward if allowed, else the highest level
            replaced, action = action, _first_allowed(mask)
        level = next_level(self.episode.view, self.done, action)
        self.done = Progress((*self.done.levels, level))
        finished = len(self.done.levels) == self.episode.view.num_hops
        reward = 0.0
        info = self._info()
        if replaced is not None:
            info["masked_action"] = replaced
        if finished:
            reward, extra = self.plan_reward(self.episode, self.done.levels)
            info.update(extra)
        return self._obs(), reward, finished, False, info

    # -- helpers ---------------------------------------------------------------------------
    def plan_reward(self, episode, levels) -> tuple[float, dict]:
        """The reward and the info of ``episode`` carrying ``levels`` (its planned part)."""
        extra = {
            "levels": list(episode.full_levels(levels)),
            "objective": self.objective.as_dict(),
        }
        try:
            metrics = self.pricer.metrics(episode, levels)
        except Infeasible as exc:
            extra["infeasible"] = str(exc)
            return self.infeasible_reward, extra
        extra["metrics"] = metrics
        return self.objective.value(metrics), extra

    def _obs(self) -> dict:
        view = self.episode.view
        return {
            "observations": observe(view, self.done),
            "action_mask": action_mask(view, self.done),
        }

    def _info(self) -> dict:
        ep = self.episode
        return {
            "network": ep.network,
            "flow": ep.flow,
            "destination": ep.destination,
            "hop": len(self.done.levels),
        }

    def close(self) -> None:
        self.pricer.close()
        super().close()


def _first_allowed(mask: np.ndarray) -> int:
    if mask[0]:
        return 0
    return int(np.flatnonzero(mask)[-1])


def warm_up(env: CascadeEnv, say=None) -> int:
    """Price every plan of every episode of ``env`` at once (the codec work of the missing
    cascades runs in one parallel batch and lands in its cache); returns the plan count."""
    from hcf_ray.gym.observation import all_plans

    pairs = [(ep, lv) for ep in env.episodes.episodes for lv in all_plans(ep.view)]
    env.pricer.metrics_many(pairs, say)
    env.pricer.close()  # the codec actors would hold CPUs that nothing needs any more
    return len(pairs)
