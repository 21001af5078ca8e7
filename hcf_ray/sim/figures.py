"""Figures of a ``hcf-sim run`` or ``sweep`` output folder (matplotlib, no display needed).

``plot_run(out_dir)`` and ``plot_sweep(out_dir)`` write into ``out_dir/figures/`` (PDF and
PNG by default) and return the files written; ``plot(out_dir)`` picks the right one. Each
figure also has a function that builds it from :func:`hcf_ray.results.load_results`'s
DataFrame and returns the :class:`~matplotlib.figure.Figure`, without writing anything:

=====================  =========================================================================
file                   figure
=====================  =========================================================================
``rd``                 :func:`rd_figure`: PSNR (dB) vs bpp, one panel per (flow, destination),
                       one point per method: the mean over images, error bars in both axes the
                       95 % t-interval over images (none with one image); faint dots: images
``latency``            :func:`latency_figure`: mean end-to-end latency per destination, stacked
                       compute / node queue / link queue / transmission / propagation (ms), one
                       bar per method in each destination's group
``gantt_<method>``     :func:`gantt_figure`: the virtual timeline of one method's world; lanes
                       are nodes and links (``u→v``), bars the jobs (``start_s..end_s``) and
                       transmissions (``start_s..start_s+tx_s``, then propagation, lighter),
                       coloured by unit (flow/image)
``topology``           :func:`topology_figure`: the network (seeded spring layout), the hops of
                       one image per method with their level and bytes as edge labels
``sweep``              :func:`sweep_figure` (sweeps): box plots of latency (ms), bpp and PSNR
                       (dB) per method and policy, one sample per network
``geo``                :func:`geo_figure` (runs on a network with coordinates): the network on
                       longitude/latitude, link width by speed, default-valued links dashed,
                       each method's route of the topology figure's image and its quantizations
``capacity``           :func:`capacity_figure` (runs with traced or shared links): each such
                       link's capacity left to the images (Mbit/s) over virtual time, every
                       transmission shaded under it from first to last bit, by method
``search``             :func:`search_figure` (``hcf-sim search``, written next to
                       ``search.json``): per target PSNR vs bpp of every candidate (latency as
                       colour) and energy vs latency (PSNR as colour), the Pareto front ringed,
                       references (listed policies by name) and the objective's pick
=====================  =========================================================================

Only records with ``status: ok`` are drawn. Methods keep one colour in every figure
(:data:`METHOD_COLOURS`, Okabe–Ito, colour-blind safe). Output is deterministic: layouts are
seeded, and PDF/SVG carry no creation date, so the files are byte-identical run to run.
"""

from __future__ import annotations

import functools
import math
import numbers
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hcf_ray.atomic import atomic_path

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

FORMATS = ("pdf", "png", "svg")

# Okabe & Ito (2008), colour-blind safe; fixed per method across every figure
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
METHOD_COLOURS = {"hcf": OKABE_ITO[0], "drf": OKABE_ITO[1], "ssf": OKABE_ITO[2]}
METHOD_ORDER = ("hcf", "drf", "ssf")
# latency components, bottom to top of a stack (Paul Tol's "bright" scheme, colour-blind safe)
COMPONENTS = (
    ("compute_s", "compute", "#4477AA"),
    ("node_queue_s", "node queue", "#CCBB44"),
    ("link_queue_s", "link queue", "#EE6677"),
    ("transmission_s", "transmission", "#228833"),
    ("propagation_s", "propagation", "#66CCEE"),
)
STYLE = {
    "svg.hashsalt": "hcf-sim",
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 8.5,
    "axes.titlesize": 9,
    "figure.titlesize": 10,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# no creation dates: the same results give byte-identical files
METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}
LAYOUT_SEED = 0


def styled(fn):
    """Build the figure under :data:`STYLE` (rcParams are read when artists are made)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


# METHOD/POLICY series of the run being drawn (by_policy): one colour each, in policy order
_POLICY_COLOURS: dict[str, str] = {}


def method_colour(method: str) -> str:
    """A method's colour, the same in every figure (unknown methods: a stable pick)."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    if method in _POLICY_COLOURS:
        return _POLICY_COLOURS[method]
    rest = OKABE_ITO[3:]
    return rest[zlib.crc32(method.encode()) % len(rest)]


