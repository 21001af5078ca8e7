"""``hcf-sim run | validate | sweep``: thin argparse handlers over the simulator library.

Exit codes follow :mod:`hcf_ray.cli`: 0 success, 1 runtime failure (an actor died, a
placement timed out), 2 bad input (config, files, arguments) with a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_RUNTIME = 1
# = hcf_ray.cascade.TRANSPORTS; not imported so that building the parser stays torch-free
TRANSPORTS = ("bitstream", "latent")


def add_sim_commands(sub) -> None:
    """Register ``run``, ``validate`` and ``sweep`` on the ``hcf-sim`` sub-parsers."""
    run = sub.add_parser("run", help="simulate a topology YAML on Ray (the main job)")
    run.add_argument("config", help="topology YAML, e.g. topologies/mesh.yaml")
    _ray_args(run)
    run.add_argument("--max-images", type=int, default=None, help="images per flow (cap)")
    run.add_argument("--methods", nargs="+", default=None, help="e.g. hcf drf ssf (or hcf,drf)")
    run.add_argument("--transport", choices=TRANSPORTS, default=None, help="override the YAML")
    run.add_argument(
        "--timing",
        choices=("profile", "measured"),
        default=None,
        help="override the YAML: price ops with the cost profile, or use the wall clock",
    )
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check a topology or sweep YAML and print the plans")
    val.add_argument("config")
    val.set_defaults(func=cmd_validate)

    sw = sub.add_parser("sweep", help="many generated networks × policies × methods × seeds")
    sw.add_argument("config", help="sweep YAML, e.g. topologies/sweep.yaml")
    _ray_args(sw)
    sw.add_argument("--max-networks", type=int, default=None, help="stop after N networks")
    sw.set_defaults(func=cmd_sweep)


def _ray_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="output folder (default: out/<name>)")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: 'auto' or HOST:PORT (default: $RAY_ADDRESS, else local)",
    )
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray instance")
    p.add_argument("--max-in-flight", type=int, default=8, help="images in flight at once")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for any Ray wait")
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="keep codec work (bitstreams, metrics) in DIR; safe to share between runs/sweeps",
    )
    p.add_argument(
        "--actors", type=int, default=None, help="codec-work pool size (default: one per CPU)"
    )
    keep = p.add_mutually_exclusive_group()
    keep.add_argument(
        "--resume",
        action="store_true",
        help="complete the records already in --out (same config); only missing ones are added",
    )
    keep.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in --out (the old ones stay until the new run has finished)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a unit whose work was lost to a crash is computed again (default 2)",
    )


def _methods(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [m.strip() for v in values for m in v.split(",") if m.strip()]


def _warn(msg: str) -> None:
    print(f"hcf-sim: warning: {msg}", file=sys.stderr)


def _info(msg: str) -> None:
    """A progress line (stderr, so stdout holds only the result tables)."""
    print(f"hcf-sim: {msg}", file=sys.stderr, flush=True)


def _starting(address: str | None) -> str:
    import os

    where = address or os.environ.get("RAY_ADDRESS")
    return f"joining the Ray cluster at {where}" if where else "starting a local Ray instance"


def _user_error(exc: Exception):
    from hcf_ray.errors import UserError

    return UserError(str(exc))


def cmd_run(args: argparse.Namespace) -> int:
    from hcf_ray.images import ImageError
    from hcf_ray.sim.config import ConfigError
    from hcf_ray.sim.outdir import OutputError
    from hcf_ray.sim.scenario import load_scenario

    try:
        sc = load_scenario(
            args.config, _methods(args.methods), args.max_images, args.transport, args.timing
        )
    except ConfigError as exc:
        raise _user_error(exc) from None
    out_path = Path(args.out) if args.out else Path("out") / sc.config.name

    from hcf_ray.sim.driver import RunOptions, open_output

    options = RunOptions(
        max_in_flight=args.max_in_flight,
        timeout_s=args.timeout,
        progress=sys.stderr.isatty(),
        cache_dir=args.cache,
        pool_size=args.actors,
        resume=args.resume,
        overwrite=args.overwrite,
        retries=max(0, args.retries),
        say=_info,
    )
    try:
        out = open_output(sc, out_path, options)  # checked before Ray starts
    except OutputError as exc:
        raise _user_error(exc) from None
    for w in sc.warnings:
        _warn(w)

    import ray

    from hcf_ray.sim.driver import run_simulation
    from hcf_ray.sim.pool import SimulationError, connect
    from hcf_ray.sim.report import closing_note, format_tables

    started = False
    try:
        _info(_starting(args.address))
        started = connect(args.address, args.num_cpus, log_dir=out.path)
        summary = run_simulation(sc, out, options=options, log=_warn)
    except SimulationError as exc:
        print(f"hcf-sim: error: {_short(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME
    except ImageError as exc:
        raise _user_error(exc) from None
    finally:
        if started:
            ray.shutdown()
    print(format_tables(summary), end="")
    note = closing_note(summary)
    if note:
        print(note)
    kept = summary["wall"]["records_kept"]
    print(
        f"wrote {out.final} ({summary['records']} records"
        + (f", {kept} kept from before" if kept else "")
        + f") and {out.path / 'summary.json'}; timing {summary['timing']}; wall time "
        f"{summary['wall']['wall_s']:.1f} s"
    )
    fails = summary["failures"]
    if fails["error_records"]:
        print(
            f"hcf-sim: error: {fails['units']} unit(s) failed, {fails['error_records']} error "
            f"record(s) written; first: {_short(summary['error'], 120)}",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    return 0


def _short(text: str | None, n: int = 180) -> str:
    text = (text or "").splitlines()[0] if text else ""
    return text if len(text) <= n else text[: n - 1] + "…"


def cmd_validate(args: argparse.Namespace) -> int:
    from hcf_ray.sim.config import ConfigError, read_yaml

    try:
        data = read_yaml(args.config)
        if "generators" in data:
            from hcf_ray.sim.sweep import load_sweep

            sweep = load_sweep(args.config)
            print(f"ok: {args.config}: sweep {sweep.config.name!r}, {sweep.describe()}")
            return 0
        from hcf_ray.sim.scenario import load_scenario

        sc = load_scenario(args.config)
    except ConfigError as exc:
        raise _user_error(exc) from None
    from hcf_ray.sim.scenario import image_warning

    skipped = [image_warning(msg) for msg in sc.image_errors.values()]
    for w in sc.warnings:
        if w not in skipped:  # printed below, one line per image
            _warn(w)
    topo = sc.topology
    print(
        f"ok: {args.config}: {len(topo.nodes)} nodes, {topo.graph.number_of_edges()} directed "
        f"links, {len(sc.flows)} flow(s), codec {sc.codec.spec}, transport {sc.transport}"
    )
    for line in skipped:
        print(f"  {line}")
    for (flow, method), plan in sc.plans.items():
        routes = "; ".join(
            f"{d.node}@{d.level}"
            + (f" n_q={len(set(d.levels))}" if method != "ssf" else "")
            + ": "
            + " ".join(
                f"{u}{'=' if i and lv == d.levels[i - 1] else '-'}[{lv}]→"
                for i, (u, lv) in enumerate(zip(d.path, d.levels))
            )
            + f" {d.path[-1]}"
            for d in plan.destinations
        )
        print(f"  {flow}/{method}: {routes}")
    print(
        "  (X-[k]→: node X encodes level k; X=[k]→: relay X forwards the level-k bytes unchanged)"
    )
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from hcf_ray.sim.config import ConfigError
    from hcf_ray.sim.outdir import OutputError
    from hcf_ray.sim.sweep import load_sweep, open_sweep_output

    try:
        sweep = load_sweep(args.config)
    except ConfigError as exc:
        raise _user_error(exc) from None
    if args.actors:
        sweep.config = sweep.config.model_copy(update={"actors": args.actors})
    out_path = Path(args.out) if args.out else Path("out") / sweep.config.name
    try:
        out = open_sweep_output(sweep, out_path, args.max_networks, args.resume, args.overwrite)
    except OutputError as exc:
        raise _user_error(exc) from None
    for w in sweep.warnings:
        _warn(w)

    import ray

    from hcf_ray.sim.pool import SimulationError, connect
    from hcf_ray.sim.sweep import format_sweep, run_sweep

    started = False
    try:
        _info(_starting(args.address))
        started = connect(args.address, args.num_cpus, log_dir=out.path)
        summary = run_sweep(
            sweep,
            out,
            max_networks=args.max_networks,
            max_in_flight=args.max_in_flight,
            timeout_s=args.timeout,
            progress=sys.stderr.isatty(),
            log=_warn,
            cache_dir=args.cache,
            retries=max(0, args.retries),
            say=_info,
        )
    except SimulationError as exc:
        print(f"hcf-sim: error: {_short(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        if started:
            ray.shutdown()
    print(format_sweep(summary), end="")
    kept = summary["wall"]["records_kept"]
    print(
        f"wrote {out.final} ({summary['records']} records"
        + (f", {kept} kept from before" if kept else "")
        + f") and {out.path / 'sweep_summary.json'}; wall time {summary['wall']['wall_s']:.1f} s"
    )
    fails = summary["failures"]
    if fails["error_records"]:
        print(
            f"hcf-sim: error: {fails['error_records']} error record(s) written; first: "
            f"{_short(fails['first'], 120)}",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    return 0
