"""``hcf-sim learn SWEEP.yaml --out DIR``: train a policy with RLlib PPO, export it.

Light on purpose: RLlib (and torch) are imported only when the command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hcf_ray.errors import InputError, UserError


def add_learn_command(sub) -> None:
    p = sub.add_parser(
        "learn",
        help="learn a policy (RLlib PPO on CPU) on a sweep's networks; export DIR/policy.py",
    )
    p.add_argument("config", help="sweep YAML whose networks train the policy")
    p.add_argument("--out", required=True, help="folder: checkpoint, policy.py, weights.npz")
    p.add_argument("--resume", action="store_true", help="go on from DIR's checkpoint")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="network seeds (default: the YAML's)"
    )
    p.add_argument("--iterations", type=int, default=20, help="PPO iterations in all (20)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this")
    p.add_argument("--batch", type=int, default=256, help="environment steps per iteration")
    p.add_argument(
        "--objective",
        default=None,
        help='metric weights as JSON, e.g. \'{"psnr": 1, "bpp": -10, "latency_ms": -0.01, '
        '"energy_j": -1}\' (the default)',
    )
    p.set_defaults(func=cmd_learn)


def cmd_learn(args: argparse.Namespace) -> int:
    from hcf_ray.sim.config import ConfigError

    config = Path(args.config)
    if not config.is_file():
        raise UserError(f"{config}: no such file")
    if args.iterations < 1:
        raise UserError(f"--iterations {args.iterations}: must be at least 1")
    if args.batch < 8:
        raise UserError(f"--batch {args.batch}: must be at least 8")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise UserError(f"--max-minutes {args.max_minutes:g}: must be positive")
    objective = None
    if args.objective is not None:
        try:
            objective = json.loads(args.objective)
        except ValueError:
            raise UserError(f"--objective: not JSON: {args.objective[:80]!r}") from None
    from hcf_ray.learn.train import LearnOptions, learn

    opts = LearnOptions(
        config,
        Path(args.out),
        seed=args.seed,
        iterations=args.iterations,
        max_minutes=args.max_minutes,
        resume=args.resume,
        seeds=args.seeds,
        objective=objective,
        batch=args.batch,
        minibatch=min(64, args.batch),
        say=lambda msg: print(msg, flush=True),
    )
    try:
        doc = learn(opts)
    except (ConfigError, InputError) as exc:
        raise UserError(str(exc)) from None
    print(
        f"{doc['iterations_done']} iteration(s) in {doc['train_s']:.1f} s; policy: "
        f"{opts.out / 'policy.py'}:LearnedPolicy"
    )
    return 0
