import json
import math

import pytest

from hcf_ray.bundle import load_bundle
from hcf_ray.cli import main
from hcf_ray.evaluate import Curve, bd_table, evaluate, format_tables, reference_rows, write_results
from hcf_ray.images import sample_images


def test_evaluate_curves_and_json_layout(tmp_path):
    bundle = load_bundle("random:mbt2018-mean:16:24:3")
    curves = evaluate(bundle, sample_images()[:1], ["ssf", "hcf", "drf", "drf-nq2"])
    assert curves["ssf"].levels == [1, 2, 3]
    assert curves["hcf"].levels == curves["drf"].levels == curves["drf-nq2"].levels == [1, 2]
    assert all(b > 0 for c in curves.values() for b in c.bpp)
    write_results(curves, bd_table(curves), tmp_path)
    data = json.loads((tmp_path / "hcf.json").read_text())
    assert data["name"] == "hcf"
    assert set(data["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb"}
    rows = (tmp_path / "hcf.per_image.jsonl").read_text().splitlines()
    assert len(rows) == 2 and json.loads(rows[0])["image"] == sample_images()[0].name
    # SSF at level d is the level-d model alone: CompressAI's own compress / decompress of
    # the photo gives the rate (payload bytes · 8 / pixels), PSNR by hand and pytorch_msssim
    ssf = json.loads((tmp_path / "ssf.json").read_text())["results"]
    for i, level in enumerate((1, 2, 3)):
        bpp, psnr_db, ms = _compressai_ssf(bundle, level, sample_images()[0])
        assert curves["ssf"].bpp[i] == pytest.approx(bpp, rel=1e-12)
        assert curves["ssf"].psnr[i] == pytest.approx(psnr_db, rel=1e-9)
        assert ssf["bpp"][i] == pytest.approx(bpp, rel=1e-12)
        assert ssf["psnr-rgb"][i] == pytest.approx(psnr_db, rel=1e-9)
        assert ssf["ms-ssim-rgb"][i] == pytest.approx(ms, rel=1e-6)
        assert ssf["ms-ssim-db"][i] == pytest.approx(-10 * math.log10(1 - ms), rel=1e-6)


def _compressai_ssf(bundle, level: int, image) -> tuple[float, float, float]:
    import numpy as np
    import torch
    from PIL import Image
    from pytorch_msssim import ms_ssim

    model = bundle.ladder[level].model  # a CompressAI model: only its weights are used
    pixels = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None]  # 256×384: a multiple of 64
    with torch.no_grad():
        coded = model.compress(x)
        x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    nbytes = sum(len(s) for group in coded["strings"] for s in group)
    a = (x.clamp(0, 1) * 255).round()
    b = (x_hat.clamp(0, 1) * 255).round()
    mse = float(((a.double() - b.double()) ** 2).mean())
    ms = float(ms_ssim(a, b, data_range=255.0, size_average=True))
    return nbytes * 8 / (x.shape[-2] * x.shape[-1]), 10 * math.log10(255**2 / mse), ms


def test_drf_nq2_transcodes_once_where_drf_transcodes_at_every_level():
    from hcf_ray.images import load_image
    from hcf_ray.methods import get_method

    bundle = load_bundle("random:mbt2018-mean:16:24:4")
    engine = bundle.engine()
    x = load_image(sample_images()[0])[..., :64, :64].contiguous()
    runs = [engine.execute(get_method(m).eval_program(4, 1), x) for m in ("drf", "drf-nq2")]
    assert [[t.level for t in r.transmissions] for r in runs] == [[4, 3, 2, 1], [4, 1]]
    assert "analysis[1]" in runs[1].program.describe()  # decoded to pixels, re-encoded once


def test_bd_table_on_known_curves():
    a = Curve("ssf", "", [1, 2, 3], [0.1, 0.2, 0.4], [28.0, 30.0, 32.0], [10.0, 12.0, 14.0])
    t = Curve("hcf", "", [1, 2, 3], [0.11, 0.22, 0.44], [28.0, 30.0, 32.0], [10.0, 12.0, 14.0])
    row = bd_table({"ssf": a, "hcf": t}, [("hcf", "ssf")])[0]
    assert row["bd_rate_psnr_pct"] == pytest.approx(10.0, abs=0.01)
    assert row["bd_rate_msssim_pct"] == pytest.approx(10.0, abs=0.01)
    assert row["bd_psnr_db"] < 0


