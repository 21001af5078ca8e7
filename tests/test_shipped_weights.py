"""The shipped default models: every part present, loadable, and inside the 50 MB budget."""

import json

from hcf_ray.bundle import OVERLAY_DIR, OVERLAY_MANIFEST, default_weights_dir, load_bundle
from hcf_ray.pcf.codec import default_pcf_dir

BUDGET_BYTES = 50_000_000


def test_shipped_weights_fit_the_budget():
    root = default_weights_dir()
    files = [p for p in root.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total < BUDGET_BYTES, f"{total / 1e6:.1f} MB shipped in {root}"
    names = {p.relative_to(root).as_posix() for p in files}
    # ladder, φ bank, HCF overlay and the progressive baseline all ship
    assert {"ladder.json", "phi.json", "phi.pt", f"{OVERLAY_DIR}/{OVERLAY_MANIFEST}"} <= names
    assert any(n.startswith("pcf/") for n in names)
    assert (default_pcf_dir() / "pcf.json").is_file()


def test_default_bundle_is_complete():
    bundle = load_bundle("default")
    assert bundle.ladder.levels == [1, 2, 3, 4, 5, 6]
    assert bundle.phis is not None and bundle.hcf_ladder is not None
    for k in range(2, 7):  # every transition k → k-1 has both variants
        bundle.phis.get(k, "inter")
        bundle.phis.get(k, "intra")
    meta = json.loads((default_weights_dir() / "ladder.json").read_text())
    assert meta["training"]["hours"] > 0  # trained in-project, with its recipe recorded
