"""Simulation results as a pandas DataFrame: :func:`load_results`.

Kept apart from :mod:`hcf_ray.sim` so that analysing an output folder needs neither Ray nor
torch, only pandas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hcf_ray.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

RUN_RESULTS = "results.jsonl"
SWEEP_RESULTS = "sweep_results.jsonl"


def results_file(out_dir: str | Path) -> tuple[Path, str]:
    """The records file of an output folder and its kind, ``"run"`` or ``"sweep"``.

    ``out_dir`` may also name the file itself. Raises a one-line :class:`ValueError` naming
    the folder when it holds neither ``results.jsonl`` nor ``sweep_results.jsonl``.
    """
    p = Path(out_dir)
    if p.is_file() and p.name in (RUN_RESULTS, SWEEP_RESULTS):
        return p, "sweep" if p.name == SWEEP_RESULTS else "run"
    for name, kind in ((RUN_RESULTS, "run"), (SWEEP_RESULTS, "sweep")):
        if (p / name).is_file():
            return p / name, kind
    what = "no such folder" if not p.exists() else f"no {RUN_RESULTS} or {SWEEP_RESULTS}"
    raise InputError(f"{p}: {what} (not a hcf-sim run or sweep output folder)")


def read_records(path: Path) -> list[dict]:
    """The records of a JSON-lines file; a torn last line (a run still writing, or killed
    while writing it) is left out, any other unreadable line is a one-line ValueError."""
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:  # no newline after it: torn
                break
            raise InputError(f"{path}:{i + 1}: not a JSON record") from None
        if not isinstance(rec, dict):
            raise InputError(f"{path}:{i + 1}: not a JSON object")
        records.append(rec)
    return records


def flatten_record(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One record as one flat row (the scheme of :func:`load_results`)."""
    row: dict[str, Any] = {}
    for key, value in rec.items():
        if key == "policy_args":  # one hashable cell: runs group by policy and args
            row[key] = None if value is None else json.dumps(value, sort_keys=True)
        elif key == "hops" and isinstance(value, list):
            row["n_hops"] = len(value)
            for i, hop in enumerate(value):
                for field, v in hop.items():
                    row[f"hop{i}.{field}"] = _cell(v)
        else:
            _put(row, key, value)
    return row


def _put(row: dict, key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _put(row, f"{key}.{k}", v)
    else:
        row[key] = _cell(value)


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_cell(v) for v in value)
    if isinstance(value, Mapping):  # nested inside a list: kept whole, read-only
        return dict(value)
    return value


def load_results(out_dir: str | Path, *, ok_only: bool = False) -> pd.DataFrame:
    """The records of a ``hcf-sim run`` or ``sweep`` output folder, one row per record.

    Reads ``results.jsonl`` or ``sweep_results.jsonl``, whichever ``out_dir`` holds (or the
    file itself when ``out_dir`` names it); ``df.attrs`` gives ``kind`` (``"run"`` or
    ``"sweep"``) and ``source`` (the file). Flattening scheme, one column per leaf:

    * top-level scalars keep their names: ``flow``, ``destination``, ``image``, ``method``,
      ``policy``, ``bpp``, ``psnr``, ``latency_s``, ``status``, … (sweeps add ``network``,
      ``generator``, ``seed``);
    * a run's policy: ``policy`` (its name: the config's ``name:``, else the class's
      ``name``, ``-`` for methods that use none), ``policy_args`` (the config's args as a
      JSON string with sorted keys, so rows group by it; null where no policy is used),
      ``policy_sha256`` (a file policy's file; null for built-in policies and vectors),
      ``policy_spec`` (the policy as the config wrote it) and, in a run of several policies,
      ``world`` (the policy its world runs). Runs written before policies were named hold
      the config's spelling in ``policy`` and none of the others;
    * lists become tuples: ``path``, ``levels``, ``image_size``;
    * nested objects are joined with ``.``: ``latency_breakdown.compute_s``, …,
      ``nodes.<id>.compute_s`` / ``.start_s`` / ``.end_s`` / ``.ops`` (a tuple) / …, and
      ``wall.measured_s.<id>``. Field names hold no ``.``, so a node id (which may) is
      ``col[len("nodes."):].rsplit(".", 1)[0]``;
    * ``hops`` (the i-th link of the record's path) become ``hop<i>.<field>``:
      ``hop0.src``, ``hop0.dst``, ``hop0.level``, ``hop0.bytes``, ``hop0.wire_bytes``,
      ``hop0.start_s``, ``hop0.tx_s``, ``hop0.queue_s``, ``hop0.arrive_s``, with
      ``n_hops`` their number.

    Records that did not produce a result (``status`` ``error`` or ``skipped``) have only
    their key fields and ``cause``; their other columns are missing (NaN). ``ok_only=True``
    keeps the ``ok`` records only. A torn last line is ignored. Raises a one-line
    :class:`ValueError` naming the folder when it holds no results file.
    """
    import pandas as pd

    path, kind = results_file(out_dir)
    records = read_records(path)
    if ok_only:
        records = [r for r in records if r.get("status", "ok") == "ok"]
    df = pd.DataFrame([flatten_record(r) for r in records])
    df.attrs["kind"] = kind
    df.attrs["source"] = str(path)
    return df
