"""Analyses of the report: KL entropy estimator, RQSI, memoized engine, policy table."""

import math

import numpy as np
import pytest
import torch

from hcf_ray.analysis.entropy import _knn, kl_entropy, latent_samples
from hcf_ray.analysis.rqsi import EPS, reference_policies, rqs, rqsi
from hcf_ray.policy import PolicyVector


# -- Kozachenko–Leonenko ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_entropy_matches_gaussian_closed_form(seed):
    rng = np.random.default_rng(seed)
    d = 8
    a = rng.normal(size=(d, d))
    cov = a @ a.T / d + 0.5 * np.eye(d)
    x = rng.multivariate_normal(np.zeros(d), cov, size=5000)
    exact_nats = 0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1]
    est_nats = kl_entropy(x, k=1, units="nats")
    assert abs(est_nats - exact_nats) / abs(exact_nats) <= 0.02
    assert kl_entropy(x) == pytest.approx(est_nats / math.log(2))  # bits by default


def test_kl_entropy_scales_with_the_data():
    x = np.random.default_rng(0).normal(size=(5000, 8))
    # h(aX) = h(X) + d·log2(a): the estimator is exactly equivariant to scaling
    assert kl_entropy(3 * x) - kl_entropy(x) == pytest.approx(8 * math.log2(3), abs=1e-9)


def test_kl_entropy_ties():
    rng = np.random.default_rng(0)
    q = np.round(rng.normal(size=(3000, 4)) * 0.7)  # many identical vectors
    assert len(np.unique(q, axis=0)) < 1000
    dropped = kl_entropy(q, ties="drop")
    assert math.isfinite(dropped)
    # tiny jitter measures the jitter: far below the tie-dropping estimate, and shrinks with it
    small, tiny = (
        kl_entropy(q, ties="jitter", jitter=1e-3),
        kl_entropy(q, ties="jitter", jitter=1e-6),
    )
    assert tiny < small < dropped
    # without ties, dropping zero distances is the standard estimator (jitter is a no-op)
    x = rng.normal(size=(500, 3))
    assert kl_entropy(x, ties="drop") == pytest.approx(kl_entropy(x, ties="jitter", jitter=1e-12))
    with pytest.raises(ValueError, match="identical"):
        kl_entropy(np.ones((10, 3)))
    with pytest.raises(ValueError, match="ties"):
        kl_entropy(x, ties="nope")


def test_knn_brute_force_path_is_exact():
    from scipy.spatial import cKDTree

    x = np.random.default_rng(0).normal(size=(700, 24))  # > 16 dims: blocked brute force
    dist, idx = _knn(x, 3)
    ref_d, ref_i = cKDTree(x).query(x, k=4)
    np.testing.assert_allclose(dist, ref_d[:, 1:], rtol=1e-10)
    np.testing.assert_array_equal(idx, ref_i[:, 1:])


def test_latent_samples_cut_the_padding():
    # 64×200 is padded to 64×256 (28 px left, 28 right): latent 4×16, image covers columns 1..14
    y = torch.arange(2 * 4 * 16, dtype=torch.float32).reshape(1, 2, 4, 16)
    xs = latent_samples(y, (64, 200), max_samples=None)
    assert xs.shape == (4 * 14, 2)
    assert xs[0, 0] == 1.0 and xs[-1, 0] == 3 * 16 + 14
    assert latent_samples(y, (64, 200), max_samples=10).shape == (10, 2)


# -- RQSI ------------------------------------------------------------------------------------
def test_rqsi_hand_computed_example():
    # level-(d+1) references: π_* at 0.30 bpp / 31.0 dB, π^* at 0.28 bpp / 30.5 dB;
    # the policy reaches level d at 0.20 bpp / 30.0 dB.
    # RQS(π, π_*) = (31.0 - 30.0) / (0.30 - 0.20) = 10;  RQS(π, π^*) = 0.5 / 0.08 = 6.25
    assert rqs(31.0, 0.30, 30.0, 0.20).value == pytest.approx(10.0)
    eta = rqsi(30.0, 0.20, (31.0, 0.30), (30.5, 0.28))
    assert eta.value == pytest.approx(0.5 * (10.0 + 6.25)) == pytest.approx(8.125)
    assert not eta.clipped
    # no rate saved: the denominator becomes ε and the result is flagged
    flat = rqs(31.0, 0.20, 30.0, 0.25)
    assert flat.clipped and flat.value == pytest.approx(1.0 / EPS)


def test_reference_policies_are_truncated_at_d_plus_1():
    low, high = reference_policies(6, 2)
    assert low == PolicyVector(6, 3, (0, 0, 0, 1))
    assert high == PolicyVector(6, 3, (1, 1, 1, 1))
    assert reference_policies(6, 5) == (PolicyVector(6, 6, (1,)), PolicyVector(6, 6, (1,)))
    with pytest.raises(ValueError):
        reference_policies(4, 4)


# -- memoized engine and the evaluator ---------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bundle():
    from hcf_ray.bundle import load_bundle

    return load_bundle("random:mbt2018-mean:16:24:6")


