"""The learned progressive codec: a mean-scale hyperprior trained with stochastic tail-drop.

ProgDTD's idea (Hojjat et al., CVPRW 2023): order the latent channels of a hyperprior model
by importance and train with a random number of *kept* leading channels, so that any prefix
of channels still decodes to a useful image. Here the channels are grouped (default: 12
groups of 8 for M=96) and every group is entropy-coded as its own chunk (see
:mod:`hcf_ray.pcf.bitstream`), so dropping the tail of the bitstream is a byte-level prefix.

A dropped channel is replaced by the mean the hyperprior predicts for it: the decoder always
has ẑ (it is the first chunk), so it knows every channel's mean without receiving it.

The model has exactly the parameters of CompressAI's ``MeanScaleHyperprior(N, M)``, so a
ladder checkpoint loads into it directly (warm start); :func:`permute_latent_channels`
reorders its latent channels by :func:`channel_importance` before tail-drop training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from compressai.models import MeanScaleHyperprior
from torch import Tensor, nn

from hcf_ray.errors import InputError


def uniform_groups(M: int, group_size: int) -> tuple[int, ...]:
    """``M`` channels split into groups of ``group_size`` (the last one may be smaller)."""
    if group_size < 1:
        raise InputError(f"group size must be >= 1, got {group_size}")
    full, rest = divmod(M, group_size)
    return (group_size,) * full + ((rest,) if rest else ())


class TailDropHyperprior(MeanScaleHyperprior):
    """``MeanScaleHyperprior(N, M)`` whose latent channels form droppable groups.

    ``group_sizes`` partitions the ``M`` channels in order; a prefix of ``k`` groups keeps
    the first ``sum(group_sizes[:k])`` channels.
    """

    def __init__(self, N: int, M: int, group_sizes: Sequence[int] | None = None, **kwargs):
        super().__init__(N=N, M=M, **kwargs)
        sizes = tuple(int(g) for g in (group_sizes or uniform_groups(M, 8)))
        if any(g < 1 for g in sizes) or sum(sizes) != M:
            raise InputError(f"group sizes {list(sizes)} must be positive and sum to M={M}")
        self.group_sizes = sizes

    @property
    def num_groups(self) -> int:
        return len(self.group_sizes)

    def channels_for(self, k_groups: int) -> int:
        """Number of leading channels kept by a prefix of ``k_groups`` groups."""
        if not 0 <= k_groups <= self.num_groups:
            raise ValueError(f"k_groups must be in 0..{self.num_groups}, got {k_groups}")
        return sum(self.group_sizes[:k_groups])

    def group_bounds(self) -> list[tuple[int, int]]:
        bounds, start = [], 0
        for g in self.group_sizes:
            bounds.append((start, start + g))
            start += g
        return bounds

    def forward_tail(self, x: Tensor, keep_channels: Tensor | int | None = None) -> dict:
        """Training forward pass with a per-sample number of kept leading channels.

        Returns ``x_hat``, the likelihoods of ``y`` (all channels) and ``z``, and the channel
        ``mask`` (B, M, 1, 1) so the caller counts the rate of kept channels only.
        """
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_hat, y_lik = self.gaussian_conditional(y, scales, means=means)
        mask = self.keep_mask(keep_channels, y.size(0), y.device)
        y_used = torch.where(mask, y_hat, means)
        return {"x_hat": self.g_s(y_used), "y_lik": y_lik, "z_lik": z_lik, "mask": mask}

    def keep_mask(
        self, keep_channels: Tensor | int | None, batch: int, device: torch.device | str
    ) -> Tensor:
        """Boolean (B, M, 1, 1) mask of the kept leading channels (None: all of them)."""
        ch = torch.arange(self.M, device=device).view(1, -1, 1, 1)
        if keep_channels is None:
            keep = torch.full((batch,), self.M, device=device)
        elif isinstance(keep_channels, int):
            keep = torch.full((batch,), keep_channels, device=device)
        else:
            keep = keep_channels.to(device)
        return ch < keep.view(-1, 1, 1, 1)


def fill_dropped(y_hat: Tensor, means: Tensor, kept_channels: int) -> Tensor:
    """``ŷ`` with channels ``kept_channels..M-1`` replaced by the predicted means."""
    out = means.clone()
    out[:, :kept_channels] = y_hat[:, :kept_channels]
    return out


@torch.no_grad()
def channel_importance(model: nn.Module, x: Tensor) -> Tensor:
    """Per-channel importance: MSE increase when that channel alone is set to its mean.

    Computed on the (noise-free, rounded) latent of a batch ``x`` with ``model`` in eval mode.
    """
    was_training = model.training
    model.eval()
    y = model.g_a(x)
    z_hat, _ = model.entropy_bottleneck(model.h_a(y), training=False)
    _, means = model.h_s(z_hat).chunk(2, 1)
    y_hat = torch.round(y - means) + means
    base = torch.mean((model.g_s(y_hat) - x) ** 2)
    scores = torch.empty(y.size(1))
    for c in range(y.size(1)):
        y_c = y_hat.clone()
        y_c[:, c] = means[:, c]
        scores[c] = torch.mean((model.g_s(y_c) - x) ** 2) - base
    model.train(was_training)
    return scores


@torch.no_grad()
def permute_latent_channels(model: MeanScaleHyperprior, perm: Sequence[int]) -> None:
    """Reorder the latent channels of a mean-scale hyperprior in place (new c = old perm[c]).

    Touches the layers that see ``y``: the last conv of ``g_a`` (outputs), the first deconv
    of ``g_s`` and the first conv of ``h_a`` (inputs), and the last conv of ``h_s`` (both the
    scale and the mean halves of its outputs). The model computes the same function.
    """
    M = int(model.M)
    p = torch.as_tensor(list(perm), dtype=torch.long)
    if sorted(p.tolist()) != list(range(M)):
        raise ValueError(f"perm must be a permutation of 0..{M - 1}")
    last_ga = model.g_a[-1]
    last_ga.weight.copy_(last_ga.weight[p])
    last_ga.bias.copy_(last_ga.bias[p])
    first_gs = model.g_s[0]  # ConvTranspose2d: weight (in, out, k, k)
    first_gs.weight.copy_(first_gs.weight[p])
    first_ha = model.h_a[0]
    first_ha.weight.copy_(first_ha.weight[:, p])
    last_hs = model.h_s[-1]
    p2 = torch.cat([p, p + M])
    last_hs.weight.copy_(last_hs.weight[p2])
    last_hs.bias.copy_(last_hs.bias[p2])
