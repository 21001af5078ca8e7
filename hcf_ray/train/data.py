"""Image folders for training: decoded once into memory, sampled as random crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hcf_ray.images import image_files, load_image


class CropSampler:
    """Random crops (with flips and a random down-scale) from images held in memory.

    Each image is kept at scales 1, 3/4 and 1/2 so crops cover both fine texture and larger
    structures, which a small training set of high-resolution photos otherwise lacks.
    """

    def __init__(self, folder: str | Path, scales: tuple[float, ...] = (1.0, 0.75, 0.5), seed=0):
        self.images: list[torch.Tensor] = []
        for path in image_files(folder):
            with Image.open(path) as im:
                im = im.convert("RGB")
                for s in scales:
                    if s != 1.0:
                        size = (max(1, round(im.width * s)), max(1, round(im.height * s)))
                        scaled = im.resize(size, Image.BICUBIC)
                    else:
                        scaled = im
                    arr = np.asarray(scaled, dtype=np.uint8).copy()
                    self.images.append(torch.from_numpy(arr).permute(2, 0, 1))
        self.rng = np.random.default_rng(seed)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def batch(self, batch_size: int, crop: int) -> torch.Tensor:
        out = torch.empty(batch_size, 3, crop, crop, dtype=torch.uint8)
        for i in range(batch_size):
            img = self.images[self.rng.integers(len(self.images))]
            h, w = img.shape[-2:]
            if h < crop or w < crop:
                img = (
                    torch.nn.functional.interpolate(
                        img[None].float(), size=(max(h, crop), max(w, crop)), mode="bilinear"
                    )[0]
                    .round()
                    .clamp(0, 255)
                    .to(torch.uint8)
                )
                h, w = img.shape[-2:]
            top = int(self.rng.integers(h - crop + 1))
            left = int(self.rng.integers(w - crop + 1))
            c = img[:, top : top + crop, left : left + crop]
            if self.rng.random() < 0.5:
                c = c.flip(-1)
            if self.rng.random() < 0.5:
                c = c.flip(-2)
            out[i] = c
        return out.float().div_(255.0)


def validation_images(folder: str | Path | None, limit: int) -> list[torch.Tensor]:
    """The first ``limit`` images of a validation folder (none without a folder)."""
    if folder is None:
        return []
    return [load_image(p) for p in image_files(folder)[:limit]]
