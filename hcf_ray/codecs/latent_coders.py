"""Entropy coding of a latent ``y`` with a CompressAI model's own prior, without running ``g_a``.

CompressAI's ``compress(x)`` always starts with ``y = g_a(x)`` and ``decompress`` always ends
with ``g_s``. HCF needs the part in between on its own: quantize + entropy-code an arbitrary
latent (the output of a latent-to-latent module) with the level-k hyperprior / context model,
and decode it back to ``ŷ`` on the receiving node. This module re-implements that middle part
per architecture family, using the model's trained submodules (``h_a``, ``h_s``,
``entropy_bottleneck``, ``gaussian_conditional``, ``context_prediction``,
``entropy_parameters``).

Every coder returns the encoder-side quantized latent alongside the strings, and its decoder
reproduces that tensor bit-exactly (same device, same dtype): the autoregressive coder
rebuilds ``ŷ`` in a zero-initialised buffer on both sides so the context convolution sees
identical inputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from torch import Tensor, nn


@dataclass
class CodedLatent:
    strings: list[bytes]  # [y_string, z_string]
    z_shape: tuple[int, int]
    y_hat: Tensor  # encoder-side quantized latent (what the decoder will reproduce)


class LatentCoder(ABC):
    """Quantization + entropy coding of one latent tensor (batch size 1)."""

    def __init__(self, model: nn.Module):
        self.model = model

    @abstractmethod
    def encode(self, y: Tensor) -> CodedLatent: ...

    @abstractmethod
    def decode(self, strings: list[bytes], z_shape: tuple[int, int]) -> Tensor: ...

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

    # -- shared helpers -------------------------------------------------------------
    def _hyper(self, y: Tensor) -> tuple[list[bytes], tuple[int, int], Tensor]:
        m = self.model
        z = m.h_a(self._h_a_input(y))
        z_strings = m.entropy_bottleneck.compress(z)
        z_shape = tuple(z.shape[-2:])
        z_hat = m.entropy_bottleneck.decompress(z_strings, z_shape)
        return z_strings, z_shape, z_hat

    def _z_bits(self, y: Tensor) -> tuple[Tensor, Tensor]:
        m = self.model
        z = m.h_a(self._h_a_input(y))
        z_hat, z_lik = m.entropy_bottleneck(z, training=False)
        return z_hat, _bits(z_lik)

    def _h_a_input(self, y: Tensor) -> Tensor:
        return y


def _bits(likelihoods: Tensor) -> Tensor:
    return -torch.log2(likelihoods).sum()


def _check_batch(y: Tensor) -> None:
    if y.dim() != 4 or y.size(0) != 1:
        raise ValueError(f"latent must have shape (1, C, H, W), got {tuple(y.shape)}")


class ScaleHyperpriorCoder(LatentCoder):
    """bmshj2018-hyperprior: zero-mean Gaussian with scales from ``h_s(ẑ)``, ``h_a(|y|)``."""

    def _h_a_input(self, y: Tensor) -> Tensor:
        return torch.abs(y)

    def _params(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.model.h_s(z_hat), None

    def encode(self, y: Tensor) -> CodedLatent:
        _check_batch(y)
        gc = self.model.gaussian_conditional
        z_strings, z_shape, z_hat = self._hyper(y)
        scales, means = self._params(z_hat)
        indexes = gc.build_indexes(scales)
        y_strings = gc.compress(y, indexes, means=means)
        y_hat = gc.quantize(y, "dequantize", means)
        return CodedLatent([y_strings[0], z_strings[0]], z_shape, y_hat)

    def decode(self, strings: list[bytes], z_shape: tuple[int, int]) -> Tensor:
        gc = self.model.gaussian_conditional
        z_hat = self.model.entropy_bottleneck.decompress([strings[1]], z_shape)
        scales, means = self._params(z_hat)
        indexes = gc.build_indexes(scales)
        return gc.decompress([strings[0]], indexes, z_hat.dtype, means=means)

    def quantize(self, y: Tensor) -> tuple[Tensor, Tensor]:
        _check_batch(y)
        gc = self.model.gaussian_conditional
        z_hat, z_bits = self._z_bits(y)
        scales, means = self._params(z_hat)
        y_hat = gc.quantize(y, "dequantize", means)
        y_lik = gc._likelihood(y_hat, scales, means)
        if gc.use_likelihood_bound:
            y_lik = gc.likelihood_lower_bound(y_lik)
        return y_hat, _bits(y_lik) + z_bits

    def dequantized(self, y: Tensor) -> Tensor:
        z = self.model.h_a(self._h_a_input(y))
        eb = self.model.entropy_bottleneck
        z_hat = eb.quantize(z, "dequantize", eb._get_medians())
        _, means = self._params(z_hat)
        return self.model.gaussian_conditional.quantize(y, "dequantize", means)


class MeanScaleHyperpriorCoder(ScaleHyperpriorCoder):
    """mbt2018-mean: Gaussian with scales and means from ``h_s(ẑ)``, ``h_a(y)``."""

    def _h_a_input(self, y: Tensor) -> Tensor:
        return y

    def _params(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None]:
        scales, means = self.model.h_s(z_hat).chunk(2, 1)
        return scales, means


class AutoregressiveCoder(LatentCoder):
    """mbt2018 / cheng2020-*: hyperprior + masked 5×5 spatial context model, raster-scan rANS."""

    kernel_size = 5
    z_to_y = 4  # spatial scaling between the hyper-latent and the latent

    def _masked_weight(self) -> Tensor:
        cp = self.model.context_prediction
        return cp.weight * cp.mask

    def _gaussian_params(self, ctx_in: Tensor, params: Tensor, h: int, w: int, weight: Tensor):
        cp = self.model.context_prediction
        ctx_p = F.conv2d(ctx_in, weight, bias=cp.bias)
        p = params[:, :, h : h + 1, w : w + 1]
        gp = self.model.entropy_parameters(torch.cat((p, ctx_p), dim=1))
        scales, means = gp.chunk(2, 1)
        return scales, means

    def _tables(self):
        gc = self.model.gaussian_conditional
        return gc.quantized_cdf.tolist(), gc.cdf_length.tolist(), gc.offset.tolist()

    def encode(self, y: Tensor) -> CodedLatent:
        _check_batch(y)
        m = self.model
        gc = m.gaussian_conditional
        z_strings, z_shape, z_hat = self._hyper(y)
        params = m.h_s(z_hat)
        height, width = y.shape[-2:]
        k = self.kernel_size
        pad = (k - 1) // 2
        weight = self._masked_weight()
        # ŷ buffer starts at zero and is filled in raster order, exactly as on the decoder.
        y_hat = torch.zeros(
            (1, y.size(1), height + 2 * pad, width + 2 * pad), dtype=y.dtype, device=y.device
        )
        symbols: list[int] = []
        indexes_list: list[int] = []
        for h in range(height):
            for w in range(width):
                scales, means = self._gaussian_params(
                    y_hat[:, :, h : h + k, w : w + k], params, h, w, weight
                )
                indexes = gc.build_indexes(scales)
                y_q = gc.quantize(y[:, :, h : h + 1, w : w + 1], "symbols", means)
                y_hat[:, :, h + pad : h + pad + 1, w + pad : w + pad + 1] = gc.dequantize(
                    y_q, means
                )
                symbols.extend(y_q.reshape(-1).tolist())
                indexes_list.extend(indexes.reshape(-1).tolist())
        encoder = BufferedRansEncoder()
        cdf, cdf_lengths, offsets = self._tables()
        encoder.encode_with_indexes(symbols, indexes_list, cdf, cdf_lengths, offsets)
        y_string = encoder.flush()
        y_hat = F.pad(y_hat, (-pad, -pad, -pad, -pad))
        return CodedLatent([y_string, z_strings[0]], z_shape, y_hat)

    def decode(self, strings: list[bytes], z_shape: tuple[int, int]) -> Tensor:
        m = self.model
        gc = m.gaussian_conditional
        z_hat = m.entropy_bottleneck.decompress([strings[1]], z_shape)
        params = m.h_s(z_hat)
        height, width = z_hat.size(2) * self.z_to_y, z_hat.size(3) * self.z_to_y
        k = self.kernel_size
        pad = (k - 1) // 2
        weight = self._masked_weight()
        channels = m.entropy_parameters[-1].out_channels // 2
        y_hat = torch.zeros(
            (1, channels, height + 2 * pad, width + 2 * pad),
            dtype=z_hat.dtype,
            device=z_hat.device,
        )
        decoder = RansDecoder()
        decoder.set_stream(strings[0])
        cdf, cdf_lengths, offsets = self._tables()
        for h in range(height):
            for w in range(width):
                scales, means = self._gaussian_params(
                    y_hat[:, :, h : h + k, w : w + k], params, h, w, weight
                )
                indexes = gc.build_indexes(scales)
                rv = decoder.decode_stream(indexes.reshape(-1).tolist(), cdf, cdf_lengths, offsets)
                rv = torch.tensor(rv, dtype=torch.int32, device=y_hat.device).reshape(means.shape)
                y_hat[:, :, h + pad : h + pad + 1, w + pad : w + pad + 1] = gc.dequantize(rv, means)
        return F.pad(y_hat, (-pad, -pad, -pad, -pad))

    def quantize(self, y: Tensor) -> tuple[Tensor, Tensor]:
        # The context model makes ŷ depend on previously decoded symbols, so the exact ŷ
        # needs the raster scan; the bits are then estimated from the same parameters.
        _check_batch(y)
        m = self.model
        gc = m.gaussian_conditional
        z_hat, z_bits = self._z_bits(y)
        coded = self.encode(y)
        ctx = m.context_prediction
        ctx_p = F.conv2d(coded.y_hat, self._masked_weight(), bias=ctx.bias, padding=2)
        gp = m.entropy_parameters(torch.cat((m.h_s(z_hat), ctx_p), dim=1))
        scales, means = gp.chunk(2, 1)
        y_lik = gc._likelihood(coded.y_hat, scales, means)
        if gc.use_likelihood_bound:
            y_lik = gc.likelihood_lower_bound(y_lik)
        return coded.y_hat, _bits(y_lik) + z_bits


def latent_coder_for(model: nn.Module) -> LatentCoder:
    """Pick the coder matching a CompressAI model instance (most specific class first)."""
    from compressai.models import (
        JointAutoregressiveHierarchicalPriors,
        MeanScaleHyperprior,
        ScaleHyperprior,
    )

    if isinstance(model, JointAutoregressiveHierarchicalPriors):
        return AutoregressiveCoder(model)
    if isinstance(model, MeanScaleHyperprior):
        return MeanScaleHyperpriorCoder(model)
    if isinstance(model, ScaleHyperprior):
        return ScaleHyperpriorCoder(model)
    raise TypeError(
        f"no latent coder for {type(model).__name__}: supported are hyperprior, mean-scale "
        "and autoregressive (mbt2018 / cheng2020) CompressAI models"
    )
