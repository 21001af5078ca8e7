"""The quality ladder: levels 1..s, each an independent CompressAI codec.

Three ways to build one:

* :meth:`QualityLadder.from_zoo` — CompressAI zoo models, ``pretrained=True`` loads the
  published weights from torch hub's cache (downloading them when missing),
  ``pretrained=False`` gives the zoo's random init. Spec ``zoo:ARCH@Q1-Q2``.
* :meth:`QualityLadder.from_dir` — a checkpoint directory written by :meth:`QualityLadder.save`
  (this is how the shipped default ladder is stored).
* :meth:`QualityLadder.random` — random init with configurable ``N``/``M``: tiny models for tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from compressai.zoo.image import cfgs as ZOO_CONFIGS
from compressai.zoo.image import model_architectures
from torch import nn

from hcf_ray.codecs.checkpoint import read_state_dict
from hcf_ray.codecs.latent_coders import coder_class_for
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.errors import InputError, read_manifest

# The architectures hcf-sim supports: CompressAI's zoo architectures whose entropy model has a
# latent coder (``latent_coders.coder_class_for``); the factorized-prior models have none.
# Only names with a zoo configuration count: ``model_architectures`` is a shared table that
# CompressAI's own ``compressai.utils.eval_model`` extends with its variable-rate models when it
# is imported, so what it holds depends on what was imported before hcf_ray.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    name: cls
    for name, cls in model_architectures.items()
    if name in ZOO_CONFIGS and coder_class_for(cls) is not None
}
# Models with a single width N (cheng2020: y has N channels): one width per zoo quality
SINGLE_WIDTH = frozenset(
    a for a in ARCHITECTURES if all(len(widths) == 1 for widths in ZOO_CONFIGS[a].values())
)

# MSE λ per zoo quality (loss = λ·255²·MSE + bpp). CompressAI 1.2.8 ships no λ table in code
# (compressai.zoo.image has model_architectures, model_urls and cfgs only); these are the values
# its zoo models were trained with, from its documentation's model-zoo page, "Training"
# (https://interdigitalinc.github.io/CompressAI/zoo.html, docs/source/zoo.rst).
MSE_LAMBDAS = {
    1: 0.0018,
    2: 0.0035,
    3: 0.0067,
    4: 0.0130,
    5: 0.0250,
    6: 0.0483,
    7: 0.0932,
    8: 0.1800,
}

MANIFEST = "ladder.json"


def build_model(arch: str, N: int, M: int | None = None) -> nn.Module:
    """A randomly initialised CompressAI model of ``arch`` with widths ``N`` (and ``M``)."""
    cls = _arch_class(arch)
    if arch in SINGLE_WIDTH:
        return cls(N)
    if M is None:
        raise InputError(f"architecture {arch!r} needs both N and M")
    return cls(N, M)


def _arch_class(arch: str) -> type[nn.Module]:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise InputError(
            f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}"
        ) from None


def model_widths(model: nn.Module) -> dict[str, int]:
    widths = {"N": int(model.N)} if hasattr(model, "N") else {}
    if hasattr(model, "M"):
        widths["M"] = int(model.M)
    return widths


class QualityLadder:
    """Levels ``1..s`` of one codec family; ``ladder[k]`` is a :class:`LevelCodec`."""

    def __init__(self, codecs: Mapping[int, LevelCodec] | Iterable[LevelCodec]):
        items = codecs.values() if isinstance(codecs, Mapping) else codecs
        self._codecs = {c.level: c for c in items}
        if not self._codecs:
            raise InputError("a quality ladder needs at least one level")
        levels = sorted(self._codecs)
        if levels != list(range(1, len(levels) + 1)):
            raise InputError(f"ladder levels must be 1..s without gaps, got {levels}")
        archs = {c.arch for c in self._codecs.values()}
        self.arch = archs.pop() if len(archs) == 1 else "mixed"

    def __getitem__(self, level: int) -> LevelCodec:
        self.check_level(level)
        return self._codecs[level]

    def __len__(self) -> int:
        return len(self._codecs)

    def __iter__(self):
        return iter(self._codecs[k] for k in self.levels)

    def __repr__(self) -> str:
        return f"QualityLadder(arch={self.arch!r}, levels=1..{self.max_level})"

    @property
    def levels(self) -> list[int]:
        return sorted(self._codecs)

    @property
    def max_level(self) -> int:
        return max(self._codecs)

    def check_level(self, level: int, what: str = "level") -> None:
        if level not in self._codecs:
            raise InputError(f"{what} {level} is outside the ladder's levels 1..{self.max_level}")

    def latent_channels(self, level: int) -> int:
        return self[level].latent_channels

    def to(self, device: str | torch.device) -> QualityLadder:
        for c in self._codecs.values():
            c.model.to(device)
        return self

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_zoo(
        cls,
        arch: str,
        levels: Iterable[int] = range(1, 7),
        pretrained: bool = True,
        metric: str = "mse",
        qualities: Iterable[int] | None = None,
    ) -> QualityLadder:
        """CompressAI zoo models; level k = zoo quality k, or with ``qualities`` (Q1..Q2,
        as in ``zoo:ARCH@Q1-Q2``) level i = the i-th of them. ``pretrained`` loads torch
        hub's cache or downloads (see :mod:`hcf_ray.model_spec`)."""
        if qualities is not None:
            return cls(
                [
                    zoo_level(arch, q, pretrained, metric, level=i)
                    for i, q in enumerate(qualities, 1)
                ]
            )
        return cls([zoo_level(arch, q, pretrained, metric) for q in levels])

    @classmethod
    def random(
        cls,
        arch: str = "mbt2018-mean",
        num_levels: int = 6,
        N: int = 16,
        M: int | None = 24,
        seed: int = 0,
        only: Iterable[int] | None = None,
    ) -> QualityLadder | dict[int, LevelCodec]:
        """Random-init ladder (tiny by default) for tests and structural measurements.

        Each level is seeded on its own; ``only`` builds just those levels and returns them as
        a ``{level: LevelCodec}`` dict (the same weights the full ladder would have)."""
        gen_state = torch.random.get_rng_state()
        keep = set(only) if only is not None else None
        try:
            codecs = []
            for k in range(1, num_levels + 1):
                if keep is not None and k not in keep:
                    continue
                torch.manual_seed(seed * 1000 + k)
                model = build_model(arch, N, M)
                codecs.append(LevelCodec(model, k, arch, MSE_LAMBDAS.get(k)))
        finally:
            torch.random.set_rng_state(gen_state)
        return {c.level: c for c in codecs} if keep is not None else cls(codecs)

    @classmethod
    def from_dir(cls, path: str | Path, map_location: str = "cpu") -> QualityLadder:
        """Load a ladder written by :meth:`save` (``ladder.json`` + one state dict per level)."""
        path = Path(path)
        manifest = read_manifest(path, MANIFEST, "ladder")
        arch = manifest["arch"]
        codecs = []
        for key, entry in sorted(manifest["levels"].items(), key=lambda kv: int(kv[0])):
            level = int(key)
            model = build_model(arch, entry["N"], entry.get("M"))
            state = read_state_dict(path / entry["file"], map_location)
            load_weights(model, state)
            codecs.append(LevelCodec(model, level, arch, entry.get("lambda")))
        return cls(codecs)

    def save(self, path: str | Path, half: bool = True, extra: dict | None = None) -> None:
        """Write ``ladder.json`` and ``level{k}.pt`` (fp16 weights when ``half``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        manifest = {"arch": self.arch, "levels": {}, **(extra or {})}
        for codec in self:
            fname = f"level{codec.level}.pt"
            torch.save(weights_state(codec.model, half), path / fname)
            manifest["levels"][str(codec.level)] = {
                "file": fname,
                "lambda": codec.lmbda,
                **model_widths(codec.model),
            }
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def zoo_level(
    arch: str,
    quality: int,
    pretrained: bool = True,
    metric: str = "mse",
    level: int | None = None,
) -> LevelCodec:
    """One CompressAI zoo model of ``quality`` as ladder level ``level`` (default: the
    quality). ``pretrained`` loads torch hub's cached file (``$TORCH_HOME/hub/checkpoints``)
    or downloads it; λ is the zoo quality's."""
    from compressai.zoo import image_models

    _arch_class(arch)
    model = image_models[arch](quality=quality, metric=metric, pretrained=pretrained)
    return LevelCodec(model, quality if level is None else level, arch, MSE_LAMBDAS.get(quality))


