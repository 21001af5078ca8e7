"""Model files reach the actors of other machines through Ray, never by the driver's paths
(hcf_ray.sim.work.shipping). The multi-machine run itself: tests/test_real_cluster.py."""

import hashlib
import shutil

import pytest
import torch

from hcf_ray.bundle import load_bundle
from hcf_ray.sim.work.shipping import ShippedCodec, ship_codec, unpack_codec


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ship_always(monkeypatch, tmp_path):
    monkeypatch.setenv("HCF_SHIP_CODEC", "1")
    monkeypatch.setenv("HCF_CODEC_CACHE", str(tmp_path / "machine_b"))


def test_a_shipped_ladder_and_phi_bank_load_after_the_driver_folder_is_gone(
    tiny_ladder, tiny_phis, tmp_path, ship_always
):
    ladder, phis = tmp_path / "head" / "ladder", tmp_path / "head" / "phis"
    tiny_ladder.save(ladder, half=False)
    tiny_phis.save(phis, half=False)
    before = {
        p.relative_to(tmp_path / "head").as_posix(): sha(p)
        for p in (tmp_path / "head").rglob("*")
        if p.is_file()
    }
    shipped = ship_codec(str(ladder), str(phis), put=lambda blob: blob)
    assert isinstance(shipped, ShippedCodec) and not shipped.zoo
    shutil.rmtree(tmp_path / "head")  # what the other machine cannot see
    spec, phi_dir = unpack_codec(shipped, str(phis))
    assert spec.startswith(str(tmp_path / "machine_b" / shipped.digest))
    got = {}
    for p in (tmp_path / "machine_b" / shipped.digest).rglob("*"):
        if p.is_file() and p.name != ".complete":
            got[p.as_posix().split(str(tmp_path) + "/head/", 1)[1]] = sha(p)
    assert got == before  # every file, byte for byte
    bundle = load_bundle(spec, phi_dir)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a = bundle.ladder[3].model.g_s(bundle.ladder[3].model.g_a(x))
        b = tiny_ladder[3].model.g_s(tiny_ladder[3].model.g_a(x))
    assert torch.equal(a, b)
    mine, theirs = bundle.phis.state_dict(), tiny_phis.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_machine_unpacks_once_and_a_second_actor_reuses_it(tiny_ladder, tmp_path, ship_always):
    tiny_ladder.save(tmp_path / "ladder", half=False)
    shipped = ship_codec(str(tmp_path / "ladder"), None, put=lambda blob: blob)
    first = unpack_codec(shipped, None)
    marker = tmp_path / "machine_b" / shipped.digest / "files" / "mine"
    marker.write_text("kept")
    assert unpack_codec(shipped, None) == first and marker.read_text() == "kept"
    # a changed file is a different blob: a new folder, the old one untouched
    (tmp_path / "ladder" / "extra.txt").write_text("new")
    again = ship_codec(str(tmp_path / "ladder"), None, put=lambda blob: blob)
    assert again.digest != shipped.digest


def test_installed_and_random_codecs_are_not_shipped(ship_always):
    assert ship_codec("random:mbt2018-mean", None, put=lambda blob: blob) == "random:mbt2018-mean"
    assert ship_codec("default", None, put=lambda blob: blob) == "default"
    assert unpack_codec("default", None) == ("default", None)


def test_one_machine_ships_nothing(monkeypatch, tiny_ladder, tmp_path, ray_session):
    monkeypatch.delenv("HCF_SHIP_CODEC", raising=False)
    tiny_ladder.save(tmp_path / "ladder", half=False)
    assert ship_codec(str(tmp_path / "ladder"), None) == str(tmp_path / "ladder")
