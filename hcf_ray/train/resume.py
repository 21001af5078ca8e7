"""What a resumed work dir trains with: its stored recipe, checked against the one asked for.

Every trainer stores its recipe in its work dir and re-running the same command resumes.
Running a *different* command on that work dir used to be silently ignored (the stored
recipe won); now a field that would change what was already trained is refused with a
one-line error naming it, and a field that only extends or re-paces the run (more
iterations, another validation interval) is taken over and recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TypeVar

from hcf_ray.atomic import atomic_write_text
from hcf_ray.errors import InputError, read_json

R = TypeVar("R")
STATE = "state.json"
STATE_FORMAT = 2  # 1: the per-trainer state.json of before (no "trainer" key, hcf_ray.train.base)
LOG = "train.log.jsonl"


class RecipeMismatch(InputError):
    """A resumed work dir was asked to continue with a different recipe."""


def resumed_recipe(
    workdir: str | Path,
    stored: R,
    requested: R | None,
    may_change: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> tuple[R, dict[str, tuple]]:
    """The recipe to go on with, and the fields taken over from ``requested`` (old, new).

    ``requested`` None means "whatever the work dir holds". Fields in ``may_change`` take the
    requested value; fields in ``ignore`` keep the stored one (the trainer handles them
    itself); any other difference raises :class:`RecipeMismatch`.
    """
    if requested is None:
        return stored, {}
    may_change, ignore = set(may_change), set(ignore)
    diffs = {
        f.name: (getattr(stored, f.name), getattr(requested, f.name))
        for f in fields(stored)
        if f.name not in ignore and getattr(stored, f.name) != getattr(requested, f.name)
    }
    fixed = [name for name in diffs if name not in may_change]
    if fixed:
        name = fixed[0]
        old, new = diffs[name]
        more = f" (and {', '.join(fixed[1:])})" if len(fixed) > 1 else ""
        raise RecipeMismatch(
            f"{workdir}: this work dir was started with {name}={_show(old)}, not "
            f"{_show(new)}{more}; rerun it with its own settings or use a new work dir"
        )
    return replace(stored, **{name: new for name, (_, new) in diffs.items()}), diffs


def open_state(
    workdir: Path,
    requested: R | None,
    recipe_cls: type[R],
    fresh: dict,
    may_change: Iterable[str] = (),
    log: Callable[[str], None] = print,
    ignore: Iterable[str] = (),
) -> tuple[R, dict]:
    """A trainer's recipe and ``WORKDIR/state.json``: resumed (recipe checked by
    :func:`resumed_recipe`, taken-over fields saved and logged, ``ignore``d ones kept) or fresh
    (``{"recipe": ..., **fresh}``, not written until the trainer saves it).

    The recipe is stored with ``recipe_cls.to_json``/``from_json`` where the class has them
    (nested stages), else as its dataclass fields."""
    encode = getattr(recipe_cls, "to_json", asdict)
    decode = getattr(recipe_cls, "from_json", lambda d: recipe_cls(**d))
    path = Path(workdir) / STATE
    if not path.exists():
        recipe = requested if requested is not None else recipe_cls()
        return recipe, {"recipe": encode(recipe), **fresh}
    state = read_json(path)
    recipe, changes = resumed_recipe(
        workdir, decode(state["recipe"]), requested, may_change, ignore
    )
    if changes:
        state["recipe"] = encode(recipe)
        save_state(workdir, state)
        log(f"resuming {workdir} with {describe_changes(changes)}")
    return recipe, state


def save_state(workdir: Path, state: dict) -> None:
    """Write ``WORKDIR/state.json`` atomically (a crash leaves the old one)."""
    atomic_write_text(Path(workdir) / STATE, json.dumps(state, indent=1))


def describe_changes(changes: dict[str, tuple]) -> str:
    """``iters 8000 -> 12000, val_every 2000 -> 500`` for a log line."""
    return ", ".join(f"{name} {_show(old)} -> {_show(new)}" for name, (old, new) in changes.items())


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def read_log(path: Path) -> list[dict]:
    """The records of a work dir's JSON-lines log (none when it has none yet)."""
    if not Path(path).is_file():
        return []
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: the others still count
            continue
    return records
