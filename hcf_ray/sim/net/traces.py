"""Link capacity that changes over time: trace readers and the capacity model of a link.

Pure Python (no torch, no Ray, no SimPy). :mod:`hcf_ray.sim.net.events` asks a link's
:class:`Capacity` when a message that starts at ``start_s`` has sent its last bit
(:meth:`Capacity.tx_end`); everything else (records, policies, plots) reads it through
:meth:`Capacity.at_mbps` and :meth:`Capacity.mean_mbps`.

Time
----
A capacity is a function of *simulation* time ``t`` (seconds). A trace read with
``offset_s = o`` (``o >= 0``) gives the link at time ``t`` the trace's value at trace time
``t + o``.

Formats
-------
``pensieve``
    One sample a line, ``time_s`` and ``Mbit/s`` separated by white space (tabs in the
    published files; further columns and blank lines are ignored, as Pensieve's simulator
    does). The sample at ``t_i`` gives the capacity on ``(t_{i-1}, t_i]``; the first sample's
    value holds up to ``t_0`` (and before trace time 0). With ``loop`` the first ``t_last``
    seconds repeat (period ``t_last``); without it the last value holds afterwards. Times
    are >= 0 and never decrease; equal times are allowed (an empty step).
``csv``
    A header row, then rows. ``column`` names the Mbit/s column, ``where={COLUMN: VALUE}``
    keeps the rows whose cells equal the values (as text, or as numbers when both parse as
    numbers), in file order; each kept row holds for ``step_s`` seconds, the first from trace
    time 0. Loop and hold as for ``pensieve`` (period ``rows × step_s``).
``mahimahi``
    One integer a line: the millisecond at which one delivery opportunity of 1,504 bytes
    occurs; a millisecond repeated ``k`` times has ``k`` opportunities. With ``loop`` the
    trace repeats with period = its last timestamp (so, as in Mahimahi, an opportunity at
    0 ms of the next period falls at the same instant as one at the last millisecond);
    without it no opportunity follows the last one.

How a message is carried
------------------------
*Fluid traces* (pensieve, csv, constant) are piecewise constant. A message of ``n`` bytes
that starts at ``s`` ends at the first instant ``e >= s`` at which the integral of the
capacity over ``[s, e]`` reaches ``8·n`` bits. Zero capacity is valid (the message waits);
a message that no future capacity can carry ends at ``math.inf``. The end is computed from
the segments (cumulative integrals and bisection; whole loop periods at once), with no
per-packet step.

*Mahimahi traces* carry whole opportunities: a message needs ``ceil(n / 1504)`` of them and
ends at the instant of the opportunity that carries its last packet. An opportunity at
exactly the start instant (within 1 ns) is usable. Opportunities are never shared: on a
FIFO link the next message starts with the opportunity after the last one the previous
message used (:meth:`Capacity.transmit` passes that position on), even when both fall in
the same millisecond. Its rate: :meth:`Capacity.mean_mbps` counts the opportunities in
``[t0, t1)`` (× 1504 bytes); :meth:`Capacity.at_mbps` is that mean over the trace
millisecond that holds ``t``; ``nominal_mbps`` is the opportunities of one period over the
period.

*Never.* A message that no capacity will ever carry (a trace without loop that ends at 0, a
Mahimahi trace without loop that runs out, a load at or past 1 for ever) ends at
``math.inf``; the event model turns it into a stalled message. A share whose load is a trace
is walked segment by segment (or opportunity by opportunity); after 2,000,000 steps without
finishing the message also counts as never carried.

Background traffic (fluid model)
--------------------------------
:class:`SharedCapacity` ``(base, load)`` is the share of ``base`` left to the simulated
images when other traffic uses the fraction ``load`` of it: ``base(t) × (1 − load(t))``,
and 0 when ``load(t) >= 1``. ``load`` is a constant or itself a capacity-like trace of
utilisation (its "Mbit/s" column read as a fraction). For a Mahimahi base each opportunity
at time ``t`` carries ``1504 × (1 − load(t))`` bytes of image traffic, and a message needs
as many opportunities as it takes for their shares to add up to its size. This is a fluid
model: it leaves out how the competing traffic reacts (TCP congestion control, slow start),
its bursts and the queueing delay it adds; it only takes capacity away.

Errors
------
A bad trace raises :class:`TraceError`, one line ``FILE:LINE: what is wrong`` (``FILE: ...``
when no line applies); the command line reports it with exit code 2.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcf_ray.errors import InputError

FORMATS = ("pensieve", "mahimahi", "csv")
MAHIMAHI_BYTES = 1504  # bytes one Mahimahi delivery opportunity carries
_EPS_MS = 1e-6  # an opportunity within 1 ns before the start instant still counts
_REL = 1e-12  # relative rounding allowance when a message ends exactly at a period's end
_MAX_WALK = 2_000_000  # segments or opportunities walked before a message counts as stalled


class TraceError(InputError):
    """A trace file that cannot be used: one line naming the file (and the line)."""


# -- capacities -------------------------------------------------------------------------------
class Capacity:
    """A link's capacity over simulation time (see the module docstring)."""

    def tx_end(self, start_s: float, nbytes: float) -> float:
        """When a message of ``nbytes`` that starts at ``start_s`` has sent its last bit."""
        return self.transmit(start_s, nbytes)[0]

    def transmit(self, start_s: float, nbytes: float, state: Any = None) -> tuple[float, Any]:
        """``(end, state)``: :meth:`tx_end` plus the link state the next message of a FIFO
        link passes back (only Mahimahi traces have one: the last opportunity used)."""
        raise NotImplementedError

    def at_mbps(self, t: float) -> float:
        """The capacity at simulation time ``t``, Mbit/s."""
        raise NotImplementedError

    def mean_mbps(self, t0: float, t1: float) -> float:
        """The mean capacity over ``[t0, t1]``, Mbit/s (``at_mbps(t0)`` when ``t1 <= t0``)."""
        raise NotImplementedError

    @property
    def nominal_mbps(self) -> float:
        """One representative figure (the trace's mean) for routing and policies."""
        raise NotImplementedError

    @property
    def source(self) -> dict | None:
        """``{"file", "sha256", "format", "offset_s", "loop"}`` of a trace; None otherwise."""
        return None

    @property
    def background(self) -> dict | None:
        """The background load applied (:class:`SharedCapacity`); None otherwise."""
        return None

    def steps(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        """``(from_s, to_s, Mbit/s)`` pieces covering ``[t0, t1]`` (for plots)."""
        out = []
        for a, b, r in self._segments(t0):
            if a >= t1:
                break
            out.append((a, min(b, t1), r))
            if len(out) >= _MAX_WALK:
                break
        return out

    def _segments(self, t: float) -> Iterator[tuple[float, float, float]]:
        """Consecutive constant pieces ``(from, to, Mbit/s)`` from ``t`` on (``to`` may be
        ``inf``)."""
        raise NotImplementedError

    def _never_after(self, t: float) -> bool:
        """True when the capacity is 0 at every time after ``t``."""
        raise NotImplementedError


class ConstantCapacity(Capacity):
    """A constant ``mbps`` (>= 0)."""

    def __init__(self, mbps: float):
        mbps = float(mbps)
        if not (math.isfinite(mbps) and mbps >= 0):
            raise InputError(f"capacity must be a finite number >= 0 Mbit/s: {mbps!r}")
        self.mbps = mbps

    def __repr__(self) -> str:
        return f"ConstantCapacity({self.mbps!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is ConstantCapacity and other.mbps == self.mbps

    def __hash__(self) -> int:
        return hash(("const", self.mbps))

    def transmit(self, start_s, nbytes, state=None):
        if nbytes <= 0:
            return float(start_s), None
        if self.mbps <= 0:
            return math.inf, None
        return start_s + nbytes * 8.0 / (self.mbps * 1e6), None

    def at_mbps(self, t):
        return self.mbps

    def mean_mbps(self, t0, t1):
        return self.mbps

    @property
    def nominal_mbps(self):
        return self.mbps

    def _segments(self, t):
        yield (t, math.inf, self.mbps)

    def _never_after(self, t):
        return self.mbps <= 0


@dataclass(frozen=True, eq=False)
class _Pattern:
    """One period of a piecewise-constant trace, in trace time from 0: ``rates[k]`` Mbit/s
    on ``(bounds[k], bounds[k+1]]``; ``cum[k]`` = Mbit from 0 to ``bounds[k]``."""

    bounds: tuple[float, ...]
    rates: tuple[float, ...]
    cum: tuple[float, ...]
    head: float  # before trace time 0
    tail: float  # after the last bound (no loop)

    @property
    def period(self) -> float:
        return self.bounds[-1]

    @property
    def total(self) -> float:
        return self.cum[-1]

    def rate_at(self, x: float) -> float:
        """Rate at pattern time ``x`` in [0, period] (right-closed pieces)."""
        if x <= 0:
            return self.head
        k = bisect.bisect_left(self.bounds, x) - 1
        return self.rates[max(0, min(k, len(self.rates) - 1))]

    def integral(self, x: float) -> float:
        """Mbit from 0 to ``x`` in [0, period]."""
        k = bisect.bisect_right(self.bounds, x) - 1
        if k >= len(self.rates):
            return self.total
        k = max(k, 0)
        return self.cum[k] + self.rates[k] * (x - self.bounds[k])

    def inverse(self, y: float) -> float:
        """The first pattern time at which the integral reaches ``y`` in (0, total]."""
        if y <= 0:
            return 0.0
        j = bisect.bisect_left(self.cum, y)
        if j >= len(self.cum):
            j = len(self.cum) - 1
        k = max(j - 1, 0)
        r = self.rates[k]
        x = self.bounds[k] + (y - self.cum[k]) / r if r > 0 else self.bounds[k + 1]
        return min(x, self.bounds[k + 1])


def _pattern(bounds: list[float], rates: list[float], head: float, tail: float) -> _Pattern:
    cum = [0.0]
    for k, r in enumerate(rates):
        cum.append(cum[-1] + r * (bounds[k + 1] - bounds[k]))
    return _Pattern(tuple(bounds), tuple(rates), tuple(cum), head, tail)


class FluidTraceCapacity(Capacity):
    """A piecewise-constant trace (pensieve, csv) seen from simulation time."""

    def __init__(self, pattern: _Pattern, offset_s: float, loop: bool, source: dict | None):
        self.p = pattern
        self.offset_s = float(offset_s)
        self.loop = bool(loop) and pattern.period > 0  # a 0 s trace is a constant
        self._source = source

    def __repr__(self) -> str:
        return f"FluidTraceCapacity({self._source!r})"

    @property
    def source(self):
        return None if self._source is None else dict(self._source)

    # -- trace time helpers ----------------------------------------------------------------
    def _split(self, tau: float) -> tuple[int, float]:
        """``tau`` as (period number, time in the period in [0, P))."""
        P = self.p.period
        k = math.floor(tau / P)
        x = tau - k * P
        if x >= P:  # rounding
            k, x = k + 1, 0.0
        elif x < 0:
            x = 0.0
        return k, x

    def _F(self, tau: float) -> float:
        """Mbit delivered from trace time 0 to ``tau`` (negative before 0)."""
        p = self.p
        if self.loop:
            k, x = self._split(tau)
            return k * p.total + p.integral(x)
        if tau <= 0:
            return p.head * tau
        if tau >= p.period:
            return p.total + p.tail * (tau - p.period)
        return p.integral(tau)

    def at_mbps(self, t):
        p = self.p
        tau = t + self.offset_s
        if self.loop:
            k, x = self._split(tau)
            if x == 0 and k > 0 and tau > 0:  # the end of the previous period (right-closed)
                return p.rates[-1]
            return p.rate_at(x) if len(p.rates) else p.head
        if tau <= 0 or not p.rates:
            return p.head if tau <= 0 else p.tail
        if tau > p.period:
            return p.tail
        return p.rate_at(tau)

    def mean_mbps(self, t0, t1):
        if t1 <= t0:
            return self.at_mbps(t0)
        return (self._F(t1 + self.offset_s) - self._F(t0 + self.offset_s)) / (t1 - t0)

    @property
    def nominal_mbps(self):
        p = self.p
        return p.total / p.period if p.period > 0 else p.head

    def transmit(self, start_s, nbytes, state=None):
        start_s = float(start_s)
        if nbytes <= 0:
            return start_s, None
        need = nbytes * 8.0 / 1e6  # Mbit
        p = self.p
        tau = start_s + self.offset_s
        if self.loop:
            C = p.total
            if C <= 0:
                return math.inf, None
            P = p.period
            k, x = self._split(tau)
            done = p.integral(x)
            if done + need <= C * (1 + _REL):  # (rounding: a message that fills the period)
                end = k * P + p.inverse(min(done + need, C))
            else:
                need -= C - done
                n = math.floor(need / C)
                rest = need - n * C
                if rest <= C * _REL and n > 0:
                    n, rest = n - 1, C
                end = (k + 1 + n) * P + p.inverse(min(rest, C))
            return max(end - self.offset_s, start_s), None
        # no loop: head before 0, the pattern, the tail after it
        if tau < 0:
            if p.head > 0 and need <= p.head * (-tau):
                return start_s + need / p.head, None
            need -= p.head * (-tau)
            tau = 0.0
        if tau < p.period:
            done = p.integral(tau)
            if done + need <= p.total * (1 + _REL):
                y = min(done + need, p.total)
                return max(p.inverse(y) - self.offset_s, start_s), None
            need -= p.total - done
            tau = p.period
        if p.tail <= 0:
            return math.inf, None
        return tau + need / p.tail - self.offset_s, None

    def _segments(self, t):
        p = self.p
        off = self.offset_s
        tau = t + off
        if self.loop:
            k, x = self._split(tau)
            j = max(0, bisect.bisect_right(p.bounds, x) - 1)
            while True:
                for i in range(j, len(p.rates)):
                    a = k * p.period + p.bounds[i]
                    b = k * p.period + p.bounds[i + 1]
                    if b > tau:
                        yield (max(a, tau) - off, b - off, p.rates[i])
                j, k = 0, k + 1
        if tau < 0:
            yield (t, -off, p.head)
            tau = 0.0
        for i in range(len(p.rates)):
            if p.bounds[i + 1] > tau:
                yield (max(p.bounds[i], tau) - off, p.bounds[i + 1] - off, p.rates[i])
        yield (max(tau, p.period) - off, math.inf, p.tail)

    def _never_after(self, t):
        p = self.p
        if self.loop:
            return p.total <= 0
        tau = t + self.offset_s
        if p.tail > 0 or (tau < 0 and p.head > 0):
            return False
        return not (tau < p.period and p.total - p.integral(max(tau, 0.0)) > 0)


class MahimahiCapacity(Capacity):
    """A Mahimahi packet-delivery trace seen from simulation time (see module docstring)."""

    def __init__(self, ms: tuple[int, ...], offset_s: float, loop: bool, source: dict | None):
        self.ms = ms  # sorted opportunity milliseconds of one period
        self.offset_s = float(offset_s)
        self.loop = bool(loop)
        self.period_ms = ms[-1]
        self._source = source

    def __repr__(self) -> str:
        return f"MahimahiCapacity({self._source!r})"

    @property
    def source(self):
        return None if self._source is None else dict(self._source)

    # global opportunity index g = k·N + i  (period k, position i)
    def _time_ms(self, g: int) -> float:
        n = len(self.ms)
        k, i = divmod(g, n)
        return k * self.period_ms + self.ms[i]

    def _time_s(self, g: int) -> float:
        return self._time_ms(g) / 1000.0 - self.offset_s

    def _first_at(self, tau_ms: float) -> int | None:
        """Index of the first opportunity at or after trace millisecond ``tau_ms`` (one
        within 1 ns before it counts); None when there is none (no loop)."""
        g = self._count_before(tau_ms - _EPS_MS)
        return g if self.loop or g < len(self.ms) else None

    def _count_before(self, tau_ms: float) -> int:
        """Opportunities strictly before ``tau_ms`` (= the index of the next one)."""
        if self.loop:
            # the period k with tau_ms - k·P in (0, P]: every earlier period ends at or
            # before k·P < tau_ms
            k = math.ceil(tau_ms / self.period_ms) - 1
            g = k * len(self.ms) + bisect.bisect_left(self.ms, tau_ms - k * self.period_ms)
            return max(0, g)  # no period before trace time 0
        return bisect.bisect_left(self.ms, tau_ms)

    def transmit(self, start_s, nbytes, state=None):
        start_s = float(start_s)
        if nbytes <= 0:
            return start_s, state
        g = self._first_at((start_s + self.offset_s) * 1000.0)
        if g is None:
            return math.inf, state
        if state is not None and state + 1 > g:
            g = state + 1
        last = g + max(1, math.ceil(nbytes / MAHIMAHI_BYTES)) - 1
        if not self.loop and last >= len(self.ms):
            return math.inf, state
        return max(self._time_s(last), start_s), last

    def opportunities(self, t0: float, t1: float) -> int:
        """Delivery opportunities in ``[t0, t1)``."""
        a = self._count_before((t0 + self.offset_s) * 1000.0)
        b = self._count_before((t1 + self.offset_s) * 1000.0)
        return max(0, b - a)

    def at_mbps(self, t):
        """The rate of the millisecond slot of the trace that holds ``t``."""
        x = math.floor((t + self.offset_s) * 1000.0)
        t0 = x / 1000.0 - self.offset_s
        return self.mean_mbps(t0, t0 + 0.001)

    def mean_mbps(self, t0, t1):
        if t1 <= t0:
            return self.at_mbps(t0)
        return self.opportunities(t0, t1) * MAHIMAHI_BYTES * 8.0 / 1e6 / (t1 - t0)

    @property
    def nominal_mbps(self):
        return len(self.ms) * MAHIMAHI_BYTES * 8.0 / 1e6 / (self.period_ms / 1000.0)

    def _segments(self, t):
        """Millisecond slots of the trace with their rate."""
        off = self.offset_s
        x = math.floor((t + off) * 1000.0)
        while True:
            if not self.loop and x > self.ms[-1]:
                yield (x / 1000.0 - off, math.inf, 0.0)
                return
            a = x / 1000.0 - off
            b = (x + 1) / 1000.0 - off
            yield (max(a, t), b, self.mean_mbps(a, b))
            x += 1

    def _never_after(self, t):
        return not self.loop and self._first_at((t + self.offset_s) * 1000.0) is None


class SharedCapacity(Capacity):
    """The share of ``base`` left when background traffic uses ``load`` of it (a fluid
    model: ``base × (1 − load)``, 0 when ``load >= 1``; see the module docstring). Shares of
    shares multiply: ``SharedCapacity(SharedCapacity(c, u1), u2)`` is ``c × (1 − u1) ×
    (1 − u2)``."""

    def __init__(self, base: Capacity, load: float | Capacity):
        if not isinstance(base, Capacity):
            raise TypeError(f"base must be a Capacity: {base!r}")
        if not isinstance(load, Capacity):
            load = float(load)
            if not (math.isfinite(load) and load >= 0):
                raise InputError(f"background utilisation must be a finite number >= 0: {load}")
        self.base = base
        self.load = load
        # flattened: the capacity under every share, the constant factor, the traced loads
        if isinstance(base, SharedCapacity):
            self.root, factor, loads = base.root, base.factor, list(base.loads)
            given = list(base._given)
        else:
            self.root, factor, loads, given = base, 1.0, [], []
        if isinstance(load, Capacity):
            loads.append(load)
            given.append({"trace": load.source})
        else:
            factor *= max(0.0, 1.0 - load)
            given.append(load)
        self._given = tuple(given)  # the loads as given, innermost first
        self.factor = factor
        self.loads = tuple(loads)
        self._scaled = None  # a constant share of a fluid capacity is a fluid capacity
        root = self.root
        if not self.loads and isinstance(root, ConstantCapacity):
            self._scaled = ConstantCapacity(root.mbps * factor)
        elif not self.loads and isinstance(root, FluidTraceCapacity):
            p = root.p
            f = factor
            pat = _pattern(list(p.bounds), [r * f for r in p.rates], p.head * f, p.tail * f)
            self._scaled = FluidTraceCapacity(pat, root.offset_s, root.loop, root._source)

    def __repr__(self) -> str:
        return f"SharedCapacity({self.base!r}, {self.load!r})"

    @property
    def source(self):
        return self.root.source

    @property
    def background(self):
        """``{"utilisation": u}``: the load as given (a number, or ``{"trace": source}``);
        a list of them, innermost first, for a share of a share."""
        given = list(self._given)
        return {"utilisation": given[0] if len(given) == 1 else given}

    def _share(self, t: float) -> float:
        s = self.factor
        for u in self.loads:
            s *= max(0.0, 1.0 - u.at_mbps(t))
        return s

    def at_mbps(self, t):
        return self.root.at_mbps(t) * self._share(t)

    def mean_mbps(self, t0, t1):
        if self._scaled is not None:
            return self._scaled.mean_mbps(t0, t1)
        if t1 <= t0:
            return self.at_mbps(t0)
        if isinstance(self.root, MahimahiCapacity):
            m = self.root
            a = m._count_before((t0 + m.offset_s) * 1000.0)
            b = m._count_before((t1 + m.offset_s) * 1000.0)
            carried = sum(MAHIMAHI_BYTES * self._share(m._time_s(g)) for g in range(a, b))
            return carried * 8.0 / 1e6 / (t1 - t0)
        total = 0.0
        for a, b, r in self._segments(t0):
            if a >= t1:
                break
            total += r * (min(b, t1) - a)
        return total / (t1 - t0)

    @property
    def nominal_mbps(self):
        if self._scaled is not None:
            return self._scaled.nominal_mbps
        s = self.factor
        for u in self.loads:
            s *= max(0.0, 1.0 - u.nominal_mbps)
        return self.root.nominal_mbps * s

    def _segments(self, t):
        if self._scaled is not None:
            yield from self._scaled._segments(t)
            return
        its = [self.root._segments(t)] + [u._segments(t) for u in self.loads]
        cur = [next(it) for it in its]
        a = t
        while True:
            b = min(c[1] for c in cur)
            r = cur[0][2] * self.factor
            for c in cur[1:]:
                r *= max(0.0, 1.0 - c[2])
            yield (a, b, r)
            if b == math.inf:
                return
            a = b
            for i, c in enumerate(cur):
                if c[1] <= b:
                    cur[i] = next(its[i])

    @staticmethod
    def _forever_full(load: Capacity, t: float) -> bool:
        if isinstance(load, FluidTraceCapacity) and load.loop:
            return min(load.p.rates) >= 1
        for n, (_a, b, u) in enumerate(load._segments(t)):
            if u < 1:
                return False
            if b == math.inf or n > _MAX_WALK:
                return True
        return True

    def _never_after(self, t):
        return (
            self.factor <= 0
            or self.root._never_after(t)
            or any(self._forever_full(u, t) for u in self.loads)
        )

    def transmit(self, start_s, nbytes, state=None):
        if self._scaled is not None:
            return self._scaled.transmit(start_s, nbytes, state)
        start_s = float(start_s)
        if nbytes <= 0:
            return start_s, state
        if self._never_after(start_s):
            return math.inf, state
        if isinstance(self.root, MahimahiCapacity):
            return self._transmit_mahimahi(start_s, nbytes, state)
        need = nbytes * 8.0 / 1e6
        for n, (a, b, r) in enumerate(self._segments(start_s)):
            if r > 0:
                if need <= r * (b - a):
                    return a + need / r, state
                need -= r * (b - a)
            if b == math.inf or n > _MAX_WALK:
                break
        return math.inf, state

    def _transmit_mahimahi(self, start_s, nbytes, state):
        m: MahimahiCapacity = self.root
        g = m._first_at((start_s + m.offset_s) * 1000.0)
        if g is None:
            return math.inf, state
        if state is not None and state + 1 > g:
            g = state + 1
        if not self.loads:  # every opportunity carries the same share
            per = MAHIMAHI_BYTES * self.factor
            last = g + max(1, math.ceil(nbytes / per)) - 1
            if not m.loop and last >= len(m.ms):
                return math.inf, state
            return max(m._time_s(last), start_s), last
        carried = 0.0
        for _ in range(_MAX_WALK):
            if not m.loop and g >= len(m.ms):
                return math.inf, state
            t = m._time_s(g)
            carried += MAHIMAHI_BYTES * self._share(t)
            if carried >= nbytes:
                return max(t, start_s), g
            g += 1
        return math.inf, state


# -- readers ----------------------------------------------------------------------------------
class Trace:
    """A parsed trace file; :meth:`capacity` places it on the simulation clock."""

    def __init__(self, path: Path, sha256: str, fmt: str, data: Any):
        self.path = path
        self.sha256 = sha256
        self.format = fmt
        self._data = data  # _Pattern (pensieve, csv) or tuple of milliseconds (mahimahi)

    def __repr__(self) -> str:
        return f"Trace({str(self.path)!r}, {self.format!r}, sha256={self.sha256[:12]}...)"

    def capacity(
        self, offset_s: float = 0.0, loop: bool = True, name: str | None = None
    ) -> Capacity:
        """The trace on the simulation clock. ``name``: how records and summaries name the
        file (the config's spelling; default: the path it was read from)."""
        offset_s = float(offset_s)
        if not (math.isfinite(offset_s) and offset_s >= 0):
            raise TraceError(f"{self.path}: offset_s must be a finite number >= 0: {offset_s!r}")
        src = {
            "file": name or str(self.path),
            "sha256": self.sha256,
            "format": self.format,
            "offset_s": offset_s,
            "loop": bool(loop),
        }
        if self.format == "mahimahi":
            return MahimahiCapacity(self._data, offset_s, loop, src)
        return FluidTraceCapacity(self._data, offset_s, loop, src)

    @property
    def duration_s(self) -> float:
        if self.format == "mahimahi":
            return self._data[-1] / 1000.0
        return self._data.period


_CACHE: dict[tuple, Trace] = {}
_NUMBER = re.compile(r"^[0-9]+$")


def read_trace(
    path: str | Path,
    format: str,
    *,
    column: str | None = None,
    step_s: float | None = None,
    where: Mapping[str, Any] | None = None,
) -> Trace:
    """Read a trace file (cached by resolved path, sha256 and arguments); bad input raises
    :class:`TraceError` naming the file and line."""
    p = Path(path)
    if format not in FORMATS:
        raise TraceError(f"{p}: unknown trace format {format!r} (expected one of {FORMATS})")
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TraceError(f"{p}: no such trace file") from None
    except IsADirectoryError:
        raise TraceError(f"{p}: is a folder, not a trace file") from None
    except OSError as exc:
        raise TraceError(f"{p}: cannot read trace file ({exc.strerror})") from None
    sha = hashlib.sha256(raw).hexdigest()
    wkey = None if where is None else tuple(sorted((str(k), str(v)) for k, v in where.items()))
    key = (str(p.resolve()), sha, format, column, step_s, wkey)
    hit = _CACHE.get(key)
    if hit is not None:
        return Trace(p, sha, format, hit._data) if hit.path != p else hit
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TraceError(f"{p}: not a text file") from None
    if format == "pensieve":
        data = _read_pensieve(p, text)
    elif format == "mahimahi":
        data = _read_mahimahi(p, text)
    else:
        data = _read_csv(p, text, column, step_s, where)
    trace = Trace(p, sha, format, data)
    _CACHE[key] = trace
    return trace


def _float(p: Path, line: int, s: str, what: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise TraceError(f"{p}:{line}: {what} is not a number: {s[:40]!r}") from None
    if math.isnan(v):
        raise TraceError(f"{p}:{line}: {what} is NaN")
    if not math.isfinite(v):
        raise TraceError(f"{p}:{line}: {what} is not finite: {s[:40]!r}")
    return v


def _rate(p: Path, line: int, s: str) -> float:
    v = _float(p, line, s, "capacity")
    if v < 0:
        raise TraceError(f"{p}:{line}: negative capacity {v} Mbit/s")
    return v


def _read_pensieve(p: Path, text: str) -> _Pattern:
    times: list[float] = []
    rates: list[float] = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise TraceError(f"{p}:{n}: expected 'time_s Mbit/s', got {line.strip()[:40]!r}")
        t = _float(p, n, parts[0], "time")
        if t < 0:
            raise TraceError(f"{p}:{n}: negative time {t} s")
        if times and t < times[-1]:
            raise TraceError(f"{p}:{n}: time {t} s is before the previous sample's {times[-1]} s")
        times.append(t)
        rates.append(_rate(p, n, parts[1]))
    if not times:
        raise TraceError(f"{p}:1: empty trace (no samples)")
    # [0, t0] -> v0 (when t0 > 0), (t_{i-1}, t_i] -> v_i; empty steps dropped
    bounds, rs = [0.0], []
    if times[0] > 0:
        bounds.append(times[0])
        rs.append(rates[0])
    for i in range(1, len(times)):
        if times[i] > times[i - 1]:
            bounds.append(times[i])
            rs.append(rates[i])
    return _pattern(bounds, rs, rates[0], rates[-1])


def _read_mahimahi(p: Path, text: str) -> tuple[int, ...]:
    ms: list[int] = []
    last = 1
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if not _NUMBER.match(s):
            raise TraceError(f"{p}:{n}: expected one whole millisecond >= 0 a line, got {s[:40]!r}")
        v = int(s)
        if ms and v < ms[-1]:
            raise TraceError(f"{p}:{n}: millisecond {v} is before the previous line's {ms[-1]}")
        ms.append(v)
        last = n
    if not ms:
        raise TraceError(f"{p}:1: empty trace (no delivery opportunities)")
    if ms[-1] <= 0:
        raise TraceError(f"{p}:{last}: the trace must last more than 0 ms")
    return tuple(ms)


def _same(cell: str, want: Any) -> bool:
    c, w = cell.strip(), str(want).strip()
    if c == w:
        return True
    try:
        return float(c) == float(w)
    except ValueError:
        return False


def _read_csv(
    p: Path, text: str, column: str | None, step_s: float | None, where: Mapping | None
) -> _Pattern:
    if not column:
        raise TraceError(f"{p}: a csv trace needs 'column' (the Mbit/s column)")
    try:
        step = float(step_s) if step_s is not None else math.nan
    except (TypeError, ValueError):
        step = math.nan
    if not (math.isfinite(step) and step > 0):
        raise TraceError(f"{p}: a csv trace needs step_s, a number of seconds > 0: {step_s!r}")
    where = dict(where or {})
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TraceError(f"{p}:1: empty trace (no header row)") from None
    except csv.Error as exc:
        raise TraceError(f"{p}:1: not valid CSV ({exc})") from None
    idx = {h: i for i, h in enumerate(header)}
    for name in [column, *where]:
        if str(name) not in idx:
            raise TraceError(f"{p}:1: no column {name!r} (columns: {', '.join(header)})"[:200])
    col = idx[column]
    conds = [(idx[str(k)], str(k), v) for k, v in where.items()]
    rates: list[float] = []
    try:
        for row in reader:
            n = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if any(i >= len(row) or not _same(row[i], v) for i, _, v in conds):
                continue
            if col >= len(row) or not row[col].strip():
                raise TraceError(f"{p}:{n}: empty cell in column {column!r}")
            rates.append(_rate(p, n, row[col].strip()))
    except csv.Error as exc:
        raise TraceError(f"{p}:{reader.line_num}: not valid CSV ({exc})") from None
    if not rates:
        cond = ", ".join(f"{k}={v}" for _, k, v in conds) or "any"
        raise TraceError(f"{p}:1: no data row matches where {cond}"[:200])
    bounds = [i * step for i in range(len(rates) + 1)]
    return _pattern(bounds, rates, rates[0], rates[-1])
