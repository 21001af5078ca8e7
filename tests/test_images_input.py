"""Image input: header checks with one-line errors, every PIL mode converted to RGB in [0, 1]
(16-bit at full precision, alpha over white), bad files skipped by load_scenario and listed by
``hcf-sim validate`` (no Ray, no models)."""

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from configs import LINE
from PIL import Image

from hcf_ray.cli import main
from hcf_ray.images import (
    MAX_MESSAGE,
    MAX_PIXELS,
    ImageError,
    inspect_image,
    load_image,
    sample_images,
    usable_images,
)
from hcf_ray.sim.config import ConfigError
from hcf_ray.sim.scenario import load_scenario


# -- test data: a minimal PNG writer (16-bit colour, crafted headers) ------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _filter_rows(raw: np.ndarray, bpp: int) -> bytes:
    """Encode rows with filter type y % 5 (None, Sub, Up, Average, Paeth), as PNG specifies."""
    out = []
    prior = np.zeros(raw.shape[1], np.int32)
    for y, row in enumerate(raw.astype(np.int32)):
        kind = y % 5
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        if kind == 0:
            f = row
        elif kind == 1:
            f = row - left
        elif kind == 2:
            f = row - prior
        elif kind == 3:
            f = row - (left + prior) // 2
        else:
            p = left + prior - up_left
            pa, pb, pc = np.abs(p - left), np.abs(p - prior), np.abs(p - up_left)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, up_left))
            f = row - pred
        out.append(bytes([kind]) + (f % 256).astype(np.uint8).tobytes())
        prior = row
    return b"".join(out)


