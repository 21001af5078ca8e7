"""The four baselines behind one interface, and the issue's acceptance test: one progressive
bitstream truncated at three nodes (every forwarded prefix shorter, decodable, lower PSNR)."""

import itertools
import pickle

import pytest
import torch

from hcf_ray.metrics import psnr
from hcf_ray.pcf import BASELINES, Payload, make_baseline, make_runner, rd_points, run_chain
from hcf_ray.pcf.bitstream import ProgressiveBitstream
from hcf_ray.pcf.codec import TailDropCodec
from hcf_ray.pcf.levels import DEFAULT_LEVEL_BPP, check_level_bpp, closest_index
from hcf_ray.pcf.tail_drop import TailDropHyperprior, uniform_groups

LEVELS = {1: 0.25, 2: 0.5, 3: 0.9, 4: 1.5}


@pytest.fixture(scope="module")
def photo():
    from hcf_ray.images import load_image, sample_images

    return load_image(sample_images()[0])


@pytest.fixture(scope="module")
def tail_codec():
    torch.manual_seed(0)
    model = TailDropHyperprior(16, 24, uniform_groups(24, 4))
    with torch.no_grad():
        model.g_a[-1].weight.mul_(40.0)  # random init has y ≈ 0: give the groups real symbols
    return TailDropCodec(model)


def _three_node_chain(base, photo):
    """source (level 4) → node 1 (→3) → node 2 (→2) → node 3 (→1) → destination."""
    res = run_chain(base, photo, [4, 3, 2, 1])
    source = res.payloads[0].data
    for prev, cur in zip(res.payloads, res.payloads[1:]):
        assert len(cur.data) < len(prev.data)  # every forwarded prefix is shorter
        assert source.startswith(cur.data)  # ... and a real byte prefix of the source's
        assert prev.data.startswith(cur.data)
    return res


def test_acceptance_j2k_three_nodes_monotonic_psnr(photo):
    base = make_baseline("pcf-j2k", level_bpp=LEVELS)
    res = _three_node_chain(base, photo)
    assert [h.nbytes for h in res.hops] == [len(p.data) for p in res.payloads]
    psnrs = [psnr(photo, base.decode(p, p.level)) for p in res.payloads]  # every prefix decodes
    assert all(a > b for a, b in itertools.pairwise(psnrs)), psnrs
    assert psnrs[-1] == psnr(photo, res.x_hat)


def test_acceptance_tail_three_nodes_prefixes_decode(photo, tail_codec):
    base = make_baseline(
        "pcf-tail",
        level_bpp=LEVELS,
        tail_model=tail_codec,
        groups_per_level={1: 1, 2: 2, 3: 4, 4: 6},
    )
    res = _three_node_chain(base, photo)
    ks = [ProgressiveBitstream.from_bytes(p.data).k for p in res.payloads]
    assert ks == [6, 4, 2, 1]
    for p in res.payloads:
        x_hat = base.decode(p, p.level)
        assert x_hat.shape == photo.shape and torch.isfinite(x_hat).all()
    # (PSNR monotonicity of tail-drop prefixes needs a trained model: see test_pcf_train.py)


def test_tail_closest_rate_mapping(photo, tail_codec):
    full = tail_codec.encode(photo)
    rates = [full.bpp(k) for k in range(1, 7)]
    table = {1: rates[0], 2: rates[2] * 1.01, 3: rates[5] * 0.99}  # closest: 1, 3, 6 groups
    base = make_baseline("pcf-tail", level_bpp=table, tail_model=tail_codec)
    res = run_chain(base, photo, [3, 2, 1])
    assert [ProgressiveBitstream.from_bytes(p.data).k for p in res.payloads] == [6, 3, 1]
    assert res.bpp() == pytest.approx(rates[0])


def test_tail_levels_get_distinct_prefixes_whatever_the_path(photo, tail_codec):
    # every target sits closest to the first group: levels must still get 1, 2, 3, 4 groups
    full = tail_codec.encode(photo)
    low = full.bpp(1)
    table = {1: low, 2: low * 1.001, 3: low * 1.002, 4: low * 1.003}
    base = make_baseline("pcf-tail", level_bpp=table, tail_model=tail_codec)
    assert [base.groups_for(full, k) for k in range(1, 5)] == [1, 2, 3, 4]
    res = run_chain(base, photo, [4, 3, 2, 1])
    assert [ProgressiveBitstream.from_bytes(p.data).k for p in res.payloads] == [4, 3, 2, 1]
    # a stream relayed 4→3→2→1 and one sent 4→1 directly carry the same bytes at level 1
    direct = run_chain(base, photo, [4, 1])
    assert direct.payloads[-1].data == res.payloads[-1].data


@pytest.mark.parametrize("name", ["pcf-j2k", "drf-jpeg"])
def test_rd_points_and_payload_pickling(photo, name):
    base = make_baseline(name, level_bpp=LEVELS)
    pts = rd_points(base, photo, s=4)
    assert [p["level"] for p in pts] == [4, 3, 2, 1]
    bpps = [p["bpp"] for p in pts]
    assert bpps == sorted(bpps, reverse=True)
    for p, target in zip(pts, [1.5, 0.9, 0.5, 0.25]):
        assert p["bpp"] == pytest.approx(target, rel=0.25)
    payload = base.encode_source(photo, 2)
    assert isinstance(payload.data, bytes)
    assert pickle.loads(pickle.dumps(payload)) == payload
    assert base.payload_nbytes(payload) == len(payload.data) == payload.nbytes


def test_interface_errors(photo):
    base = make_baseline("pcf-j2k", level_bpp=LEVELS)
    src = base.encode_source(photo, 3)
    with pytest.raises(ValueError, match="expected a level-2 payload"):
        base.decode(src, 2)
    with pytest.raises(ValueError, match=r"outside levels 1\.\.4"):
        base.encode_source(photo, 5)
    with pytest.raises(ValueError, match="cannot handle a payload of 'drf-jpeg'"):
        base.relay(Payload("drf-jpeg", 3, (256, 384), b""), 3, 2)
    with pytest.raises(ValueError, match="must not increase"):
        run_chain(base, photo, [2, 3])
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("pcf-magic")
    with pytest.raises(ValueError, match="increase with level"):
        check_level_bpp({1: 0.5, 2: 0.4})
    with pytest.raises(ValueError, match="without gaps"):
        check_level_bpp({1: 0.5, 3: 0.9})
    assert closest_index([0.1, 0.3, 0.5], 0.35) == 1
    assert set(BASELINES) == {"pcf-tail", "pcf-j2k", "drf-jpeg", "drf-webp"}
    assert check_level_bpp(None) == DEFAULT_LEVEL_BPP


def test_eval_runner(photo):
    base = make_baseline("drf-webp", level_bpp=LEVELS)
    bpp, x_hat = make_runner(base)(None, photo, 4, 2)
    res = run_chain(base, photo, [4, 3, 2])
    assert bpp == res.bpp() and torch.equal(x_hat, res.x_hat)
