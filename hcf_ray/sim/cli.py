"""``hcf-sim run | validate | sweep | plot | search``: argparse handlers over the simulator library.

Exit codes follow :mod:`hcf_ray.cli`: 0 success, 1 runtime failure (an actor died, a
placement timed out), 2 bad input (config, files, arguments) with a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from hcf_ray.demo_models import print_notice
from hcf_ray.errors import RunError

# = hcf_ray.cascade.TRANSPORTS; not imported so that building the parser stays torch-free
TRANSPORTS = ("bitstream", "latent")


def add_sim_commands(sub) -> None:
    """Register ``run``, ``validate``, ``sweep``, ``plot`` and ``search`` on the ``hcf-sim`` sub-parsers."""
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
    _plot_flag(run)
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check a topology or sweep YAML and print the plans")
    val.add_argument("config")
    val.set_defaults(func=cmd_validate)

    sw = sub.add_parser(
        "sweep", help="many networks (generated or graph files) × policies × methods × seeds"
    )
    sw.add_argument("config", help="sweep YAML, e.g. topologies/sweep.yaml")
    _ray_args(sw)
    sw.add_argument("--max-networks", type=int, default=None, help="stop after N networks")
    _plot_flag(sw)
    sw.set_defaults(func=cmd_sweep)

    se = sub.add_parser(
        "search",
        help="every policy vector and placement of a destination: Pareto front, best pick",
    )
    se.add_argument("config", help="topology YAML, e.g. topologies/mesh.yaml")
    se.add_argument(
        "--objective",
        default=None,
        help='e.g. "max psnr s.t. latency_ms <= 80" or "min link_bytes s.t. psnr >= 30"; a '
        "bound may be policy:NAME, a listed policy's own value "
        '("max psnr s.t. energy_j <= policy:deadline-aware") '
        "(metrics: psnr, bpp, latency_ms, link_bytes, compute_ms, energy_j)",
    )
    se.add_argument(
        "--policies",
        nargs="+",
        default=None,
        metavar="POLICY",
        help="policies to locate among the candidates, as in a run's policies: list (replaces "
        "the YAML's): edge, late, uniform, path/to/file.py:Class (from the current directory) "
        "or '{name: NAME, class: FILE.py:Class, args: {...}}'",
    )
    se.add_argument("--flow", default=None, help="search this flow only (default: every flow)")
    se.add_argument(
        "--destination", default=None, help="search this destination only (default: every one)"
    )
    se.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="methods whose levels a policy picks: hcf, drf, the baselines (default: hcf)",
    )
    se.add_argument(
        "--n-q", dest="n_q", type=int, nargs="+", default=None, help="n_q values (default: all)"
    )
    se.add_argument("--max-images", type=int, default=None, help="images per flow (cap)")
    se.add_argument(
        "--max-candidates", type=int, default=1000, help="refuse a larger search (default 1000)"
    )
    se.add_argument("--out", default=None, help="output folder (default: out/<name>-search)")
    keep = se.add_mutually_exclusive_group()
    keep.add_argument(
        "--resume",
        action="store_true",
        help="complete the search in --out (same config and options): its cached codec work "
        "is reused, only what is missing is computed",
    )
    keep.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    se.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="keep codec work in DIR (default: OUT/cache; safe to share with runs and sweeps)",
    )
    se.add_argument("--address", default=None, help="Ray cluster to join: 'auto' or HOST:PORT")
    se.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray instance")
    se.add_argument("--max-in-flight", type=int, default=8, help="images in flight at once")
    se.add_argument("--timeout", type=float, default=600.0, help="seconds for any Ray wait")
    se.add_argument("--actors", type=int, default=None, help="codec-work pool size")
    se.set_defaults(func=cmd_search)

    pl = sub.add_parser(
        "plot", help="draw the figures of a run or sweep output folder into OUT_DIR/figures/"
    )
    pl.add_argument("out_dir", metavar="OUT_DIR", help="a run or sweep --out folder")
    pl.add_argument(
        "--format",
        nargs="+",
        default=["pdf", "png"],
        choices=("pdf", "png", "svg"),
        dest="formats",
        help="file formats (default: pdf png)",
    )
    pl.add_argument(
        "--image", default=None, help="run: the image whose hops the topology figure shows"
    )
    pl.set_defaults(func=cmd_plot)


def _plot_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plot",
        action="store_true",
        help="when done, draw the figures into OUT/figures/ (as `hcf-sim plot OUT`)",
    )


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


def _user_error(exc: Exception):
    from hcf_ray.errors import UserError

    return UserError(str(exc))


def cmd_run(args: argparse.Namespace) -> int:
    from hcf_ray.sim.codec import fetch_codec
    from hcf_ray.sim.config import ConfigError
    from hcf_ray.sim.outdir import OutputError
    from hcf_ray.sim.scenario import load_scenario

    try:
        sc = load_scenario(
            args.config, _methods(args.methods), args.max_images, args.transport, args.timing
        )
        fetch_codec(sc.codec, args.config)  # zoo: weights fetched now: offline, exit 2 before Ray
    except ConfigError as exc:
        raise _user_error(exc) from None
    out_path = Path(args.out) if args.out else Path("out") / sc.config.name

    from hcf_ray.sim.driver import open_output
    from hcf_ray.sim.pipeline import RunOptions

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

    from hcf_ray.sim.driver import run_simulation
    from hcf_ray.sim.report import closing_note, format_tables

    with _on_ray(args, out.path):
        summary = run_simulation(sc, out, options=options, log=_warn)
    print_notice(sc.codec.requested, sc.codec.spec)
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
    return _finish(
        out.path,
        args.plot,
        f"{fails['units']} unit(s) failed, {fails['error_records']} error record(s) "
        f"written; first: {_short(summary['error'], 120)}"
        if fails["error_records"]
        else None,
    )


@contextlib.contextmanager
def _on_ray(args: argparse.Namespace, log_dir: Path):
    """Join (or start) Ray for a command's body and leave it after; a failed run is a
    RunError (exit 1), an image found bad while running a UserError (exit 2)."""
    import ray

    from hcf_ray.images import ImageError
    from hcf_ray.sim.pool import SimulationError, connect
    from hcf_ray.sim.ray_address import AddressError, requested

    started = False
    try:
        target = requested(args.address)  # None: a local instance of its own
        if target is None:
            _info("starting a local Ray instance")
        started = connect(args.address, args.num_cpus, log_dir=log_dir)
        if target is not None:
            gcs, given = ray.get_runtime_context().gcs_address, target.address
            how = target.source + ("" if given == gcs else f" {given}")
            _info(f"joined the Ray cluster at {gcs} ({how})")
        yield
    except AddressError as exc:  # nothing to join there: one line, exit 2
        raise _user_error(exc) from None
    except SimulationError as exc:
        raise RunError(str(exc)) from None
    except ImageError as exc:
        raise _user_error(exc) from None
    finally:
        if started:
            ray.shutdown()


def _finish(out: Path, plot: bool, failed: str | None) -> int:
    """After the results are written: the figures (``--plot``), then exit 1 with one line
    when some records are errors (every record is on disk already)."""
    if plot:
        plot_after(out)
    if failed:
        raise RunError(failed)
    return 0


def _short(text: str | None, n: int = 180) -> str:
    text = (text or "").splitlines()[0] if text else ""
    return text if len(text) <= n else text[: n - 1] + "…"


def cmd_validate(args: argparse.Namespace) -> int:
    from hcf_ray.sim.config import ConfigError, read_yaml

    try:
        data = read_yaml(args.config)
        if "generators" in data or "graphs" in data:  # a sweep
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
    _dynamics_summary(sc)
    _graph_summary(args.config, sc)
    worlds = sc.all_worlds
    if len(worlds) > 1:
        print(f"  policies: {', '.join(sc.world_names)} (each simulated in its own world)")
    from hcf_ray.methods import get_method

    for k, w in enumerate(worlds):
        for (flow, method), plan in w.plans.items():
            several = len(worlds) > 1 and get_method(method).uses_policy
            tag = f" [{sc.world_names[k]}]" if several else ""
            print(f"  {flow}/{method}{tag}: {_routes(method, plan)}")
    print(
        "  (X-[k]→: node X encodes level k; X=[k]→: relay X forwards the level-k bytes unchanged)"
    )
    return 0


def _routes(method: str, plan) -> str:
    """A plan's routes: each node, the level it sends, and whether it encodes or forwards."""
    return "; ".join(
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


def _dynamics_summary(sc) -> None:
    """One line per directed link whose capacity changes or is shared (trace, background,
    demands), and the topology's demands file and oracle setting."""
    from hcf_ray.sim.topology import describe_dynamics, link_dynamics

    cfg = sc.config
    for name, dyn in link_dynamics(sc.topology).items():
        print(f"  link {name.replace('->', '→')}: {describe_dynamics(dyn)}")
    if cfg.demands is not None:
        print(f"  demands: {cfg.as_written(cfg.demands)} (background traffic on shortest paths)")
    if cfg.oracle:
        print("  oracle: policies see future link capacities (an upper bound)")


def _graph_summary(config: str, sc) -> None:
    """A ``graph:`` file's rule summary (links per speed / latency rule, nodes per role),
    and a warning when more than 10 % of its links use a default."""
    from hcf_ray.graphs.cli import default_warning, network_of, summary_lines
    from hcf_ray.sim.topology import with_speeds

    net = network_of(with_speeds(sc.config, sc.topology), sc.topology)
    if net is None:
        return
    for line in summary_lines(net):
        print(f"  graph: {line}")
    warning = default_warning(net)
    if warning:
        _warn(f"{config}: {warning}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from hcf_ray.sim.codec import fetch_codec
    from hcf_ray.sim.config import ConfigError
    from hcf_ray.sim.outdir import OutputError
    from hcf_ray.sim.sweep import load_sweep, open_sweep_output

    try:
        sweep = load_sweep(args.config)
        fetch_codec(sweep.worlds[0].scenario.codec, args.config)  # zoo: fetched before Ray
    except ConfigError as exc:
        raise _user_error(exc) from None
    if args.actors:
        sweep.config = sweep.config.model_copy(update={"actors": args.actors})
    out_path = Path(args.out) if args.out else Path("out") / sweep.config.name
    try:
        out = open_sweep_output(
            sweep, out_path, args.max_networks, args.resume, args.overwrite, args.config
        )
    except OutputError as exc:
        raise _user_error(exc) from None
    for w in sweep.warnings:
        _warn(w)

    from hcf_ray.sim.sweep import format_sweep, run_sweep

    with _on_ray(args, out.path):
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
    print_notice(sweep.config.codec)
    print(format_sweep(summary), end="")
    kept = summary["wall"]["records_kept"]
    print(
        f"wrote {out.final} ({summary['records']} records"
        + (f", {kept} kept from before" if kept else "")
        + f") and {out.path / 'sweep_summary.json'}; wall time {summary['wall']['wall_s']:.1f} s"
    )
    fails = summary["failures"]
    return _finish(
        out.path,
        args.plot,
        f"{fails['error_records']} error record(s) written; first: {_short(fails['first'], 120)}"
        if fails["error_records"]
        else None,
    )


def cmd_plot(args: argparse.Namespace) -> int:
    """``hcf-sim plot OUT_DIR``: the figures of a run or a sweep, one line per file."""
    from hcf_ray.results import results_file

    try:
        _, kind = results_file(args.out_dir)
        from hcf_ray.sim import figures

        if kind == "run":
            paths = figures.plot_run(args.out_dir, args.formats, image=args.image)
        else:
            paths = figures.plot_sweep(args.out_dir, args.formats)
    except ValueError as exc:
        raise _user_error(exc) from None
    for p in paths:
        print(f"wrote {p}")
    return 0


def plot_after(out_dir: Path) -> None:
    """``--plot``: the figures of the results just written. The results stand whatever
    happens here, so a folder with nothing to draw is a warning, not an error."""
    from hcf_ray.sim.figures import plot

    try:
        paths = plot(out_dir)
    except ValueError as exc:
        _warn(f"--plot: {_short(str(exc))}")
        return
    for p in paths:
        print(f"wrote {p}")


def cmd_search(args: argparse.Namespace) -> int:
    from hcf_ray.sim.codec import fetch_codec
    from hcf_ray.sim.config import ConfigError
    from hcf_ray.sim.scenario import load_scenario
    from hcf_ray.sim.search import (
        SearchError,
        check_out_dir,
        check_policies,
        parse_cli_policies,
        parse_objective,
        plan_search,
        search_identity,
    )

    try:
        objective = parse_objective(args.objective) if args.objective is not None else None
        if args.max_images is not None and args.max_images < 1:
            raise SearchError(f"--max-images {args.max_images}: must be at least 1")
        if args.max_candidates < 1:
            raise SearchError(f"--max-candidates {args.max_candidates}: must be at least 1")
        listed = parse_cli_policies(args.policies) if args.policies is not None else None
        sc = load_scenario(args.config, max_images=args.max_images, timing="profile")
        fetch_codec(sc.codec, args.config)  # zoo: weights fetched now: offline, exit 2 before Ray
        targets = plan_search(
            sc,
            args.flow,
            args.destination,
            _methods(args.methods) or ["hcf"],
            args.n_q,
            args.max_candidates,
            listed,
        )
        for t in targets:
            check_policies(objective, [p.name for p in t.policies], t.title)
        identity = search_identity(sc, targets)
        out = check_out_dir(
            Path(args.out) if args.out else Path("out") / f"{sc.config.name}-search",
            args.overwrite,
            args.resume,
            identity,
        )
    except (ConfigError, SearchError) as exc:
        raise _user_error(exc) from None
    for w in sc.warnings:
        _warn(w)

    from hcf_ray.sim.pipeline import RunOptions
    from hcf_ray.sim.search import format_search, open_out_dir, run_search, write_search

    options = RunOptions(
        max_in_flight=args.max_in_flight,
        timeout_s=args.timeout,
        progress=sys.stderr.isatty(),
        cache_dir=args.cache,
        pool_size=args.actors,
        say=_info,
    )
    open_out_dir(out, identity)
    with _on_ray(args, out):
        result = run_search(sc, targets, objective, options, log=_warn, out_dir=out)
    paths = write_search(result, out)
    print_notice(sc.codec.requested, sc.codec.spec)
    print(format_search(result), end="")
    c = result.wall["cache"]
    print(
        f"wrote {', '.join(str(p) for p in paths)}; codec work: {c['misses']} stage(s) "
        f"computed, {c['hits'] + c['shared_in_flight']} reused from the cache; wall time "
        f"{result.wall['wall_s']:.1f} s"
    )
    if result.failed:
        first = result.failed[0]
        raise RunError(
            f"{len(result.failed)} candidate(s) failed; first: {_short(first.error, 120)}"
        )
    return 0
