"""Policies from files, run guarded: every call into the file has a time limit and every
failure is one :class:`PolicyError` line ``policy FILE:LINE: TYPE: message``."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcf_ray.policy._placement import check_placement, place_default
from hcf_ray.policy._timer import Timeout, call_limited, policy_timeout
from hcf_ray.policy._usercode import read_user_file
from hcf_ray.policy._values import PolicyReturnError, int_list, show, show_path
from hcf_ray.policy.base import Decision, Policy, _overrides
from hcf_ray.policy.context import PolicyContext
from hcf_ray.policy.vector import PolicyVector


class PolicyError(Exception):
    """A policy file failed or misbehaved; ``str`` is one line
    ``policy FILE[:LINE]: TYPE: message``. Not a ValueError: a broken policy is never taken
    for an infeasible plan. ``original`` is the exception raised in the user's code."""

    def __init__(self, message: str, file: str = "", original: BaseException | None = None):
        super().__init__(message)
        self.file = file
        self.original = original


@dataclass(frozen=True)
class Source:
    shown: str  # the file as the spec names it
    real: str  # its resolved path (the code objects' co_filename)


def run_user(source: Source, what: str, fn, *args, line: int | None = None):
    """Call into a policy file, guarded: every failure becomes one PolicyError. ``line``: the
    line to name when the failure is not raised from the file itself (e.g. the ``def`` of
    the method whose result was refused)."""
    limit = policy_timeout()
    try:
        return call_limited(fn, args, limit)
    except Timeout as exc:
        # the line of the policy file the call was running when its time was up
        at = next((n for f, n in exc.frames() if f == source.real), None)
        where = f"{source.shown}:{at}" if at else source.shown
        raise PolicyError(
            f"policy {where}: {what} did not return within {limit:g} s", source.shown
        ) from None
    except (KeyboardInterrupt, PolicyError):
        raise
    except BaseException as exc:  # anything, SystemExit included
        raise PolicyError(describe(exc, source, what, line), source.shown, exc) from None


