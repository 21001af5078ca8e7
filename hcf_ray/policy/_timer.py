"""The time limit on calls into policy code: SIGALRM in the main thread, a watchdog thread
elsewhere."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any

POLICY_TIMEOUT_S = 5.0  # seconds one call into a user policy may take
POLICY_TIMEOUT_ENV = "HCF_POLICY_TIMEOUT_S"


def policy_timeout() -> float:
    """Seconds an import, ``__init__``, ``decide``, ``choose`` or ``place`` of a policy file
    may take: ``$HCF_POLICY_TIMEOUT_S`` if set to a positive number, else
    :data:`POLICY_TIMEOUT_S`."""
    try:
        value = float(os.environ.get(POLICY_TIMEOUT_ENV, ""))
    except ValueError:
        return POLICY_TIMEOUT_S
    return value if 0 < value < 1e6 else POLICY_TIMEOUT_S


class Timeout(BaseException):
    """Raised into user code when its time is up (not an Exception: ``except Exception`` in
    the policy does not swallow it). ``stack``: (file, line) of each frame the call was
    running when its time was up, innermost first, when it ran off the main thread (in the
    main thread the exception's own traceback holds them)."""

    def __init__(self, stack: tuple[tuple[str, int], ...] = ()):
        super().__init__()
        self.stack = stack

    def frames(self) -> list[tuple[str, int]]:
        """(file, line) of every frame the call was running, innermost first."""
        import traceback

        if self.stack:
            return list(self.stack)
        walked = [(f.f_code.co_filename, n) for f, n in traceback.walk_tb(self.__traceback__)]
        return walked[::-1]


def call_limited(fn, args: tuple, timeout: float):
    """``fn(*args)``, interrupted after ``timeout`` seconds: by SIGALRM in the main thread
    (the previous handler and timer are restored), else from a watchdog thread (then a call
    that never returns keeps its daemon thread)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_alarm(fn, args, timeout)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="hcf-policy", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise Timeout(_stack_of(worker))
    if "error" in box:
        raise box["error"]
    return box["value"]


def _stack_of(thread: threading.Thread) -> tuple[tuple[str, int], ...]:
    """(file, line) of every frame ``thread`` is running now, innermost first."""
    frame = sys._current_frames().get(thread.ident)
    out = []
    while frame is not None:
        out.append((frame.f_code.co_filename, frame.f_lineno))
        frame = frame.f_back
    return tuple(out)


class _AlarmState:
    depth = 0  # calls into policy code guarded by SIGALRM, in the main thread


_ALARM = _AlarmState()


@contextmanager
def untimed():
    """Run a block inside a policy call without charging it to the policy's time limit (the
    SIGALRM guard is paused; off the main thread the watchdog keeps counting)."""
    if _ALARM.depth == 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _call_alarm(fn, args: tuple, timeout: float):
    def on_alarm(signum, frame):
        raise Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    _ALARM.depth += 1
    outer, interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    if 0 < outer < timeout:  # someone else's alarm (e.g. pytest-timeout) is due first
        signal.setitimer(signal.ITIMER_REAL, outer)
    start = time.monotonic()
    try:
        return fn(*args)
    finally:
        _ALARM.depth -= 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer > 0:
            left = outer - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)
