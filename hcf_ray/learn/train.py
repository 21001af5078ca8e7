"""Training with RLlib PPO on CPU (the only module of the package that imports RLlib).

The environment runs in this process (``num_env_runners=0``): its episodes are drawn once,
the codec work of every plan of every episode is computed first in one parallel batch
(:func:`hcf_ray.gym.env.warm_up`, cached in ``DIR/cache``), so training steps run no model.
After every iteration the algorithm is saved to ``DIR/checkpoint`` and the policy exported
(``DIR/policy.py``, ``DIR/weights.npz``); ``DIR/learn.json`` records the options, the
objective's weights, the iterations done and the time spent. ``--resume`` restores the
checkpoint and goes on to ``--iterations`` in all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hcf_ray.errors import UserError
from hcf_ray.learn.export import export_policy
from hcf_ray.learn.numpy_policy import logits

ENV_NAME = "hcf_ray_cascade"
LEARN_JSON = "learn.json"
CHECKPOINT = "checkpoint"

# PPO settings (provenance: RLlib's PPO defaults scaled down to a 2-core machine: episodes
# are 1–6 steps, so 256 steps per batch hold about 100 episodes; 2 hidden layers of 64
# units as RLlib's default MLP has 256 — the observation has 118 numbers and 17 actions).
HIDDEN = (64, 64)
ACTIVATION = "tanh"


@dataclass
class LearnOptions:
    config: Path
    out: Path
    seed: int = 0
    iterations: int = 20
    max_minutes: float | None = None
    resume: bool = False
    seeds: list[int] | None = None  # networks (default: the config's seeds)
    objective: dict[str, float] | None = None
    batch: int = 256  # environment steps per iteration
    minibatch: int = 64
    epochs: int = 4
    lr: float = 3e-4
    hidden: tuple[int, ...] = HIDDEN
    say: Callable[[str], None] = print
    history: list[dict] = field(default_factory=list)


def learn(opts: LearnOptions) -> dict:
    """Train (or go on training), export the policy; returns learn.json's content."""
    state = _check_out(opts)  # before RLlib is imported: a bad --out is refused at once
    with _quiet_rllib():
        return _learn(opts, state)


# RLlib's notices (deprecations, "the new API stack") would reach stderr as raw log lines
QUIETED = ("ray.rllib", "ray._common.deprecation")


@contextlib.contextmanager
def _quiet_rllib():
    """RLlib's and Ray's deprecation loggers at ERROR while training, as they were after."""
    import ray.rllib  # noqa: F401 - sets up its logger level first, so that it stays quieted

    loggers = [logging.getLogger(name) for name in QUIETED]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _learn(opts: LearnOptions, state) -> dict:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.examples.rl_modules.classes.action_masking_rlm import (
        ActionMaskingTorchRLModule,
    )
    from ray.tune.registry import register_env

    from hcf_ray.gym.env import CascadeEnv, warm_up
    from hcf_ray.gym.reward import Objective
    from hcf_ray.sim.pool import connect

    out = opts.out
    t0 = time.perf_counter()
    connect()
    objective = Objective.of(opts.objective)
    env = CascadeEnv(opts.config, opts.seeds, objective, cache_dir=out / "cache")
    eps = env.episodes
    opts.say(
        f"{len(eps.episodes)} episodes (destinations) on {eps.networks} networks"
        + (f"; skipped: {_skipped(eps.skipped)}" if eps.skipped else "")
    )
    plans = warm_up(env, opts.say)
    opts.say(f"{plans} plans priced ({time.perf_counter() - t0:.1f} s)")
    shared = {"episodes": eps, "pricer": env.pricer}
    register_env(ENV_NAME, lambda cfg: CascadeEnv(opts.config, objective=objective, **shared))
    config = (
        PPOConfig()
        .environment(ENV_NAME)
        .framework("torch")
        .env_runners(
            num_env_runners=0,
            num_envs_per_env_runner=1,
            rollout_fragment_length="auto",
        )
        .learners(num_learners=0)
        .training(
            train_batch_size_per_learner=opts.batch,
            minibatch_size=opts.minibatch,
            num_epochs=opts.epochs,
            lr=opts.lr,
            gamma=1.0,  # the reward comes at the episode's end, undiscounted
        )
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=ActionMaskingTorchRLModule,
                model_config={
                    "fcnet_hiddens": list(opts.hidden),
                    "fcnet_activation": ACTIVATION,
                    "head_fcnet_hiddens": [],
                    "vf_share_layers": False,
                },
            )
        )
        .debugging(seed=opts.seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=100)
    )
    algo = config.build_algo()
    done = state.get("iterations_done", 0) if opts.resume else 0
    spent = state.get("train_s", 0.0) if opts.resume else 0.0
    if opts.resume and (out / CHECKPOINT).is_dir():
        algo.restore_from_path(str((out / CHECKPOINT).resolve()))
        opts.say(f"resumed from {out / CHECKPOINT} after {done} iteration(s)")
    history = list(state.get("history", [])) if opts.resume else []
    deadline = None if opts.max_minutes is None else time.perf_counter() + opts.max_minutes * 60
    doc = state
    try:
        while done < opts.iterations:
            if deadline is not None and time.perf_counter() >= deadline:
                opts.say(f"--max-minutes {opts.max_minutes:g} reached after {done} iteration(s)")
                break
            t = time.perf_counter()
            result = algo.train()
            done += 1
            dt = time.perf_counter() - t
            spent += dt
            row = _row(done, result, dt)
            history.append(row)
            opts.say(
                f"iteration {done}/{opts.iterations}: return mean {row['return_mean']:.3f} "
                f"over {row['episodes']} episode(s), {dt:.1f} s"
            )
            algo.save_to_path(str((out / CHECKPOINT).resolve()))
            doc = _export(algo, opts, objective, eps, done, spent, history)
    finally:
        algo.stop()
        env.close()
    if not history:
        doc = _export(algo, opts, objective, eps, done, spent, history)
    return doc