def test_memo_engine_is_bit_identical_and_reuses_steps(tiny_bundle, sample_image):
    from hcf_ray.analysis.memo import MemoEngine
    from hcf_ray.cascade import CascadeEngine

    memo = MemoEngine.from_bundle(tiny_bundle)
    plain = CascadeEngine(tiny_bundle.ladder, tiny_bundle.phis)
    for args in [
        ("hcf", 6, 2, "edge", 2),
        ("hcf", 6, 1, "edge", 2),
        ("hcf", 6, 2, [0, 1, 0, 1, 1], 3),
        ("drf", 6, 1, None, 6),
        ("drf", 6, 3, None, 4),
        ("ssf", 3, 3, None, 1),
    ]:
        program = memo.program(*args)
        a = memo.execute(program, sample_image, key="img")
        b = plain.execute(program, sample_image)
        assert [t.bitstream.to_bytes() for t in a.transmissions] == [
            t.bitstream.to_bytes() for t in b.transmissions
        ]
        assert torch.equal(a.x_hat, b.x_hat) and torch.equal(a.y_hat, b.y_hat)
    assert memo.steps_reused > 0
    _, trace = memo.trace(memo.program("hcf", 4, 1, [0, 1, 0, 1]), sample_image, key="img")
    assert [(s.level, s.quantized) for s in trace.latents] == [
        (4, False),
        (3, False),
        (3, True),
        (2, False),
        (1, False),
        (1, True),
    ]
    assert [t.level for t in trace.transmissions] == [3, 1]


def test_memo_engine_keeps_the_hcf_overlay_apart(tiny_bundle, sample_image):
    from hcf_ray.analysis.memo import MemoEngine
    from hcf_ray.cascade import CascadeEngine
    from hcf_ray.codecs import QualityLadder

    tuned = QualityLadder.random("mbt2018-mean", num_levels=6, N=16, M=24, seed=7)
    memo = MemoEngine(tiny_bundle.ladder, tiny_bundle.phis, tuned)
    plain = CascadeEngine(tiny_bundle.ladder, tiny_bundle.phis, tuned)
    # SSF (base ladder) and HCF s=d=3 (tuned ladder) share g_a^3 but nothing after it
    for args in [("ssf", 3, 3), ("hcf", 3, 3, [1]), ("ssf", 3, 3), ("hcf", 6, 3, "edge", 2)]:
        program = memo.program(*args)
        a = memo.execute(program, sample_image, key="img")
        b = plain.execute(program, sample_image)
        assert a.final.bitstream.to_bytes() == b.final.bitstream.to_bytes()
        assert torch.equal(a.x_hat, b.x_hat)
    assert memo.steps_reused > 0


def test_evaluator_curves_match_hcf_sim_eval(tiny_bundle, tmp_path):
    from hcf_ray.analysis.runner import Evaluator, load_items
    from hcf_ray.evaluate import evaluate
    from hcf_ray.images import load_image, sample_images, save_image

    path = tmp_path / "a.png"
    save_image(load_image(sample_images()[1])[..., :96, :128], path)
    ref = evaluate(tiny_bundle, [path], ["ssf", "hcf", "drf"])
    ev = Evaluator(tiny_bundle)
    items = load_items([path])
    for name in ("ssf", "hcf", "drf"):
        c = ev.method_curve(name, items)
        assert c.levels == ref[name].levels
        assert c.bpp == pytest.approx(ref[name].bpp)
        assert c.psnr == pytest.approx(ref[name].psnr)
        assert c.ms_ssim_db == pytest.approx(ref[name].ms_ssim_db)


def test_policy_table_groups_and_rqsi(tiny_bundle):
    from hcf_ray.analysis.policies import policy_table
    from hcf_ray.analysis.runner import Evaluator, ImageItem
    from hcf_ray.images import load_image, sample_images

    img = ImageItem("a", load_image(sample_images()[2])[..., :64, :128].contiguous())
    ev = Evaluator(tiny_bundle)
    table = policy_table(ev, [img], s=6, n_q_values=(2, 4), targets=(2,))
    assert [(g.n_q, g.d, len(g.rows)) for g in table.groups] == [(2, 2, 4), (4, 2, 4)]
    g = table.groups[0]
    assert str(g.edge.policy) == "[1,0,0,0,1]" and sum(r.is_edge for r in g.rows) == 1
    low, high = table.references[2]
    p = g.edge.point
    assert g.edge.eta_psnr.value == pytest.approx(
        rqsi(p.psnr, p.bpp, (low.psnr, low.bpp), (high.psnr, high.bpp)).value
    )
    assert 1 <= g.edge_rank("psnr") <= 4


def test_cpu_peak_memory_sees_torch_allocations():
    from hcf_ray.analysis.efficiency import peak_activation_bytes

    def fn():
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # another 4 MB while a is alive
        del a, b

    peak = peak_activation_bytes(fn, "cpu")
    assert 8_000_000 <= peak < 9_000_000


def test_ablation_equal_rate_deltas():
    from hcf_ray.analysis.ablation import Ablation
    from hcf_ray.evaluate import Curve

    full = Curve("hcf", "", [1, 2, 3], [0.2, 0.3, 0.5], [27.0, 28.5, 30.0], [10.0, 12.0, 14.0])
    var = Curve("intra-only", "", [1, 2, 3], [0.25, 0.35, 0.6], [27.2, 28.7, 30.1], [10, 12, 14])
    abl = Ablation({"hcf": full, "intra-only": var}, [])
    assert abl.deltas("intra-only") == pytest.approx([0.2, 0.2, 0.1])
    # HCF at 0.25 bpp: 27.75 dB; at 0.35 bpp: 28.875 dB; 0.6 bpp is outside its range
    eq = abl.equal_rate_deltas("intra-only")
    assert eq[0] == pytest.approx(-0.55) and eq[1] == pytest.approx(-0.175) and eq[2] is None
