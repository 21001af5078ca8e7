"""Bring-your-own models end to end, offline: zoo specs, bundles referencing a zoo ladder.

There is no internet here (and CompressAI's pretrained downloads are not reachable), so a
fixture seeds a torch hub cache with random-init state dicts of ``bmshj2018-hyperprior``
(the smallest zoo architecture the ladder builds: N=128, M=192 at qualities 1..5), stored in
the published checkpoints' key layout under the zoo's real file names. Everything after that
is the real code path: CompressAI's ``pretrained=True`` → ``torch.hub.load_state_dict_from_url``
→ the cached file → ``load_pretrained`` → ``from_state_dict``.

``TORCH_HOME`` is set when this module is imported: pytest imports every test module before it
runs any test, so it is in ``os.environ`` before any Ray cluster of the session starts (Ray's
workers inherit the environment of the process that started the cluster, not later changes).
Any download attempt in this process fails at once (``torch.hub.download_url_to_file`` raises),
so a file missing from the cache is the tested "offline" error, never a hang.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

HUB_HOME = Path(tempfile.mkdtemp(prefix="hcf-zoo-offline-"))
os.environ["TORCH_HOME"] = str(HUB_HOME)  # before any Ray worker of the session starts
atexit.register(shutil.rmtree, HUB_HOME, True)

ARCH = "bmshj2018-hyperprior"
SPEC = f"zoo:{ARCH}@1-3"
QUALITIES = (1, 2, 3)


def _published_layout(state: dict) -> dict:
    """The key names of CompressAI's published checkpoints: the entropy bottleneck's
    parameter lists as ``_biases.0`` (this CompressAI calls them ``biases.0``; its
    ``load_pretrained`` + ``load_state_dict`` map the published names back)."""
    out = {}
    for k, v in state.items():
        for name in ("biases", "matrices", "factors"):
            prefix = f"entropy_bottleneck.{name}."
            if k.startswith(prefix):
                k = f"entropy_bottleneck._{name}.{k[len(prefix) :]}"
        out[k] = v
    return out


def _zoo_file(quality: int, home: Path = HUB_HOME) -> Path:
    from compressai.zoo.image import model_urls

    url = model_urls[ARCH]["mse"][quality]
    return home / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]


def _write_zoo_file(quality: int, seed: int, home: Path = HUB_HOME) -> Path:
    from compressai.zoo import image_models

    gen = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = image_models[ARCH](quality=quality, pretrained=False)
    finally:
        torch.random.set_rng_state(gen)
    state = model.state_dict()
    path = _zoo_file(quality, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_published_layout(state), path)
    return path


@pytest.fixture(scope="session")
def zoo_cache():
    """The seeded hub cache: {quality: file} of qualities 1..3 (4 for the @-range tests)."""
    return {q: _write_zoo_file(q, seed=100 + q) for q in (*QUALITIES, 4)}


def _refuse_download(url, dst, *args, **kwargs):
    raise URLError(f"offline test: no download of {url}")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network in this process: a download fails at once."""
    monkeypatch.setattr(torch.hub, "download_url_to_file", _refuse_download)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # get_dir() follows TORCH_HOME
    monkeypatch.setenv("TORCH_HOME", str(HUB_HOME))


@pytest.fixture(scope="module")
def samples_dir():
    from hcf_ray.images import sample_images

    return str(sample_images()[0].parent)


def _train_hcf(ladder: str, data: str, workdir: Path, export: Path | None, iters: int = 2):
    from hcf_ray.cli import main

    args = [
        "train",
        "hcf",
        "--ladder",
        ladder,
        "--data",
        data,
        "--workdir",
        str(workdir),
        "--phase1-iters",
        str(iters),
        "--phase1-batch",
        "2",
        "--skip-phase2",
        "--cache-crops",
        "4",
        "--crop",
        "64",
        "--phi-hidden",
        "8",
        "--phi-res",
        "1",
        "--threads",
        "1",
    ]
    return main([*args, "--export", str(export)] if export is not None else args)


