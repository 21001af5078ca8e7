"""Calibrating the compute cost model: measure every op of a cascade, fit it per pixel.

:func:`calibrate` measures each op in isolation in this one process and returns a profile
dict (format in :mod:`hcf_ray.sim.net.costs`); :func:`write_profile` stores it.

Method, per calibration size ``h × w`` and per op:

* **input**: the bundled sample photos (:func:`hcf_ray.images.sample_images`) as a 2×2 mosaic,
  mirror-tiled to cover the size and centre-cropped (:func:`sample_input`): deterministic and
  photo-like, so the entropy coders see natural rates. Every op's input is prepared by the
  op before it (``ỹ = g_a(x)``, a level-k bitstream, the decoded ``ŷ`` …), outside the timing.
* **seconds**: one FLOP-counting pass, one profiling pass, ``warmup`` untimed calls, then the
  median of ``runs`` timed calls (:func:`hcf_ray.analysis.efficiency.median_time`;
  CUDA-synchronised on a GPU), all under ``torch.no_grad()`` with
  ``torch.set_num_threads(threads)``.
* **flops**: ``torch.utils.flop_counter.FlopCounterMode`` on a real call (convolutions and
  matrix products, 1 MAC = 2 FLOPs; ``encode``/``decode`` count their hyper-transforms).
  The entropy coding itself, GDN's element-wise work, rounding and the classical codecs
  (JPEG, WebP, JPEG 2000 in Pillow) count 0 FLOPs.
* **peak_mb**: :func:`hcf_ray.analysis.efficiency.peak_activation_bytes` — on CPU the peak of
  PyTorch's allocator events under the profiler, on CUDA ``max_memory_allocated`` — above what
  was allocated before the call, in MB (10^6 bytes). Memory allocated outside PyTorch's
  allocator (oneDNN scratch, Pillow/OpenJPEG buffers, the rANS coder) is not seen.

Then per op and quantity, a least-squares line ``value = a + b·pixels`` over the sizes
(``pixels`` padded to multiples of 64), fitted on relative residuals
(:func:`hcf_ray.sim.net.costs.fit_linear`): per-pixel costs of the transforms grow with the
size on a CPU (1024×768 costs ~1.5–2× more per pixel than 256×256 once activations outgrow
the caches), and an ordinary fit would price small images at almost nothing.

Ops: the base ladder's ``analysis/encode/decode/synthesis[k]``, the φ bank's
``phi_inter/phi_intra[k]`` and ``pixels8``; the HCF overlay ladder has the same architecture
and is priced with the base ladder's keys. Baselines (``pcf-tail`` with the shipped tail-drop
model, ``pcf-j2k``, ``drf-jpeg``, ``drf-webp``) run on the CPU whatever ``device`` is, with
the default level→rate table (:data:`hcf_ray.pcf.levels.DEFAULT_LEVEL_BPP`) over the ladder's
levels; one that cannot be built or run is listed under ``"skipped"`` with the reason.

Duration (shipped models, 1 thread, default sizes and runs=5, baselines included): about
6 minutes on a 2-core x86 VM shared with other jobs (the learned ops ~2 min, ``pcf-tail``
~2 min, ``drf-webp`` ~1.5 min); the profile records it as ``"elapsed_s"``.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hcf_ray.analysis.efficiency import median_time, peak_activation_bytes
from hcf_ray.atomic import atomic_write_text
from hcf_ray.bundle_id import bundle_sha256
from hcf_ray.errors import InputError
from hcf_ray.methods import baseline_names
from hcf_ray.sim.net.costs import (
    FORMAT,
    baseline_op_keys,
    fit_linear,
    learned_op_keys,
    padded_pixels,
)

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((256, 256), (512, 384), (768, 512), (1024, 768))
MIN_SIZES = 3
MIN_SIDE = 64

Log = Callable[[str], None] | None


# -- inputs --------------------------------------------------------------------------------
def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"256x256,512x384"`` → ``[(256, 256), (512, 384)]`` (each ``HEIGHTxWIDTH``)."""
    sizes = []
    for item in str(text).split(","):
        item = item.strip().lower()
        try:
            h, w = (int(v) for v in item.split("x"))
        except ValueError:
            raise InputError(f"expected HEIGHTxWIDTH[,...] e.g. 512x768, got {item!r}") from None
        sizes.append((h, w))
    return check_sizes(sizes)


