import pytest

from hcf_ray.bitstream import Bitstream


def test_wire_roundtrip_and_counts():
    bs = Bitstream(level=3, strings=(b"\x01\x02\x03", b"zz"), image_size=(70, 100), z_shape=(2, 2))
    assert bs.nbytes == len(bs) == 5
    data = bs.to_bytes()
    assert len(data) == bs.wire_nbytes
    back = Bitstream.from_bytes(data)
    assert back == bs
    assert back.bpp() == pytest.approx(5 * 8 / 7000)


@pytest.mark.parametrize("cut", [3, 17, -1])
def test_truncated_stream_is_rejected(cut):
    data = Bitstream(2, (b"abcdef", b"gh"), (64, 64), (1, 1)).to_bytes()
    with pytest.raises(ValueError):
        Bitstream.from_bytes(data[:cut])


def test_bad_magic():
    data = bytearray(Bitstream(2, (b"a",), (64, 64), (1, 1)).to_bytes())
    data[0:4] = b"XXXX"
    with pytest.raises(ValueError, match="magic"):
        Bitstream.from_bytes(bytes(data))