def _methods(values: Iterable[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    known = [m for m in METHOD_ORDER if m in seen]
    return known + sorted(m for m in seen if m not in METHOD_ORDER)


def ok_records(df: pd.DataFrame) -> pd.DataFrame:
    """The records with a result (``status`` ``ok``); error and skipped records dropped."""
    if "status" in df.columns:
        df = df[df["status"].fillna("ok") == "ok"]
    return df


def _need(df: pd.DataFrame, what: str) -> pd.DataFrame:
    df = ok_records(df)
    if df.empty:
        raise ValueError(f"no successful records to draw the {what} figure from")
    return df


def _panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(df["flow"], df["destination"])))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None]:
    """The mean and the half-width of its Student-t interval (None with fewer than 2 values)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, None
    if v.size < 2:
        return float(v.mean()), None
    from scipy import stats

    half = stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean()), float(half)


def _grid(fig: Figure, n: int, ncols: int = 3):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return axes[:n]


def _n_images(counts: Iterable[int]) -> str:
    c = sorted(set(counts))
    if not c:
        return "no images"
    n = str(c[0]) if len(c) == 1 else f"{c[0]}–{c[-1]}"
    return f"{n} image{'s' if c[-1] > 1 else ''}"


# -- rate–distortion ------------------------------------------------------------------------
@styled
def rd_figure(df: pd.DataFrame) -> Figure:
    """PSNR vs bpp per (flow, destination), one error-bar series per method."""
    df = _need(df, "rate-distortion")
    df = df[np.isfinite(df["bpp"].astype(float)) & np.isfinite(df["psnr"].astype(float))]
    if df.empty:
        raise ValueError("no record with a finite bpp and PSNR to draw the rate-distortion figure")
    panels = _panels(df)
    methods = _methods(df["method"])
    ncols = min(3, len(panels))
    fig = Figure(
        figsize=(3.2 * ncols + 1.1, 2.8 * math.ceil(len(panels) / ncols) + 0.5),
        layout="constrained",
    )
    counts = []
    for ax, (flow, dest) in zip(_grid(fig, len(panels)), panels):
        sub = df[(df["flow"] == flow) & (df["destination"] == dest)]
        for m in _methods(sub["method"]):
            g = sub[sub["method"] == m]
            c = method_colour(m)
            counts.append(len(g))
            if len(g) > 1:
                ax.scatter(g["bpp"], g["psnr"], s=9, color=c, alpha=0.3, linewidths=0)
            mx, hx = mean_ci(g["bpp"])
            my, hy = mean_ci(g["psnr"])
            ax.errorbar(
                mx, my, xerr=hx, yerr=hy, fmt="o", ms=5, color=c, capsize=3, elinewidth=1.2,
                label=m,
            )  # fmt: skip
        levels = sorted(set(sub["target_level"].dropna().astype(int)))
        lv = f" (level {', '.join(map(str, levels))})" if levels else ""
        ax.set_title(f"{flow} → {dest}{lv}")
        ax.set_xlabel("rate (bpp)")
        ax.set_ylabel("PSNR (dB)")
        ax.margins(0.15)
    many = max(counts, default=0) > 1
    note = (
        "mean over images; error bars: 95 % t-interval over images, both axes; dots: images"
        if many
        else "one image: no confidence interval"
    )
    fig.suptitle(f"Rate–distortion per destination ({_n_images(counts)}; {note})")
    handles = [_method_handle(m) for m in methods]
    fig.legend(handles=handles, title="method", loc="outside right upper")
    return fig


def _method_handle(m: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=method_colour(m), marker="o", linestyle="none", label=m)


# -- latency breakdown ----------------------------------------------------------------------
@styled
def latency_figure(df: pd.DataFrame) -> Figure:
    """Stacked mean latency components (ms) per destination, one bar per method."""
    df = _need(df, "latency")
    panels = _panels(df)
    bars: list[tuple[float, str, pd.DataFrame]] = []
    groups: list[tuple[float, str]] = []
    x = 0.0
    for flow, dest in panels:
        sub = df[(df["flow"] == flow) & (df["destination"] == dest)]
        ms = _methods(sub["method"])
        for i, m in enumerate(ms):
            bars.append((x + i, m, sub[sub["method"] == m]))
        groups.append((x + (len(ms) - 1) / 2, f"{flow} → {dest}"))
        x += len(ms) + 0.8
    fig = Figure(figsize=(max(4.5, 0.55 * len(bars) + 2.8), 3.8), layout="constrained")
    ax = fig.subplots()
    xs = [b[0] for b in bars]
    bottom = np.zeros(len(bars))
    for key, label, colour in COMPONENTS:
        col = f"latency_breakdown.{key}"
        h = np.array([1e3 * g[col].astype(float).mean() if col in g else 0.0 for _, _, g in bars])
        ax.bar(xs, h, 0.8, bottom=bottom, color=colour, label=label, edgecolor="white", lw=0.4)
        bottom += np.nan_to_num(h)
    for xi, total in zip(xs, bottom):
        ax.annotate(f"{total:.0f}", (xi, total), xytext=(0, 2), textcoords="offset points",
                    ha="center", va="bottom", fontsize=6.5)  # fmt: skip
    ax.set_xticks(xs, [b[1] for b in bars])
    ax.set_xticks([g[0] for g in groups], [g[1] for g in groups], minor=True)
    ax.tick_params(axis="x", which="minor", length=0, pad=14)
    ax.xaxis.remove_overlapping_locs = False  # group labels sit under a middle bar
    ax.tick_params(axis="x", which="major", length=0)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel("method, grouped by flow → destination")
    ax.margins(y=0.08)
    counts = [len(g) for _, _, g in bars]
    fig.suptitle(f"End-to-end latency breakdown (mean over {_n_images(counts)}; labels: total ms)")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], title="component", loc="outside right upper")
    return fig


# -- several policies -------------------------------------------------------------------------
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def run_policies(df: pd.DataFrame) -> list[str]:
    """The policies of a run's records (``-``: methods without a policy, last), in the order
    they appear."""
    if "policy" not in df.columns:
        return []
    names = [p for p in dict.fromkeys(df["policy"].dropna().astype(str)) if p != "-"]
    return names + (["-"] if (df["policy"] == "-").any() else [])


@styled
def policies_figure(df: pd.DataFrame) -> Figure:
    """The policies side by side: PSNR vs bpp, mean latency (ms) and mean energy (J) per
    policy and method, over every flow, destination and image (a colour per policy, a
    marker per method; ``no policy``: methods such as SSF that use none)."""
    df = _need(df, "policies")
    policies = run_policies(df)
    methods = _methods(df["method"])
    palette = _palette(df)
    named = [p for p in policies if p != "-"]
    colour = {p: palette[i % len(palette)] for i, p in enumerate(named)} | {"-": "0.6"}
    marker = {m: METHOD_MARKERS[i % len(METHOD_MARKERS)] for i, m in enumerate(methods)}
    fig = Figure(figsize=(10.5, 3.4), layout="constrained")
    rd, lat, energy = fig.subplots(1, 3)
    bars: list[tuple[str, str, pd.DataFrame]] = []
    for p in policies:
        for m in methods:
            g = df[(df["policy"] == p) & (df["method"] == m)]
            if g.empty:
                continue
            bars.append((p, m, g))
            mx, hx = mean_ci(g["bpp"].astype(float))
            my, hy = mean_ci(g["psnr"].astype(float))
            rd.errorbar(mx, my, xerr=hx, yerr=hy, fmt=marker[m], ms=6, color=colour[p],
                        capsize=3, elinewidth=1.0)  # fmt: skip
    rd.set_xlabel("rate (bpp)")
    rd.set_ylabel("PSNR (dB)")
    rd.set_title("rate–distortion")
    rd.margins(0.15)
    xs = np.arange(len(bars))
    labels = [f"{m}\n{_label(p)}" for p, m, _ in bars]
    for ax, col, scale, unit, title in (
        (lat, "latency_s", 1e3, "latency (ms)", "end-to-end latency"),
        (energy, "energy_j", 1.0, "energy (J)", "energy per image and destination"),
    ):
        h = [
            scale * g[col].astype(float).mean() if col in g.columns else np.nan for _, _, g in bars
        ]
        ax.bar(xs, np.nan_to_num(h), 0.75, color=[colour[p] for p, _, _ in bars])
        if col == "energy_j" and not any(v for v in h if math.isfinite(v)):
            ax.set_ylim(0, 1)
            ax.text(0.5, 0.5, "0 J: no node has a power model\n(device busy_w / idle_w)",
                    transform=ax.transAxes, ha="center", va="center", color="0.4")  # fmt: skip
            h = []  # no labels on bars of height 0
        for xi, v in zip(xs, h):
            if math.isfinite(v):
                ax.annotate(f"{v:.3g}", (xi, v), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=6.5)  # fmt: skip
        ax.set_xticks(xs, labels, fontsize=7)
        ax.tick_params(axis="x", length=0)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.margins(y=0.1)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=colour[p], label=_label(p)) for p in policies]
    handles += [
        Line2D([], [], color="0.3", marker=marker[m], linestyle="none", label=m) for m in methods
    ]
    fig.legend(handles=handles, title="policy / method", loc="outside right upper")
    counts = [len(g) for _, _, g in bars]
    fig.suptitle(f"Policies side by side (means over {_n_images(counts)} × destinations)")
    return fig


def by_policy(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each method that uses a policy named ``METHOD/POLICY`` (as a run of
    several policies keys its tables), so that per-method figures keep the policies apart."""
    uses = df["policy"].fillna("-") != "-"
    out = df.assign(method=df["method"].where(~uses, df["method"] + "/" + df["policy"]))
    policies = run_policies(df)
    named = sorted(
        set(out.loc[uses, "method"]),
        key=lambda m: (policies.index(m.split("/", 1)[1]), m),
    )
    palette = _palette(df)
    _POLICY_COLOURS.clear()  # distinct colours for this run's series (no hash collisions)
    _POLICY_COLOURS.update({m: palette[i % len(palette)] for i, m in enumerate(named)})
    return out


