"""The one atomic-write helper (hcf_ray.atomic)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from hcf_ray.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_bytes_written_and_replaced(tmp_path):
    target = tmp_path / "sub" / "dir" / "blob.bin"  # missing parents are created
    data = bytes(range(256)) * 300
    assert atomic_write_bytes(target, data) == target
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    atomic_write_bytes(target, b"second", fsync=False)
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["blob.bin"]


def test_text_is_utf8_unless_told(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "φ λ\n")
    assert target.read_bytes() == b"\xcf\x86 \xce\xbb\n"
    atomic_write_text(target, "é", encoding="latin-1")
    assert target.read_bytes() == b"\xe9"


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "p.json"
        atomic_write_text(target, "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "φ", encoding="ascii")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_atomic_path_for_named_writers(tmp_path):
    target = tmp_path / "fig.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        assert not target.exists()  # nothing visible until the block ends
        tmp.write_bytes(b"\x89PNG")
    assert target.read_bytes() == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
