"""Shared measurement core of the report: images, RD points and curves from real bitstreams.

:class:`Evaluator` wraps a model bundle in a :class:`~hcf_ray.analysis.memo.MemoEngine` and
returns one :class:`Point` (bpp of the final bitstream, PSNR, MS-SSIM dB) per image and
cascade, memoized by ``(image, program)``: the edge-policy row of the policy table, the HCF
curve of the BD table, the full-HCF curve of the ablation and the ``s→1`` curve of the
cross-quality analysis are one computation. Curves are :class:`hcf_ray.evaluate.Curve`
objects, and every named method, learned cascade or progressive / classical baseline, is the
program its :mod:`hcf_ray.methods` entry gives for ``hcf-sim eval``
(:meth:`~hcf_ray.methods.Method.eval_program`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from hcf_ray.analysis.memo import DEFAULT_CACHE_BYTES, MemoEngine, Trace
from hcf_ray.bundle import ModelBundle
from hcf_ray.cascade import CascadeResult, PhiMode, Program
from hcf_ray.evaluate import Curve
from hcf_ray.images import load_image
from hcf_ray.methods import Method, get_method
from hcf_ray.metrics import ms_ssim_db, psnr
from hcf_ray.pcf.stages import BaselineSet

Progress = Callable[[str], None]


# -- images ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageItem:
    """An image tensor ``(1, 3, H, W)`` and the name that keys its memoized results."""

    name: str
    x: Tensor = field(repr=False)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.x.shape[-2]), int(self.x.shape[-1])


def center_crop(x: Tensor, side: int) -> Tensor:
    """Centre crop to at most ``side × side`` (a shorter image side is kept as is)."""
    h, w = x.shape[-2:]
    ch, cw = min(side, h), min(side, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw].contiguous()


def load_items(files: Sequence[str | Path], crop: int | None = None) -> list[ImageItem]:
    items = []
    for f in files:
        x = load_image(f)
        name = Path(f).name
        if crop:
            x, name = center_crop(x, crop), f"{name}@{crop}"
        items.append(ImageItem(name, x))
    return items


def crop_items(items: Sequence[ImageItem], side: int | None) -> list[ImageItem]:
    if not side:
        return list(items)
    return [ImageItem(f"{it.name}@{side}", center_crop(it.x, side)) for it in items]


# -- points ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """One RD point: rate of what the destination receives, quality of its reconstruction."""

    bpp: float
    psnr: float
    ms_ssim_db: float
    hop_bpp: tuple[float, ...] = ()  # rate of every transmission, source first (cascades)


def mean_point(points: Sequence[Point]) -> Point:
    n = len(points)
    if n == 0:
        raise ValueError("no points to average")
    hops = ()
    if all(len(p.hop_bpp) == len(points[0].hop_bpp) for p in points):
        hops = tuple(sum(p.hop_bpp[i] for p in points) / n for i in range(len(points[0].hop_bpp)))
    return Point(
        sum(p.bpp for p in points) / n,
        sum(p.psnr for p in points) / n,
        sum(p.ms_ssim_db for p in points) / n,
        hops,
    )


class Evaluator:
    """RD points of cascades and baselines on images, memoized by image and program."""

    def __init__(
        self,
        bundle: ModelBundle,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        tail_model: str | Path = "default",
    ):
        self.bundle = bundle
        self.engine = MemoEngine.from_bundle(bundle, cache_bytes=cache_bytes)
        self.tail_model = tail_model
        self.level_bpp: dict[int, float] | None = None
        self._points: dict[Hashable, Point] = {}
        self.engine.baselines = BaselineSet(None, tail_model)

    @property
    def max_level(self) -> int:
        return self.bundle.max_level

    # -- cascades ----------------------------------------------------------------------
    def program(
        self,
        method: str,
        s: int,
        d: int,
        policy=None,
        n_q: int = 2,
        phi_mode: PhiMode = "switch",
    ) -> Program:
        return self.engine.program(method, s, d, policy, n_q, phi_mode)

    def run(self, img: ImageItem, program: Program) -> Point:
        key = (img.name, program)
        if any(st.baseline for st in program.stages):  # its bytes depend on the rate table
            key = (*key, self.engine.baselines.key)
        if key not in self._points:
            res = self.engine.execute(program, img.x, key=img.name)
            self._points[key] = _point(img.x, res)
        return self._points[key]

    def cascade(
        self,
        img: ImageItem,
        method: str,
        s: int,
        d: int,
        policy=None,
        n_q: int = 2,
        phi_mode: PhiMode = "switch",
    ) -> Point:
        return self.run(img, self.program(method, s, d, policy, n_q, phi_mode))

    def trace(self, img: ImageItem, program: Program) -> Trace:
        """Latents along ``program`` (no synthesis at the destination), see MemoEngine.trace."""
        return self.engine.trace(program, img.x, key=img.name, latents_only=True)[1]

    # -- named methods (hcf_ray.methods) ----------------------------------------------
    def method(self, name: str) -> Method:
        return get_method(name)

    def method_point(self, img: ImageItem, name: str, s: int, d: int) -> Point:
        return self.run(img, self.method(name).eval_program(s, d))

    def set_level_rates(self, level_bpp: dict[int, float] | None) -> None:
        """Target rates of the ladder levels for the baselines (None: the default table)."""
        self.engine.baselines = BaselineSet(level_bpp, self.tail_model)
        self.level_bpp = self.engine.baselines.level_bpp

    # -- curves ------------------------------------------------------------------------
    def curve(
        self,
        name: str,
        images: Sequence[ImageItem],
        levels: Sequence[int],
        point: Callable[[ImageItem, int], Point],
        description: str = "",
        progress: Progress | None = None,
    ) -> Curve:
        """Mean curve over images; images are the outer loop so each image's memo is hot."""
        rows: dict[int, list[Point]] = {d: [] for d in levels}
        per_image = []
        for img in images:
            for d in levels:
                p = point(img, d)
                rows[d].append(p)
                per_image.append(
                    {
                        "image": img.name,
                        "level": d,
                        "bpp": p.bpp,
                        "psnr": p.psnr,
                        "ms_ssim_db": p.ms_ssim_db,
                    }
                )
        curve = Curve(name, description)
        for d in levels:
            m = mean_point(rows[d])
            curve.levels.append(d)
            curve.bpp.append(m.bpp)
            curve.psnr.append(m.psnr)
            curve.ms_ssim_db.append(m.ms_ssim_db)
        curve.per_image = per_image
        if progress:
            pts = ", ".join(
                f"d={d} {b:.3f}/{p:.2f}" for d, b, p in zip(levels, curve.bpp, curve.psnr)
            )
            progress(f"  {name}: {pts}")
        return curve

    def method_curve(
        self,
        name: str,
        images: Sequence[ImageItem],
        s: int | None = None,
        progress: Progress | None = None,
    ) -> Curve:
        """A registered method over d = 1..s-1 (and d = s for SSF), as ``hcf-sim eval``."""
        s = s or self.max_level
        m = self.method(name)
        top = s if m.include_source_level else s - 1
        return self.curve(
            name,
            images,
            list(range(1, top + 1)),
            lambda img, d: self.method_point(img, name, s, d),
            m.description,
            progress,
        )


def _point(x: Tensor, res: CascadeResult) -> Point:
    return Point(
        res.bpp(),
        psnr(x, res.x_hat),
        ms_ssim_db(x, res.x_hat),
        tuple(float(t.bitstream.bpp()) for t in res.transmissions),
    )
