"""The compute cost model: calibration, the profile file, pricing and the calibrate CLI."""

import hashlib
import json

import pytest

from hcf_ray.bundle_id import bundle_sha256
from hcf_ray.sim.net.costs import (
    FORMAT,
    CostProfile,
    ProfileError,
    fit_linear,
    padded_pixels,
)

TINY = "random:mbt2018-mean"
SIZES = ((64, 64), (128, 64), (128, 128))
SIZES_ARG = "64x64,128x64,128x128"
LEARNED = [
    *(f"{op}[{k}]" for k in range(1, 7) for op in ("analysis", "synthesis", "encode", "decode")),
    *(f"phi_{v}[{k}]" for k in range(2, 7) for v in ("inter", "intra")),
    "pixels8",
]


@pytest.fixture(scope="module")
def tiny_profile():
    from hcf_ray.calibrate import calibrate

    return calibrate(TINY, sizes=SIZES, runs=2, baselines=False)


def _hand_profile(ops: dict) -> dict:
    return {
        "format": FORMAT,
        "models": {"spec": "x", "bundle_sha256": "0" * 64},
        "device": {"kind": "cpu", "name": "Test CPU", "threads": 1},
        "torch": "2.0",
        "ops": ops,
    }


# -- calibration -----------------------------------------------------------------------------
def test_calibrate_covers_every_op_with_sizes_and_meta(tiny_profile):
    import torch

    assert tiny_profile["format"] == FORMAT
    assert sorted(tiny_profile["ops"]) == sorted(LEARNED)
    assert tiny_profile["method"]["sizes"] == [[64, 64], [128, 64], [128, 128]]
    assert tiny_profile["method"]["runs"] == 2
    assert tiny_profile["device"]["kind"] == "cpu"
    assert tiny_profile["device"]["threads"] == 1
    assert tiny_profile["device"]["name"]
    assert tiny_profile["torch"] == torch.__version__
    assert tiny_profile["models"]["bundle_sha256"] == bundle_sha256(TINY)
    assert "baselines" in tiny_profile["skipped"]  # excluded, and said so
    for op, fits in tiny_profile["ops"].items():
        assert set(fits) == {"seconds", "flops", "peak_mb"}, op
        pts = fits["seconds"]["points"]
        assert [p for p, _ in pts] == [4096, 8192, 16384], op
        assert all(s > 0 for _, s in pts), op


def test_analysis_flops_grow_with_pixels_and_memory_is_seen(tiny_profile):
    prof = CostProfile.from_dict(tiny_profile)
    flops = tiny_profile["ops"]["analysis[6]"]["flops"]["points"]
    values = [f for _, f in flops]
    assert values[0] > 0 and values == sorted(values) and values[2] > 3 * values[0]
    # convolutions: FLOPs are linear in pixels, so the fit is exact
    assert tiny_profile["ops"]["analysis[6]"]["flops"]["max_rel_err"] < 1e-6
    assert prof.flops("analysis[6]", 256, 256) > prof.flops("analysis[6]", 128, 128)
    assert all(mb > 0 for _, mb in tiny_profile["ops"]["analysis[6]"]["peak_mb"]["points"])
    assert prof.peak_mb("analysis[6]", 128, 128) > 0

    # by hand: g_a of mbt2018-mean (N=16, M=24 for the tiny random spec) is four 5×5
    # stride-2 convolutions 3→N→N→N→M with a GDN (a 1×1 convolution of x², C×C) after each of
    # the first three; 2 FLOPs per multiply-add. g_s mirrors it (transposed convolutions
    # counted on their input size, IGDN), so synthesis costs the same.
    def g_a_flops(h: int, w: int, n: int = 16, m: int = 24) -> int:
        total, c_in = 0, 3
        for i, c_out in enumerate((n, n, n, m)):
            h, w = h // 2, w // 2
            total += 2 * c_in * c_out * 25 * h * w + (2 * c_out * c_out * h * w if i < 3 else 0)
            c_in = c_out
        return total

    expected = [[h * w, g_a_flops(h, w)] for h, w in SIZES]
    for k in (1, 6):
        assert tiny_profile["ops"][f"analysis[{k}]"]["flops"]["points"] == expected, k
        assert tiny_profile["ops"][f"synthesis[{k}]"]["flops"]["points"] == expected, k
    assert prof.flops("analysis[6]", 256, 256) == g_a_flops(256, 256)  # the fit, exact
    # rounding counts no FLOPs; decoding counts only the hyper-synthesis convolutions
    assert all(f == 0 for _, f in tiny_profile["ops"]["pixels8"]["flops"]["points"])
    assert prof.flops("decode[3]", 128, 128) < prof.flops("synthesis[3]", 128, 128)


