"""The cascade engine: HCF (edge, late), DRF and SSF on a real image with tiny models."""

import pytest
import torch

from hcf_ray.cascade import CascadeEngine, build_program
from hcf_ray.policy import PolicyVector


@pytest.fixture(scope="module")
def engine(tiny_ladder, tiny_phis):
    return CascadeEngine(tiny_ladder, tiny_phis)


@pytest.mark.parametrize(
    "method,policy,levels",
    [
        ("hcf", "edge", (6, 2)),
        ("hcf", "late", (3, 2)),
        ("hcf", [0, 1, 0, 1, 1], (5, 3, 2)),
        ("drf", None, (6, 5, 4, 3, 2)),
        ("ssf", None, (2,)),
    ],
)
def test_methods_run_and_policy_places_transmissions(engine, sample_image, method, policy, levels):
    r = engine.run(sample_image, method, 6, 2, policy=policy, n_q=2)
    assert r.x_hat.shape == sample_image.shape
    assert r.x_hat.min() >= 0 and r.x_hat.max() <= 1
    assert tuple(t.level for t in r.transmissions) == levels
    assert all(t.nbytes > 0 for t in r.transmissions)
    assert r.bpp() == pytest.approx(r.final.nbytes * 8 / sample_image[0, 0].numel())
    assert r.y_hat.shape[1] == engine.ladder.latent_channels(2)
    assert len(r.program.stages) == len(levels) + 1


def test_ssf_and_drf_are_chains_of_compressai_compress_and_decompress(sample_image):
    """SSF at level 2 is CompressAI's compress + decompress of the level-2 model; DRF 6 → 2
    is that at every level from 6 down, each on the previous reconstruction. The 120×200
    image is padded to 128×256 by repeating its border (4 rows above and below, 28 columns
    left and right) and cropped back; a DRF relay rounds what it decoded to 8 bits before
    encoding it again: the same bytes on every link, the same pixels. The
    shipped (trained) models: random ones code every image to the same near-zero latent."""
    import torch.nn.functional as F

    from hcf_ray.bundle import load_bundle

    ladder = load_bundle("default").ladder
    engine = CascadeEngine(ladder)

    def compressai(level: int, img: torch.Tensor):
        model = ladder[level].model
        padded = F.pad(img, (28, 28, 4, 4), mode="replicate")
        with torch.no_grad():
            coded = model.compress(padded)
            x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"]
        strings = tuple(s for group in coded["strings"] for s in group)
        return strings, x_hat[..., 4:124, 28:228]

    assert sample_image.shape[-2:] == (120, 200)
    ssf = engine.run(sample_image, "ssf", 6, 2)
    strings, x_hat = compressai(2, sample_image)
    assert ssf.transmissions[0].bitstream.strings == strings
    assert torch.equal(ssf.x_hat, x_hat)
    drf = engine.run(sample_image, "drf", 6, 2)
    img = sample_image
    for t, level in zip(drf.transmissions, (6, 5, 4, 3, 2), strict=True):
        if level < 6:  # a relay re-encodes the 8-bit picture it decoded
            img = (img.clamp(0, 1) * 255).round() / 255
        strings, img = compressai(level, img)
        assert t.bitstream.strings == strings, level
    assert torch.equal(drf.x_hat, img)


def test_edge_program_matches_paper_example():
    prog = build_program("hcf", 4, 1, PolicyVector(4, 1, (1, 0, 0, 1)))
    assert [str(s) for s in prog.stages] == [
        "analysis[4] → Q/E[4]",
        "D[4] → φinter[4→3] → φintra[3→2] → φintra[2→1] → Q/E[1]",
        "D[1] → synthesis[1]",
    ]
    prog = build_program("hcf", 4, 1, PolicyVector(4, 1, (0, 0, 1, 1)))
    assert str(prog.stages[0]) == "analysis[4] → φintra[4→3] → φintra[3→2] → Q/E[2]"
    assert str(prog.stages[1]) == "D[2] → φinter[2→1] → Q/E[1]"
    inter_only = build_program("hcf", 4, 1, PolicyVector(4, 1, (1, 0, 0, 1)), "inter_only")
    assert "intra" not in str(inter_only.stages[1])


def test_cascade_decodes_what_was_sent(engine, sample_image):
    """The destination's ŷ is exactly the decode of the final bitstream."""
    r = engine.run(sample_image, "hcf", 6, 1, policy="edge", n_q=3)
    again = engine.ladder[1].decompress_latent(r.final.bitstream)
    assert torch.equal(again, r.y_hat)
    x_hat = engine.ladder[1].synthesis(again, tuple(sample_image.shape[-2:]))
    assert torch.equal(x_hat, r.x_hat)


def test_policy_changes_the_result(engine, sample_image):
    a = engine.run(sample_image, "hcf", 6, 2, policy="edge")
    b = engine.run(sample_image, "hcf", 6, 2, policy="late")
    assert a.transmissions[0].bitstream.strings != b.transmissions[0].bitstream.strings
    assert not torch.equal(a.x_hat, b.x_hat)


def test_invalid_levels_and_policies(engine, sample_image):
    with pytest.raises(ValueError, match="below target level"):
        engine.run(sample_image, "hcf", 2, 4)
    with pytest.raises(ValueError, match=r"outside the ladder.s levels 1\.\.6"):
        engine.run(sample_image, "hcf", 7, 1)
    with pytest.raises(ValueError, match="n_q=9 quantizations impossible"):
        engine.run(sample_image, "hcf", 6, 1, policy="edge", n_q=9)
    with pytest.raises(ValueError, match="must be 1"):
        engine.run(sample_image, "hcf", 4, 1, policy=[1, 0, 1, 0])
    with pytest.raises(ValueError, match="unknown method"):
        engine.run(sample_image, "bogus", 4, 1)
    no_phi = CascadeEngine(engine.ladder, None)
    with pytest.raises(ValueError, match="needs φ modules"):
        no_phi.run(sample_image, "hcf", 4, 1)


def test_hcf_uses_the_tuned_ladder_and_baselines_do_not(tiny_ladder, tiny_phis, sample_image):
    from hcf_ray.codecs import QualityLadder

    tuned = QualityLadder.random("mbt2018-mean", num_levels=6, N=16, M=24, seed=7)
    base_only = CascadeEngine(tiny_ladder, tiny_phis)
    with_tuned = CascadeEngine(tiny_ladder, tiny_phis, hcf_ladder=tuned)
    prog = with_tuned.program("hcf", 6, 2, "edge", 2)
    assert {st.codecs for st in prog.stages} == {"hcf"}
    a = base_only.run(sample_image, "hcf", 6, 2, policy="edge")
    b = with_tuned.run(sample_image, "hcf", 6, 2, policy="edge")
    assert not torch.equal(a.x_hat, b.x_hat)
    # the tuned level-2 codec decoded the final stream
    assert torch.equal(tuned[2].decompress_latent(b.final.bitstream), b.y_hat)
    for method in ("ssf", "drf"):
        ra = base_only.run(sample_image, method, 6, 2)
        rb = with_tuned.run(sample_image, method, 6, 2)
        assert torch.equal(ra.x_hat, rb.x_hat)
