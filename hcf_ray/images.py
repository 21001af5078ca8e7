"""Loading images as ``(1, 3, H, W)`` float tensors, with one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hcf_ray.codecs.level import MIN_IMAGE_SIDE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An image file that cannot be used (missing, corrupt, too small)."""


def load_image(path: str | Path) -> torch.Tensor:
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    h, w = arr.shape[:2]
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise ImageError(f"{path}: image is {w}x{h}, both sides must be >= {MIN_IMAGE_SIDE}")
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float().div_(255.0)


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def save_image(x: torch.Tensor, path: str | Path) -> None:
    arr = (x[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(arr).save(path)


def sample_images() -> list[Path]:
    """The small sample images bundled with the package (for demos and tests)."""
    from importlib import resources

    root = Path(str(resources.files("hcf_ray.samples")))
    return sorted(root.glob("*.png"))
