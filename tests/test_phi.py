"""φ modules: architecture reproduces the paper's Table 3 cost reductions."""

import pytest
import torch
from compressai.zoo import image_models

from hcf_ray.codecs import LevelCodec, QualityLadder
from hcf_ray.flops import node_cost
from hcf_ray.hcf import PhiBank, PhiConfig, TransformModule

# (arch, transition k→k-1, paper params reduction %, paper FLOPs reduction %)
TABLE3 = [
    ("cheng2020-attn", 6, 68.7, 97.8),  # Node1 192→192
    ("cheng2020-attn", 4, 65.8, 97.4),  # Node3 192→128
    ("cheng2020-attn", 2, 68.7, 97.8),  # Node5 128→128
    ("cheng2020-anchor", 6, 62.7, 97.5),
    ("cheng2020-anchor", 4, 60.2, 97.1),
    ("cheng2020-anchor", 2, 62.7, 97.5),
]


@pytest.mark.parametrize("arch,level,params_pct,flops_pct", TABLE3)
def test_table3_parameter_and_flop_reductions(arch, level, params_pct, flops_pct):
    codecs = [
        LevelCodec(image_models[arch](quality=q, pretrained=False), q, arch, update_cdfs=False)
        for q in (level - 1, level)
    ]
    # renumber so the two zoo qualities form a 2-level ladder view: level-1 → 1, level → 2
    for c, k in zip(codecs, (1, 2)):
        c.level = k
    ladder = QualityLadder(codecs)
    bank = PhiBank({1: ladder.latent_channels(1), 2: ladder.latent_channels(2)})
    cost = node_cost(ladder, bank, 2, image_size=(256, 256))
    assert cost.param_reduction_pct == pytest.approx(params_pct, abs=0.1)
    assert cost.flop_reduction_pct == pytest.approx(flops_pct, abs=0.1)


def test_full_size_parameter_counts_match_paper_reconstruction():
    assert sum(p.numel() for p in TransformModule(192, 192).parameters()) == 5_943_168
    assert sum(p.numel() for p in TransformModule(192, 128).parameters()) == 5_411_840


def test_module_shapes_and_knobs():
    y = torch.randn(1, 24, 5, 7)
    small = TransformModule(24, 16, PhiConfig(hidden=8, num_res=2))
    full = TransformModule(24, 16)
    assert small(y).shape == (1, 16, 5, 7) == full(y).shape
    n_small = sum(p.numel() for p in small.parameters())
    n_full = sum(p.numel() for p in full.parameters())
    assert n_small < n_full / 2
    no_attn = TransformModule(24, 24, PhiConfig(attention=False))
    assert not any("Attention" in type(m).__name__ for m in no_attn.modules())
    with pytest.raises(ValueError, match="expects 24 channels"):
        small(torch.randn(1, 16, 5, 7))


def test_bank_inter_intra_are_separate_and_persist(tmp_path, tiny_ladder):
    bank = PhiBank.for_ladder(tiny_ladder, PhiConfig(hidden=8, num_res=2), seed=1)
    inter, intra = bank.get(6, "inter"), bank.get(6, "intra")
    assert inter is not intra
    assert not torch.equal(inter.body[0].conv1.weight, intra.body[0].conv1.weight)
    with pytest.raises(ValueError, match="no φ module for transition 1→0"):
        bank.get(1, "inter")
    bank.save(tmp_path / "phi", half=False)
    loaded = PhiBank.from_dir(tmp_path / "phi")
    y = torch.randn(1, 24, 4, 4)
    assert torch.equal(loaded.get(3, "intra")(y), bank.get(3, "intra")(y))
