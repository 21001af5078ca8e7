"""Loading images as ``(1, 3, H, W)`` float tensors in [0, 1], with one-line errors for bad files.

Checking
--------
:func:`inspect_image` opens a file's header (``PIL.Image.open`` reads the header only) and
returns its size, mode and bit depth without decoding the pixels, then runs a cheap check of
the data: for PNG, ``verify()`` (the CRC of every chunk up to IEND, no inflating); for JPEG,
a decode at 1/8 scale (``draft``), which still reads every entropy-coded byte, so a
truncated file is caught at about a third of the cost of a full decode; for every other
format, a full decode (they have no cheaper check). It raises :class:`ImageError`, whose
message is one line of at most :data:`MAX_MESSAGE` characters naming the file, for: a
missing file, a file that is not an image, corrupt or truncated data, an image smaller than
``MIN_IMAGE_SIDE`` (64) px on either side, and an image whose header claims more than
:data:`MAX_PIXELS` pixels (a possible decompression bomb: refused from the header alone,
before any pixel memory is allocated; PIL's own ``DecompressionBombError`` and
``DecompressionBombWarning`` give the same error). A PNG whose chunk CRCs are intact but whose
compressed pixel data is not passes the check and fails in :func:`load_image`.

Conversion (:func:`load_image`)
-------------------------------
Every image becomes RGB in [0, 1], float32, shape ``(1, 3, H, W)``:

* 8-bit ``RGB`` (PNG, JPEG, ...) and ``L`` (grayscale, replicated to 3 channels), ``P``
  (palette, expanded through its palette), ``1`` (bilevel: 0 or 1), ``CMYK`` and ``YCbCr``
  (PIL's own conversion, no ICC profile): ``np.asarray(im.convert("RGB")) / 255``, exactly as
  before this module checked anything.
* Alpha (``RGBA``, ``LA``, ``PA``, ``RGBa``, ``La``, and ``P``/``L``/``RGB`` with a PNG
  transparency key): composited over white, ``rgb · a + (1 − a)``. A fully opaque image gives
  the same values as dropping the alpha.
* 16-bit grayscale (``I;16``, ``I;16B``, ``I;16L``): value / 65535 (not clipped to white).
  ``I`` (32-bit integer, how older Pillow opens 16-bit grayscale PNGs and some TIFFs) is read
  the same way, values outside [0, 65535] clipped.
* 16-bit colour PNGs (RGB, RGBA, gray+alpha): Pillow opens them as 8-bit ``RGB``/``RGBA``,
  keeping only the high byte of each sample. They are decoded again with the full 16 bits
  (PIL's own PNG decoder, asked for the low bytes too) and scaled by 65535; alpha as above.
  16-bit colour in other formats (TIFF) goes through PIL's 8-bit conversion.
* ``F`` (32-bit float): taken as intensities already in [0, 1] and clipped to it; NaN → 0.
* Any other mode PIL can convert to RGB is converted by PIL; one it cannot is an
  :class:`ImageError`. Multi-frame files give their first frame; EXIF orientation is ignored.
"""

from __future__ import annotations

import functools
import re
import struct
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from hcf_ray.errors import InputError
from hcf_ray.image_limits import MIN_IMAGE_SIDE

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")

# The most pixels an image may have (64 MP, e.g. 9800 × 6530). Its (1, 3, H, W) float32 tensor
# is then at most 768 MB. Kept below PIL's own default limit (Image.MAX_IMAGE_PIXELS, about
# 89.5 MP) so that PIL never refuses an image this module accepts; larger headers are refused
# before any pixel memory is allocated.
MAX_PIXELS = 64_000_000
MAX_MESSAGE = 200  # an ImageError's message is one line of at most this many characters

# PIL raises these on broken data (OSError covers "image file is truncated" and decoder errors)
_DATA_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_PNG16_COLOUR = ("RGB;16B", "RGBA;16B", "LA;16B")  # Pillow's rawmodes for 16-bit colour PNGs


class ImageError(InputError):
    """An image file that cannot be used (missing, not an image, corrupt, too small, too big).

    ``str(err)`` is one line of at most :data:`MAX_MESSAGE` characters that names the file.
    """