def _palette(df: pd.DataFrame) -> list[str]:
    """Colours for a run's policies: Okabe–Ito without those of its methods that use no
    policy (SSF's green), so a policy never looks like one of them."""
    uses = df["policy"].fillna("-") != "-"
    taken = {method_colour(m) for m in set(df.loc[~uses, "method"])}
    return [c for c in OKABE_ITO if c not in taken] or list(OKABE_ITO)


def _label(policy: str) -> str:
    return "no policy" if policy == "-" else policy


# -- Gantt chart ----------------------------------------------------------------------------
def timeline(df: pd.DataFrame, method: str) -> tuple[list[str], list[dict]]:
    """One method's lanes (nodes, then links ``u→v``) and bars, from its records.

    A bar is ``{lane, unit, kind, start, end}`` in seconds; ``kind`` is ``job`` (a node's
    compute for one stream: ``start_s..end_s``, a fork job to its last branch),
    ``tx`` (``start_s..start_s+tx_s``) or ``prop`` (``start_s+tx_s..arrive_s``). Records
    of one unit share jobs and hops; each is drawn once. Relays that only forward have a
    lane and no bar.
    """
    df = ok_records(df)
    df = df[df["method"] == method]
    nodes: dict[str, None] = {}
    links: dict[tuple[str, str], None] = {}
    jobs: dict[tuple, list[float]] = {}
    hops: dict[tuple, tuple[float, float, float]] = {}
    for rec in df.to_dict("records"):
        unit = (rec["flow"], rec["image"], rec.get("network"), rec.get("policy"))
        for node in rec["path"]:
            nodes[node] = None
            start, end = rec.get(f"nodes.{node}.start_s"), rec.get(f"nodes.{node}.end_s")
            if _num(start) and _num(end) and end > start:
                key = (unit, node, start)
                jobs[key] = [start, max(end, jobs.get(key, [0, end])[1])]
        for i in range(int(rec.get("n_hops") or 0)):
            link = (rec[f"hop{i}.src"], rec[f"hop{i}.dst"])
            links[link] = None
            start = rec[f"hop{i}.start_s"]
            key = (unit, link, rec[f"hop{i}.level"], start)
            hops[key] = (start, start + rec[f"hop{i}.tx_s"], rec[f"hop{i}.arrive_s"])
    # sources first, destinations last, relays in between (each in order of appearance);
    # links by the rows of their ends
    first = {n for p in df["path"] for n in p[:1]}
    last = set(df["destination"]) - first
    order = sorted(nodes, key=lambda n: 0 if n in first else 2 if n in last else 1)
    rank = {n: i for i, n in enumerate(order)}
    link_order = sorted(links, key=lambda ln: (rank[ln[0]], rank[ln[1]]))
    bars = [
        {"lane": node, "unit": unit, "kind": "job", "start": s, "end": e}
        for (unit, node, _), (s, e) in jobs.items()
    ]
    for (unit, (u, v), _, _), (s, t, a) in hops.items():
        lane = link_lane(u, v)
        bars.append({"lane": lane, "unit": unit, "kind": "tx", "start": s, "end": t})
        if a > t:
            bars.append({"lane": lane, "unit": unit, "kind": "prop", "start": t, "end": a})
    return [*order, *(link_lane(u, v) for u, v in link_order)], bars


def link_lane(src: str, dst: str) -> str:
    """A link's lane label in the Gantt chart."""
    return f"{src}→{dst}"


def _num(x: Any) -> bool:
    return isinstance(x, numbers.Real) and math.isfinite(x)


def _slots(bars: list[dict]) -> dict[int, tuple[int, int]]:
    """Sub-rows within each lane so that overlapping bars (a node's cores, a message's
    propagation under the next transmission) stay visible: bar index → (slot, slots)."""
    out: dict[int, tuple[int, int]] = {}
    by_lane: dict[str, list[int]] = {}
    for i, b in enumerate(bars):
        if b["kind"] != "prop":
            by_lane.setdefault(b["lane"], []).append(i)
    for idx in by_lane.values():
        ends: list[float] = []
        slot_of = {}
        for i in sorted(idx, key=lambda i: (bars[i]["start"], bars[i]["end"])):
            s = bars[i]["start"]
            k = next((k for k, e in enumerate(ends) if e <= s + 1e-12), None)
            if k is None:
                k = len(ends)
                ends.append(0.0)
            ends[k] = bars[i]["end"]
            slot_of[i] = k
        for i, k in slot_of.items():
            out[i] = (k, len(ends))
    return out