def describe(exc: BaseException, source: Source, what: str, fallback: int | None = None) -> str:
    """``policy FILE:LINE: TYPE: message``, LINE the deepest frame of the user's file (else
    ``fallback``)."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == source.real:
        line = exc.lineno
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == source.real:
            line = lineno
    line = line or fallback
    if isinstance(exc, SystemExit):
        msg = f"{what} called sys.exit({show(exc.code)})"
    elif isinstance(exc, SyntaxError):
        msg = exc.msg or ""
    else:
        text = str(exc)
        msg = text.splitlines()[0] if text.strip() else ""
    kind = "TypeError" if isinstance(exc, PolicyReturnError) else type(exc).__name__
    where = f"{source.shown}:{line}" if line else source.shown
    return f"policy {where}: {kind}" + (f": {msg}" if msg else "")


def def_line(source: Source, obj: Any) -> int | None:
    """First line of a function (or class) when it is defined in the policy file."""
    if isinstance(obj, type):
        lines = [def_line(source, v) for k, v in vars(obj).items() if callable(v)]
        lines = [n for n in lines if n]
        if not lines:
            return None
        try:  # the class statement itself
            return inspect.getsourcelines(obj)[1]
        except (OSError, TypeError):
            return min(lines)
    code = getattr(getattr(obj, "__func__", obj), "__code__", None)
    if code is not None and code.co_filename == source.real:
        return code.co_firstlineno
    return None


class UserPolicy(Policy):
    """A policy loaded from a file: every call into it runs through the guard."""

    def __init__(self, inner: Policy, source: Source):
        self.inner = inner
        self.source = source
        name = getattr(type(inner), "name", None)
        self.name = name if isinstance(name, str) else type(inner).__name__

    @property
    def _decides(self) -> bool:
        return _overrides(type(self.inner), "decide")

    def _line(self, method: str) -> int | None:
        return def_line(self.source, getattr(type(self.inner), method, None))

    def _fail(self, exc: BaseException, what: str, method: str) -> PolicyError:
        return PolicyError(
            describe(exc, self.source, what, self._line(method)), self.source.shown, exc
        )

    def decide(self, ctx: PolicyContext) -> Decision:
        if not self._decides:
            vec = self(ctx)
            return Decision(vec, self.place(ctx, vec))
        out = run_user(self.source, "decide()", self.inner.decide, ctx, line=self._line("decide"))
        if not isinstance(out, Decision):
            err = PolicyReturnError(
                f"decide() returned {type(out).__name__} {show(out)}; expected a Decision"
            )
            raise self._fail(err, "decide()", "decide")
        return out

    def choose(self, ctx: PolicyContext) -> PolicyVector | Sequence[int]:
        return run_user(self.source, "choose()", self.inner.choose, ctx, line=self._line("choose"))

    def place(self, ctx: PolicyContext, vector: PolicyVector) -> Sequence[int]:
        return run_user(
            self.source, "place()", self.inner.place, ctx, vector, line=self._line("place")
        )

    def __call__(self, ctx: PolicyContext) -> PolicyVector:
        method = "decide" if self._decides else "choose"
        what = f"{method}()"
        vec = run_user(self.source, what, self.inner, ctx, line=self._line(method))
        if not isinstance(vec, PolicyVector):
            err = PolicyReturnError(f"{what} returned {type(vec).__name__} {show(vec)}")
            raise self._fail(err, what, method)
        return vec

    def hop_levels(self, ctx: PolicyContext) -> tuple[int, ...]:
        if self._decides:
            method, what = "decide", "decide()"
            decision = self.decide(ctx)
            try:
                vec = self.inner._vector(ctx, decision.vector, what)
            except ValueError as exc:
                raise self._fail(exc, what, method) from None
            if decision.levels is None:
                return place_default(ctx, vec)
            out = decision.levels
        else:
            method, what = "place", "place()"
            vec = self(ctx)
            out = self.place(ctx, vec)
        try:
            levels = int_list(out, what, bits=False)
            check_placement(vec, levels, ctx.num_hops)
        except ValueError as exc:
            raise self._fail(exc, what, method) from None
        return levels

    def __repr__(self) -> str:
        return f"UserPolicy({self.source.shown}:{type(self.inner).__name__})"


# methods a policy file may not override: the simulator calls them, decide() is the way in
SIMULATOR_METHODS = ("hop_levels", "__call__", "vector")


def load_policy(spec: str, shown: str | None = None) -> tuple[type[Policy], Source]:
    """``ClassName`` from ``path/to/file.py`` (a relative path: from the current directory),
    loaded from the file's text under a private module name (:mod:`._usercode`)."""
    path_str, _, cls_name = spec.rpartition(":")
    if not path_str or not cls_name.isidentifier():
        raise ValueError(f"policy {show(spec)}: expected path/to/file.py:ClassName")
    name = (shown or "").rpartition(":")[0] or path_str  # the file as the user wrote it
    path = Path(path_str)
    try:
        found = path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise ValueError(f"policy file {show_path(path_str)} not found")
    if path.suffix != ".py":
        raise ValueError(f"policy file {show(name)} cannot be imported (not a .py file?)")
    source = Source(name, str(path.resolve()))
    code = run_user(source, "import", read_user_file, path)
    source = Source(name, code.filename)
    module = code.load(lambda fn, *args: run_user(source, "import", fn, *args))
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        found_here = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Policy) and v.__module__ == module.__name__
        )
        listed = ", ".join(found_here) if found_here else "no Policy classes"
        problem = (
            f"no class {cls_name!r} in {name}"
            if cls is None
            else f"{cls_name!r} in {name} is not a Policy subclass"
        )
        raise ValueError(f"{problem}; it defines: {listed}")
    for method in SIMULATOR_METHODS:
        if getattr(cls, method) is not getattr(Policy, method):
            line = def_line(source, getattr(cls, method))
            where = f"{name}:{line}" if line else name
            raise PolicyError(
                f"policy {where}: {cls_name} overrides {method}(); implement decide(ctx) instead",
                name,
            )
    return cls, source
