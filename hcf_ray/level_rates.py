"""What each quality level of a model bundle costs in bits: the ladder's measured rates.

``level_bpp(spec)`` is the mean bpp of real single-stage bitstreams of every ladder level on
the sample images shipped with the package (four 384×256 photos). It is a property of the
bundle alone, never of the images a run happens to process, so:

* the progressive and classical baselines (``pcf-tail``, ``pcf-j2k``, ``drf-jpeg``,
  ``drf-webp``) map "level k" onto the rate closest to the ladder's level-k rate with it, in
  ``hcf-sim eval`` and on a topology alike (the same bytes either way);
* a policy's ``rate_model(level, pixels)`` estimates a stream's size with it.

The shipped bundles' tables come with the package (``hcf_ray/data/level_rates.json``, found
by the bundle's sha256, so planning with them needs no torch). Any other bundle is measured
once (a few seconds with the shipped models) and kept in memory and in ``$HCF_SIM_CACHE``
(default ``~/.cache/hcf-sim``)/``level_rates/<bundle sha256>.json``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from hcf_ray.atomic import atomic_write_text

FORMAT = "hcf-sim-level-rates/1"
SHIPPED = Path(__file__).resolve().parent / "data" / "level_rates.json"
_MEMO: dict[tuple[str, str | None], dict[int, float]] = {}
_LOCK = threading.Lock()


def cache_root() -> Path:
    return Path(os.environ.get("HCF_SIM_CACHE", Path.home() / ".cache" / "hcf-sim"))


def level_bpp(spec: str = "default", phi_dir: str | Path | None = None) -> dict[int, float]:
    """Mean bpp of each ladder level on the shipped sample images (see the module doc)."""
    from hcf_ray.bundle_id import bundle_sha256

    key = (str(spec), None if phi_dir is None else str(phi_dir))
    with _LOCK:
        if key in _MEMO:
            return dict(_MEMO[key])
        sha = bundle_sha256(spec, phi_dir)
        path = cache_root() / "level_rates" / f"{sha}.json"
        table = shipped_level_bpp(sha) or _read(path, sha)
        if table is None:
            from hcf_ray.bundle import BundleSource

            table = measure_level_bpp(BundleSource(spec, phi_dir))
            _write(path, sha, table)
        _MEMO[key] = table
        return dict(table)


def shipped_level_bpp(sha: str) -> dict[int, float] | None:
    """The shipped table of the bundle with this sha256, or None (not a shipped bundle)."""
    try:
        tables = json.loads(SHIPPED.read_text())["tables"]
        for t in tables:
            if t["bundle_sha256"] == sha:
                return {int(k): float(v) for k, v in t["level_bpp"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def measure_level_bpp(source) -> dict[int, float]:
    """Measure the table for a :class:`~hcf_ray.bundle.BundleSource` (one level at a time)
    or a :class:`~hcf_ray.codecs.ladder.QualityLadder`."""
    import torch

    from hcf_ray.bundle import BundleSource
    from hcf_ray.images import load_image, sample_images
    from hcf_ray.pcf.levels import check_level_bpp

    images = [load_image(p) for p in sample_images()]
    level = source.level if isinstance(source, BundleSource) else source.__getitem__
    table = {}
    with torch.no_grad():
        for k in source.levels:
            codec = level(k)
            total = 0.0
            for x in images:
                size = (int(x.shape[-2]), int(x.shape[-1]))
                total += codec.compress_latent(codec.analysis(x), size).bpp()
            table[k] = total / len(images)
    try:
        return check_level_bpp(table)
    except ValueError:
        return table  # rates not increasing with level: callers decide (baselines fall back)


def _read(path: Path, sha: str) -> dict[int, float] | None:
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or data.get("bundle_sha256") != sha:
            return None
        return {int(k): float(v) for k, v in data["level_bpp"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write(path: Path, sha: str, table: dict[int, float]) -> None:
    data = {
        "format": FORMAT,
        "bundle_sha256": sha,
        "level_bpp": {str(k): v for k, v in table.items()},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1))
    except OSError:
        pass  # a read-only home: measure again next time
