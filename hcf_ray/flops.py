"""Counting parameters and FLOPs of the per-node transforms (paper Table 3).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on a real forward pass
(convolutions and matrix products; 1 multiply-accumulate = 2 FLOPs). The paper compares, per
node of a cascade, the HCF module φ_{k→k-1} with the DRF node's ``g_s^k + g_a^{k-1}``
("transform operations", entropy models excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


@torch.no_grad()
def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class NodeCost:
    """Cost of one level drop k→k-1 at one node, HCF vs DRF."""

    level: int
    hcf_params: int
    hcf_flops: int
    drf_params: int
    drf_flops: int

    @property
    def param_reduction_pct(self) -> float:
        return 100.0 * (1 - self.hcf_params / self.drf_params)

    @property
    def flop_reduction_pct(self) -> float:
        return 100.0 * (1 - self.hcf_flops / self.drf_flops)


def node_cost(ladder, phis, level: int, image_size: tuple[int, int] = (256, 256)) -> NodeCost:
    """Measured params/FLOPs of φ^inter_{k→k-1} vs ``g_s^k + g_a^{k-1}`` on one image size."""
    h, w = image_size
    if h % 64 or w % 64:
        raise ValueError("use an image size that is a multiple of 64 for cost counting")
    hi, lo = ladder[level], ladder[level - 1]
    phi = phis.get(level, "inter")
    x = torch.zeros(1, 3, h, w)
    y_hi = torch.zeros(1, hi.latent_channels, h // 16, w // 16)
    drf_flops = count_flops(hi.model.g_s, y_hi) + count_flops(lo.model.g_a, x)
    return NodeCost(
        level=level,
        hcf_params=count_params(phi),
        hcf_flops=count_flops(phi, y_hi),
        drf_params=count_params(hi.model.g_s, lo.model.g_a),
        drf_flops=drf_flops,
    )
