"""Render the report's section data (:mod:`.report_tables`) as Markdown with Jinja2.

The templates live in ``hcf_ray/analysis/templates`` (``report.md.j2`` includes one template
per section); number formatting is done there with the filters registered below.
"""

from __future__ import annotations

import math
import re
from functools import cache

import jinja2


def num(v, nd: int, sign: bool = False) -> str:
    """``v`` with ``nd`` decimals (``sign``: always signed); ``n/a`` for None / non-finite."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:+.{nd}f}" if sign else f"{v:.{nd}f}"


def pair(a, b, scale: float, nd: int) -> str:
    """``a / b`` divided by ``scale``; ``—`` when either is missing."""
    if a is None or b is None:
        return "—"
    return f"{a / scale:.{nd}f} / {b / scale:.{nd}f}"


def eta(e) -> str:
    """An RQSI value; † when its rate denominator was clipped to ε."""
    return f"{e.value:.3f}{'†' if e.clipped else ''}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hcf_ray.analysis", "templates"),
        autoescape=False,  # Markdown, not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=format, num=num, pair=pair, eta=eta)
    return env


def render_report(**context) -> str:
    """``report.md`` from the section data; runs of blank lines are collapsed to one."""
    md = environment().get_template("report.md.j2").render(**context)
    return re.sub(r"\n{3,}", "\n\n", md).strip() + "\n"
