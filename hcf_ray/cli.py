"""``hcf-sim`` command line: a thin layer over the library.

Exit codes: 0 success, 1 runtime failure, 2 bad input (config, files, arguments); 141 when
whoever reads the output stops early (``hcf-sim validate … | head``), quietly.

Each command lives beside its library (:mod:`hcf_ray.train_cli`, :mod:`hcf_ray.evaluate_cli`,
:mod:`hcf_ray.sim.cli`, ...) and imports torch or Ray only when it runs, so ``hcf-sim --help``
and ``hcf-sim validate`` start fast.
"""

from __future__ import annotations

import argparse
import os
import select
import sys

from hcf_ray._lean_imports import lean_compressai
from hcf_ray.calibrate_cli import add_calibrate_command
from hcf_ray.cli_args import CommandParser

# one class whether this module runs as ``python -m hcf_ray.cli`` or is imported
from hcf_ray.errors import (
    EXIT_BAD_INPUT,
    EXIT_RUNTIME,
    RunError,
    UserError,
    quiet_warnings,
)
from hcf_ray.evaluate_cli import add_eval_commands
from hcf_ray.graph_cli import add_graph_command
from hcf_ray.learn.cli import add_learn_command
from hcf_ray.policy.cli import add_check_policy_command
from hcf_ray.sim.cli import add_sim_commands
from hcf_ray.train_cli import add_train_commands

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by it


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hcf-sim", description=__doc__.splitlines()[0])
    p.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of an error as well (bad input is otherwise one line)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    add_check_policy_command(sub)
    add_train_commands(sub)
    add_eval_commands(sub)
    add_sim_commands(sub)
    add_calibrate_command(sub)
    add_graph_command(sub)
    add_learn_command(sub)

    from hcf_ray.analysis.cli import add_report_command

    add_report_command(sub)
    from hcf_ray.export_compressai import add_export_command

    add_export_command(sub)
    return p


def _error_line(exc: BaseException, prefix: str = "hcf-sim: error: ", suffix: str = "") -> str:
    """One printable line of at most MAX_LINE characters (plus the length of the config
    file's name when the message starts with it: a file name is never cut)."""
    from hcf_ray.sim.config import MAX_LINE, one_line

    text = one_line(str(exc))
    cause = exc.__cause__ or exc.__context__
    source = one_line(getattr(cause, "source", "") or "")
    extra = len(source) if source and text.startswith(source) else 0
    return one_line(prefix + text, MAX_LINE + extra - len(suffix)) + suffix


def _print_traceback(exc: BaseException) -> None:
    """--debug: the tracebacks of ``exc`` and of what it was raised from (also when raised
    ``from None``), the user's own code (a policy file) first."""
    import traceback

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain and len(chain) < 20:
        chain.append(e)
        e = getattr(e, "original", None) or e.__cause__ or e.__context__
    for e in reversed(chain):
        traceback.print_exception(type(e), e, e.__traceback__, chain=False, file=sys.stderr)


def _stdout_gone() -> int:
    """The reader of stdout has gone (``| head``): send whatever is still buffered to
    /dev/null, so that the interpreter's last flush raises nothing, and exit quietly (the
    recipe of Python's ``signal`` documentation, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (captured in-process): nothing to flush
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 success, 1 runtime failure (or an internal error), 2 bad input with one
    line on stderr and no traceback, 141 when stdout's reader stopped early. ``--debug``
    (anywhere on the line) prints the traceback as well."""
    if argv is None:  # the hcf-sim program: its process is hcf-sim's own
        lean_compressai()
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe shows here at the latest
        return code
    except BrokenPipeError:  # raised again by _main only when it is stdout's
        return _stdout_gone()


def _main(argv: list[str] | None) -> int:
    quiet_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if debug:
            _print_traceback(exc)
        print(_error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunError as exc:
        if debug:
            _print_traceback(exc)
        print(_error_line(exc), file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print("hcf-sim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: one line, the traceback with --debug
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            raise  # not a bug: main() exits quietly
        if debug:
            _print_traceback(exc)
        print(
            _error_line(
                exc,
                f"hcf-sim: internal error: {type(exc).__name__}: ",
                "" if debug else " (--debug shows the traceback)",
            ),
            file=sys.stderr,
        )
        return 1


def _stdout_closed() -> bool:
    """Whether stdout is a pipe or socket nobody reads any more (poll reports an error on
    it), as opposed to some other pipe of the program breaking."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), stdout not a file
        return True


if __name__ == "__main__":
    sys.exit(main())