@styled
def gantt_figure(df: pd.DataFrame, method: str) -> Figure:
    """The virtual timeline of one method's world: lanes = nodes and links, x in ms."""
    lanes, bars = timeline(_need(df, "Gantt"), method)
    if not lanes:
        raise ValueError(f"no successful {method} records to draw a timeline from")
    units = list(dict.fromkeys(b["unit"] for b in bars))
    by_unit = len(units) <= len(OKABE_ITO)
    flows = list(dict.fromkeys(u[0] for u in units))

    def colour(unit) -> str:
        i = units.index(unit) if by_unit else flows.index(unit[0])
        return OKABE_ITO[i % len(OKABE_ITO)]

    row = {lane: i for i, lane in enumerate(lanes)}
    slots = _slots(bars)
    fig = Figure(figsize=(8.5, min(30.0, 1.4 + 0.34 * len(lanes))), layout="constrained")
    ax = fig.subplots()
    height = 0.8
    tx_slot: dict[tuple, tuple[int, int]] = {}
    for i, b in enumerate(bars):
        if b["kind"] == "tx":
            tx_slot[b["lane"], b["unit"], b["end"]] = slots[i]
    for i, b in enumerate(bars):
        k, n = slots.get(i) or tx_slot.get((b["lane"], b["unit"], b["start"]), (0, 1))
        h = height / n
        y = row[b["lane"]] - height / 2 + k * h
        prop = b["kind"] == "prop"
        (rect,) = ax.barh(
            y + (h * 0.3 if prop else 0.0),
            1e3 * (b["end"] - b["start"]),
            h * (0.4 if prop else 1.0),
            left=1e3 * b["start"],
            align="edge",
            color=colour(b["unit"]),
            alpha=0.35 if prop else 1.0,
            # a sub-millisecond transmission still shows as a line of its colour
            edgecolor="none" if prop else "black" if b["kind"] == "job" else colour(b["unit"]),
            linewidth=0.3 if b["kind"] == "job" else 1.0,
            zorder=1 if prop else 2,
        ).patches
        rect.set_gid(f"gantt-{b['kind']}")
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    n_nodes = sum(1 for lane in lanes if "→" not in lane)
    if 0 < n_nodes < len(lanes):
        ax.axhline(n_nodes - 0.5, color="0.4", lw=0.8)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("virtual time (ms)")
    ax.set_ylabel("nodes (jobs) | links (transmissions)")
    ax.set_xlim(left=0)
    fig.suptitle(f"{method}: virtual timeline (bars: jobs and transmissions, lighter: propagation)")

    def label(u) -> str:
        flow, image, network, policy = u
        extra = f" [{network}/{policy}]" if network else ""
        return f"{flow}/{image}{extra}"

    keys = units if by_unit else flows
    handles = [
        Patch(color=colour(u if by_unit else (u,)), label=label(u) if by_unit else u) for u in keys
    ]
    handles.append(Patch(facecolor="0.5", edgecolor="black", lw=0.3, label="job / transmission"))
    handles.append(Patch(color="0.5", alpha=0.35, label="propagation"))
    fig.legend(
        handles=handles, title="unit (flow/image)" if by_unit else "flow",
        loc="outside right upper",
    )  # fmt: skip
    return fig


# -- link capacity --------------------------------------------------------------------------
CAPACITY_PANELS = 6  # links drawn at most (those that carried messages first)


def link_transmissions(df: pd.DataFrame) -> dict[str, list[dict]]:
    """Every transmission of the records, by link ``u->v``: ``{method, start, end}`` in
    seconds (``end_s``, the last bit sent, where the record has it, else ``start_s +
    tx_s``); a transmission shared by several records is listed once."""
    df = ok_records(df)
    out: dict[str, dict[tuple, dict]] = {}
    for rec in df.to_dict("records"):
        unit = (rec["method"], rec["flow"], rec["image"], rec.get("network"), rec.get("policy"))
        for i in range(int(rec.get("n_hops") or 0)):
            u, v, start = rec[f"hop{i}.src"], rec[f"hop{i}.dst"], rec[f"hop{i}.start_s"]
            end = rec.get(f"hop{i}.end_s")
            if not _num(end):
                end = start + rec[f"hop{i}.tx_s"]
            if not (_num(start) and _num(end)):
                continue
            key = (*unit, rec[f"hop{i}.level"], start)
            out.setdefault(f"{u}->{v}", {})[key] = {"method": unit[0], "start": start, "end": end}
    return {link: list(tx.values()) for link, tx in out.items()}


def _dynamics_title(link: str, dyn: Mapping) -> str:
    u, _, v = link.partition("->")
    tr = dyn.get("trace")
    if tr:
        name = str(tr.get("file", "")).rsplit("/", 1)[-1]
        what = f"{name} ({tr.get('format')}, offset {tr.get('offset_s', 0):g} s)"
    else:
        what = f"{dyn.get('bandwidth_mbps', 0):g} Mbit/s"
    bg = dyn.get("background")
    if bg:
        util = bg.get("utilisation")
        what += ", background " + ("trace" if util == "trace" else f"{util:g}")
    if dyn.get("demands"):
        what += f", demands {dyn['demands'].get('mbps', 0):.3g} Mbit/s"
    return f"{link_lane(u, v)}: {what}"


def _under(edges: np.ndarray, mbps: np.ndarray, a: float, b: float):
    """The capacity step curve restricted to ``[a, b]``: x and y for ``fill_between``."""
    i = max(0, int(np.searchsorted(edges, a, side="right")) - 1)
    j = max(i, int(np.searchsorted(edges, b, side="left")) - 1)
    j = min(j, len(mbps) - 1)
    x = np.concatenate([[a], edges[i + 1 : j + 1], [b]])
    y = np.concatenate([mbps[i : j + 1], [mbps[j]]])
    return x, y


