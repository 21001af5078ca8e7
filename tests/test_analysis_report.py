"""``hcf-sim report --quick`` end to end on tiny random models and small crops."""

import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest

from hcf_ray.analysis.report import SECTIONS
from hcf_ray.cli import main
from hcf_ray.images import load_image, sample_images, save_image

QUICK_MODELS = "random:mbt2018-mean:16:24:6"
# Every number of every Markdown table of the quick report, as printed by the report before
# it was split into computation and templates; see test_quick_report_table_numbers_unchanged.
TABLES_FIXTURE = Path(__file__).parent / "data" / "report_quick_tables.json"
_TOKEN = re.compile(r"[+-]?\d+(?:\.\d+)?|n/a|—|†")


def table_numbers(markdown: str) -> list:
    """Every Markdown table of ``markdown``: a list of rows (header row first, the ``|---|``
    row left out), each a list of cells, each the list of number tokens printed in the cell,
    as strings (``n/a``, ``—`` and ``†`` count as tokens)."""
    tables: list = []
    current = None
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        cells = line.strip("|").split("|")
        if all(set(c.strip()) <= {"-", ":"} and c.strip() for c in cells):
            continue  # the header separator
        current.append([_TOKEN.findall(c) for c in cells])
    return tables


def run_quick_report(images: Path, out: Path) -> tuple[int, str]:
    """``hcf-sim report --quick`` on ``images`` into ``out``: (exit code, stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(
            [
                "report",
                "--images",
                str(images),
                "--out",
                str(out),
                "--models",
                QUICK_MODELS,
                "--quick",
                "--threads",
                "1",
            ]
        )
    return rc, buf.getvalue()


def make_small_images(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for p in sample_images()[:2]:
        save_image(load_image(p)[..., :128, :192], folder / p.name)
    return folder


@pytest.fixture(scope="module")
def small_images(tmp_path_factory):
    return make_small_images(tmp_path_factory.mktemp("imgs"))


FIGURES: dict[str, dict] = {}  # PNG name -> what its figure held, seen through matplotlib


def _figure_contents(fig) -> dict:
    """Per axes: the labels of its lines and bars, and how many points each line has."""
    axes = []
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        axes.append(
            {
                "lines": {ln.get_label(): len(ln.get_xdata()) for ln in lines},
                "bars": sum(len(c) for c in ax.containers),
                "xlabel": ax.get_xlabel(),
                "ylabel": ax.get_ylabel(),
            }
        )
    return {"axes": axes}


@pytest.fixture(scope="module")
def quick_report(small_images, tmp_path_factory):
    """One quick report for the tests of this module: (output folder, exit code, stdout).
    Every figure is recorded through matplotlib as it is saved (``FIGURES``)."""
    from hcf_ray.analysis import plots

    save = plots._save

    def recording(fig, path):
        FIGURES[Path(path).stem] = _figure_contents(fig)
        return save(fig, path)

    out = tmp_path_factory.mktemp("report") / "r"
    plots._save = recording
    try:
        rc, stdout = run_quick_report(small_images, out)
    finally:
        plots._save = save
    return out, rc, stdout


def test_quick_report_has_every_section_and_plot(small_images, quick_report):
    out, rc, stdout = quick_report
    assert rc == 0
    md = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in md
    for png in (
        "policies",
        "entropy",
        "efficiency",
        "crossq",
        "ablation",
        f"rd_{small_images.name}",
    ):
        assert (out / f"{png}.png").is_file() and f"({png}.png)" in md
    rd = FIGURES[f"rd_{small_images.name}"]["axes"]
    ours = {"ssf", "hcf", "drf", "pcf-tail", "pcf-j2k", "drf-jpeg", "drf-webp"}
    # the RD figure: PSNR and MS-SSIM panels, each with every method's curve over its levels
    assert len(rd) == 2 and "bpp" in rd[0]["xlabel"] and "dB" in rd[0]["ylabel"]
    for ax in rd:
        assert ours <= set(ax["lines"]), ax["lines"]
        assert all(ax["lines"][m] >= 2 for m in ours)
        assert ax["lines"]["ssf"] == ax["lines"]["hcf"] + 1  # SSF has a point at d = s
    ablation = FIGURES["ablation"]["axes"][0]["lines"]
    assert len(ablation) >= 2 and min(ablation.values()) >= 2
    assert FIGURES["efficiency"]["axes"] and any(a["bars"] for a in FIGURES["efficiency"]["axes"])
    assert sum(len(a["lines"]) for a in FIGURES["entropy"]["axes"]) >= 3  # one per policy
    assert "random-init" in md
    data = json.loads((out / "report.json").read_text())
    # Table 1: n_q ∈ {2,3,4}, s=6, every d: 25 + 14 + 7 + 3 + 1 = 50 policies
    assert len(data["policies"]["rows"]) == 50
    assert {c["policy"] for c in data["entropy"]["curves"]} == {
        "[1,0,0,1]",
        "[0,1,0,1]",
        "[0,0,1,1]",
    }
    # efficiency: the cheng2020 tables carry the paper's FLOPs/params reductions (counts only)
    cheng = {t["model"]: t for t in data["efficiency"]}["cheng2020-attn"]
    assert not cheng["measured"]
    assert cheng["nodes"][0]["reductions"]["flops"] == pytest.approx(97.8, abs=0.1)
    assert cheng["nodes"][2]["reductions"]["params"] == pytest.approx(65.8, abs=0.1)
    shipped = data["efficiency"][0]
    assert shipped["measured"] and shipped["nodes"][0]["hcf_time_s"] > 0
    assert shipped["nodes"][0]["drf_peak_bytes"] > 0
    assert [r["source"] for r in data["cross_quality"]["bd"]] == [5, 4, 3]
    assert "wrote" in stdout


def test_table_numbers_parses_markdown_tables():
    md = (
        "text 1.5\n\n| a | d=2 (0.125 bpp) |\n|---|---|\n| x | -0.50 (rank 1) |\n| y | n/a |\nend 3"
    )
    assert table_numbers(md) == [[[[], ["2", "0.125"]], [[], ["-0.50", "1"]], [[], ["n/a"]]]]


def _reduction_bounds(pair: list[str]) -> tuple[float, float]:
    """The range of ``100·(1 − hcf/drf)`` over every (hcf, drf) that prints as ``pair``
    (each value rounded half a unit of its last printed digit)."""
    (h, d) = (float(v) for v in pair)
    half = [0.5 * 10 ** -len(v.partition(".")[2]) for v in pair]
    lo_h, hi_h = h - half[0], h + half[0]
    lo_d, hi_d = d - half[1], d + half[1]
    return 100 * (1 - hi_h / lo_d), 100 * (1 - lo_h / hi_d)


def check_volatile_cell(cell: dict, got: list[str], row: list[list[str]]) -> None:
    """A host measurement is compared against what must hold on any machine: a positive
    (HCF, DRF) pair; a reduction below 100 %; and, where the fixture names the column of
    its (HCF, DRF) pair, a reduction equal to 100·(1 − HCF/DRF) of that pair to the
    precision printed."""
    values = [float(v) for v in got]
    if cell["kind"] in ("memory_mb", "time_ms"):
        assert len(values) == 2 and all(v > 0 for v in values), got
        return
    assert cell["kind"] == "percent" and len(values) == 1, (cell, got)
    assert values[0] < 100, got
    if cell.get("pair") is not None:
        lo, hi = _reduction_bounds(row[cell["pair"]])
        assert lo - 0.01 <= values[0] <= hi + 0.01, f"{values[0]} not in [{lo:.2f}, {hi:.2f}]"


def test_quick_report_table_numbers_unchanged(quick_report):
    """Every number in every table of the quick report, as printed, equals the fixture made
    with the report code before it was split into computation and Jinja2 templates. Cells
    that measure the host (``volatile`` in the fixture, each with its reason: wall-clock
    times, profiler-measured memory) are instead checked against invariants that hold on any
    machine (:func:`check_volatile_cell`). Set HCF_UPDATE_REPORT_FIXTURE=1 to rewrite the
    fixture after an intended change of the report's numbers."""
    out, rc, _ = quick_report
    assert rc == 0
    got = table_numbers((out / "report.md").read_text())
    if os.environ.get("HCF_UPDATE_REPORT_FIXTURE"):
        old = json.loads(TABLES_FIXTURE.read_text())
        TABLES_FIXTURE.write_text(json.dumps({**old, "tables": got}, ensure_ascii=False) + "\n")
    want = json.loads(TABLES_FIXTURE.read_text())
    volatile = {(v["table"], v["column"]): v for v in want["volatile"]}
    assert all(v["reason"].strip() for v in want["volatile"])
    assert len(got) == len(want["tables"])
    for t, (g, w) in enumerate(zip(got, want["tables"])):
        assert len(g) == len(w), f"table {t}: {len(g)} rows, fixture {len(w)}"
        for r, (grow, wrow) in enumerate(zip(g, w)):
            assert len(grow) == len(wrow), f"table {t} row {r}: {len(grow)} cells"
            for c, (gc, wc) in enumerate(zip(grow, wrow)):
                if r > 0 and (t, c) in volatile:
                    check_volatile_cell(volatile[(t, c)], gc, grow)
                    continue
                assert gc == wc, f"table {t} row {r} column {c}: {gc} != fixture {wc}"


