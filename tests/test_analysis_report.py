"""``hcf-sim report --quick`` end to end on tiny random models and small crops."""

import json

import pytest

from hcf_ray.analysis.report import SECTIONS
from hcf_ray.cli import main
from hcf_ray.images import load_image, sample_images, save_image


@pytest.fixture(scope="module")
def small_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    for p in sample_images()[:2]:
        save_image(load_image(p)[..., :128, :192], folder / p.name)
    return folder


def test_quick_report_has_every_section_and_plot(small_images, tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(
        [
            "report",
            "--images",
            str(small_images),
            "--out",
            str(out),
            "--models",
            "random:mbt2018-mean:16:24:6",
            "--quick",
            "--threads",
            "1",
        ]
    )
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
        assert (out / f"{png}.png").stat().st_size > 1000
        assert f"({png}.png)" in md
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
    assert "wrote" in capsys.readouterr().out


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
