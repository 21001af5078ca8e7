"""A link speed read from free text (a Topology Zoo ``LinkLabel`` or ``LinkType``).

:func:`parse_speed` gives a :class:`Speed` (Mbit/s, and how the number was found), or
``None`` when the text names no speed ("Green Link", "Fiber", "ATM", "SDH").

**Written figures.** A number with a unit: ``bit/s``, ``bps``, ``b/s`` with an optional
prefix ``k``/``K`` (10³), ``M`` (10⁶), ``G`` (10⁹), ``T`` (10¹²), or the prefix alone
("155M", "2.5G"); spaces between number and unit are optional, a decimal point or a decimal
comma is allowed ("2,5 Gbps"), and so are thousands commas ("1,000 Mbps"). The labels'
loose spellings are read too: "Mbs", "Mpbs", "Mb", and a capital ``B`` ("1 GB/s",
"100 MB"), which in these labels means bits (a line rate of 8 Gbit/s written as "1 GB/s"
would be implausible next to the other labels), so it is taken as bits.

**Line types** (the standards' nominal line rates):

===============================================  ===================
name in the text                                 Mbit/s
===============================================  ===================
DS-0                                             0.064
DS-1, T1                                         1.544
DS-2, T2                                         6.312
DS-3, T3                                         44.736
E1 / E2 / E3 / E4                                2.048 / 8.448 / 34.368 / 139.264
OC-n, OCn, OC-nc (SONET)                         n × 51.84
STM-n, STMn, STM-nc (SDH)                        n × 155.52
Ethernet (10BASE)                                10
FE, Fast Ethernet                                100
GE, GigE, GbE, Gigabit Ethernet, 1GE             1000
nGE, n GE, nGbE, nGigE ("10GE", "40GE", "100GE") n × 1000
===============================================  ===================

(ITU-T G.702 for the E and DS/T hierarchies, G.707 for STM-n, Telcordia GR-253 for OC-n,
IEEE 802.3 for Ethernet.) ``GE`` and ``FE`` count only in capitals, as words of their own.

**Combining.**

* A *multiplier* before or after an item multiplies it: "STM-64x2", "10GEx4", "2x10GE",
  "4 x OC-48", "3 x 622Mbps" (``x``, ``X``, ``×`` or ``*``).
* A *range* "1-20Gbps", "1 - 20 Gbps", "300M-1Gb/s", "1 to 10 Gbps" takes its lower bound, and
  says so.
* *Alternatives* joined by ``/`` ("34/45 Mbit/s", "155Mbs/1Gbps", "GigE/FE/ATM") take the
  lowest, and say so; alternatives that name the same rate ("OC192/STM64") count once.
* A *bound* "< 2.5 Gbps", "<= 10 Mbps", ">10Gbps" takes the number as written, and says so.
* Parts joined by ``+`` with a space on one side ("4x1 Gbps + 2x STM-1") are added.
* Within one part, **a written figure wins over a line type**: "45 Mbps DS-3" is 45 Mbit/s,
  "155 Mbps OC-3" is 155 Mbit/s, "2 x E3 (68Mbps)" is 68 Mbit/s: the figure is what the
  operator wrote for this link, the line type only its nominal rate. Several different
  figures in one part (without a range or ``/``) take the lowest, and say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Speed:
    mbps: float  # Mbit/s
    detail: str  # how it was read, e.g. "OC-192 = 192 × 51.84 Mbit/s"


# fixed line rates, Mbit/s
_DS = {0: 0.064, 1: 1.544, 2: 6.312, 3: 44.736}  # DS-n (T-n for n >= 1)
_E = {1: 2.048, 2: 8.448, 3: 34.368, 4: 139.264}
OC1_MBPS = 51.84
STM1_MBPS = 155.52
_PREFIX = {"": 1e-6, "k": 1e-3, "m": 1.0, "g": 1e3, "t": 1e6}

_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:[.,]\d+)?)"
# a unit: prefix + optional bit spelling, or a bare bit spelling; then a word end
_END = r"(?:(?![A-Za-z0-9])|(?=[xX×*]\s*\d))"
_UNIT = r"(?:[kmgt](?:bits?/s|bits?|bps|b/s|bs|pbs|b)?|bits?/s|bps|b/s)" + _END


def _unit_group(name: str) -> str:
    return rf"(?P<{name}>{_UNIT})"


_FIGURE = (
    rf"(?P<cmp>(?:<=|>=|[<>≤≥])\s*)?"
    rf"(?:(?P<ra>{_NUM})\s*(?:{_unit_group('rua')}\s*)?(?P<sep>-|/|to)\s*(?P<rb>{_NUM})\s*"
    rf"{_unit_group('ru')}"
    rf"|(?P<sa>{_NUM})\s*{_unit_group('su')})"
)
_LINE = (
    r"(?:OC[- ]?(?P<oc>\d+)c?"
    r"|STM[- ]?(?P<stm>\d+)c?"
    r"|(?P<gen>\d+)\s?(?:GigE|GbE|GE|Gigabit[- ]Ethernet)"
    r"|(?P<gige>GigE|GbE|Gigabit[- ]Ethernet|(?-i:GE))"
    r"|(?P<fe>Fast[- ]Ethernet|(?-i:FE))"
    r"|(?P<eth>Ethernet)"
    r"|DS[- ]?(?P<ds>[0-3])"
    r"|T[- ]?(?P<t>[1-3])"
    r"|E[- ]?(?P<e>[1-4]))" + _END
)
_ITEM = re.compile(
    rf"(?<![A-Za-z0-9.,])(?:(?P<pre>\d+)\s*[x×*]\s*)?"
    rf"(?:(?P<line>{_LINE})|(?P<fig>{_FIGURE}))"
    rf"(?:\s*[x×*]\s*(?P<post>\d+)(?![\d.,]))?",
    re.IGNORECASE,
)
_PLUS = re.compile(r"\s\+\s*|\s*\+\s")


def _num(text: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


def _unit(text: str) -> float:
    low = text.lower()
    return _PREFIX[low[0]] if low[0] in "kmgt" else _PREFIX[""]


def _fmt(v: float) -> str:
    return f"{round(v, 6):.12g}"


@dataclass(frozen=True)
class _Item:
    mbps: float
    detail: str
    figure: bool  # a written number + unit (else a line type)


def _line(m: re.Match) -> tuple[float, str] | None:
    g = m.groupdict()
    if g["oc"] is not None:
        n = int(g["oc"])
        return (n * OC1_MBPS, f"OC-{n} = {n} × 51.84 Mbit/s") if n else None
    if g["stm"] is not None:
        n = int(g["stm"])
        return (n * STM1_MBPS, f"STM-{n} = {n} × 155.52 Mbit/s") if n else None
    if g["gen"] is not None:
        n = int(g["gen"])
        return (n * 1000.0, f"{n}GE = {n} × 1000 Mbit/s") if n else None
    if g["gige"] is not None:
        return 1000.0, "GE = 1000 Mbit/s"
    if g["fe"] is not None:
        return 100.0, "Fast Ethernet = 100 Mbit/s"
    if g["eth"] is not None:
        return 10.0, "Ethernet = 10 Mbit/s"
    if g["ds"] is not None:
        n = int(g["ds"])
        return _DS[n], f"DS-{n} = {_fmt(_DS[n])} Mbit/s"
    if g["t"] is not None:
        n = int(g["t"])
        return _DS[n], f"T{n} = {_fmt(_DS[n])} Mbit/s"
    n = int(g["e"])
    return _E[n], f"E{n} = {_fmt(_E[n])} Mbit/s"


def _figure(m: re.Match) -> tuple[float, str]:
    g = m.groupdict()
    text = m.group("fig").strip()
    if g["sa"] is not None:
        v = _num(g["sa"]) * _unit(g["su"])
        note = f"'{text}' = {_fmt(v)} Mbit/s"
    else:
        scale_b = _unit(g["ru"])
        scale_a = _unit(g["rua"]) if g["rua"] else scale_b
        v = min(_num(g["ra"]) * scale_a, _num(g["rb"]) * scale_b)
        kind = "alternatives" if g["sep"] == "/" else "range"
        which = "lowest" if kind == "alternatives" else "lower bound"
        note = f"{kind} {text}: {which} = {_fmt(v)} Mbit/s"
    if g["cmp"]:
        note += " (a bound, taken as written)"
    return v, note


def _items(part: str) -> list[_Item]:
    out = []
    for m in _ITEM.finditer(part):
        if m.group("line") is not None:
            found = _line(m)
            if found is None:
                continue
            v, note = found
        else:
            v, note = _figure(m)
        for key in ("pre", "post"):
            if m.group(key) is not None:
                k = int(m.group(key))
                v *= k
                note += f" ×{k}"
        if v > 0:
            out.append(_Item(v, note, m.group("fig") is not None))
    return out


def _part(part: str) -> _Item | None:
    items = _items(part)
    figures = [x for x in items if x.figure]
    lines = [x for x in items if not x.figure]
    pool = figures or lines
    if not pool:
        return None
    values = sorted({round(x.mbps, 9) for x in pool})
    best = min(pool, key=lambda x: x.mbps)
    detail = best.detail
    if len(values) > 1:
        detail += f" (lowest of {len(values)} speeds written)"
    elif len(pool) > 1 and not figures:
        others = [x.detail.split(" =")[0] for x in pool if x is not best]
        detail += " (= " + ", ".join(others) + ")"
    if figures and lines:
        names = ", ".join(x.detail.split(" =")[0] for x in lines)
        detail += f"; the written figure wins over {names}"
    return _Item(best.mbps, detail, bool(figures))


def parse_speed(text: str) -> Speed | None:
    """The speed written in ``text`` (see the module doc for the table and the rules), or
    ``None`` when it names none."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(text.replace("–", "-").replace("—", "-").split())
    parts = [p for p in (_part(s) for s in _PLUS.split(text)) if p is not None]
    if not parts:
        return None
    total = sum(p.mbps for p in parts)
    return Speed(round(total, 6), " + ".join(p.detail for p in parts))