def test_sample_input_is_deterministic_and_photo_like():
    from hcf_ray.calibrate import sample_input

    a, b = sample_input(1100, 900), sample_input(1100, 900)
    assert a.shape == (1, 3, 1100, 900)
    assert bool((a == b).all())
    assert 0.0 <= float(a.min()) < float(a.max()) <= 1.0
    assert float(a.std()) > 0.05


# -- the linear model ----------------------------------------------------------------------
def test_padded_pixels():
    assert padded_pixels(64, 64) == 4096
    assert padded_pixels(100, 130) == 128 * 192
    assert padded_pixels(512, 768) == 512 * 768


def test_profile_prices_a_hand_made_line(tmp_path):
    ops = {
        "analysis[1]": {
            "seconds": {"a": 0.002, "b": 3e-8},
            "flops": {"a": 0, "b": 2000},
            "peak_mb": {"a": 1.5, "b": 1e-5},
        },
        "negative": {"seconds": {"a": -1.0, "b": 1e-9}},
    }
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(_hand_profile(ops)))
    prof = CostProfile.load(path)
    # 100x130 pads to 128x192 = 24576 pixels
    assert prof.seconds("analysis[1]", 100, 130) == pytest.approx(0.00273728, rel=1e-12)
    assert prof.flops("analysis[1]", 100, 130) == 49_152_000
    assert prof.peak_mb("analysis[1]", 100, 130) == pytest.approx(1.74576, rel=1e-12)
    assert prof.seconds("negative", 64, 64) == 0.0  # clamped
    assert prof.has("analysis[1]") and not prof.has("analysis[2]")
    assert prof.label == "hand.json (cpu: Test CPU, 1 thread, torch 2.0)"
    assert len(prof.sha256) == 64


def test_fit_recovers_a_known_line():
    fit = fit_linear([[4096, 0.5 + 4096e-6], [16384, 0.5 + 16384e-6], [65536, 0.5 + 65536e-6]])
    assert fit["a"] == pytest.approx(0.5, rel=1e-9)
    assert fit["b"] == pytest.approx(1e-6, rel=1e-9)
    assert fit["max_rel_err"] == pytest.approx(0.0, abs=1e-9)


# -- errors --------------------------------------------------------------------------------
def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ProfileError, match=r"nope\.json") as exc:
        CostProfile.load(missing)
    assert "\n" not in str(exc.value)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something/9", "ops": {}}))
    with pytest.raises(ProfileError, match=r"bad\.json") as exc:
        CostProfile.load(bad)
    assert "\n" not in str(exc.value)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(ProfileError, match=r"garbage\.json"):
        CostProfile.load(garbage)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(_hand_profile({"analysis[1]": {"seconds": {"a": 1}}})))
    with pytest.raises(ProfileError, match=r"broken\.json.*analysis\[1\]"):
        CostProfile.load(broken)


def test_unknown_op_names_the_op(tiny_profile):
    prof = CostProfile.from_dict(tiny_profile, "tiny.json")
    with pytest.raises(ProfileError, match=r"phi_inter\[9\]") as exc:
        prof.seconds("phi_inter[9]", 256, 256)
    assert "tiny.json" in str(exc.value) and "\n" not in str(exc.value)


