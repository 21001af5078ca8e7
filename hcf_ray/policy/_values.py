"""Checking what a policy returned: lists of ints, and values shown in one-line messages."""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Mapping
from typing import Any


class PolicyReturnError(ValueError, TypeError):
    """A policy returned something that is not a vector (or levels) at all (reported as a
    TypeError; a ValueError for the planner, which reports bad vectors alike)."""


def int_list(out: Any, what: str, bits: bool = True) -> tuple[int, ...]:
    """``out`` as a tuple of ints: a list/tuple (or array) of integers, never a string, a
    bool, None or a single number."""
    expected = "a PolicyVector or a list of 0/1 ints" if bits else "a list of levels (ints)"
    if hasattr(out, "tolist") and not isinstance(out, str | bytes):
        out = out.tolist()
    if not isinstance(out, list | tuple | range):
        raise PolicyReturnError(
            f"{what} returned {type(out).__name__} {show(out)}; expected {expected}"
        )
    bad = [b for b in out if not isinstance(b, numbers.Integral) or isinstance(b, bool)]
    if bad:
        raise PolicyReturnError(
            f"{what} returned {show(list(out))}, which holds {type(bad[0]).__name__} "
            f"{show(bad[0])}; expected {expected}"
        )
    return tuple(int(b) for b in out)


def show(value: Any, limit: int = 50) -> str:
    """``repr(value)`` for a message: printable, at most ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_path(path: str, limit: int = 100) -> str:
    """A file path for a message: quoted, printable; a long one keeps its end (the name)."""
    text = show(path, 10**6)
    return text if len(text) <= limit else "…" + text[len(text) - limit + 1 :]


def unknown_argument(cls: type, kwargs: Mapping[str, Any]) -> str | None:
    """The first of ``kwargs`` that ``cls(...)`` does not take, as a message with the closest
    name it does take ("did you mean"); None when all are taken (or it takes ``**kwargs``)."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call itself decide
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if not names:
            return f"{cls.__name__} takes no arguments (given: {show(key)})"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            takes = ", ".join(names)
            return f"{cls.__name__} has no argument {show(key)}{hint} (it takes: {takes})"
    return None