@pytest.fixture(scope="module")
def bundle_dir(zoo_cache, samples_dir, tmp_path_factory):
    """``train hcf --ladder zoo:ARCH@1-3 --export DIR``: φ bank + a manifest referencing
    the zoo ladder (2 phase-1 iterations per module: the code path, not a useful φ)."""
    root = tmp_path_factory.mktemp("zoo_bundle")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "download_url_to_file", _refuse_download)
        mp.setattr(torch.hub, "_hub_dir", None)
        assert _train_hcf(SPEC, samples_dir, root / "work", root / "bundle") == 0
    return root / "bundle"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _copy_cache(tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the seeded cache as TORCH_HOME (to break without touching the shared
    one)."""
    home = tmp_path / "torch_home"
    shutil.copytree(HUB_HOME / "hub", home / "hub")
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


LINE_TOPOLOGY = """\
name: zoo-line
codec: {codec}
transport: bitstream
nodes:
  - {{id: cam, role: source}}
  - {{id: relay}}
  - {{id: screen, role: destination}}
links:
  - {{src: cam, dst: relay, bandwidth_mbps: 100, latency_ms: 2}}
  - {{src: relay, dst: screen, bandwidth_mbps: 20, latency_ms: 5}}
flows:
  - name: line
    source: cam
    source_level: 3
    destinations:
      - {{node: screen, level: 1}}
    methods: [hcf, drf, ssf]
    policy: edge
    images: {images}
    interval_ms: 100
"""


def _topology(tmp_path: Path, codec: str, name: str = "line.yaml", images="samples") -> Path:
    path = tmp_path / name
    path.write_text(
        LINE_TOPOLOGY.format(codec=json.dumps(str(codec)), images=json.dumps(str(images)))
    )
    return path


@pytest.fixture(scope="module")
def crop_dir(tmp_path_factory):
    """One sample photo cropped to 128×192 (the runs checked in-process stay fast)."""
    from PIL import Image

    from hcf_ray.images import sample_images

    folder = tmp_path_factory.mktemp("crop")
    Image.open(sample_images()[0]).convert("RGB").crop((0, 0, 192, 128)).save(folder / "a.png")
    return folder


@functools.lru_cache(maxsize=1)
def _engine(bundle_dir: str):
    from hcf_ray.bundle import load_bundle
    from hcf_ray.cascade import CascadeEngine

    bundle = load_bundle(bundle_dir)
    return CascadeEngine(bundle.ladder, bundle.phis)


def _in_process(bundle_dir: Path, method: str, s: int, d: int, image: Path) -> dict:
    """The bundle's cascade run here by a CascadeEngine, with bpp (final bitstream bytes · 8
    / pixels), PSNR (8-bit RGB) and the reconstruction's sha256 computed by hand."""
    import hashlib
    import math

    import numpy as np
    from PIL import Image

    engine = _engine(str(bundle_dir))
    pixels = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        if method == "ssf":
            res = engine.run(x, "ssf", d, d)
        elif method == "hcf":
            res = engine.run(x, "hcf", s, d, policy="edge", n_q=min(2, s - d + 1))
        else:  # drf: decode and re-encode at every level from s down to d
            res = engine.run(x, "drf", s, d)
    h, w = x.shape[-2:]
    nbytes = sum(len(b) for b in res.final.bitstream.strings)
    a = (x.clamp(0, 1) * 255).round().double()
    b = (res.x_hat.clamp(0, 1) * 255).round().double()
    mse = float(((a - b) ** 2).mean())
    return {
        "bpp": nbytes * 8 / (h * w),
        "psnr": 10 * math.log10(255**2 / mse),
        "sha256": hashlib.sha256(res.x_hat.contiguous().numpy().tobytes()).hexdigest(),
        "levels": [t.level for t in res.transmissions],
    }


