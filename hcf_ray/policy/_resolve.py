"""A policy from what a topology names: a registered name, a 0/1 list, ``file.py:Class``
or ``{class: …, args: {…}}``."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from hcf_ray.policy._registry import registered_policies
from hcf_ray.policy._sandbox import PolicyError, UserPolicy, def_line, load_policy, run_user
from hcf_ray.policy._values import show, unknown_argument
from hcf_ray.policy.base import Policy
from hcf_ray.policy.builtin import ExplicitPolicy


def resolve_policy(
    spec: str | Sequence[int] | Mapping[str, Any] | Policy,
    args: Mapping[str, Any] | None = None,
    *,
    shown: str | None = None,
) -> Policy:
    """A policy from a registered name, an explicit 0/1 list, ``path/to/file.py:ClassName``
    (a :class:`UserPolicy`), or a mapping ``{"class": one of those names, "args": {...}}``.

    The file path is used as given (a relative one from the current directory; a topology's
    paths arrive resolved against its folder, :mod:`hcf_ray.sim.config`). ``shown``: how
    messages name the file policy (``file.py:ClassName`` as the user wrote it; default:
    ``spec``).

    ``args`` are passed to the class as keyword arguments (the YAML's ``policy: {class: …,
    args: {deadline_ms: 80}}``). Loading problems (no such file or class, bad arguments to a
    registered policy) are ValueErrors; failures of the file's own code (its import, its
    ``__init__`` — a missing or unknown argument included —, later its ``decide``/``choose``/
    ``place``) are one-line :class:`PolicyError` s ``policy FILE:LINE: TYPE: message``."""
    if isinstance(spec, Policy):
        return spec
    if isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"class", "args"})
        if extra or "class" not in spec:
            raise ValueError(
                f"policy mapping needs 'class' (and optionally 'args'), got keys {sorted(spec)}"
            )
        if args is not None:
            raise ValueError("give args in the mapping or as a parameter, not both")
        return resolve_policy(spec["class"], spec.get("args") or {}, shown=shown)
    kwargs = dict(args or {})
    if isinstance(spec, str):
        named = registered_policies()
        if spec in named:
            wrong = unknown_argument(named[spec], kwargs)
            if wrong:
                raise ValueError(f"policy {spec}: {wrong}")
            try:
                return named[spec](**kwargs)
            except TypeError as exc:
                given = f" (args: {', '.join(kwargs)})" if kwargs else ""
                raise ValueError(f"policy {spec}: TypeError: {exc}{given}") from None
        if ":" in spec:
            cls, source = load_policy(spec, shown)
            wrong = unknown_argument(cls, kwargs)
            if wrong:
                line = def_line(source, cls.__init__) or def_line(source, cls)
                where = f"{source.shown}:{line}" if line else source.shown
                raise PolicyError(f"policy {where}: TypeError: {wrong}", source.shown)
            inner = run_user(
                source,
                f"{cls.__name__}()",
                functools.partial(cls, **kwargs),
                line=def_line(source, cls.__init__) or def_line(source, cls),
            )
            if not isinstance(inner, Policy):
                raise PolicyError(
                    f"policy {source.shown}: {cls.__name__}() did not make a Policy",
                    source.shown,
                )
            return UserPolicy(inner, source)
        raise ValueError(
            f"unknown policy {show(spec)}: use one of {', '.join(named)}, a 0/1 "
            "list, or path/to/file.py:ClassName"
        )
    if kwargs:
        raise ValueError("an explicit 0/1 policy vector takes no args")
    return ExplicitPolicy(spec)


def load_policy_class(spec: str) -> type[Policy]:
    """Import ``ClassName`` from ``path/to/file.py`` (a relative path: from the current
    directory)."""
    return load_policy(spec)[0]
