"""What ``hcf-sim learn`` leaves in its folder for the simulator: ``weights.npz`` (the MLP,
numpy arrays) and ``policy.py`` (``LearnedPolicy``, usable as ``policy: {class:
DIR/policy.py:LearnedPolicy}`` in any topology YAML)."""

from __future__ import annotations

from pathlib import Path

from hcf_ray.atomic import atomic_write_bytes
from hcf_ray.learn.numpy_policy import save_layers

POLICY_FILE = "policy.py"
WEIGHTS_FILE = "weights.npz"

POLICY_TEXT = '''"""A policy learned by hcf-sim learn (RLlib PPO), deciding with numpy only.

Use it in a topology YAML as  policy: {class: PATH/policy.py:LearnedPolicy}
The weights are read from weights.npz beside this file when the policy is made.
"""

from pathlib import Path

from hcf_ray.learn.numpy_policy import MaskedMLPPolicy


class LearnedPolicy(MaskedMLPPolicy):
    name = "learned"
    weights_file = Path(__file__).with_name("weights.npz")
'''


def export_policy(out: str | Path, layers, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``weights.npz`` and ``policy.py`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS_FILE + ".tmp.npz")
    save_layers(tmp, layers, extra)
    tmp.replace(out / WEIGHTS_FILE)
    atomic_write_bytes(out / POLICY_FILE, POLICY_TEXT.encode())
    return out / POLICY_FILE, out / WEIGHTS_FILE