# -- the grammar -------------------------------------------------------------------------------
def test_zoo_spec_grammar():
    from hcf_ray.model_spec import parse_spec

    full = parse_spec(f"zoo:{ARCH}")
    assert full.qualities == (1, 2, 3, 4, 5, 6) and full.levels == [1, 2, 3, 4, 5, 6]
    part = parse_spec(f"zoo:{ARCH}@2-4")
    assert part.qualities == (2, 3, 4) and part.levels == [1, 2, 3]
    assert parse_spec(f"zoo:{ARCH}@7-8").qualities == (7, 8)  # the zoo has 8 for bmshj2018
    assert parse_spec(f"zoo:{ARCH}@5").qualities == (5,)
    assert parse_spec("zoo:cheng2020-anchor").qualities == (1, 2, 3, 4, 5, 6)
    rnd = parse_spec("random:mbt2018-mean:8:12:3")
    assert (rnd.kind, rnd.N, rnd.M, rnd.levels) == ("random", 8, 12, [1, 2, 3])


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("zoo:nope", "unknown architecture 'nope' in zoo:ARCH"),
        (f"zoo:{ARCH}@0-9", "expected zoo:ARCH@Q1-Q2 with qualities in 1..8"),
        (f"zoo:{ARCH}@3-1", "Q1 > Q2"),
        (f"zoo:{ARCH}@1-x", "expected zoo:ARCH@Q1-Q2"),
        ("zoo:cheng2020-anchor@5-7", "qualities in 1..6"),
    ],
)
def test_bad_specs_are_one_line_everywhere(spec, expected, tmp_path, capsys, samples_dir):
    from hcf_ray.cli import main

    work = str(tmp_path / "w")
    commands = [
        ["eval", "--images", samples_dir, "--models", spec, "--max-images", "1"],
        ["calibrate", "--models", spec, "--out", str(tmp_path / "p.json")],
        ["train", "hcf", "--ladder", spec, "--data", samples_dir, "--workdir", work],
        ["train", "hyper", "--ladder", spec, "--data", samples_dir, "--workdir", work],
        ["report", "--images", samples_dir, "--out", str(tmp_path / "r"), "--models", spec],
        ["validate", str(_topology(tmp_path, spec))],
        ["run", str(_topology(tmp_path, spec)), "--out", str(tmp_path / "o")],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert expected in line, (argv, line)
    assert not (tmp_path / "o").exists() and not (tmp_path / "p.json").exists()


# -- the zoo path ------------------------------------------------------------------------------
def test_zoo_levels_load_the_cached_files_as_levels_1_to_n(zoo_cache):
    from compressai.zoo.pretrained import load_pretrained

    from hcf_ray.bundle import BundleSource
    from hcf_ray.codecs.ladder import MSE_LAMBDAS

    source = BundleSource(f"zoo:{ARCH}@2-3")
    assert source.levels == [1, 2]
    level1 = source.level(1)  # zoo quality 2
    assert (level1.level, level1.lmbda) == (1, MSE_LAMBDAS[2])
    stored = torch.load(zoo_cache[2], weights_only=True)
    assert "entropy_bottleneck._biases.0" in stored  # the published layout, converted on load
    loaded = level1.model.state_dict()
    assert torch.equal(loaded["g_a.0.weight"], stored["g_a.0.weight"])
    assert torch.equal(
        loaded["entropy_bottleneck.biases.0"], stored["entropy_bottleneck._biases.0"]
    )
    assert set(load_pretrained(stored)) >= {"entropy_bottleneck._bias0"}


def test_exported_bundle_references_the_zoo_ladder(bundle_dir, zoo_cache):
    from hcf_ray.bundle_id import bundle_sha256
    from hcf_ray.model_spec import BUNDLE_FORMAT, file_sha256
    from hcf_ray.sim.codec import resolve_codec

    manifest = json.loads((bundle_dir / "ladder.json").read_text())
    assert manifest["format"] == BUNDLE_FORMAT
    assert manifest["ladder"]["spec"] == SPEC
    assert manifest["ladder"]["sha256"] == {str(q): file_sha256(zoo_cache[q]) for q in QUALITIES}
    assert (bundle_dir / "phi.json").is_file() and (bundle_dir / "phi.pt").is_file()
    assert not list(bundle_dir.rglob("*.pth.tar"))  # the zoo's weights are not copied
    choice = resolve_codec(str(bundle_dir), None)  # no weights loaded
    assert (choice.max_level, choice.has_phis) == (3, True)
    first = bundle_sha256(str(bundle_dir))
    assert first == bundle_sha256(str(bundle_dir)) and len(first) == 64


def test_bundle_identity_covers_the_manifest(bundle_dir, tmp_path):
    from hcf_ray.bundle_id import bundle_sha256

    copy = tmp_path / "b"
    shutil.copytree(bundle_dir, copy)
    before = bundle_sha256(str(copy))
    manifest = json.loads((copy / "ladder.json").read_text())
    manifest["ladder"]["sha256"]["1"] = "0" * 64
    (copy / "ladder.json").write_text(json.dumps(manifest))
    assert bundle_sha256(str(copy)) != before


def test_run_a_topology_on_the_bundle(bundle_dir, crop_dir, ray_session, tmp_path, capsys):
    from hcf_ray.cli import main

    @ray_session.remote(num_cpus=0)  # no CPU: a kept pool of an earlier test may hold them all
    def worker_torch_home():
        return os.environ.get("TORCH_HOME")

    home = ray_session.get(worker_torch_home.remote())
    assert home == str(HUB_HOME), (
        f"Ray's workers see TORCH_HOME={home!r}: the cluster was started before this module set it"
    )
    out = tmp_path / "out"
    topology = _topology(tmp_path, bundle_dir, images=crop_dir)
    rc = main(["run", str(topology), "--out", str(out), "--max-images", "1"])
    err = capsys.readouterr().err
    assert rc == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in records) == ["drf", "hcf", "ssf"]
    for rec in records:  # the zoo ladder's level 3 → 1 over cam → relay → screen
        assert (rec["image"], rec["destination"], rec["status"]) == ("a.png", "screen", "ok")
        ref = _in_process(bundle_dir, rec["method"], 3, 1, crop_dir / "a.png")
        assert rec["recon_sha256"] == ref["sha256"], rec["method"]
        assert rec["bpp"] == pytest.approx(ref["bpp"], rel=1e-12), rec["method"]
        assert rec["psnr"] == pytest.approx(ref["psnr"], rel=1e-9), rec["method"]
        # the last hop carried the destination's stream: its bytes are the record's bpp
        assert rec["hops"][-1]["bytes"] * 8 / (128 * 192) == pytest.approx(ref["bpp"])
        assert len(rec["hops"]) == 2 and rec["hops"][-1]["level"] == 1
        method = rec["method"]
        assert summary["links"][method]["relay->screen"]["messages"] == 1, method


