"""Entropy coding of a :class:`TailDropHyperprior` into a chunked progressive bitstream.

``encode`` runs ``g_a``, codes ẑ with the entropy bottleneck (chunk 0), then codes every
channel group of ``y`` separately with the Gaussian conditional, using the scales/means that
``h_s(ẑ)`` predicts for those channels. A receiver holding ẑ and the first ``k`` chunks
decodes exactly the first ``k`` groups and fills the others with their predicted means.

Weights are stored like the ladder's: ``pcf.json`` (widths, groups, training notes) and an
fp16 state dict without the derived entropy-coder tables (rebuilt by ``update(force=True)``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from torch import Tensor

from hcf_ray.codecs.checkpoint import read_state_dict
from hcf_ray.codecs.ladder import load_weights, weights_state
from hcf_ray.codecs.level import check_image_tensor, crop_image, pad_image
from hcf_ray.errors import InputError, read_manifest
from hcf_ray.pcf.bitstream import ProgressiveBitstream
from hcf_ray.pcf.tail_drop import TailDropHyperprior, fill_dropped

MANIFEST = "pcf.json"
WEIGHTS = "taildrop.pt"


class TailDropCodec:
    """Encode once at full rate; decode any prefix of channel groups."""

    def __init__(self, model: TailDropHyperprior, update_cdfs: bool = True):
        self.model = model.eval()
        if update_cdfs:
            self.model.update(force=True)

    @property
    def group_sizes(self) -> tuple[int, ...]:
        return self.model.group_sizes

    @property
    def num_groups(self) -> int:
        return self.model.num_groups

    @torch.no_grad()
    def encode(self, x: Tensor) -> ProgressiveBitstream:
        """Image ``(1,3,H,W)`` in [0,1] → stream with all groups."""
        check_image_tensor(x)
        m = self.model
        h, w = x.shape[-2:]
        y = m.g_a(pad_image(x))
        z = m.h_a(y)
        z_string = m.entropy_bottleneck.compress(z)[0]
        z_shape = (int(z.size(-2)), int(z.size(-1)))
        z_hat = m.entropy_bottleneck.decompress([z_string], z_shape)
        scales, means = m.h_s(z_hat).chunk(2, 1)
        gc = m.gaussian_conditional
        indexes = gc.build_indexes(scales)
        chunks = []
        for a, b in m.group_bounds():
            chunks.append(gc.compress(y[:, a:b], indexes[:, a:b], means=means[:, a:b])[0])
        return ProgressiveBitstream(
            (int(h), int(w)),
            z_shape,
            m.group_sizes,
            tuple(len(c) for c in chunks),
            z_string,
            tuple(chunks),
        )

    @torch.no_grad()
    def decode_latent(self, bs: ProgressiveBitstream) -> Tensor:
        """ŷ with the present groups decoded and the dropped ones at their predicted means."""
        m = self.model
        if bs.group_sizes != m.group_sizes:
            raise InputError(
                f"stream has groups {list(bs.group_sizes)}, model has {list(m.group_sizes)}"
            )
        z_hat = m.entropy_bottleneck.decompress([bs.z_string], bs.z_shape)
        scales, means = m.h_s(z_hat).chunk(2, 1)
        gc = m.gaussian_conditional
        indexes = gc.build_indexes(scales)
        y_hat = means.clone()
        for (a, b), chunk in zip(m.group_bounds(), bs.groups):
            y_hat[:, a:b] = gc.decompress(
                [chunk], indexes[:, a:b], z_hat.dtype, means=means[:, a:b]
            )
        return fill_dropped(y_hat, means, m.channels_for(bs.k))

    @torch.no_grad()
    def decode(self, bs: ProgressiveBitstream) -> Tensor:
        """Reconstruction ``(1,3,H,W)`` in [0,1] of a (possibly truncated) stream."""
        return crop_image(self.model.g_s(self.decode_latent(bs)).clamp_(0, 1), bs.image_size)

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | Path, half: bool = True, extra: dict | None = None) -> None:
        """Write ``pcf.json`` + ``taildrop.pt`` (fp16 weights when ``half``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        m = self.model
        torch.save(weights_state(m, half), path / WEIGHTS)
        manifest = {
            "arch": "taildrop-mbt2018-mean",
            "N": int(m.N),
            "M": int(m.M),
            "group_sizes": list(m.group_sizes),
            "file": WEIGHTS,
            **(extra or {}),
        }
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, map_location: str = "cpu") -> TailDropCodec:
        path = Path(path)
        manifest = read_manifest(path, MANIFEST, "progressive-codec")
        model = TailDropHyperprior(manifest["N"], manifest["M"], manifest["group_sizes"])
        state = read_state_dict(path / manifest["file"], map_location)
        load_weights(model, state)
        return cls(model)


def default_pcf_dir() -> Path:
    """Where the shipped progressive model lives (``hcf_ray/weights/default/pcf``)."""
    return Path(str(resources.files("hcf_ray"))) / "weights" / "default" / "pcf"


def load_tail_codec(spec: str | Path | TailDropCodec | None = "default") -> TailDropCodec:
    """``default`` (shipped weights), a directory written by :meth:`TailDropCodec.save`,
    or ``random[:N[:M[:GROUP]]]`` (random init, for tests and dry runs)."""
    if isinstance(spec, TailDropCodec):
        return spec
    spec = "default" if spec is None else str(spec)
    if spec == "default":
        path = default_pcf_dir()
        if not (path / MANIFEST).is_file():
            raise InputError(f"no shipped progressive (pcf-tail) model in {path}")
        return TailDropCodec.load(path)
    if spec.startswith("random"):
        nums = [int(p) for p in spec.split(":")[1:] if p]
        N, M, group = (nums + [16, 24, 4][len(nums) :])[:3]
        from hcf_ray.pcf.tail_drop import uniform_groups

        gen_state = torch.random.get_rng_state()
        try:
            torch.manual_seed(0)
            model = TailDropHyperprior(N, M, uniform_groups(M, group))
        finally:
            torch.random.set_rng_state(gen_state)
        return TailDropCodec(model)
    if not Path(spec).is_dir():
        raise InputError(f"pcf-tail model {spec!r}: not 'default', 'random[:N:M:G]' or a directory")
    return TailDropCodec.load(spec)
