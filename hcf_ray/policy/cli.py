"""``hcf-sim check-policy FILE:Class [--args JSON]``: :func:`hcf_ray.policy.check.check_policy`
on the command line (one line per scenario; exit 2 when the policy got any wrong)."""

from __future__ import annotations

import argparse
import json
import sys

from hcf_ray.errors import EXIT_BAD_INPUT, UserError
from hcf_ray.policy._sandbox import PolicyError
from hcf_ray.policy.check import run_scenarios


def add_check_policy_command(subparsers) -> argparse.ArgumentParser:
    """Add ``check-policy`` to a command line's subparsers."""
    p = subparsers.add_parser(
        "check-policy",
        help="run a policy on synthetic routes and report what it gets wrong",
        description="Run a policy on synthetic routes (a long route, a multicast fork, fewer "
        "quantizations than hops, a hop minimum out of reach, one hop): one line per route, "
        "exit 2 when the policy gets any wrong.",
    )
    p.add_argument("policy", metavar="FILE:Class", help="a policy file and class, or a name")
    p.add_argument(
        "--args", default=None, metavar="JSON", help="constructor arguments, a JSON object"
    )
    p.set_defaults(func=check_policy_command)
    return p


def check_policy_command(args: argparse.Namespace) -> int:
    kwargs = _parse_args(args.args)
    try:
        results = run_scenarios(args.policy, kwargs)
    except (PolicyError, ValueError) as exc:
        raise UserError(f"check-policy: {exc}") from None
    failed = False
    for result in results:
        failed |= result.problem is not None
        print(result, file=sys.stderr if result.problem is not None else sys.stdout)
    return EXIT_BAD_INPUT if failed else 0


def _parse_args(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserError(f"check-policy: --args is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UserError(f"check-policy: --args must be a JSON object, got {type(value).__name__}")
    return value