def test_eval_on_the_bundle(bundle_dir, crop_dir, tmp_path, capsys):
    from hcf_ray.cli import main

    out = tmp_path / "eval"
    argv = ["eval", "--images", str(crop_dir), "--models", str(bundle_dir), "--out", str(out)]
    assert main([*argv, "--methods", "ssf,hcf,drf", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "hcf" in printed and "ssf" in printed
    expected_levels = {"ssf": [1, 2, 3], "hcf": [1, 2], "drf": [1, 2]}  # source level 3
    for method, levels in expected_levels.items():
        rows = [json.loads(x) for x in (out / f"{method}.per_image.jsonl").read_text().splitlines()]
        assert [r["level"] for r in rows] == levels and {r["image"] for r in rows} == {"a.png"}
        for row in rows:
            ref = _in_process(bundle_dir, method, 3, row["level"], crop_dir / "a.png")
            assert row["bpp"] == pytest.approx(ref["bpp"], rel=1e-12), (method, row)
            assert row["psnr"] == pytest.approx(ref["psnr"], rel=1e-9), (method, row)
        curve = json.loads((out / f"{method}.json").read_text())["results"]
        assert curve["bpp"] == pytest.approx([r["bpp"] for r in rows], rel=1e-12)


# -- what goes wrong -----------------------------------------------------------------------------
def test_missing_download_is_one_line_naming_torch_home(
    bundle_dir, samples_dir, tmp_path, monkeypatch, capsys
):
    from hcf_ray.cli import main

    home = _copy_cache(tmp_path, monkeypatch)
    missing = _zoo_file(2, home)
    missing.unlink()
    commands = [
        ["eval", "--images", samples_dir, "--models", str(bundle_dir), "--max-images", "1"],
        ["run", str(_topology(tmp_path, bundle_dir)), "--out", str(tmp_path / "o")],
        ["eval", "--images", samples_dir, "--models", SPEC, "--max-images", "1"],
        ["train", "hcf", "--ladder", SPEC, "--data", samples_dir, "--workdir", str(tmp_path)],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert "TORCH_HOME" in line and missing.name in line, line
        assert "offline?" in line, line
    assert not (tmp_path / "o").exists()


def test_hash_mismatch_is_one_line_naming_the_file(
    bundle_dir, samples_dir, tmp_path, monkeypatch, capsys
):
    from hcf_ray.cli import main
    from hcf_ray.model_spec import file_sha256

    home = _copy_cache(tmp_path, monkeypatch)
    changed = _write_zoo_file(3, seed=999, home=home)  # a valid checkpoint, other weights
    expected = json.loads((bundle_dir / "ladder.json").read_text())["ladder"]["sha256"]["3"]
    commands = [
        ["eval", "--images", samples_dir, "--models", str(bundle_dir), "--max-images", "1"],
        ["run", str(_topology(tmp_path, bundle_dir)), "--out", str(tmp_path / "o")],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert changed.name in line and "sha256" in line, line
        assert expected[:16] in line and file_sha256(changed)[:16] in line, line
    assert not (tmp_path / "o").exists()


# -- every command takes every kind of spec ------------------------------------------------------
SPEC_KINDS = ["default", "random:mbt2018-mean:8:8:3", SPEC, "bundle"]


@pytest.mark.parametrize("kind", SPEC_KINDS)
def test_every_command_accepts_every_spec_kind(
    kind, request, samples_dir, tmp_path, capsys, zoo_cache
):
    """validate / run (up to the actors) / eval / calibrate / train hcf with each kind."""
    from hcf_ray.cli import main
    from hcf_ray.sim.codec import fetch_codec
    from hcf_ray.sim.scenario import load_scenario

    spec = str(request.getfixturevalue("bundle_dir")) if kind == "bundle" else kind
    levels = 6 if kind == "default" else 3
    topo = _topology(tmp_path, spec)
    assert main(["validate", str(topo)]) == 0
    scenario = load_scenario(str(topo), None, 1, None, None)  # what `run` does before Ray
    assert scenario.codec.max_level == levels
    fetch_codec(scenario.codec, str(topo))
    images = ["--images", samples_dir, "--max-images", "1", "--threads", "1"]
    assert main(["eval", *images, "--models", spec, "--methods", "ssf", "--source-level", "2"]) == 0
    cal = ["calibrate", "--models", spec, "--no-baselines", "--runs", "1", "--warmup", "1"]
    sizes = ["--sizes", "64x64,128x64,128x128", "--out", str(tmp_path / "p.json")]
    assert main([*cal, *sizes]) == 0
    export = tmp_path / "export"
    assert _train_hcf(spec, samples_dir, tmp_path / "w", export, iters=1) == 0
    ref = json.loads((export / "ladder.json").read_text())["ladder"]
    assert ref["spec"] == (SPEC if kind == "bundle" else spec)
    assert len(ref["sha256"]) == (0 if kind.startswith("random:") else levels)
    capsys.readouterr()
