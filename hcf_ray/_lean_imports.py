"""Importing CompressAI without the parts hcf-sim never uses, in hcf-sim's own processes.

``import compressai`` (1.2.8) imports everything it has: its dataset and transform registries
pull in torchvision (whose ops import ``torch._dynamo``) and torch_geometric (its point-cloud
transforms). On 2 cores that is about 9.7 s of CPU, of which torch itself is 3.7 s; every Ray
actor pays it when it starts, and a simulation starts one per CPU or per node.

:func:`lean_compressai` makes the process's first ``import compressai`` run with empty
stand-ins for those two packages, then removes the stand-ins, so a later ``import
torchvision`` or ``import torch_geometric`` loads the real package. What CompressAI built from
them at import time stays empty: its ``registry.TRANSFORMS`` has no torchvision or
torch_geometric entries, and its point-cloud transform classes have placeholder bases.
hcf-sim uses neither (models, entropy models, latent codecs, ops and the zoo tables are
imported as they are). A node actor is ready after about 6.3 s of CPU instead of 10.1 s
(``benchmarks/actor_start.py``, 2-core VM).

It is used only where hcf-sim owns the process: a Ray worker that starts a node actor, and
the ``hcf-sim`` program itself. A library user's ``import hcf_ray`` imports CompressAI as it
is. ``HCF_SIM_FULL_IMPORTS=1`` turns it off; if the lean import fails for any reason,
CompressAI is imported in full instead.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import types

LEFT_OUT = ("torchvision", "torch_geometric")
OFF_ENV = "HCF_SIM_FULL_IMPORTS"
_state = {"lean": False}  # whether this process's CompressAI was imported lean


class _Placeholder:
    """Stands for any name of a left-out package: subclassable, and callable as a decorator
    factory (``@functional_transform("x")`` returns the class unchanged)."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, obj=None, *args, **kwargs):
        return obj


class _StandIn(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        made = type(name, (_Placeholder,), {"__module__": self.__name__})
        setattr(self, name, made)  # one class per name: two bases never coincide
        return made


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: tuple[str, ...]):
        self.roots = roots

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def _drop(roots: tuple[str, ...]) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in roots]:
        del sys.modules[name]


class _LeanLoader(importlib.abc.Loader):
    """CompressAI's own loader, run with the stand-ins in place."""

    def __init__(self, loader, roots: tuple[str, ...]):
        self.loader = loader
        self.roots = roots

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        stand_ins = _StandInFinder(self.roots)
        sys.meta_path.insert(0, stand_ins)
        try:
            self.loader.exec_module(module)
            _state["lean"] = True
        except Exception:  # anything unexpected: the full import below
            pass
        finally:
            sys.meta_path.remove(stand_ins)
            _drop(self.roots)
        if not _state["lean"]:
            # its submodules, imported with the stand-ins (``compressai`` itself is the import
            # system's to keep in sys.modules while this runs)
            for name in [n for n in sys.modules if n.startswith("compressai.")]:
                del sys.modules[name]
            self.loader.exec_module(module)


class _CompressaiFinder(importlib.abc.MetaPathFinder):
    """Finds ``compressai`` once, as the path finder does, with a :class:`_LeanLoader`."""

    def find_spec(self, name, path=None, target=None):
        if name != "compressai":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        roots = tuple(m for m in LEFT_OUT if m not in sys.modules)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not roots:
            return spec
        spec.loader = _LeanLoader(spec.loader, roots)
        return spec


def lean_compressai() -> bool:
    """From now on, the first ``import compressai`` of this process leaves out
    :data:`LEFT_OUT` (where they are not imported yet). Imports nothing itself; False (and
    nothing changes) when CompressAI is already imported or :data:`OFF_ENV` is set."""
    if "compressai" in sys.modules or os.environ.get(OFF_ENV):
        return False
    if not any(isinstance(f, _CompressaiFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _CompressaiFinder())
    return True


def imported_lean() -> bool:
    """Whether this process's CompressAI was imported without :data:`LEFT_OUT`."""
    return _state["lean"]


def in_ray_worker() -> bool:
    """True inside a Ray worker process (an actor or a task), False in a driver."""
    ray = sys.modules.get("ray")
    if ray is None:
        return False
    try:
        from ray._private import worker

        return worker.global_worker.mode == worker.WORKER_MODE
    except Exception:
        return False