def _check_out(opts: LearnOptions) -> dict:
    out = opts.out
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    state: dict = {}
    if (out / LEARN_JSON).is_file():
        state = json.loads((out / LEARN_JSON).read_text())
    busy = out.is_dir() and any(p.name != "cache" for p in out.iterdir())
    if busy and not opts.resume:
        raise UserError(f"--out {out} is not empty; use --resume to go on training there")
    if opts.resume and state:
        same = state.get("config_file") == str(opts.config.resolve()) and state.get(
            "objective"
        ) == _weights(opts.objective)
        if not same:
            raise UserError(
                f"--resume: {out / LEARN_JSON} was trained on another config or objective"
            )
    out.mkdir(parents=True, exist_ok=True)
    return state


def _weights(objective) -> dict[str, float]:
    from hcf_ray.gym.reward import Objective

    return Objective.of(objective).as_dict()


def _skipped(skipped: dict[str, int]) -> str:
    return "; ".join(f"{n} × {why}" for why, n in skipped.items())


def _row(i: int, result: dict, dt: float) -> dict:
    runners = result.get("env_runners", {})
    ret = runners.get("episode_return_mean", float("nan"))
    return {
        "iteration": i,
        "return_mean": float(ret) if ret is not None else float("nan"),
        "episodes": int(runners.get("num_episodes", 0) or 0),
        "seconds": round(dt, 3),
    }


def module_layers(module) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The actor's MLP of a PPO RLModule (encoder, then the policy head) as numpy layers."""
    import torch

    linears = []
    for part in (module.encoder.actor_encoder, module.pi):
        linears += [m for m in part.modules() if isinstance(m, torch.nn.Linear)]
    layers = []
    for k, lin in enumerate(linears):
        act = "linear" if k == len(linears) - 1 else ACTIVATION
        layers.append((lin.weight.detach().cpu().numpy(), lin.bias.detach().cpu().numpy(), act))
    return layers


def _check_export(module, layers) -> None:
    """The numpy MLP gives the module's logits on random observations (else an export bug)."""
    import torch

    from hcf_ray.gym.observation import OBS_SIZE

    obs = np.random.default_rng(0).uniform(-1, 1, (8, OBS_SIZE)).astype(np.float32)
    with torch.no_grad():
        emb = module.encoder.actor_encoder({"obs": torch.from_numpy(obs)})
        key = next(iter(emb)) if isinstance(emb, dict) and "encoder_out" not in emb else None
        x = emb[key] if key else emb["encoder_out"]
        want = module.pi(x).numpy()
    got = np.stack([logits(layers, o) for o in obs])
    if not np.allclose(got, want, atol=1e-4):
        raise RuntimeError("internal: the exported MLP does not reproduce the module's logits")


def _export(algo, opts, objective, eps, done: int, spent: float, history) -> dict:
    module = algo.get_module()
    layers = module_layers(module)
    _check_export(module, layers)
    export_policy(opts.out, layers, {"iterations": done})
    doc = {
        "config_file": str(opts.config.resolve()),
        "seeds": opts.seeds,
        "seed": opts.seed,
        "objective": objective.as_dict(),
        "objective_provenance": "hcf_ray.gym.reward.DEFAULT_WEIGHTS"
        if opts.objective is None
        else "--objective",
        "episodes": len(eps.episodes),
        "networks": eps.networks,
        "skipped": eps.skipped,
        "ppo": {
            "train_batch_size_per_learner": opts.batch,
            "minibatch_size": opts.minibatch,
            "num_epochs": opts.epochs,
            "lr": opts.lr,
            "gamma": 1.0,
            "hidden": list(opts.hidden),
            "activation": ACTIVATION,
        },
        "iterations_done": done,
        "train_s": round(spent, 3),
        "history": history,
        "policy": "policy.py:LearnedPolicy",
        "weights": "weights.npz",
    }
    tmp = opts.out / (LEARN_JSON + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(opts.out / LEARN_JSON)
    return doc