@styled
def capacity_figure(df: pd.DataFrame, dynamics: Mapping[str, Mapping]) -> Figure:
    """The capacity of each link whose capacity changes or is shared (``summary.json``'s
    ``link_dynamics`` with their ``capacity_mbps`` over the run) against virtual time, each
    transmission on it shaded under the curve from its first to its last bit, in its
    method's colour and band (each method runs in its own copy of the network, so their
    transmissions overlap in time; the bands split the height under the curve). At most
    :data:`CAPACITY_PANELS` links, those that carried messages first."""
    tx = link_transmissions(_need(df, "capacity"))
    links = [k for k, d in dynamics.items() if isinstance(d, Mapping) and d.get("capacity_mbps")]
    if not links:
        raise ValueError("no link with a changing or shared capacity to draw")
    links.sort(key=lambda k: (k not in tx, list(dynamics).index(k)))
    links = links[:CAPACITY_PANELS]
    horizon = max(float(dynamics[k]["capacity_mbps"]["to_s"][-1]) for k in links)
    scale, unit = (1.0, "s") if horizon >= 10 else (1e3, "ms")
    methods = _methods(t["method"] for k in links for t in tx.get(k, ()))
    fig = Figure(figsize=(8.5, 1.0 + 2.0 * len(links)), layout="constrained")
    axes = fig.subplots(len(links), 1, squeeze=False).ravel()
    for ax, link in zip(axes, links):
        series = dynamics[link]["capacity_mbps"]
        edges = np.asarray([*series["from_s"], series["to_s"][-1]], dtype=float)
        mbps = np.asarray(series["mbps"], dtype=float)
        ax.stairs(mbps, edges * scale, color="0.15", lw=1.0, baseline=None, zorder=3)
        for t in tx.get(link, ()):
            colour = method_colour(t["method"])
            a, b = t["start"], max(t["end"], t["start"])
            if b > a:  # each method its own band under the curve: worlds overlap in time
                x, y = _under(edges, mbps, a, b)
                k = methods.index(t["method"])
                lo, hi = y * k / len(methods), y * (k + 1) / len(methods)
                ax.fill_between(x * scale, lo, hi, step="post", color=colour, alpha=0.6, lw=0)
            # a mark at its start on the time axis, so that a sub-pixel transmission shows
            ax.plot(
                [a * scale], [0], marker="|", ms=9, mew=1.5, color=colour, clip_on=False, zorder=4
            )
        ax.set_title(_dynamics_title(link, dynamics[link]), loc="left")
        ax.set_ylabel("Mbit/s")
        ax.set_xlim(0, edges[-1] * scale)
        ax.set_ylim(bottom=0, top=max(float(mbps.max()) * 1.1, 1e-6))
        if series.get("binned"):
            ax.text(0.99, 0.95, "bin means", transform=ax.transAxes, ha="right", va="top")
    axes[-1].set_xlabel(f"virtual time ({unit})")
    fig.suptitle("capacity left to the images; shaded: transmissions (a band per method)")
    handles = [Line2D([], [], color="0.15", lw=1.0, label="capacity (Mbit/s)")]
    handles += [Patch(color=method_colour(m), alpha=0.6, label=m) for m in methods]
    fig.legend(handles=handles, title="transmissions by method", loc="outside right upper")
    return fig


# -- topology -------------------------------------------------------------------------------
def graph_from(df: pd.DataFrame, config: Mapping | None = None) -> nx.Graph:
    """The network: ``config``'s nodes and links (a summary's ``resolved_config``) and every
    link a record crossed."""
    import networkx as nx

    g = nx.Graph()
    for n in (config or {}).get("nodes") or ():
        g.add_node(str(n["id"]))
    for ln in (config or {}).get("links") or ():
        g.add_edge(str(ln["src"]), str(ln["dst"]))
    if "path" in df.columns:
        for path in df["path"].dropna():
            nx.add_path(g, path)
    return g


@styled
def topology_figure(
    df: pd.DataFrame,
    graph: nx.Graph | None = None,
    image: str | None = None,
    methods: Sequence[str] | None = None,
) -> Figure:
    """The network with the hops of one image (default: the first), one panel per method
    (default: all, HCF first); edge labels: each flow's level and bytes on that link."""
    import networkx as nx

    df = _need(df, "topology")
    image = image if image is not None else df["image"].iloc[0]
    df = df[df["image"] == image]
    if df.empty:
        raise ValueError(f"no successful records of image {image!r} to draw the topology")
    methods = list(methods) if methods else _methods(df["method"])
    g = graph if graph is not None else graph_from(df)
    order = sorted(g.nodes, key=str)
    h = nx.Graph()
    h.add_nodes_from(order)
    h.add_edges_from(sorted(g.edges, key=lambda e: (str(e[0]), str(e[1]))))
    pos = nx.spring_layout(h, seed=LAYOUT_SEED)
    sources = set(df["path"].map(lambda p: p[0]))
    dests = set(df["destination"])
    ncols = min(3, len(methods))
    big = len(order) > 40
    fig = Figure(
        figsize=(4.2 * ncols + 0.2, 3.9 * math.ceil(len(methods) / ncols) + 0.7),
        layout="constrained",
    )
    for ax, m in zip(_grid(fig, len(methods)), methods):
        sub = df[df["method"] == m]
        labels: dict[tuple[str, str], list[str]] = {}
        for rec in sub.to_dict("records"):
            approx = "≈" if rec.get("estimated_bytes") else ""
            for i in range(int(rec.get("n_hops") or 0)):
                e = (rec[f"hop{i}.src"], rec[f"hop{i}.dst"])
                level, nbytes = int(rec[f"hop{i}.level"]), _bytes(rec[f"hop{i}.bytes"])
                text = f"{rec['flow']}: L{level} · {approx}{nbytes}"
                if text not in labels.setdefault(e, []):
                    labels[e].append(text)
        used = nx.DiGraph()
        used.add_nodes_from(order)
        used.add_edges_from(labels)
        colours = [
            "#E69F00" if n in sources else "#CC79A7" if n in dests else "white" for n in order
        ]
        size = 60 if big else 560
        nx.draw_networkx_edges(h, pos, ax=ax, edge_color="0.75", width=0.8, node_size=size)
        nx.draw_networkx_nodes(
            h, pos, nodelist=order, node_color=colours, edgecolors="0.3", node_size=size, ax=ax
        )
        if not big:
            nx.draw_networkx_labels(h, pos, font_size=7, ax=ax)
        arc = "arc3,rad=0.12"
        nx.draw_networkx_edges(
            used, pos, edgelist=list(labels), ax=ax, edge_color=method_colour(m), width=2.0,
            arrows=True, arrowsize=11, node_size=size, connectionstyle=arc,
        )  # fmt: skip
        texts = nx.draw_networkx_edge_labels(
            used, pos, edge_labels={e: "\n".join(t) for e, t in labels.items()}, ax=ax,
            font_size=6, node_size=size, connectionstyle=arc,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )  # fmt: skip
        for t in texts.values():
            t.set_gid("hop-label")
        ax.set_title(m, color=method_colour(m), fontweight="bold")
        ax.set_axis_off()
        ax.margins(0.08)
    fig.suptitle(f"Hops of {image} per method: level L and bytes on each link (all flows)")
    fig.legend(
        handles=[
            Patch(facecolor="#E69F00", edgecolor="0.3", label="source"),
            Patch(facecolor="#CC79A7", edgecolor="0.3", label="destination"),
            Patch(facecolor="white", edgecolor="0.3", label="relay / other"),
        ],
        loc="outside lower center",
        ncols=3,
    )
    return fig