def check_sizes(sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    sizes = [(int(h), int(w)) for h, w in sizes]
    small = [f"{h}x{w}" for h, w in sizes if min(h, w) < MIN_SIDE]
    if small:
        raise InputError(f"sizes must be at least {MIN_SIDE}x{MIN_SIDE}, got {', '.join(small)}")
    distinct = {padded_pixels(h, w) for h, w in sizes}
    if len(distinct) < MIN_SIZES:
        raise InputError(
            f"need at least {MIN_SIZES} sizes with different padded pixel counts for the fit, "
            f"got {', '.join(f'{h}x{w}' for h, w in sizes)}"
        )
    return sizes


_MOSAIC: torch.Tensor | None = None


def _mosaic() -> torch.Tensor:
    """The sample photos as a 2×2 mosaic ``(1, 3, 2H, 2W)`` (photos cropped to a common size)."""
    global _MOSAIC
    if _MOSAIC is None:
        from hcf_ray.images import load_image, sample_images

        photos = [load_image(p) for p in sample_images()[:4]]
        if not photos:
            raise ValueError("no bundled sample images to calibrate on")
        while len(photos) < 4:  # fewer photos: mirrored copies fill the mosaic
            photos.append(photos[0].flip(-1))
        h = min(p.shape[-2] for p in photos)
        w = min(p.shape[-1] for p in photos)
        p = [q[..., :h, :w] for q in photos]
        _MOSAIC = torch.cat([torch.cat(p[:2], -1), torch.cat(p[2:], -1)], -2)
    return _MOSAIC


def sample_input(height: int, width: int) -> torch.Tensor:
    """A deterministic photo-like ``(1, 3, height, width)`` image in [0, 1]: the sample-photo
    mosaic, mirror-tiled (seamless) to cover the size, centre-cropped."""
    base = _mosaic()
    # a mirrored 2×2 tile is periodic without seams
    tile = torch.cat([base, base.flip(-1)], -1)
    tile = torch.cat([tile, tile.flip(-2)], -2)
    th, tw = tile.shape[-2:]
    reps_h, reps_w = -(-height // th), -(-width // tw)
    canvas = tile.repeat(1, 1, reps_h, reps_w)
    top = (canvas.shape[-2] - height) // 2
    left = (canvas.shape[-1] - width) // 2
    return canvas[..., top : top + height, left : left + width].contiguous()


# -- measuring one op ----------------------------------------------------------------------
def measure_op(fn: Callable[[], object], runs: int, warmup: int, device: str):
    """``(output, seconds, flops, peak_bytes)`` of ``fn`` (see the module doc)."""
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            out = fn()
        flops = int(counter.get_total_flops())
        peak = peak_activation_bytes(fn, device)
        for _ in range(max(0, warmup - 1)):  # median_time warms up once more itself
            fn()
        seconds = median_time(fn, runs, device)
    return out, seconds, flops, peak


class _Recorder:
    """Collects the points of every op; drops a group (a baseline) that fails midway."""

    def __init__(self, runs: int, warmup: int, device: str, select: Callable[[str], bool]):
        self.runs, self.warmup, self.device, self.select = runs, warmup, device, select
        self.points: dict[str, dict[str, list]] = {}

    def __call__(self, op: str, pixels: int, fn: Callable[[], object]):
        if not self.select(op):  # only its output is needed, as the next op's input
            with torch.no_grad():
                return fn()
        out, s, f, peak = measure_op(fn, self.runs, self.warmup, self.device)
        pts = self.points.setdefault(op, {"seconds": [], "flops": [], "peak_mb": []})
        pts["seconds"].append([pixels, s])
        pts["flops"].append([pixels, f])
        pts["peak_mb"].append([pixels, peak / 1e6])
        return out

    def drop(self, prefix: str) -> None:
        for op in [o for o in self.points if o.startswith(prefix)]:
            del self.points[op]


def _learned_ops(rec: _Recorder, ladder, phis, x: torch.Tensor, size, skipped: dict) -> None:
    pixels = padded_pixels(*size)
    x_hat = None
    for k in sorted(ladder.levels, reverse=True):
        codec = ladder[k]
        y = rec(f"analysis[{k}]", pixels, lambda c=codec: c.analysis(x))
        bs = rec(f"encode[{k}]", pixels, lambda c=codec, y=y: c.compress_latent(y, size))
        y_hat = rec(f"decode[{k}]", pixels, lambda c=codec, bs=bs: c.decompress_latent(bs))
        rec(f"synthesis[{k}]", pixels, lambda c=codec, v=y_hat: c.synthesis(v, size))
        if x_hat is None:
            x_hat = codec.synthesis(y_hat, size)
        if k == min(ladder.levels):
            continue
        if phis is None or not phis.has(k):
            skipped[f"phi[{k}]"] = f"the φ bank has no module for transition {k}→{k - 1}"
            continue
        # φ^inter acts on a decoded (quantized) latent, φ^intra on g_a's unquantized output
        inter, intra = phis.get(k, "inter"), phis.get(k, "intra")
        rec(f"phi_inter[{k}]", pixels, lambda m=inter, v=y_hat: m(v))
        rec(f"phi_intra[{k}]", pixels, lambda m=intra, v=y: m(v))
    # as CascadeEngine._apply runs it on a reconstruction
    rec("pixels8", pixels, lambda: x_hat.mul(255.0).round_().div_(255.0))


def _baseline_ops(rec: _Recorder, base, levels, x: torch.Tensor, size) -> None:
    pixels = padded_pixels(*size)
    name = base.name
    levels = sorted(levels)
    top = levels[-1]
    chain = {}
    for k in reversed(levels):
        p = rec(f"{name}:encode[{k}]", pixels, lambda k=k: base.encode_source(x, k))
        if k == top:
            chain[k] = p
    for k in reversed(levels[:-1]):
        chain[k] = rec(
            f"{name}:relay[{k}]", pixels, lambda p=chain[k + 1], k=k: base.relay(p, k + 1, k)
        )
    for k in reversed(levels):
        rec(f"{name}:decode[{k}]", pixels, lambda p=chain[k], k=k: base.decode(p, k))


def _build_baselines(levels, skipped: dict) -> list:
    from hcf_ray.pcf.levels import DEFAULT_LEVEL_BPP
    from hcf_ray.pcf.methods import make_baseline

    missing = [k for k in levels if k not in DEFAULT_LEVEL_BPP]
    if missing:
        for name in baseline_names():
            skipped[name] = f"no default target rate for levels {missing}"
        return []
    level_bpp = {k: DEFAULT_LEVEL_BPP[k] for k in levels}
    out = []
    for name in baseline_names():
        try:
            out.append(make_baseline(name, level_bpp=level_bpp))
        except Exception as exc:  # a missing model, codec or library: report, never hide
            skipped[name] = f"cannot build: {type(exc).__name__}: {exc}".splitlines()[0]
    return out


# -- the profile ---------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def device_info(device: str, threads: int) -> dict:
    if device.startswith("cuda"):
        return {"kind": "cuda", "name": torch.cuda.get_device_name(device), "threads": threads}
    return {"kind": "cpu", "name": cpu_name(), "threads": threads}


def op_selector(ops: Sequence[str] | None) -> Callable[[str], bool]:
    """``None``: every op; else an op is selected if it equals or starts with an item
    (``analysis`` selects ``analysis[1..6]``, ``drf-jpeg:`` a whole baseline)."""
    if ops is None:
        return lambda _op: True
    items = tuple(o.strip() for o in ops if o.strip())
    return lambda op: any(op == it or op.startswith(it) for it in items)


def _check_run_args(runs: int, warmup: int, threads: int, device: str) -> None:
    if runs < 1 or warmup < 1 or threads < 1:
        raise InputError("runs, warmup and threads must be at least 1")
    if not (device == "cpu" or device.startswith("cuda")):
        raise InputError(f"device must be cpu or cuda[:N], got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device}: torch sees no CUDA device")


def measure_points(
    spec: str = "default",
    phi_dir: str | Path | None = None,
    sizes: Sequence[Sequence[int]] = DEFAULT_SIZES,
    runs: int = 5,
    warmup: int = 1,
    threads: int = 1,
    device: str = "cpu",
    baselines: bool = True,
    ops: Sequence[str] | None = None,
    log: Log = None,
) -> tuple[dict, dict, object]:
    """Measure the ops (all, or those :func:`op_selector` picks from ``ops``) at every size.

    Returns ``(points, skipped, bundle)``: ``points[op][quantity] = [[pixels, value], ...]``
    (quantities ``seconds``, ``flops``, ``peak_mb``) and the skipped ops / baselines with the
    reason. Raises ValueError on bad arguments or an unknown model spec.
    """
    from hcf_ray.bundle import load_bundle

    sizes = [(int(h), int(w)) for h, w in sizes]
    if not sizes or min(min(sz) for sz in sizes) < MIN_SIDE:
        raise InputError(f"sizes must be at least {MIN_SIDE}x{MIN_SIDE}")
    _check_run_args(runs, warmup, threads, device)
    say = log or (lambda _msg: None)
    select = op_selector(ops)
    bundle = load_bundle(spec, phi_dir)
    levels = list(bundle.ladder.levels)
    skipped: dict[str, str] = {}
    if bundle.phis is None:
        skipped["phi"] = "the model bundle has no φ modules"
    ladder = bundle.ladder.to(device) if device != "cpu" else bundle.ladder
    phis = bundle.phis.to(device) if bundle.phis is not None and device != "cpu" else bundle.phis
    learned = any(select(op) for op in learned_op_keys(levels))
    bases = []
    if baselines:
        wanted = [n for n in baseline_names() if any(map(select, baseline_op_keys(n, levels)))]
        bases = [b for b in _build_baselines(levels, skipped) if b.name in wanted]
    else:
        skipped["baselines"] = "excluded (--no-baselines)"
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rec = _Recorder(runs, warmup, device, select)
    try:
        for h, w in sizes:
            x = sample_input(h, w)
            if learned:
                t0 = time.perf_counter()
                _learned_ops(rec, ladder, phis, x.to(device), (h, w), skipped)
                say(f"  {h}x{w}: learned ops, levels {levels} ({time.perf_counter() - t0:.1f} s)")
            for base in list(bases):
                t0 = time.perf_counter()
                try:
                    _baseline_ops(rec, base, levels, x, (h, w))
                except Exception as exc:  # report the baseline as skipped, never hide it
                    bases.remove(base)
                    rec.drop(f"{base.name}:")
                    skipped[base.name] = (
                        f"failed at {h}x{w}: {type(exc).__name__}: {exc}".splitlines()[0]
                    )
                    say(f"  {h}x{w}: {base.name} skipped ({skipped[base.name]})")
                    continue
                say(f"  {h}x{w}: {base.name} ({time.perf_counter() - t0:.1f} s)")
    finally:
        torch.set_num_threads(prev_threads)
    return rec.points, skipped, bundle


def calibrate(
    spec: str = "default",
    phi_dir: str | Path | None = None,
    sizes: Sequence[Sequence[int]] = DEFAULT_SIZES,
    runs: int = 5,
    warmup: int = 1,
    threads: int = 1,
    device: str = "cpu",
    baselines: bool = True,
    log: Log = None,
) -> dict:
    """Measure every op of the bundle ``spec`` (and the baselines) and fit the profile.

    Raises ValueError on bad arguments or an unknown model spec.
    """
    sizes = check_sizes(sizes)
    _check_run_args(runs, warmup, threads, device)
    t_start = time.perf_counter()
    digest = bundle_sha256(spec, phi_dir)  # also rejects an unknown spec before loading
    points, skipped, bundle = measure_points(
        spec, phi_dir, sizes, runs, warmup, threads, device, baselines, log=log
    )
    ops = {op: {q: fit_linear(p) for q, p in qs.items()} for op, qs in points.items()}
    levels = list(bundle.ladder.levels)
    import compressai

    return {
        "format": FORMAT,
        "models": {
            "spec": spec,
            "phi_dir": None if phi_dir is None else str(phi_dir),
            "bundle_sha256": digest,
            "levels": levels,
            "hcf_ladder": (
                "priced with the base ladder's keys (same architecture)"
                if bundle.hcf_ladder is not None
                else None
            ),
        },
        "device": device_info(device, threads),
        "torch": torch.__version__,
        "compressai": compressai.__version__,
        "python": platform.python_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - t_start, 1),
        "method": {
            "runs": runs,
            "warmup": warmup,
            "statistic": "median",
            "sizes": [[h, w] for h, w in sizes],
            "pixels": "padded to multiples of 64",
            "fit": "least squares value = a + b*pixels on relative residuals (weights "
            "1/value^2; uniform if a value is 0), predictions clamped at >= 0",
            "input": "bundled sample photos, 2x2 mosaic, mirror-tiled, centre-cropped",
            "flops": "torch.utils.flop_counter.FlopCounterMode (convolutions incl. the "
            "hyper-transforms; entropy coding itself and classical codecs count 0)",
            "peak_mb": "peak_activation_bytes / 1e6 ("
            + (
                "torch.cuda.max_memory_allocated"
                if device.startswith("cuda")
                else "PyTorch CPU allocator events under torch.profiler"
            )
            + ")",
            "baselines": (
                {
                    "tail_model": "default",
                    "level_bpp": "hcf_ray.pcf.levels.DEFAULT_LEVEL_BPP",
                    "device": "cpu",
                }
                if baselines
                else None
            ),
        },
        "ops": ops,
        "skipped": skipped,
    }


def _pretty(value, pad: str = "") -> str:
    """JSON with dicts indented and lists kept on one line."""
    if isinstance(value, dict) and value:
        inner = pad + "  "
        items = [f"{inner}{json.dumps(k)}: {_pretty(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return json.dumps(value)


def dumps_profile(profile: dict) -> str:
    """The profile as JSON text: metadata indented, one line per op."""
    lines = ["{"]
    items = list(profile.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key == "ops":
            lines.append('  "ops": {')
            ops = list(value.items())
            for j, (op, fits) in enumerate(ops):
                sep = "," if j < len(ops) - 1 else ""
                lines.append(f"    {json.dumps(op)}: {json.dumps(fits)}{sep}")
            lines.append("  }" + comma)
        else:
            lines.append(f"  {json.dumps(key)}: {_pretty(value, '  ')}{comma}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(profile))
    return text


def write_profile(profile: dict, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``profile`` to ``path``; an existing file is only replaced with ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (pass --overwrite to replace it)")
    if path.parent and not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dumps_profile(profile))
    return path


def format_table(profile: dict, path: str | Path | None = None) -> str:
    """op, a (ms), b (ns/pixel), max fit error % of the seconds fits (and the path written)."""
    rows = [("op", "a (ms)", "b (ns/px)", "max err %")]
    for op, fits in profile["ops"].items():
        s = fits["seconds"]
        err = s.get("max_rel_err")
        rows.append(
            (
                op,
                f"{s['a'] * 1e3:.2f}",
                f"{s['b'] * 1e9:.2f}",
                "-" if err is None else f"{err * 100:.1f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = [
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in rows
    ]
    for key, why in (profile.get("skipped") or {}).items():
        out.append(f"skipped {key}: {why}")
    if path is not None:
        out.append(f"wrote {path}")
    return "\n".join(out)
