"""The one registry of cascade methods, used by ``run``, ``sweep``, ``search``, ``eval`` and
``report``.

============  =================================================================================
hcf           latent-space cascade (φ modules), the destination's policy (eval: edge, n_q=2)
hcf-late      HCF with the late policy
drf           recompression in pixel space on HCF's per-link levels (eval: every level drop)
drf-nq2       recompression with two quantizations
ssf           single-stage codec at level d; relays forward (simulcast on a tree)
pcf-tail      learned tail-drop progressive codec; relays keep a prefix
pcf-j2k       JPEG 2000 quality layers; relays keep the first layers
drf-jpeg      JPEG re-encoded where the level drops
drf-webp      WebP re-encoded where the level drops
============  =================================================================================

A method of your own is a :class:`Method` subclass (see :mod:`hcf_ray.methods.base`), either
registered in code::

    from hcf_ray.methods import Method, register_method

    @register_method
    class Mine(Method):
        name = "mine"
        ...

or named in a topology as ``methods: [path/to/file.py:Mine]`` (loaded like a policy file;
its records carry the class's ``name``).
"""

from __future__ import annotations

from pathlib import Path

from hcf_ray.methods.base import FixedPolicyMethod, Method, with_forwards
from hcf_ray.methods.baselines import PCFJ2K, BaselineMethod, DRFJpeg, DRFWebp, PCFTail
from hcf_ray.methods.learned import DRF, HCF, SSF, DRFNq2, HCFLate
from hcf_ray.policy._usercode import read_user_file

_REGISTRY: dict[str, Method] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Register a :class:`Method` subclass under its ``name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{cls!r} is not a Method subclass")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name:
        raise ValueError(f"method class {cls.__name__} has no name")
    _REGISTRY[name] = cls()
    return cls


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def baseline_names() -> list[str]:
    """The registered progressive / classical baselines."""
    return [m for m, method in _REGISTRY.items() if method.is_baseline]


def get_method(name: str, *, shown: str | None = None) -> Method:
    """A registered method by name, or a user method ``path/to/file.py:ClassName``
    (``shown``: as the user wrote it, for messages; see :func:`load_method`)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ".py:" in name:
        return load_method(name, shown=shown)
    raise ValueError(f"unknown method {name!r}; choose from {', '.join(_REGISTRY)}")


def load_method(spec: str, *, shown: str | None = None) -> Method:
    """Load ``path/to/file.py:ClassName`` and register it. The path is used as given (a
    relative one from the current directory; a topology's paths arrive resolved against its
    folder, :mod:`hcf_ray.sim.config`); messages name the file as ``shown`` spells it (the
    config's ``file.py:ClassName``; default: ``spec``), except a missing file's full path."""
    path_str, _, cls_name = spec.rpartition(":")
    file = (shown or "").rpartition(":")[0] or path_str  # the file as the user wrote it
    path = Path(path_str)
    if not path.is_file():
        raise ValueError(f"method file {path_str} not found")
    try:  # from its text, under a private module name (hcf_ray.policy._usercode)
        code = read_user_file(path)
        module = code.load()
        mod_name = module.__name__
    except Exception as exc:
        tb = exc.__traceback__
        line = exc.lineno if isinstance(exc, SyntaxError) else 0
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path.resolve()):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f"{file}:{line}" if line else file
        raise ValueError(f"method {where}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        found = sorted(
            k
            for k, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Method) and v.__module__ == mod_name
        )
        has = f"; it defines: {', '.join(found)}" if found else "; it defines no Method subclass"
        raise ValueError(f"no Method class {cls_name!r} in {file}{has}")
    existing = _REGISTRY.get(getattr(cls, "name", ""))
    if existing is not None and type(existing) is not cls:
        raise ValueError(f"method {file}:{cls_name}: name {cls.name!r} is already registered")
    register_method(cls)
    return _REGISTRY[cls.name]


for _cls in (HCF, HCFLate, DRF, DRFNq2, SSF, PCFTail, PCFJ2K, DRFJpeg, DRFWebp):
    register_method(_cls)

__all__ = [
    "DRF",
    "HCF",
    "PCFJ2K",
    "SSF",
    "BaselineMethod",
    "DRFJpeg",
    "DRFNq2",
    "DRFWebp",
    "FixedPolicyMethod",
    "HCFLate",
    "Method",
    "PCFTail",
    "baseline_names",
    "get_method",
    "load_method",
    "method_names",
    "register_method",
    "with_forwards",
]
