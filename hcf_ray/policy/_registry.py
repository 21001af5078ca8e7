"""The one registry of named policies (``policy: edge`` in a topology)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, overload

from hcf_ray.policy.base import Policy

P = TypeVar("P", bound=type[Policy])

_POLICIES: dict[str, type[Policy]] = {}


@overload
def register_policy(name_or_cls: P) -> P: ...
@overload
def register_policy(name_or_cls: str) -> Callable[[P], P]: ...
def register_policy(name_or_cls):
    """Register a :class:`Policy` subclass under a name, as a decorator: ``@register_policy``
    (under its ``name``) or ``@register_policy("my-name")``. A topology then names it as
    ``policy: my-name``. Registering another class under a taken name is a ValueError."""
    if isinstance(name_or_cls, str):
        return lambda cls: _register(name_or_cls, cls)
    return _register(getattr(name_or_cls, "name", None), name_or_cls)


def _register(name: object, cls: P) -> P:
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise TypeError(f"{cls!r} is not a Policy subclass")
    if not isinstance(name, str) or not name or name == Policy.name:
        raise ValueError(f"policy class {cls.__name__} needs a name to be registered")
    known = _POLICIES.get(name)
    if known is not None and known is not cls:
        raise ValueError(f"policy name {name!r} is already registered ({known.__name__})")
    _POLICIES[name] = cls
    return cls


def registered_policies() -> dict[str, type[Policy]]:
    """Name → class of every registered policy, in registration order."""
    return dict(_POLICIES)
