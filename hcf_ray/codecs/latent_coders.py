"""Entropy coding of a latent ``y`` with a CompressAI model's own prior, without running ``g_a``.

CompressAI's ``compress(x)`` always starts with ``y = g_a(x)`` and ``decompress`` always ends
with ``g_s``. HCF needs the part in between on its own: quantize + entropy-code an arbitrary
latent (the output of a latent-to-latent module) with the level-k hyperprior / context model,
and decode it back to ``ŷ`` on the receiving node.

That part is CompressAI's own :mod:`compressai.latent_codecs`: each coder composes a
``HyperpriorLatentCodec`` (``HyperLatentCodec`` for ``z``; ``GaussianConditionalLatentCodec`` or,
for the context models, ``RasterScanLatentCodec`` for ``y``) around the model's trained
submodules (``h_a``, ``h_s``, ``entropy_bottleneck``, ``gaussian_conditional``,
``context_prediction``, ``entropy_parameters``). The zoo models are not built from latent
codecs, so the codec only holds references to those submodules: the model, its state dict and
its device moves are unchanged, and the strings are byte for byte CompressAI's own
``model.compress`` ones for the same ``y``.

Every coder returns the encoder-side quantized latent alongside the strings, and its decoder
reproduces that tensor bit-exactly (same device, float32). For the context models this rests
on the masked 5×5 context convolution: the encoder scans a buffer holding ``y`` where the
decoder's still holds zeros, and the mask's exact zeros make both see the same context.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from compressai.latent_codecs import (
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
    LatentCodec,
    RasterScanLatentCodec,
)
from compressai.models import (
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)
from torch import Tensor, nn

Y_PER_Z = 4  # spatial scaling between the hyper-latent and the latent (h_s up-samples by 4)


@dataclass
class CodedLatent:
    strings: list[bytes]  # [y_string, z_string]
    z_shape: tuple[int, int]
    y_hat: Tensor  # encoder-side quantized latent (what the decoder will reproduce)


class LatentCoder(ABC):
    """Quantization + entropy coding of one latent tensor (batch size 1)."""

    def __init__(self, model: nn.Module):
        self.model = model
        hyper = HyperLatentCodec(model.entropy_bottleneck, self._h_a(), model.h_s)
        self.codec = HyperpriorLatentCodec({"y": self._y_codec(), "hyper": hyper})

    @abstractmethod
    def _y_codec(self) -> LatentCodec:
        """CompressAI's latent codec for ``y`` given ``h_s(ẑ)``, over the model's modules."""

    def _h_a(self) -> nn.Module:
        """``h_a`` as applied to ``y``."""
        return self.model.h_a

    def encode(self, y: Tensor) -> CodedLatent:
        _check_batch(y)
        out = self.codec.compress(y)
        y_strings, z_strings = out["strings"]
        z_shape = tuple(int(n) for n in out["shape"]["hyper"])
        return CodedLatent([y_strings[0], z_strings[0]], z_shape, out["y_hat"])

    def decode(self, strings: list[bytes], z_shape: tuple[int, int]) -> Tensor:
        zh, zw = (int(n) for n in z_shape)
        shape = {"y": (Y_PER_Z * zh, Y_PER_Z * zw), "hyper": (zh, zw)}
        return self.codec.decompress([[s] for s in strings], shape)["y_hat"]

    @abstractmethod
    def quantize(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(ŷ, estimated bits)`` without running the entropy coder.

        The bit count is CompressAI's entropy estimate (``-log2`` likelihoods of y and z).
        """

    def dequantized(self, y: Tensor) -> Tensor:
        """Batched ``Q^k`` (hard rounding, as at inference) without the entropy coder.

        Used for training modules on quantized inputs. For the mean-scale and scale hyperprior
        coders this equals the encoder-side ŷ of :meth:`encode` exactly; for autoregressive
        models it is CompressAI's ``forward`` convention ``round(y)`` (the exact ŷ needs the
        sequential raster scan).
        """
        return torch.round(y)

    def _z_bits(self, y: Tensor) -> tuple[Tensor, Tensor]:
        z = self.codec.hyper.h_a(y)
        z_hat, z_lik = self.model.entropy_bottleneck(z, training=False)
        return z_hat, _bits(z_lik)


def _bits(likelihoods: Tensor) -> Tensor:
    return -torch.log2(likelihoods).sum()


def _check_batch(y: Tensor) -> None:
    if y.dim() != 4 or y.size(0) != 1:
        raise ValueError(f"latent must have shape (1, C, H, W), got {tuple(y.shape)}")