def test_reference_rows_compare_the_ladder_with_the_published_curves():
    from hcf_ray.evaluate import REFERENCE_DATASET, REFERENCE_KEY
    from hcf_ray.reference import reference_curve

    ref = reference_curve(REFERENCE_KEY, REFERENCE_DATASET)
    # the published Kodak points themselves, 1 dB lower: BD-PSNR -1 dB against Kodak
    n = 6
    ssf = Curve("ssf", "", list(range(1, n + 1)), list(ref.bpp[:n]), [p - 1 for p in ref.psnr[:n]])
    ssf.ms_ssim_db = [10.0 + k for k in range(n)]
    kodak, mobile, pro = reference_rows({"ssf": ssf})
    assert kodak["bd_psnr_db"] == pytest.approx(-1.0, abs=0.02)  # pchip fit of 6 vs 8 points
    assert kodak["bd_rate_psnr_pct"] > 0 and "kodak" in kodak["anchor"]
    assert "not these" in kodak["note"]
    # CLIC 2020 is easier than Kodak: the same curve is further below the CLIC references
    assert "clic2020-mobile" in mobile["anchor"] and "clic2020-professional" in pro["anchor"]
    assert mobile["bd_psnr_db"] < kodak["bd_psnr_db"] - 1
    assert pro["bd_psnr_db"] < kodak["bd_psnr_db"] - 1
    assert "bmshj2018-hyperprior (kodak)" in format_tables({"ssf": ssf}, [kodak])
    assert reference_rows({}) == []

    # with a JPEG 2000 curve on the same images, each row says how far it is from the set's
    # J2K, and a J2K-anchored estimate joins it. A "J2K" equal to the published Kodak J2K
    # makes the Kodak gap 0 and the Kodak estimate the direct BD
    j2k = reference_curve("jpeg2000", REFERENCE_DATASET)
    here = Curve("pcf-j2k", "", list(range(1, len(j2k.bpp) + 1)), list(j2k.bpp), list(j2k.psnr))
    n = len(ref.bpp)  # all published points: both BD integrals then span the same rates
    ssf = Curve("ssf", "", list(range(1, n + 1)), list(ref.bpp), [p - 1 for p in ref.psnr])
    ssf.ms_ssim_db = [10.0 + k for k in range(n)]
    rows = reference_rows({"ssf": ssf, "pcf-j2k": here})
    assert len(rows) == 6
    direct, anchored = rows[0], rows[1]
    assert "J2K-anchored" in anchored["anchor"] and "kodak" in anchored["anchor"]
    assert direct["j2k_gap_db"] == pytest.approx(0.0, abs=1e-6)
    assert anchored["bd_psnr_db"] == pytest.approx(direct["bd_psnr_db"], abs=0.05)
    # Kodak's J2K is well below CLIC's: our "J2K" (Kodak's) shows a negative gap to CLIC
    assert rows[2]["j2k_gap_db"] < -1 and rows[4]["j2k_gap_db"] < -1
    assert "J2K-anchored" in rows[3]["anchor"] and "clic2020-mobile" in rows[3]["anchor"]


def test_eval_cli_bad_input(tmp_path, capsys):
    assert main(["eval", "--images", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "image folder not found" in err[0]
    assert main(["eval", "--images", str(tmp_path), "--models", "bogus"]) == 2


def test_bd_command_combines_saved_runs(tmp_path, capsys):
    """Two eval runs written to separate folders compare in one table (hcf-sim bd)."""
    ssf = Curve("ssf", "single", [1, 2, 3], [0.1, 0.2, 0.4], [28.0, 30.0, 32.0], [10.0, 12, 14])
    hcf = Curve("hcf", "cascade", [1, 2, 3], [0.11, 0.22, 0.44], [28.0, 30.0, 32.0], [10.0, 12, 14])
    write_results({"ssf": ssf}, [], tmp_path / "a")
    write_results({"hcf": hcf}, [], tmp_path / "b")
    assert (
        main(["bd", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "bd")]) == 0
    )
    out = capsys.readouterr().out
    assert "hcf vs ssf" in out and "bmshj2018-hyperprior (kodak)" in out
    rows = json.loads((tmp_path / "bd").read_text())
    (row,) = [r for r in rows if (r["test"], r["anchor"]) == ("hcf", "ssf")]
    assert row["bd_rate_psnr_pct"] == pytest.approx(10.0, abs=0.01)  # same as in-process
    from hcf_ray.evaluate import load_results

    back = load_results([tmp_path / "a"])["ssf"]
    assert back.levels == ssf.levels and back.bpp == ssf.bpp
    assert back.ms_ssim_db == pytest.approx(ssf.ms_ssim_db)

    (tmp_path / "a" / "broken.json").write_text("{}")
    assert main(["bd", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.json" in err[0]
    assert main(["bd", str(tmp_path / "missing")]) == 2
    assert "results folder not found" in capsys.readouterr().err