@dataclass(frozen=True)
class ImageInfo:
    """What an image's header says: PIL size order (width, height), mode, bits per sample."""

    path: Path
    width: int
    height: int
    mode: str  # PIL mode as opened: "RGB", "I;16", "P", ...
    bits: int  # bits per sample in the file: 1, 2, 4, 8, 16 or 32
    format: str  # "PNG", "JPEG", ...

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def _error(path: str | Path, problem: str) -> ImageError:
    """``PATH: problem`` on one line; a long path loses its start (``…tail/of/it``)."""
    problem = " ".join(problem.split())
    if len(problem) > MAX_MESSAGE // 2:
        problem = problem[: MAX_MESSAGE // 2 - 1] + "…"
    name = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(path))
    keep = MAX_MESSAGE - len(problem) - 2
    if len(name) > keep:
        name = "…" + name[-(keep - 1) :]
    return ImageError(f"{name}: {problem}")


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text[:60] + "…" if len(text) > 61 else text
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _bomb(path: Path, exc: BaseException | None, pixels: int | None = None) -> ImageError:
    if pixels is None and exc is not None:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else None
    claim = f"claims {pixels:,} pixels" if pixels else "claims too many pixels"
    return _error(
        path, f"header {claim}, over the limit of {MAX_PIXELS:,}: refused (decompression bomb?)"
    )


@contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    """Open the header, refuse missing / non-image / bomb / too-small files; nothing decoded."""
    if not path.is_file():
        raise _error(path, "image file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(path, exc) from None
    except UnidentifiedImageError:
        raise _error(path, "not an image (no image format recognised)") from None
    except _DATA_ERRORS as exc:
        raise _error(path, f"corrupt image header ({_detail(exc)})") from None
    with im:
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise _bomb(path, None, w * h)
        if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
            raise _error(path, f"image is {w}x{h}, both sides must be >= {MIN_IMAGE_SIDE}")
        yield im


def _rawmode(im: Image.Image) -> str | None:
    """The rawmode of a not-yet-loaded single-tile image (PNG: how samples are stored)."""
    if len(im.tile) == 1 and isinstance(im.tile[0][3], str):
        return im.tile[0][3]
    return None


def _bits(im: Image.Image) -> int:
    if im.mode == "1":
        return 1
    if im.mode in _GRAY16_MODES:
        return 16
    if im.mode in ("I", "F"):
        return 32
    raw = _rawmode(im) if im.format == "PNG" else None
    found = re.search(r";(\d+)", raw or "")
    return int(found.group(1)) if found else 8


_INSPECTED: dict[tuple, ImageInfo | ImageError] | None = None  # see remembered_inspections


@contextmanager
def remembered_inspections() -> Iterator[None]:
    """Within this block :func:`inspect_image` answers once per file as it is (path, inode,
    size, modification time): a sweep checks the same images for each of thousands of
    networks it plans. Outside it every call reads the file again."""
    global _INSPECTED
    outer = _INSPECTED
    _INSPECTED = {} if outer is None else outer
    try:
        yield
    finally:
        _INSPECTED = outer


def inspect_image(path: str | Path) -> ImageInfo:
    """Size, mode and bit depth from the header, plus a cheap data check (module docstring).

    Raises :class:`ImageError` (one line naming the file) when the image cannot be used.
    """
    path = Path(path)
    memo = _INSPECTED
    if memo is None:
        return _inspect(path)
    try:
        st = path.stat()
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        return _inspect(path)  # missing or unreadable: _open says so
    found = memo.get(key)
    if found is None:
        try:
            found = memo[key] = _inspect(path)
        except ImageError as exc:
            memo[key] = exc
            raise
    elif isinstance(found, ImageError):
        raise ImageError(str(found))
    return found


def _inspect(path: Path) -> ImageInfo:
    with _open(path) as im:
        info = ImageInfo(path, im.width, im.height, im.mode, _bits(im), im.format or "")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if im.format == "PNG":
                    im.verify()
                else:
                    if im.format == "JPEG":
                        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
                    im.load()
        except _DATA_ERRORS as exc:
            raise _error(path, f"corrupt or truncated image data ({_detail(exc)})") from None
    return info


def load_image(path: str | Path) -> torch.Tensor:
    """The image as a float32 ``(1, 3, H, W)`` tensor in [0, 1] (conversion rules: module doc)."""
    import torch

    path = Path(path)
    with _open(path) as im:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if im.format == "PNG" and _rawmode(im) in _PNG16_COLOUR:
                    arr = _composite(_png16(path, im), 65535)
                else:
                    im.load()
                    arr = _pixels(im)
        except ImageError:
            raise
        except _DATA_ERRORS as exc:
            raise _error(path, f"corrupt or truncated image data ({_detail(exc)})") from None
    if arr.dtype == np.uint8:  # 8-bit RGB: the same tensor as before any of these rules
        return torch.from_numpy(arr).permute(2, 0, 1)[None].float().div_(255.0)
    return torch.from_numpy(arr).permute(2, 0, 1)[None]


def _pixels(im: Image.Image) -> np.ndarray:
    """A loaded image → uint8 (H, W, 3) for plain 8-bit RGB, else float32 (H, W, 3) in [0, 1]."""
    mode = im.mode
    if mode in _GRAY16_MODES or mode == "I":
        g = np.asarray(im).astype(np.float32)
        return _gray(np.clip(g, 0.0, 65535.0) / np.float32(65535.0))
    if mode == "F":
        g = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return _gray(np.clip(g, 0.0, 1.0))
    keyed = "transparency" in im.info and mode in ("P", "L", "RGB")
    try:
        if mode in _ALPHA_MODES or keyed:
            return _composite(np.asarray(im.convert("RGBA")), 255)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except ValueError as exc:
        raise _error(
            im.filename or "?", f"image mode {mode} cannot be converted to RGB ({exc})"
        ) from None


def _gray(g: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2), dtype=np.float32)


