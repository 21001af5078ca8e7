"""The rate–distortion training loss shared by the ladder and HCF trainers.

``λ·255²·MSE + bpp`` (CompressAI's convention), with the rate from the model's likelihoods.
Two ways to stand in for quantization during training:

* ``noise`` — CompressAI's default: ``y + U(-½, ½)`` feeds both the rate term and the
  synthesis ``g_s`` (and ``h_s``). Works for every CompressAI model (``model(x)``).
* ``ste`` — "mixed" quantization: the rate term still sees noise, but ``g_s`` gets the
  latent the receiver will really decode, ``round(y - μ) + μ``, and ``h_s`` gets
  ``round(z - median) + median``, both with a straight-through gradient. This removes the
  train/test mismatch of the synthesis input; hyperprior architectures only
  (``bmshj2018-hyperprior``, ``mbt2018-mean``).
"""

from __future__ import annotations

import math

import torch
from compressai.models import MeanScaleHyperprior
from compressai.ops import quantize_ste
from torch import Tensor, nn

from hcf_ray.errors import InputError

QUANT_MODES = ("noise", "ste")


def check_quant(quant: str) -> str:
    if quant not in QUANT_MODES:
        raise InputError(f"quant must be one of {', '.join(QUANT_MODES)}, got {quant!r}")
    return quant


def is_mean_scale(model: nn.Module) -> bool:
    """Mean-scale hyperprior (h_s predicts means and scales) rather than scale-only."""
    return isinstance(model, MeanScaleHyperprior)


def check_hyperprior(model: nn.Module, what: str) -> None:
    if hasattr(model, "context_prediction") or not hasattr(model, "h_s"):
        raise InputError(
            f"{what} supports scale / mean-scale hyperprior models only "
            f"(bmshj2018-hyperprior, mbt2018-mean), not {type(model).__name__}"
        )


def rd_loss(
    model: nn.Module,
    x: Tensor,
    lmbda: float,
    quant: str = "noise",
    y: Tensor | None = None,
) -> tuple[Tensor, dict]:
    """``λ·255²·MSE + bpp`` of ``model`` on the batch ``x`` (values in [0, 1]).

    ``y`` replaces ``g_a(x)`` (HCF phase 2 feeds cascade latents); ``x`` is still the
    distortion target. Returns the loss tensor and its parts as floats.
    """
    check_quant(quant)
    if y is None and quant == "noise":
        out = model(x)
        x_hat, likelihoods = out["x_hat"], list(out["likelihoods"].values())
    else:
        check_hyperprior(model, "training from a latent or with quant='ste'")
        x_hat, likelihoods = _hyperprior_forward(model, model.g_a(x) if y is None else y, quant)
    n, _, h, w = x.shape
    bpp = sum(torch.log(lik).sum() for lik in likelihoods) / (-math.log(2) * n * h * w)
    mse = nn.functional.mse_loss(x_hat, x)
    loss = lmbda * 255.0**2 * mse + bpp
    return loss, {"loss": loss.item(), "bpp": bpp.item(), "mse": mse.item()}


def _hyperprior_forward(model: nn.Module, y: Tensor, quant: str) -> tuple[Tensor, list[Tensor]]:
    mean_scale = is_mean_scale(model)
    z = model.h_a(y if mean_scale else torch.abs(y))
    z_hat, z_lik = model.entropy_bottleneck(z)
    if quant == "ste":
        medians = model.entropy_bottleneck._get_medians()
        z_hat = quantize_ste(z - medians) + medians
    params = model.h_s(z_hat)
    scales, means = params.chunk(2, 1) if mean_scale else (params, None)
    y_hat, y_lik = model.gaussian_conditional(y, scales, means=means)
    if quant == "ste":
        y_hat = quantize_ste(y) if means is None else quantize_ste(y - means) + means
    return model.g_s(y_hat), [y_lik, z_lik]
