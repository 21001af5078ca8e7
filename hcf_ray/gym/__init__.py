"""A Gymnasium environment of the cascade's per-hop level choice: ``hcf_ray/Cascade-v0``.

``import hcf_ray.gym`` registers it::

    import gymnasium, hcf_ray.gym
    env = gymnasium.make("hcf_ray/Cascade-v0", config="topologies/sweep.yaml")

(or, without the import, ``gymnasium.make("hcf_ray.gym:hcf_ray/Cascade-v0")``: Gymnasium 1.x
imports the module named before the colon; it has no plugin entry points). See
docs/learning.md; the observation is :mod:`hcf_ray.gym.observation`, the reward
:mod:`hcf_ray.gym.reward`, the episodes :mod:`hcf_ray.gym.episodes`.
"""

from __future__ import annotations

import gymnasium

ENV_ID = "hcf_ray/Cascade-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="hcf_ray.gym.env:CascadeEnv")

__all__ = ["ENV_ID"]