def write_png16(path: Path, samples: np.ndarray) -> Path:
    """uint16 (H, W) gray, (H, W, 2) gray+alpha, (H, W, 3) RGB or (H, W, 4) RGBA → 16-bit PNG."""
    h, w = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = np.frombuffer(samples.astype(">u2").tobytes(), np.uint8).reshape(h, -1)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(_filter_rows(raw, 2 * channels)))
        + _chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def bomb_png(path: Path, side: int = 30000) -> Path:
    """A ~100-byte PNG whose header claims side × side RGB pixels."""
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def rgb8(h: int = 70, w: int = 90, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(arr: np.ndarray, path: Path, mode: str | None = None, **kw) -> Path:
    im = Image.fromarray(arr) if mode is None else Image.fromarray(arr, mode)
    im.save(path, **kw)
    return path


def pixels(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) → (H, W, 3) float32."""
    assert x.dtype == torch.float32 and x.ndim == 4 and x.shape[:2] == (1, 3)
    return x[0].permute(1, 2, 0).numpy()


def one_line(exc: ImageError, path: Path) -> str:
    msg = str(exc)
    assert "\n" not in msg and len(msg) <= MAX_MESSAGE
    assert path.name in msg
    return msg


# -- conversion ------------------------------------------------------------------------------
def test_8bit_rgb_png_and_jpeg_are_bit_identical_to_plain_numpy(tmp_path):
    a = rgb8()
    a[0, :64, 0] = np.arange(64) * 4  # many distinct values
    a[1, : 256 // 4, :] = np.arange(256).reshape(64, 4)[:, :3]
    for path in (save(a, tmp_path / "a.png"), save(a, tmp_path / "a.jpg", quality=85)):
        with Image.open(path) as im:
            plain = np.asarray(im.convert("RGB"))
        x = load_image(path)
        assert np.array_equal(pixels(x), (plain / 255).astype(np.float32))
        old = torch.from_numpy(plain.copy()).permute(2, 0, 1)[None].float().div_(255.0)
        assert torch.equal(x, old)  # the exact tensor load_image gave before these rules
    for p in sample_images():
        with Image.open(p) as im:
            plain = np.asarray(im.convert("RGB"))
        assert np.array_equal(pixels(load_image(p)), (plain / 255).astype(np.float32))


def test_16bit_gray_png_ramp_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(64 * 80, dtype=np.int64) * 65535 // (64 * 80 - 1)).astype(np.uint16)
    ramp = ramp.reshape(64, 80)
    path = save(ramp, tmp_path / "g16.png")  # PIL writes mode I;16 as a 16-bit gray PNG
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    info = inspect_image(path)
    assert (info.width, info.height, info.bits) == (80, 64, 16)
    got = pixels(load_image(path))
    want = ramp.astype(np.float64) / 65535
    for c in range(3):
        assert np.abs(got[..., c] - want).max() < 1e-6
    assert (got < 1).mean() > 0.99  # was 99.5 % white before
    assert len(np.unique(got[..., 0])) == ramp.size


def test_16bit_gray_png_written_by_hand(tmp_path):
    g = np.random.default_rng(1).integers(0, 65536, (67, 71), dtype=np.uint16)
    got = pixels(load_image(write_png16(tmp_path / "g.png", g)))
    assert np.abs(got - (g / 65535)[..., None]).max() < 1e-6


@pytest.mark.parametrize("mode", ["I;16B", "I"])
def test_16bit_gray_other_modes(tmp_path, mode):
    v = np.random.default_rng(2).integers(0, 65536, (64, 66)).astype(np.int64)
    if mode == "I;16B":
        im = Image.fromarray(v.astype(">u2"))
    else:
        v[0, :3] = (-5, 70000, 65535)  # 32-bit values outside 16 bits are clipped
        im = Image.fromarray(v.astype(np.int32))
    assert im.mode == mode
    path = tmp_path / "g.tif"
    im.save(path)
    got = pixels(load_image(path))
    want = np.clip(v, 0, 65535) / 65535
    assert np.abs(got - want[..., None]).max() < 1e-6
    if mode == "I":
        assert list(got[0, :3, 0]) == [0.0, 1.0, 1.0]


def test_16bit_rgb_png_full_precision(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 65536, (66, 73, 3), dtype=np.uint16)
    rgb[0, 0] = (1, 255, 65534)  # low bytes only: 8-bit truncation would give 0
    path = write_png16(tmp_path / "rgb16.png", rgb)
    info = inspect_image(path)
    assert (info.mode, info.bits, info.size) == ("RGB", 16, (73, 66))
    got = pixels(load_image(path))
    assert np.abs(got - rgb / 65535).max() < 1e-6
    assert got[0, 0, 0] > 0


def test_16bit_rgba_and_gray_alpha_png_over_white(tmp_path):
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 65536, (64, 70, 4), dtype=np.uint16)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 65535
    got = pixels(load_image(write_png16(tmp_path / "rgba16.png", rgba)))
    a = rgba[..., 3:] / 65535
    assert np.abs(got - (rgba[..., :3] / 65535 * a + 1 - a)).max() < 1e-6
    assert list(got[0, 0]) == [1.0, 1.0, 1.0]  # transparent → white
    assert np.abs(got[0, 1] - rgba[0, 1, :3] / 65535).max() < 1e-6  # opaque → its colour

    la = rng.integers(0, 65536, (65, 64, 2), dtype=np.uint16)
    path = write_png16(tmp_path / "la16.png", la)
    assert inspect_image(path).bits == 16
    got = pixels(load_image(path))
    a = la[..., 1] / 65535
    want = la[..., 0] / 65535 * a + 1 - a
    assert np.abs(got - want[..., None]).max() < 1e-6


def test_grayscale_replicated(tmp_path):
    g = rgb8()[..., 0]
    got = pixels(load_image(save(g, tmp_path / "g.png")))
    assert np.array_equal(got, np.repeat((g / 255).astype(np.float32)[..., None], 3, axis=2))
    assert inspect_image(tmp_path / "g.png").mode == "L"


def test_palette_expanded_and_transparency_composited(tmp_path):
    im = Image.fromarray(rgb8()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    im.save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as back:
        assert back.mode == "P"
        idx = np.asarray(back)
        pal = np.asarray(back.getpalette()[: 3 * 16]).reshape(16, 3)
    got = pixels(load_image(tmp_path / "p.png"))
    assert np.array_equal(got, (pal[idx] / 255).astype(np.float32))

    im.save(tmp_path / "pt.png", transparency=int(idx[0, 0]))  # one palette entry transparent
    got = pixels(load_image(tmp_path / "pt.png"))
    assert list(got[0, 0]) == [1.0, 1.0, 1.0]
    other = np.argwhere(idx != idx[0, 0])[0]
    assert np.array_equal(got[tuple(other)], (pal[idx[tuple(other)]] / 255).astype(np.float32))


def test_rgba_composited_over_white(tmp_path):
    a = np.zeros((64, 64, 4), np.uint8)
    a[..., :3] = (200, 40, 0)
    a[0, 0, 3], a[0, 1, 3], a[0, 2, 3] = 0, 255, 128
    got = pixels(load_image(save(a, tmp_path / "rgba.png")))
    assert list(got[0, 0]) == [1.0, 1.0, 1.0]
    assert np.array_equal(got[0, 1], np.float32([200, 40, 0]) / np.float32(255))
    alpha = 128 / 255
    want = np.array([200, 40, 0]) / 255 * alpha + (1 - alpha)
    assert np.abs(got[0, 2] - want).max() < 1e-6


def test_la_composited_over_white(tmp_path):
    a = np.zeros((64, 64, 2), np.uint8)
    a[..., 0] = 50
    a[..., 1] = 255
    a[0, 0, 1] = 0
    got = pixels(load_image(save(a, tmp_path / "la.png", "LA")))
    assert list(got[0, 0]) == [1.0, 1.0, 1.0]
    assert np.array_equal(got[1, 1], np.full(3, np.float32(50) / np.float32(255)))


def test_cmyk_jpeg_uses_pil_conversion(tmp_path):
    c = np.random.default_rng(5).integers(0, 256, (64, 72, 4), dtype=np.uint8)
    path = save(c, tmp_path / "c.jpg", "CMYK")
    with Image.open(path) as im:
        assert im.mode == "CMYK"
        want = np.asarray(im.convert("RGB")) / 255
    assert inspect_image(path).mode == "CMYK"
    assert np.array_equal(pixels(load_image(path)), want.astype(np.float32))


def test_bilevel_and_float(tmp_path):
    bits = np.random.default_rng(6).integers(0, 2, (64, 64)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert inspect_image(tmp_path / "b.png").bits == 1
    got = pixels(load_image(tmp_path / "b.png"))
    assert np.array_equal(got[..., 0], bits.astype(np.float32))

    f = np.linspace(-0.5, 1.5, 64 * 64, dtype=np.float32).reshape(64, 64)
    f[0, 0] = np.nan
    Image.fromarray(f, "F").save(tmp_path / "f.tif")
    got = pixels(load_image(tmp_path / "f.tif"))
    want = np.clip(np.nan_to_num(f, nan=0.0), 0, 1)
    assert np.array_equal(got[..., 1], want)


# -- bad files -------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    for fn in (inspect_image, load_image):
        with pytest.raises(ImageError) as err:
            fn(tmp_path / "nope.png")
        assert "not found" in one_line(err.value, tmp_path / "nope.png")


def test_truncated_png_and_jpeg(tmp_path):
    for name in ("t.png", "t.jpg"):
        full = save(rgb8(200, 300), tmp_path / ("full" + name[1:]))
        data = full.read_bytes()
        bad = tmp_path / name
        bad.write_bytes(data[: len(data) // 2])
        for fn in (inspect_image, load_image):
            with pytest.raises(ImageError) as err:
                fn(bad)
            assert "corrupt or truncated" in one_line(err.value, bad)


def test_text_file_named_png(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image\nat all\n")
    for fn in (inspect_image, load_image):
        with pytest.raises(ImageError) as err:
            fn(bad)
        assert "not an image" in one_line(err.value, bad)


@pytest.mark.parametrize("side", [1, 63])
def test_too_small(tmp_path, side):
    path = save(rgb8(side, side), tmp_path / f"s{side}.png")
    for fn in (inspect_image, load_image):
        with pytest.raises(ImageError) as err:
            fn(path)
        assert f"{side}x{side}" in one_line(err.value, path)
    assert inspect_image(save(rgb8(64, 64), tmp_path / "ok.png")).size == (64, 64)


def test_bomb_header_refused_fast(tmp_path):
    path = bomb_png(tmp_path / "bomb.png")
    assert path.stat().st_size < 200
    for fn in (inspect_image, load_image):
        t0 = time.perf_counter()
        with pytest.raises(ImageError) as err:
            fn(path)
        assert time.perf_counter() - t0 < 2.0
        msg = one_line(err.value, path)
        assert "900,000,000 pixels" in msg and "bomb" in msg
    # under PIL's own limit but over ours
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(ImageError, match="bomb"):
        inspect_image(bomb_png(tmp_path / "b2.png", side))


def test_pil_bomb_warning_and_error_are_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    warn = save(rgb8(100, 100), tmp_path / "warn.png")  # 10,000 px: PIL warns
    err = save(rgb8(200, 200), tmp_path / "err.png")  # 40,000 px: PIL raises
    for path in (warn, err):
        with pytest.raises(ImageError) as exc:
            inspect_image(path)
        assert "bomb" in one_line(exc.value, path)


def test_long_path_message_stays_one_short_line(tmp_path):
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    path = deep / "tiny.png"
    save(rgb8(8, 8), path)
    with pytest.raises(ImageError) as err:
        inspect_image(path)
    msg = one_line(err.value, path)
    assert msg.startswith("…") and "8x8" in msg


def test_usable_images_limit_counts_good_ones(tmp_path):
    good = [save(rgb8(64, 64, i), tmp_path / f"g{i}.png") for i in range(3)]
    bad = tmp_path / "b.png"
    bad.write_text("x")
    ok, errors = usable_images([bad, good[0], good[1], good[2]], limit=2)
    assert ok == good[:2] and list(errors) == [bad]
    ok, errors = usable_images([good[0], bad], limit=1)
    assert ok == good[:1] and errors == {}  # not read beyond the limit


# -- scenario and CLI ------------------------------------------------------------------------


def mixed_folder(tmp_path: Path) -> tuple[Path, list[Path], list[Path]]:
    folder = tmp_path / "imgs"
    folder.mkdir()
    good = [save(rgb8(64, 80, i), folder / f"{name}.png") for i, name in enumerate("bd")]
    trunc = folder / "a_trunc.png"
    trunc.write_bytes(save(rgb8(100, 100), tmp_path / "full.png").read_bytes()[:300])
    text = folder / "c_text.jpg"
    text.write_text("hello")
    return folder, good, [trunc, text]


def config(tmp_path: Path, images: Path, **flow) -> Path:
    data = yaml.safe_load(yaml.safe_dump(LINE))
    data["flows"][0].update(images=str(images), **flow)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_scenario_skips_bad_images(tmp_path):
    folder, good, bad = mixed_folder(tmp_path)
    sc = load_scenario(config(tmp_path, folder))
    assert sc.flows[0].images == good
    assert sorted(sc.image_errors) == bad
    for p, msg in sc.image_errors.items():
        assert str(p) in msg and "\n" not in msg
        assert f"image skipped: {msg}" in sc.warnings
    # the limit counts good images: max_images 1 keeps b.png (a_trunc.png before it is bad)
    sc = load_scenario(config(tmp_path, folder, max_images=1))
    assert sc.flows[0].images == good[:1] and list(sc.image_errors) == [bad[0]]
    sc = load_scenario(config(tmp_path, folder), max_images=2)
    assert sc.flows[0].images == good


def test_scenario_with_only_bad_images_is_a_config_error(tmp_path):
    folder, good, _ = mixed_folder(tmp_path)
    for p in good:
        p.unlink()
    cfg = config(tmp_path, folder)
    with pytest.raises(ConfigError) as err:
        load_scenario(cfg)
    assert err.value.field == "flows[0].images"
    assert str(err.value).startswith(f"{cfg}: flows[0].images: no usable image")
    assert main(["validate", str(cfg)]) == 2


def test_validate_prints_skipped_images(tmp_path, capsys):
    folder, _, bad = mixed_folder(tmp_path)
    assert main(["validate", str(config(tmp_path, folder))]) == 0
    captured = capsys.readouterr()
    lines = [ln for ln in captured.out.splitlines() if ln.startswith("  image skipped: ")]
    assert len(lines) == 2
    for p in bad:
        assert sum(str(p) in ln for ln in lines) == 1
    assert "image skipped" not in captured.err  # listed once, on stdout
