"""A learned policy against edge, late, uniform and the per-scenario optimum, on held-out
networks.

    python benchmarks/learned_policy.py [--config topologies/sweep.yaml] [--out DIR]
        [--train-seeds 0 1] [--test-seeds 100 101] [--iterations 20] [--max-minutes 15]
        [--objective JSON] [--load]

Trains with ``hcf-sim learn``'s code (RLlib PPO, CPU) on the config's generators drawn with
``--train-seeds`` (``--load``: use the policy already in ``--out``, train nothing; without it
a folder holding a policy is trained on, resumed, up to ``--iterations``), then draws the
held-out networks with ``--test-seeds`` (other networks: the seeds pick the graphs, links
and destinations) and scores every destination's plan under each policy with the
environment's objective (simulated metrics from cached codec work). The optimum of a
destination is the best of every plan its context allows (the search's candidates of its
route with the simulator's n_q: :func:`hcf_ray.gym.observation.all_plans`, each priced like
a search candidate); a policy's regret on it is optimum − its objective (≥ 0). One JSON
object is printed: per policy the mean objective, mean and max regret and how often it
picked an optimal plan; the training's iterations and seconds; the objective's weights.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "topologies" / "sweep.yaml"))
    p.add_argument("--out", default="learned_policy_bench")
    p.add_argument("--train-seeds", type=int, nargs="+", default=None)
    p.add_argument("--test-seeds", type=int, nargs="+", default=[100, 101])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--max-minutes", type=float, default=15.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--objective", default=None, help="metric weights as JSON")
    p.add_argument("--load", action="store_true", help="use the policy in --out, train nothing")
    args = p.parse_args()
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    out = Path(args.out)
    weights = json.loads(args.objective) if args.objective else None

    t0 = time.perf_counter()
    if not args.load:
        from hcf_ray.learn.train import LearnOptions, learn

        learn(
            LearnOptions(
                Path(args.config),
                out,
                seed=args.seed,
                iterations=args.iterations,
                max_minutes=args.max_minutes,
                resume=(out / "learn.json").is_file(),
                seeds=args.train_seeds,
                objective=weights,
                batch=args.batch,
                minibatch=min(64, args.batch),
                say=say,
            )
        )
    t_train = time.perf_counter() - t0
    learned_doc = json.loads((out / "learn.json").read_text())

    from hcf_ray.gym.env import CascadeEnv, warm_up
    from hcf_ray.gym.observation import all_plans
    from hcf_ray.learn.numpy_policy import MaskedMLPPolicy
    from hcf_ray.policy import EdgePolicy, LatePolicy, UniformPolicy
    from hcf_ray.sim.pool import connect

    connect()
    t1 = time.perf_counter()
    env = CascadeEnv(args.config, args.test_seeds, weights, cache_dir=out / "cache")
    plans = warm_up(env, say)
    t_price = time.perf_counter() - t1
    policies = {
        "learned": MaskedMLPPolicy(out / "weights.npz"),
        "edge": EdgePolicy(),
        "late": LatePolicy(),
        "uniform": UniformPolicy(),
    }
    rows = {name: [] for name in policies}
    trivial = 0
    for ep in env.episodes.episodes:
        candidates = all_plans(ep.view)
        values = {lv: env.plan_reward(ep, lv)[0] for lv in candidates}
        best = max(values.values())
        trivial += len(candidates) == 1
        for name, policy in policies.items():
            levels = tuple(policy.hop_levels(ep.ctx))
            value = values[levels] if levels in values else env.plan_reward(ep, levels)[0]
            rows[name].append(
                {"objective": value, "regret": best - value, "optimal": value >= best}
            )
    env.close()

    def summary(items):
        return {
            "objective_mean": statistics.fmean(r["objective"] for r in items),
            "regret_mean": statistics.fmean(r["regret"] for r in items),
            "regret_max": max(r["regret"] for r in items),
            "optimal_fraction": sum(r["optimal"] for r in items) / len(items),
        }

    doc = {
        "config": str(args.config),
        "objective": env.objective.as_dict(),
        "train": {
            "seeds": learned_doc.get("seeds"),
            "episodes": learned_doc.get("episodes"),
            "iterations": learned_doc.get("iterations_done"),
            "train_s": learned_doc.get("train_s"),
            "wall_s": round(t_train, 1) if not args.load else None,
            "last_return_mean": (learned_doc.get("history") or [{}])[-1].get("return_mean"),
        },
        "test": {
            "seeds": args.test_seeds,
            "networks": env.episodes.networks,
            "episodes": len(env.episodes.episodes),
            "single_plan_episodes": trivial,
            "plans_priced": plans,
            "pricing_wall_s": round(t_price, 1),
        },
        "policies": {name: summary(items) for name, items in rows.items()},
        "optimum": "best objective over every plan the destination's context allows",
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
