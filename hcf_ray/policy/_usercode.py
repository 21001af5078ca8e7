"""User code (policy and method files) loaded from its source text under a private name.

A file ``bottleneck.py`` is read once on the driver and executed as the module
``_hcf_user_<sha>`` (the SHA-256 of its path and text): it never takes the place of an
installed package of the same name, its folder is never put on ``sys.path``, and nothing is
imported from the current folder. Instances of the classes it defines pickle as
``(source text, class name, state)``, so a Ray worker rebuilds them by executing the same text
under the same private name: it never opens a path of the driver's. Tracebacks show the
file's lines from the loaded text (``linecache``), not from the disk.
"""

from __future__ import annotations

import contextlib
import copyreg
import hashlib
import importlib.util
import linecache
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "_hcf_user_"

_CODE: dict[str, UserCode] = {}  # private module name → the code it was made from


@dataclass(frozen=True)
class UserCode:
    """A user file's text and the path it was read from (names it in tracebacks only)."""

    text: str
    filename: str

    @property
    def module_name(self) -> str:
        digest = hashlib.sha256(f"{self.filename}\0{self.text}".encode()).hexdigest()
        return PREFIX + digest[:24]

    def load(self, run: Callable[..., Any] | None = None) -> types.ModuleType:
        """The module, executed from the text once per process (``run(fn, *args)`` wraps the
        compilation and execution, e.g. in a time limit; a failure leaves no module behind)."""
        name = self.module_name
        module = sys.modules.get(name)
        if module is not None:
            return module
        module = types.ModuleType(name)
        module.__file__ = self.filename
        linecache.cache[self.filename] = (
            len(self.text),
            None,  # no mtime: linecache never re-reads the file from the disk
            self.text.splitlines(keepends=True),
            self.filename,
        )
        sys.modules[name] = module
        try:
            (run or _call)(self._execute, module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _CODE[name] = self
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                _pickle_by_source(value)
        return module

    def _execute(self, module: types.ModuleType) -> None:
        code = compile(self.text, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)


def _call(fn, *args):
    return fn(*args)


def read_user_file(path: str | Path) -> UserCode:
    """The code of a ``.py`` file, read now and decoded as Python decodes source (its coding
    line, else UTF-8); OSError / SyntaxError / UnicodeDecodeError as they come."""
    real = os.path.realpath(path)
    return UserCode(importlib.util.decode_source(Path(real).read_bytes()), real)


def code_of(module_name: str) -> UserCode | None:
    """The code a private user module was made from (None: not a user module)."""
    return _CODE.get(module_name)


# -- crossing to Ray workers ----------------------------------------------------------------
def _pickle_by_source(cls: type) -> None:
    """Let instances of ``cls`` pickle with the source text (unless it pickles its own way)."""
    if cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__:
        cls.__reduce_ex__ = _reduce_by_source


def _reduce_by_source(self, protocol):
    cls = type(self)
    code = _CODE.get(cls.__module__)
    if code is None:  # a subclass defined elsewhere: pickle as usual
        return copyreg.__reduce_ex__(self, protocol) if protocol < 2 else _plain(self)
    return (rebuild, (code, cls.__qualname__), _state(self))


def _plain(obj):
    return (copyreg.__newobj__, (type(obj),), _state(obj))


def _state(obj) -> Any:
    getstate = getattr(obj, "__getstate__", None)  # every object has one from Python 3.11
    return getstate() if getstate is not None else getattr(obj, "__dict__", None)


def rebuild(code: UserCode, qualname: str) -> Any:
    """An empty instance of ``qualname`` from ``code`` (loaded here if it is not yet); pickle
    then restores its state."""
    obj: Any = code.load()
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.__new__(obj)


# -- Ray's workers and the current folder ----------------------------------------------------
RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray's job supervisor for a job's driver


@contextlib.contextmanager
def neutral_cwd() -> Iterator[None]:
    """Run the block (``ray.init``) from an empty private folder: Ray puts the driver's
    current folder on its workers' ``sys.path``, where a ``bottleneck.py`` of the user's would
    shadow the installed package of that name; the workers of a local instance start in it."""
    if os.environ.get(RAY_JOB_ENV):
        # a `ray job submit` driver: the job's working directory is the workers' folder by
        # the user's choice, and Ray may delete it while the driver stands elsewhere
        yield
        return
    folder = _empty_folder()
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _empty_folder() -> str:
    path = Path(tempfile.gettempdir()) / f"hcf-ray-cwd-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.stat()
        if path.is_dir() and st.st_uid == os.getuid() and not any(path.iterdir()):
            return str(path)
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="hcf-ray-cwd-")