# Entropy-coder tables are derived data: ``LevelCodec`` rebuilds them with ``update(force=True)``
# from the loaded weights, so they are not stored (and their sizes vary between updates).
_DERIVED = ("_quantized_cdf", "_offset", "_cdf_length")


def weights_state(model: nn.Module, half: bool = True, prefixes: tuple[str, ...] = ()) -> dict:
    """State dict without derived CDF tables; fp16 learned weights when ``half``.

    Only parameters are stored in fp16 (and not the bottleneck quantiles). Buffers stay fp32:
    constants such as GDN's pedestal (≈3.6e-11) or the likelihood lower bound (1e-9)
    underflow to zero in fp16.
    """
    params = {n for n, _ in model.named_parameters()}
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith(_DERIVED) or (prefixes and not k.startswith(prefixes)):
            continue
        to_half = half and k in params and v.is_floating_point() and "quantiles" not in k
        v = v.detach().cpu()  # stored files carry no device (weights trained on a GPU)
        out[k] = v.half() if to_half else v
    return out


def load_weights(model: nn.Module, state: dict, partial: bool = False) -> None:
    """Load a :func:`weights_state` dict (fp16 or fp32) into ``model``.

    ``partial``: the state holds only some submodules; the rest keeps the model's values.
    """
    full = model.state_dict()
    unknown = sorted(set(state) - set(full))
    if unknown:
        raise InputError(f"weights do not match the model: unexpected keys {unknown[:3]}")
    missing = sorted(k for k in set(full) - set(state) if not k.endswith(_DERIVED))
    if missing and not partial:
        raise InputError(f"weights do not match the model: missing keys {missing[:3]}")
    for k, v in state.items():
        full[k] = v.to(full[k].dtype) if v.is_floating_point() else v
    model.load_state_dict(full)
