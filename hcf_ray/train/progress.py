"""The trainers' progress bar: one bar per job on stderr.

Refreshed at most every 30 s, so the log of a ``nohup`` run over hours stays small; the JSON
lines of ``train.log.jsonl`` remain the record, the bar only says how far a job is.
"""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(total: int, desc: str, initial: int = 0) -> tqdm:
    """A bar for ``total`` iterations of one job, resumed at ``initial``; use it in a ``with``."""
    # tqdm's monitor thread refreshes every maxinterval (10 s by default) whatever mininterval
    return tqdm(total=total, initial=initial, desc=desc, mininterval=30, maxinterval=30, unit="it")