def _bytes(b: Any) -> str:
    b = float(b)
    if b < 1000:
        return f"{b:.0f} B"
    if b < 1e6:
        return f"{b / 1e3:.1f} kB"
    return f"{b / 1e6:.2f} MB"


# -- sweeps ---------------------------------------------------------------------------------
SWEEP_METRICS = (("latency_ms", "latency (ms)"), ("bpp", "rate (bpp)"), ("psnr", "PSNR (dB)"))


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (network, method, policy): the mean latency (ms), bpp and PSNR (dB) over
    its destinations and images."""
    df = _need(df, "sweep").copy()
    df["latency_ms"] = 1e3 * df["latency_s"].astype(float)
    if "network" not in df.columns:
        df["network"] = "-"
    keys = ["network", "method", "policy"]
    return df.groupby(keys, sort=False)[[m for m, _ in SWEEP_METRICS]].mean().reset_index()


@styled
def sweep_figure(df: pd.DataFrame) -> Figure:
    """Box plots of latency, bpp and PSNR per method and policy across networks."""
    t = sweep_table(df)
    policies = list(dict.fromkeys(t["policy"]))
    policies = [p for p in policies if p != "-"] + (["-"] if "-" in policies else [])
    boxes: list[tuple[float, str, str]] = []
    groups: list[tuple[float, str]] = []
    x = 0.0
    for p in policies:
        ms = _methods(t.loc[t["policy"] == p, "method"])
        for i, m in enumerate(ms):
            boxes.append((x + i, m, p))
        label = "no policy" if p == "-" else p
        groups.append((x + (len(ms) - 1) / 2, label))
        x += len(ms) + 0.8
    fig = Figure(figsize=(max(7.0, 0.42 * len(boxes) * 3 + 2.0), 3.4), layout="constrained")
    axes = fig.subplots(1, len(SWEEP_METRICS))
    rng = np.random.default_rng(0)
    for ax, (col, label) in zip(axes, SWEEP_METRICS):
        data = [
            t.loc[(t["method"] == m) & (t["policy"] == p), col].dropna().to_numpy()
            for _, m, p in boxes
        ]
        bp = ax.boxplot(
            data, positions=[b[0] for b in boxes], widths=0.7, patch_artist=True,
            showfliers=False, medianprops={"color": "black", "lw": 1.0},
        )  # fmt: skip
        for patch, (_, m, _) in zip(bp["boxes"], boxes):
            patch.set_facecolor(method_colour(m))
            patch.set_alpha(0.75)
            patch.set_gid("sweep-box")
        for (xi, _, _), v in zip(boxes, data):
            jitter = rng.uniform(-0.18, 0.18, size=len(v))
            ax.scatter(xi + jitter, v, s=7, color="black", alpha=0.5, linewidths=0, zorder=3)
        ax.set_xticks([b[0] for b in boxes], [b[1] for b in boxes])
        ax.set_xticks([g[0] for g in groups], [g[1] for g in groups], minor=True)
        ax.tick_params(axis="x", which="minor", length=0, pad=13)
        ax.xaxis.remove_overlapping_locs = False
        ax.tick_params(axis="x", which="major", length=0, labelsize=7)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0])
    networks = t["network"].nunique()
    fig.supxlabel("method, grouped by policy", fontsize=8.5)
    fig.suptitle(
        f"Sweep over {networks} network{'s' if networks != 1 else ''}: one dot per network "
        "(mean over its destinations and images); boxes: quartiles, whiskers: 1.5 IQR"
    )
    fig.legend(
        handles=[Patch(color=method_colour(m), alpha=0.75, label=m) for m in _methods(t["method"])],
        title="method",
        loc="outside right upper",
    )
    return fig


# -- policy search ----------------------------------------------------------------------------
SEARCH_MARKERS = {"hcf": "o", "drf": "s"}


def _ref_tags(refs: Sequence[str], listed: Sequence[str] = ()) -> str:
    """``["edge n_q=1", "late n_q=1"]`` → ``"E1/L1"`` (the short labels of the paper's
    references and the configured plan); a listed policy keeps its name (``"frugal"``; a
    listed ``edge`` or ``late`` is the paper's vector at its n_q: ``E2``)."""
    tags = []
    for r in refs:
        name, _, n = r.rpartition(" n_q=")
        short = name in ("edge", "late", "configured") or name not in listed
        tag = f"{name[0].upper()}{n}" if short else name
        if tag not in tags:
            tags.append(tag)
    return "/".join(tags)


def _search_spots(
    done: list[dict], x0, xspan, y0, yspan, axes=("bpp", "psnr"), listed: Sequence[str] = ()
) -> list[tuple[float, float, list]]:
    """Referenced candidates in axes fractions; those (nearly) on one spot share a label."""
    spots: list[tuple[float, float, list[str]]] = []
    for c in done:
        if not c["references"]:
            continue
        m = c["metrics"]
        fx, fy = (m[axes[0]] - x0) / xspan, (m[axes[1]] - y0) / yspan
        text = f"{c['method']} {_ref_tags(c['references'], listed)}" + (
            "" if c["pareto"] else " (dominated)"
        )
        near = next((sp for sp in spots if abs(sp[0] - fx) + abs(sp[1] - fy) < 0.05), None)
        if near is None:
            spots.append((fx, fy, [text]))
        else:
            near[2].append(text)
    return spots


def _search_panel(fig: Figure, ax, t: Mapping, x: str, y: str, colour: str) -> None:
    """One panel of a target: ``y`` against ``x``, ``colour`` as the colour scale; the front
    ringed, references labelled, the objective's pick starred."""
    from matplotlib.lines import Line2D

    names = {
        "bpp": "rate at the destination (bpp, bits per pixel)",
        "psnr": "PSNR at the destination (dB)",
        "latency_ms": "latency to the destination (ms)",
        "energy_j": "energy of the flow (J per image, busy compute)",
    }
    done = [c for c in t["candidates"] if c["metrics"] is not None]
    listed = [p["name"] for p in t.get("policies", [])]
    lat = [c["metrics"][colour] for c in done]
    vmin, vmax = min(lat), max(lat)
    if vmax - vmin < 1e-6 * max(1.0, abs(vmax)):  # one value: a readable ±1 scale
        vmin, vmax = vmin - 1.0, vmax + 1.0
    sc = None
    for m in t["methods"]:
        for on_front in (False, True):
            pts = [c["metrics"] for c in done if c["method"] == m and c["pareto"] == on_front]
            if not pts:
                continue
            sc = ax.scatter(
                [p[x] for p in pts], [p[y] for p in pts],
                c=[p[colour] for p in pts], cmap="viridis", vmin=vmin, vmax=vmax,
                marker=SEARCH_MARKERS.get(m, "o"), s=70 if on_front else 28,
                edgecolors=OKABE_ITO[1] if on_front else "none",
                linewidths=1.6 if on_front else 0, alpha=1.0 if on_front else 0.55,
                zorder=3 if on_front else 2,
            )  # fmt: skip
    ax.margins(0.12)
    xs = [c["metrics"][x] for c in done]
    ys = [c["metrics"][y] for c in done]
    x0, xspan = min(xs), (max(xs) - min(xs)) or 1.0
    y0, yspan = min(ys), (max(ys) - min(ys)) or 1.0
    spots = _search_spots(done, x0, xspan, y0, yspan, (x, y), listed)
    for k, (fx, fy, texts) in enumerate(spots):
        # text towards the inside of the axes, staggered so that neighbours do not overlap
        left = fx > 0.6
        up = fy < 0.5 if k % 2 else fy < 0.15
        ax.annotate(
            "\n".join(", ".join(texts[i : i + 3]) for i in range(0, len(texts), 3)),
            (x0 + fx * xspan, y0 + fy * yspan),
            xytext=(-10 if left else 10, (10 + 6 * (k % 3)) * (1 if up else -1)),
            textcoords="offset points", ha="right" if left else "left",
            va="bottom" if up else "top", fontsize=7,
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.3"},
        )  # fmt: skip
    chosen = (t.get("chosen") or {}).get("id")
    pick = next((c for c in done if c["id"] == chosen), None)
    if pick is not None:
        ax.scatter(
            [pick["metrics"][x]], [pick["metrics"][y]], marker="*", s=260,
            facecolors="none", edgecolors="black", linewidths=1.2, zorder=4,
        )  # fmt: skip
    if sc is not None:
        fig.colorbar(sc, ax=ax).set_label(names[colour])
    ax.set_xlabel(names[x])
    ax.set_ylabel(names[y])
    n = len(done)
    ax.set_title(
        f"{t['flow']} → {t['destination']}: levels {t['source_level']}→{t['target_level']}, "
        f"{t['hops']} hops, {n} candidate{'' if n == 1 else 's'}",
        fontsize=9,
    )
    front = {"marker": "o", "ls": "", "mfc": "0.6"}
    handles = [
        Line2D([], [], **front, mec=OKABE_ITO[1], mew=1.6, label="Pareto front"),
        Line2D([], [], **front, mec="none", alpha=0.55, label="dominated"),
    ]
    if len(t["methods"]) > 1:
        handles += [
            Line2D([], [], marker=SEARCH_MARKERS.get(m, "o"), ls="", color="0.3", label=m)
            for m in t["methods"]
        ]
    if pick is not None:
        handles.append(
            Line2D([], [], marker="*", ls="", mfc="none", mec="black", ms=12, label="objective")
        )
    ax.legend(handles=handles, fontsize=7, loc="best")


@styled
def search_figure(doc: Mapping) -> Figure:
    """A search (its ``search.json``), one row per target: PSNR vs bpp with latency as colour,
    and energy (J per image) vs latency with PSNR as colour; the Pareto front (over PSNR, bpp,
    latency and energy) ringed, the references (edge, late, configured, the listed policies
    by name) labelled, the objective's pick starred."""
    targets = [t for t in doc["targets"] if any(c["metrics"] is not None for c in t["candidates"])]
    if not targets:
        raise ValueError("no candidate with metrics to draw the search figure from")
    rows = len(targets)
    # energy per candidate (every search.json has it; a document made by hand may not)
    energy = all(
        "energy_j" in c["metrics"] for t in targets for c in t["candidates"] if c["metrics"]
    )
    cols = 2 if energy else 1
    fig = Figure(figsize=(6.5 * cols, 4.6 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for row, t in zip(axes, targets):
        _search_panel(fig, row[0], t, "bpp", "psnr", "latency_ms")
        if energy:
            _search_panel(fig, row[1], t, "latency_ms", "energy_j", "psnr")
    front = ", ".join(
        {"psnr": "PSNR ↑", "bpp": "bpp ↓", "latency_ms": "latency ↓", "energy_j": "energy ↓"}.get(
            m, m
        )
        for m in doc.get("front_axes", {})
    )
    title = f"{doc['name']}: policy search (front over {front or 'PSNR ↑, bpp ↓, latency ↓'})"
    if doc.get("objective"):
        title += f"\n☆ objective: {doc['objective']}"
    fig.suptitle(title)
    fig.supxlabel(
        "labels: Ek / Lk = the edge / late policy at n_q = k, placed as early as possible; "
        "Ck = the configured plan (n_q = k); a listed policy (policies:, --policies) by its "
        "name.\nRinged: on the Pareto front. The placements of one π share PSNR and bpp and "
        "differ in latency and energy: on the left they overlap, the front one on top",
        fontsize=7,
    )
    return fig


def plot_search(
    doc: Mapping, out_dir: str | Path, formats: Sequence[str] = ("pdf", "png")
) -> list[Path]:
    """``search.<fmt>`` in ``out_dir`` from a search's ``search.json`` document."""
    formats = _formats(formats)
    with matplotlib.rc_context(STYLE):
        return save_figures({"search": search_figure(doc)}, out_dir, formats)


# -- geography ------------------------------------------------------------------------------
@styled
def geo_figure(network, df: pd.DataFrame | None = None, image: str | None = None) -> Figure:
    """:func:`hcf_ray.graphs.figure.network_figure` (an imported network on longitude and
    latitude; with a run's records, each method's route of ``image`` and where it quantizes)
    in this module's style and method colours."""
    from hcf_ray.graphs.figure import network_figure

    if df is None:
        return network_figure(network, colour=method_colour)
    df = ok_records(df)
    records = df.to_dict("records")
    return network_figure(network, records, image, _methods(df["method"]), method_colour)


def has_coordinates(network) -> bool:
    return network is not None and any(
        n.lat is not None and n.lon is not None for n in network.nodes
    )


# -- files ----------------------------------------------------------------------------------
def run_figures(
    df: pd.DataFrame,
    graph: nx.Graph | None = None,
    image: str | None = None,
    network=None,
    dynamics: Mapping[str, Mapping] | None = None,
) -> dict[str, Figure]:
    """Every figure of a run, by file stem: ``rd``, ``latency`` (in a run of several
    policies, a series per method and policy), ``gantt_<method>``…,
    ``topology`` (of ``image``, default the first), ``geo`` (:func:`geo_figure`) when
    ``network`` (an imported network) has coordinates, ``policies`` (:func:`policies_figure`)
    when the run compared several policies, and ``capacity``
    (:func:`capacity_figure`) when ``dynamics`` (``summary.json``'s ``link_dynamics``) has
    links whose capacity changes or is shared."""
    df = _need(df, "run")
    topology = topology_figure(df, graph, image=image)  # first: a bad image fails fast
    several = "world" in df.columns and df["world"].nunique() > 1  # a run of several policies
    by = by_policy(df) if several else df
    figs = {"rd": rd_figure(by), "latency": latency_figure(by)}
    for m in _methods(df["method"]):
        figs[f"gantt_{m}"] = gantt_figure(df, m)
    figs["topology"] = topology
    if several:
        figs["policies"] = policies_figure(df)
    if has_coordinates(network):
        figs["geo"] = geo_figure(network, df, image)  # the topology figure's image
    if dynamics and any(
        isinstance(d, Mapping) and d.get("capacity_mbps") for d in dynamics.values()
    ):
        figs["capacity"] = capacity_figure(df, dynamics)
    return figs


@styled
def sweep_figures(df: pd.DataFrame) -> dict[str, Figure]:
    """Every figure of a sweep, by file stem: ``sweep``."""
    return {"sweep": sweep_figure(df)}


def save_figures(
    figs: Mapping[str, Figure], folder: str | Path, formats: Sequence[str] = ("pdf", "png")
) -> list[Path]:
    """Write each figure in each format (through a temporary file and a rename)."""
    formats = _formats(formats)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(STYLE):
        for stem, fig in figs.items():
            for fmt in formats:
                path = folder / f"{stem}.{fmt}"
                with atomic_path(path, fsync=False) as tmp:
                    fig.savefig(tmp, format=fmt, metadata=METADATA[fmt])
                written.append(path)
    return written


def _formats(formats: Sequence[str]) -> list[str]:
    out = []
    for f in formats:
        f = f.lower().lstrip(".")
        if f not in FORMATS:
            raise ValueError(f"figure format {f!r}: choose from {', '.join(FORMATS)}")
        out.append(f)
    return list(dict.fromkeys(out)) or ["png"]


def _load(out_dir: str | Path, kind: str) -> pd.DataFrame:
    from hcf_ray.results import load_results, results_file

    path, found = results_file(out_dir)
    if found != kind:
        raise ValueError(f"{out_dir}: holds {path.name}, a {found} output, not a {kind} output")
    df = load_results(path)
    if ok_records(df).empty:
        raise ValueError(f"{path}: no successful records to plot")
    return df


def _summary_config(out_dir: Path, key: str = "resolved_config") -> Mapping | None:
    import json

    p = out_dir / "summary.json"
    try:
        return json.loads(p.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def _summary_network(out_dir: Path):
    """The imported network a run's ``summary.json`` keeps (``graph``), or None."""
    doc = _summary_config(out_dir, "graph")
    if not isinstance(doc, Mapping):
        return None
    from hcf_ray.graphs.cli import network_from_json

    return network_from_json(dict(doc))


def plot_run(
    out_dir: str | Path, formats: Sequence[str] = ("pdf", "png"), image: str | None = None
) -> list[Path]:
    """Draw a run's figures into ``out_dir/figures/``; returns the files written.

    The topology is the one in ``summary.json`` (``resolved_config``) when it is there,
    plus every link the records crossed; ``image`` picks the topology figure's image.
    """
    out_dir = Path(out_dir)
    formats = _formats(formats)
    with matplotlib.rc_context(STYLE):
        df = _load(out_dir, "run")
        root = Path(df.attrs["source"]).parent
        graph = graph_from(ok_records(df), _summary_config(root))
        try:
            dynamics = _summary_config(root, "link_dynamics")
            dynamics = dynamics if isinstance(dynamics, Mapping) else None
            figs = run_figures(df, graph, image, _summary_network(root), dynamics)
        except ValueError as exc:
            raise ValueError(f"{df.attrs['source']}: {exc}") from None
        return save_figures(figs, root / "figures", formats)


def plot_sweep(out_dir: str | Path, formats: Sequence[str] = ("pdf", "png")) -> list[Path]:
    """Draw a sweep's figures into ``out_dir/figures/``; returns the files written."""
    formats = _formats(formats)
    with matplotlib.rc_context(STYLE):
        df = _load(out_dir, "sweep")
        root = Path(df.attrs["source"]).parent
        try:
            figs = sweep_figures(df)
        except ValueError as exc:
            raise ValueError(f"{df.attrs['source']}: {exc}") from None
        return save_figures(figs, root / "figures", formats)


def plot(out_dir: str | Path, formats: Sequence[str] = ("pdf", "png")) -> list[Path]:
    """:func:`plot_run` or :func:`plot_sweep`, whichever output ``out_dir`` holds."""
    from hcf_ray.results import results_file

    _, kind = results_file(out_dir)
    return (plot_run if kind == "run" else plot_sweep)(out_dir, formats)