class _Abs(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.abs(x)


class _GaussianConditionalCodec(GaussianConditionalLatentCodec):
    """CompressAI's codec, but the encoder-side ŷ is ``y`` quantized instead of a second rANS
    decode of the string just written: the same tensor (the decoder's, tests/test_codecs.py),
    and no encode slowdown (with the decode: 45 → 68 ms at shipped level 6, 768×512 image)."""

    def compress(self, y: Tensor, ctx_params: Tensor) -> dict:
        gc = self.gaussian_conditional
        scales, means = self._chunk(self.entropy_parameters(ctx_params))
        y_strings = gc.compress(y, gc.build_indexes(scales), means)
        y_hat = gc.quantize(y, "dequantize", means)
        return {"strings": [y_strings], "shape": y.shape[2:4], "y_hat": y_hat}


class ScaleHyperpriorCoder(LatentCoder):
    """bmshj2018-hyperprior: zero-mean Gaussian with scales from ``h_s(ẑ)``, ``h_a(|y|)``."""

    chunks: tuple[str, ...] = ("scales",)

    def _h_a(self) -> nn.Module:
        return nn.Sequential(_Abs(), self.model.h_a)

    def _y_codec(self) -> LatentCodec:
        gc = self.model.gaussian_conditional
        return _GaussianConditionalCodec(gaussian_conditional=gc, chunks=self.chunks)

    def _params(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.model.h_s(z_hat), None

    def quantize(self, y: Tensor) -> tuple[Tensor, Tensor]:
        _check_batch(y)
        z_hat, z_bits = self._z_bits(y)
        scales, means = self._params(z_hat)
        y_hat, y_lik = self.model.gaussian_conditional(y, scales, means, training=False)
        return y_hat, _bits(y_lik) + z_bits

    def dequantized(self, y: Tensor) -> Tensor:
        z = self.codec.hyper.h_a(y)
        eb = self.model.entropy_bottleneck
        z_hat = eb.quantize(z, "dequantize", eb._get_medians())
        _, means = self._params(z_hat)
        return self.model.gaussian_conditional.quantize(y, "dequantize", means)


class MeanScaleHyperpriorCoder(ScaleHyperpriorCoder):
    """mbt2018-mean: Gaussian with scales and means from ``h_s(ẑ)``, ``h_a(y)``."""

    chunks = ("scales", "means")

    def _h_a(self) -> nn.Module:
        return self.model.h_a

    def _params(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None]:
        scales, means = self.model.h_s(z_hat).chunk(2, 1)
        return scales, means


class AutoregressiveCoder(LatentCoder):
    """mbt2018 / cheng2020-*: hyperprior + masked 5×5 spatial context model, raster-scan rANS."""

    def _y_codec(self) -> LatentCodec:
        m = self.model
        return RasterScanLatentCodec(
            m.gaussian_conditional, m.entropy_parameters, m.context_prediction
        )

    def quantize(self, y: Tensor) -> tuple[Tensor, Tensor]:
        # The context model makes ŷ depend on previously decoded symbols, so the exact ŷ
        # needs the raster scan; the bits are then estimated from the same parameters.
        _check_batch(y)
        m = self.model
        gc = m.gaussian_conditional
        z_hat, z_bits = self._z_bits(y)
        y_hat = self.encode(y).y_hat
        cp = m.context_prediction
        ctx_p = F.conv2d(y_hat, cp.weight * cp.mask, bias=cp.bias, padding=cp.padding)
        gp = m.entropy_parameters(torch.cat((m.h_s(z_hat), ctx_p), dim=1))
        scales, means = gp.chunk(2, 1)
        y_lik = gc._likelihood(y_hat, scales, means)
        if gc.use_likelihood_bound:
            y_lik = gc.likelihood_lower_bound(y_lik)
        return y_hat, _bits(y_lik) + z_bits


# most specific model class first (JointAutoregressive ⊂ MeanScale ⊂ ScaleHyperprior)
_CODERS: tuple[tuple[type[nn.Module], type[LatentCoder]], ...] = (
    (JointAutoregressiveHierarchicalPriors, AutoregressiveCoder),
    (MeanScaleHyperprior, MeanScaleHyperpriorCoder),
    (ScaleHyperprior, ScaleHyperpriorCoder),
)


def coder_class_for(model_class: type) -> type[LatentCoder] | None:
    """The latent coder for instances of a CompressAI model class, or ``None``."""
    return next((coder for base, coder in _CODERS if issubclass(model_class, base)), None)


def latent_coder_for(model: nn.Module) -> LatentCoder:
    """The coder matching a CompressAI model instance."""
    coder = coder_class_for(type(model))
    if coder is None:
        raise TypeError(
            f"no latent coder for {type(model).__name__}: supported are hyperprior, mean-scale "
            "and autoregressive (mbt2018 / cheng2020) CompressAI models"
        )
    return coder(model)