def test_bundle_hash_follows_the_files(tmp_path):
    assert bundle_sha256(TINY) == bundle_sha256(TINY) != bundle_sha256("random:mbt2018-mean:8")
    d = tmp_path / "models"
    (d / "sub").mkdir(parents=True)
    (d / "ladder.json").write_text("{}")
    (d / "sub" / "w.pt").write_bytes(b"abc")
    first = bundle_sha256(str(d))
    # by hand: sha256 over the sorted relative paths, sizes and contents of every file
    by_hand = hashlib.sha256(b"models/ladder.json\x002\x00{}models/sub/w.pt\x003\x00abc")
    assert first == by_hand.hexdigest()
    (d / "sub" / "w.pt").write_bytes(b"abd")
    assert bundle_sha256(str(d)) != first
    by_hand = hashlib.sha256(b"models/ladder.json\x002\x00{}models/sub/w.pt\x003\x00abd")
    assert bundle_sha256(str(d)) == by_hand.hexdigest()
    with pytest.raises(ValueError, match="nowhere"):
        bundle_sha256(str(tmp_path / "nowhere"))


# -- the CLI -------------------------------------------------------------------------------
def test_cli_writes_and_refuses_to_overwrite(tmp_path, capsys, tiny_profile):
    from hcf_ray.calibrate import write_profile
    from hcf_ray.cli import main

    out = tmp_path / "p.json"
    args = ["calibrate", "--models", TINY, "--no-baselines", "--sizes", SIZES_ARG]
    assert main([*args, "--runs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "analysis[6]" in printed and f"wrote {out}" in printed
    prof = CostProfile.load(out)
    assert all(prof.has(op) for op in LEARNED)
    assert prof.meta["method"]["runs"] == 1

    before = out.read_bytes()
    assert main([*args, "--runs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--overwrite" in err and str(out) in err and len(err.splitlines()) == 1
    assert out.read_bytes() == before
    with pytest.raises(FileExistsError):
        write_profile(tiny_profile, out)
    write_profile(tiny_profile, out, overwrite=True)
    assert CostProfile.load(out).meta["method"]["runs"] == 2


@pytest.mark.parametrize(
    "sizes", ["64x64,128", "64x64,128x64", "abc", "32x32,64x64,128x128", "64x64,64x64,64x64"]
)
def test_cli_rejects_bad_sizes(tmp_path, capsys, sizes):
    from hcf_ray.cli import main

    out = tmp_path / "p.json"
    assert main(["calibrate", "--models", TINY, "--sizes", sizes, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hcf-sim: error: --sizes") and len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_rejects_an_unknown_model_spec(tmp_path, capsys):
    from hcf_ray.cli import main

    out = tmp_path / "p.json"
    args = ["calibrate", "--models", str(tmp_path / "missing"), "--sizes", SIZES_ARG]
    assert main([*args, "--out", str(out)]) == 2
    assert "missing" in capsys.readouterr().err
    assert not out.exists()


# -- the shipped profile -------------------------------------------------------------------
def test_shipped_profile_prices_the_shipped_models():
    prof = CostProfile.default()
    assert prof.meta["models"]["bundle_sha256"] == bundle_sha256("default")
    assert prof.meta["device"]["kind"] == "cpu"
    assert all(prof.has(op) for op in LEARNED), [op for op in LEARNED if not prof.has(op)]
    for name in ("pcf-tail", "pcf-j2k", "drf-jpeg", "drf-webp"):
        covered = all(prof.has(f"{name}:{op}[{k}]") for op in ("encode", "decode") for k in (1, 6))
        assert covered or name in prof.meta["skipped"], name
    for op in ("analysis[6]", "synthesis[1]", "encode[4]", "decode[4]", "phi_inter[6]"):
        small, large = prof.seconds(op, 256, 256), prof.seconds(op, 1024, 768)
        assert 0 < small < large, op
        assert prof.flops(op, 256, 256) <= prof.flops(op, 1024, 768), op
    assert prof.flops("analysis[6]", 512, 768) > 0
    assert prof.peak_mb("analysis[6]", 512, 768) > 0
