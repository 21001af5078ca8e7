"""The latent-to-latent transform module φ_{k→k-1} of HCF (paper §3, Fig. 2b).

Layer sequence at full size (all stride 1, operating at the latent resolution):

    Res-GDN, Res-LReLU, Res-GDN, Attention(M_k), Res-LReLU, Res-GDN, Res-LReLU,
    Conv3×3 M_k→M_{k-1}, Attention(M_{k-1})

``PhiConfig`` keeps that as the default and adds two knobs for small CPU models:
``hidden`` (channels inside each residual block; ``None`` = M_k as in the paper) and
``num_res`` (number of residual blocks, alternating GDN / LeakyReLU, attention after the
first half). With the defaults, parameter and FLOP counts match the paper's Table 3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from compressai.layers import GDN, AttentionBlock, conv3x3
from torch import Tensor, nn


@dataclass(frozen=True)
class PhiConfig:
    hidden: int | None = None  # channels inside residual blocks; None = M_in (paper)
    num_res: int = 6  # residual blocks (paper: 6 = 3 GDN + 3 LeakyReLU)
    attention: bool = True  # the two attention blocks of the paper

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualGDN(nn.Module):
    """conv3×3 → LeakyReLU → conv3×3 → GDN, plus identity."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv1 = conv3x3(channels, hidden)
        self.act = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(hidden, channels)
        self.gdn = GDN(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gdn(self.conv2(self.act(self.conv1(x))))


class ResidualLReLU(nn.Module):
    """conv3×3 → LeakyReLU → conv3×3 → LeakyReLU, plus identity."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv1 = conv3x3(channels, hidden)
        self.conv2 = conv3x3(hidden, channels)
        self.act = nn.LeakyReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.act(self.conv2(self.act(self.conv1(x))))


class TransformModule(nn.Module):
    """φ_{k→k-1}: latent with ``in_channels`` (M_k) → latent with ``out_channels`` (M_{k-1})."""

    def __init__(self, in_channels: int, out_channels: int, config: PhiConfig | None = None):
        super().__init__()
        cfg = config or PhiConfig()
        self.in_channels, self.out_channels, self.config = in_channels, out_channels, cfg
        hidden = cfg.hidden or in_channels
        attn_at = (cfg.num_res + 1) // 2  # paper: after the 3rd of 6 blocks
        layers: list[nn.Module] = []
        for i in range(cfg.num_res):
            if cfg.attention and i == attn_at:
                layers.append(AttentionBlock(in_channels))
            block = ResidualGDN if i % 2 == 0 else ResidualLReLU
            layers.append(block(in_channels, hidden))
        layers.append(conv3x3(in_channels, out_channels))
        if cfg.attention:
            layers.append(AttentionBlock(out_channels))
        self.body = nn.Sequential(*layers)

    def forward(self, y: Tensor) -> Tensor:
        if y.size(1) != self.in_channels:
            raise ValueError(f"φ expects {self.in_channels} channels, got {y.size(1)}")
        return self.body(y)