def test_volatile_cell_check_catches_a_wrong_reduction():
    """The invariant used for host measurements is not vacuous: the fixture's own row passes,
    a reduction that does not follow from its pair fails."""
    row = json.loads(TABLES_FIXTURE.read_text())["tables"][7][1]
    memory = {"kind": "percent", "pair": 6}
    check_volatile_cell(memory, row[7], row)  # 100·(1 − 0.6/6.2): 90.3, in [89.5, 90.9]
    with pytest.raises(AssertionError):
        check_volatile_cell(memory, ["80.00"], row)
    with pytest.raises(AssertionError):
        check_volatile_cell({"kind": "percent", "pair": None}, ["100.00"], row)
    with pytest.raises(AssertionError):
        check_volatile_cell({"kind": "time_ms"}, ["-1.0", "2.0"], row)


def test_report_bad_input_is_one_line_exit_2(tmp_path, capsys, small_images):
    assert main(["report", "--images", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "image folder not found" in err[0]
    args = ["report", "--images", str(small_images), "--out", str(tmp_path / "o")]
    assert main([*args, "--models", "bogus"]) == 2
    assert main([*args, "--crop", "10"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
    # the same command through the main ``hcf-sim`` entry point
    from hcf_ray.cli import main as hcf_sim

    assert hcf_sim(["report", "--images", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "image folder not found" in capsys.readouterr().err