def _composite(samples: np.ndarray, top: int) -> np.ndarray:
    """Integer (H, W, C) samples, C = 2 (gray, alpha), 3 (RGB) or 4 (RGBA) → float RGB over white."""
    x = samples.astype(np.float32) / np.float32(top)
    if x.shape[2] == 2:
        x = x[..., [0, 0, 0, 1]]
    if x.shape[2] == 4:
        a = x[..., 3:]
        x = x[..., :3] * a + (np.float32(1.0) - a)
    return np.ascontiguousarray(x, dtype=np.float32)


def _png16(path: Path, im: Image.Image) -> np.ndarray:
    """A 16-bit colour PNG's samples as uint16 (H, W, C), decoded by PIL's PNG decoder.

    Pillow stores these as 8 bits per sample (the high byte). Its decoder undoes the PNG row
    filters on the raw bytes before unpacking, so decoding the same data with another rawmode
    of the same pixel size recovers the rest: ``*;16L`` (read as little-endian, its "high"
    byte is the file's low byte) for RGB and RGBA; plain ``RGBA`` (4 bytes = L hi, L lo,
    A hi, A lo) for gray+alpha, for which Pillow has no ``LA;16L``.
    """
    raw = _rawmode(im)
    if raw == "LA;16B":
        _set_rawmode(im, "RGBA")
        im.load()
        b = np.asarray(im).astype(np.uint16)
        return np.stack([b[..., 0] << 8 | b[..., 1], b[..., 2] << 8 | b[..., 3]], axis=2)
    im.load()
    hi = np.asarray(im).astype(np.uint16)
    with Image.open(path) as again:
        _set_rawmode(again, raw.replace(";16B", ";16L"))
        again.load()
        lo = np.asarray(again).astype(np.uint16)
    return hi << 8 | lo


def _set_rawmode(im: Image.Image, rawmode: str) -> None:
    t = im.tile[0]
    im.tile = [t._replace(args=rawmode) if hasattr(t, "_replace") else (*t[:3], rawmode)]


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def image_problem(path: str | Path) -> str | None:
    """:func:`inspect_image`'s one-line message, or None for a usable image.

    Remembered per (file, modification time, size), so that a sweep building many scenarios
    over one image folder checks each file once.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return _problem(str(path), 0, -1)
    return _problem(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4096)
def _problem(path: str, mtime_ns: int, size: int) -> str | None:
    try:
        inspect_image(path)
    except ImageError as exc:
        return str(exc)
    return None


def usable_images(
    paths: Iterable[Path], limit: int | None = None
) -> tuple[list[Path], dict[Path, str]]:
    """Split ``paths`` into usable ones (at most ``limit``, in order) and ``{bad: message}``.

    Files are checked in order until ``limit`` usable ones are found; later files are not
    opened, so a limit applies to good images and a folder is not read beyond it.
    """
    good: list[Path] = []
    bad: dict[Path, str] = {}
    for p in paths:
        if limit is not None and len(good) >= limit:
            break
        problem = image_problem(p)
        if problem is None:
            good.append(p)
        else:
            bad[p] = problem
    return good, bad


def save_image(x: torch.Tensor, path: str | Path) -> None:
    arr = (x[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(arr).save(path)


def sample_images() -> list[Path]:
    """The small sample images bundled with the package (for demos and tests)."""
    return list(_sample_images())


@functools.cache
def _sample_images() -> tuple[Path, ...]:  # the package's own files: listed once
    from importlib import resources

    root = Path(str(resources.files("hcf_ray.samples")))
    return tuple(sorted(root.glob("*.png")))
