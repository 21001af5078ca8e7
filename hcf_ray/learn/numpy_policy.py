"""A learned policy deciding with numpy alone: an MLP over the environment's observation,
its logits masked by the environment's action mask, the best allowed action taken.

``DIR/policy.py:LearnedPolicy`` (written by ``hcf-sim learn``) subclasses
:class:`MaskedMLPPolicy` and points it at ``DIR/weights.npz``. The weights are read when the
policy is made (on the driver) and travel with it, so a Ray worker never opens the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hcf_ray.gym.observation import (
    N_ACTIONS,
    OBS_SIZE,
    Progress,
    action_mask,
    next_level,
    observe,
    route_view,
)
from hcf_ray.policy import Decision, EdgePolicy, Policy, PolicyContext, PolicyVector

WEIGHTS_FORMAT = "hcf-sim-learned-mlp/1"
ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
}


def load_layers(path: str | Path) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The MLP of a ``weights.npz``: (weight [out, in], bias [out], activation) per layer."""
    with np.load(Path(path), allow_pickle=False) as z:
        if str(z["format"]) != WEIGHTS_FORMAT:
            raise ValueError(f"{path}: not a {WEIGHTS_FORMAT} file (format {z['format']})")
        n = int(z["layers"])
        layers = [
            (z[f"w{i}"].astype(np.float64), z[f"b{i}"].astype(np.float64), str(z[f"act{i}"]))
            for i in range(n)
        ]
    if layers[0][0].shape[1] != OBS_SIZE or layers[-1][0].shape[0] != N_ACTIONS:
        raise ValueError(
            f"{path}: the MLP maps {layers[0][0].shape[1]} → {layers[-1][0].shape[0]}; this "
            f"package's observation has {OBS_SIZE} values and {N_ACTIONS} actions"
        )
    return layers


def save_layers(path: str | Path, layers, extra: dict | None = None) -> None:
    arrays = {"format": np.array(WEIGHTS_FORMAT), "layers": np.array(len(layers))}
    for i, (w, b, act) in enumerate(layers):
        if act not in ACTIVATIONS:
            raise ValueError(f"activation {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        arrays[f"w{i}"] = np.asarray(w, dtype=np.float32)
        arrays[f"b{i}"] = np.asarray(b, dtype=np.float32)
        arrays[f"act{i}"] = np.array(act)
    for k, v in (extra or {}).items():
        arrays[k] = np.array(v)
    np.savez(Path(path), **arrays)


def logits(layers, obs: np.ndarray) -> np.ndarray:
    x = np.asarray(obs, dtype=np.float64)
    for w, b, act in layers:
        x = ACTIVATIONS[act](x @ w.T + b)
    return x


def greedy_levels(layers, view) -> tuple[int, ...] | None:
    """The levels per hop the MLP picks, hop by hop (best allowed action); None when no
    action is allowed."""
    done = Progress()
    while len(done.levels) < view.num_hops:
        mask = action_mask(view, done)
        if not mask.any():
            return None
        scores = logits(layers, observe(view, done))
        scores = np.where(mask > 0, scores, -np.inf)
        action = int(np.argmax(scores))  # ties: the lowest action (forward first)
        done = Progress((*done.levels, next_level(view, done, action)))
    return done.levels


class MaskedMLPPolicy(Policy):
    """Decides every hop of the route with the MLP in ``weights`` (a ``weights.npz``).
    A route longer than the observation holds (or a context it cannot read) is decided as
    ``edge`` decides it."""

    name = "learned"
    weights_file: str | Path | None = None  # default of ``weights``, set by subclasses

    def __init__(self, weights: str | Path | None = None):
        path = weights if weights is not None else self.weights_file
        if path is None:
            raise ValueError("a learned policy needs its weights file (weights=PATH)")
        self.layers = load_layers(path)

    def decide(self, ctx: PolicyContext) -> Decision:
        view = route_view(ctx)
        levels = greedy_levels(self.layers, view) if view.fits else None
        if levels is None:
            return EdgePolicy().decide(ctx)
        vector = PolicyVector.from_levels(
            ctx.start_level, ctx.target_level, tuple(dict.fromkeys(levels))
        )
        return Decision(vector, levels)
