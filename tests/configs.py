"""Small configs shared by the tests (plain dicts: copy before changing them)."""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

# a three-node line a → b → c on tiny random models, level 6 → 2
LINE = {
    "name": "t",
    "codec": "random:mbt2018-mean",
    "nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
    "links": [
        {"src": "a", "dst": "b", "bandwidth_mbps": 10, "latency_ms": 1},
        {"src": "b", "dst": "c", "bandwidth_mbps": 10, "latency_ms": 1},
    ],
    "flows": [{"source": "a", "source_level": 6, "destinations": [{"node": "c", "level": 2}]}],
}
# the same line running HCF only
LINE_HCF = {**LINE, "flows": [{**LINE["flows"][0], "methods": ["hcf"]}]}


@functools.cache
def small_photos() -> str:
    """A folder of 128×96 crops of the bundled photos, under the photos' own names: for runs
    whose claim is about scheduling, faults, resume or records, not about image size (the
    tiny random models then run in milliseconds). Made once per test process."""
    from PIL import Image

    from hcf_ray.images import sample_images

    folder = Path(tempfile.mkdtemp(prefix="hcf-small-photos-"))
    atexit.register(shutil.rmtree, folder, True)
    for path in sample_images():
        Image.open(path).convert("RGB").crop((0, 0, 128, 96)).save(folder / path.name)
    return str(folder)


def on_small_photos(cfg: dict) -> dict:
    """A copy of ``cfg`` (a topology dict) with every flow on :func:`small_photos`."""
    return {**cfg, "flows": [{**flow, "images": small_photos()} for flow in cfg["flows"]]}


def flows_on_small_photos(cfg) -> list:
    """The flows of ``cfg`` (a loaded topology config), each a copy on :func:`small_photos`."""
    return [flow.model_copy(update={"images": small_photos()}) for flow in cfg.flows]
