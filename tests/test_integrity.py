"""Payload integrity: a receiver refuses a damaged bitstream before CompressAI's rANS decoder
(C++, no bounds checks) ever sees it, and no input bytes can crash the process."""

import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
import torch

from hcf_ray.bitstream import MAX_IMAGE_PIXELS, Bitstream, BitstreamError
from hcf_ray.bundle import BundleSource, load_bundle
from hcf_ray.cascade import build_program
from hcf_ray.codecs import ARCHITECTURES, LevelCodec, build_model
from hcf_ray.codecs.level import RANS_MAX_BYTES_PER_SYMBOL, decoder_input, z_shape_for
from hcf_ray.sim.actors import NodeWorker
from hcf_ray.sim.planner import Branch, Job, plan_segments

LEVEL = 3
SIZE = (120, 200)  # not a multiple of 64: padded to 128 x 256, z is 2 x 4
HEADER = 18  # magic 4, level 1, n 1, H W zH zW 2 each, CRC 4


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and 0 < len(msg) <= 160, msg
    return msg


def crc_of(data: bytes) -> int:
    """The documented CRC: zlib.crc32 of the stream without its CRC field (bytes 14..17)."""
    return zlib.crc32(data[HEADER:], zlib.crc32(data[:14])) & 0xFFFFFFFF


def with_crc(data: bytes) -> bytes:
    return data[:14] + struct.pack("<I", crc_of(data)) + data[HEADER:]


@pytest.fixture(scope="module", params=["random:mbt2018-mean", "default"])
def setup(request, sample_image):
    engine = load_bundle(request.param).engine()
    send, recv = build_program("ssf", LEVEL, LEVEL).stages
    x = sample_image[..., : SIZE[0], : SIZE[1]].contiguous()
    bs = engine.run_stage(send, x, SIZE).bitstream
    assert isinstance(bs, Bitstream) and bs.z_shape == (2, 4)
    return engine, recv, bs


@pytest.fixture
def no_decoder(setup, monkeypatch):
    """The receiving level's rANS decoder, made to fail the test if it is reached."""
    engine, _, _ = setup

    def reached(*a, **k):
        raise AssertionError("the rANS decoder was reached")

    monkeypatch.setattr(engine.ladder[LEVEL].coder, "decode", reached)


def receive(setup, data, stage=None):
    engine, recv, _ = setup
    return engine.run_stage(stage or recv, data, SIZE)


def test_wire_format_layout_and_clean_receive(setup):
    engine, _, bs = setup
    data = bs.to_bytes()
    y, z = bs.strings
    assert data[:4] == b"HCF2" and len(data) == bs.wire_nbytes == HEADER + 8 + len(y) + len(z)
    assert struct.unpack_from("<BBHHHHI", data, 4) == (LEVEL, 2, *SIZE, 2, 4, crc_of(data))
    assert data[HEADER + 4 : HEADER + 4 + len(y)] == y
    assert Bitstream.from_bytes(data) == bs
    out = receive(setup, data)
    assert out.image.shape[-2:] == SIZE and torch.isfinite(out.image).all()
    # the padding the decoder gets changes nothing for a valid stream
    assert torch.equal(out.latent, engine.ladder[LEVEL].coder.decode(list(bs.strings), bs.z_shape))


def _flip(data: bytes, at: int) -> bytes:
    raw = bytearray(data)
    raw[at] ^= 0xFF
    return bytes(raw)


def _corrupt(bs: Bitstream, kind: str) -> bytes:
    data = bs.to_bytes()
    y, z = bs.strings
    y_at = HEADER + 4
    z_at = y_at + len(y) + 4
    if kind == "flip_y":
        return _flip(data, y_at + len(y) // 2)
    if kind == "flip_z":
        return _flip(data, z_at + len(z) // 2)
    if kind.startswith("flip_header_"):
        return _flip(data, int(kind.rsplit("_", 1)[1]))
    if kind == "y_half":  # y's bytes cut to half inside the stream, its length prefix kept
        return data[:y_at] + y[: len(y) // 2] + data[y_at + len(y) :]
    if kind == "stream_half":
        return data[: len(data) // 2]
    if kind == "append_100":
        return data + bytes(range(100))
    if kind == "empty_y":  # a well-formed stream with a valid CRC, but nothing to decode
        return Bitstream(bs.level, (b"", z), bs.image_size, bs.z_shape).to_bytes()
    if kind == "empty_z":
        return Bitstream(bs.level, (y, b""), bs.image_size, bs.z_shape).to_bytes()
    if kind == "empty_stream":
        return b""
    if kind == "old_magic":
        return b"HCF1" + data[4:]
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind,match",
    [
        ("flip_y", "CRC"),
        ("flip_z", "CRC"),
        ("flip_header_4", "CRC"),  # level
        ("flip_header_6", "CRC"),  # image height
        ("flip_header_10", "CRC"),  # z height
        ("flip_header_15", "CRC"),  # the CRC itself
        ("flip_header_5", "truncated|trailing"),  # number of strings
        ("flip_header_0", "magic"),
        ("y_half", "truncated|trailing|CRC"),
        ("stream_half", "truncated"),
        ("append_100", "100 trailing bytes"),
        ("empty_y", "string 0 is empty"),
        ("empty_z", "string 1 is empty"),
        ("empty_stream", "too short"),
        ("old_magic", "HCF1"),
    ],
)
def test_damaged_stream_is_refused_before_decoding(setup, no_decoder, kind, match):
    data = _corrupt(setup[2], kind)
    with pytest.raises(BitstreamError, match=match) as exc:
        receive(setup, data)
    one_line(exc)


def _recoded(bs: Bitstream, **change) -> Bitstream:
    fields = dict(level=bs.level, strings=bs.strings, image_size=bs.image_size, z_shape=bs.z_shape)
    return Bitstream(**{**fields, **change})


@pytest.mark.parametrize(
    "change,match",
    [
        # each a stream with a valid CRC: only the structural checks can refuse it
        ({"level": LEVEL + 1}, "level-4 bitstream, stage expects level 3"),
        ({"strings": "y"}, "expects 2 strings"),
        ({"strings": "yzz"}, "expects 2 strings"),
        ({"z_shape": (3, 4)}, "hyper-latent 3x4 does not fit a 120x200 image"),
        ({"z_shape": (2, 3)}, "expected 2x4"),
        ({"image_size": (0, 200)}, "0x200"),
        ({"image_size": (120, 0)}, "120x0"),
        ({"z_shape": (0, 4)}, "0x4"),
        ({"image_size": (60000, 60000), "z_shape": (938, 938)}, "pixel limit"),
        ({"strings": "y6"}, "y string of 6 bytes"),  # not whole 32-bit words
        ({"strings": "y4"}, "y string of 4 bytes"),  # shorter than the coder's state
        ({"strings": "z4"}, "z string of 4 bytes"),
        ({"strings": "ylong"}, "is not a rANS stream"),  # longer than any valid encoding
    ],
)
def test_valid_crc_but_impossible_structure_is_refused(setup, no_decoder, change, match):
    engine, _, bs = setup
    y, z = bs.strings
    n_y, _ = engine.ladder[LEVEL].symbol_counts(bs.z_shape)
    strings = {
        "y": (y,),
        "yzz": (y, z, z),
        "y6": (y[:6].ljust(6, b"\1"), z),
        "y4": (y[:4], z),
        "z4": (y, z[:4]),
        "ylong": (bytes(RANS_MAX_BYTES_PER_SYMBOL * n_y + 68), z),
    }
    if "strings" in change:
        change = {**change, "strings": strings[change["strings"]]}
    bad = _recoded(bs, **change)
    for payload in (bad.to_bytes(), bad):  # as wire bytes, and as an object handed over
        with pytest.raises(BitstreamError, match=match) as exc:
            receive(setup, payload)
        one_line(exc)


def test_wrong_level_receiver_and_direct_decode_refuse(setup, no_decoder):
    engine, _, bs = setup
    other = build_program("ssf", 2, 2).stages[1]
    with pytest.raises(BitstreamError, match="level-3 bitstream, stage expects level 2"):
        receive(setup, bs.to_bytes(), stage=other)
    with pytest.raises(BitstreamError, match="level 3 cannot be decoded by level 2"):
        engine.ladder[2].decompress_latent(bs)
    # the crash (rc 139 from an empty y): refused, from an object too
    with pytest.raises(BitstreamError, match="empty"):
        engine.ladder[LEVEL].decompress_latent(_recoded(bs, strings=(b"", bs.strings[1])))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_z_shape_rule_matches_every_architecture(arch):
    torch.manual_seed(0)
    codec = LevelCodec(build_model(arch, 16, 24), 1, arch)
    for size in ((64, 64), (70, 130)):
        x = torch.rand(1, 3, *size)
        y = codec.analysis(x)
        bs = codec.compress_latent(y + 3.0 * torch.randn_like(y), size)  # many symbols
        assert bs.z_shape == z_shape_for(size) == (-(-size[0] // 64), -(-size[1] // 64))
        codec.check_bitstream(bs)  # what the coder writes passes the receiver's checks
        assert all(len(s) >= 8 and len(s) % 4 == 0 for s in bs.strings)


def test_decoder_reads_stay_inside_the_padding():
    """The most the rANS decoder over-reads (0xFF strings of the longest admitted length drive
    its bypass mode hardest; an all-zero state reads a word a symbol) stays in the padding:
    what lies after the padding does not change the result."""
    codec = BundleSource("default").level(1)
    z_shape = (2, 4)
    n_y, n_z = codec.symbol_counts(z_shape)
    longest_y = RANS_MAX_BYTES_PER_SYMBOL * n_y + 64
    longest_z = RANS_MAX_BYTES_PER_SYMBOL * n_z + 64
    cases = [
        (b"\xff" * longest_y, b"\xff" * longest_z),
        (bytes(8), bytes(8)),
        (b"\xff" * 8, bytes(longest_z)),
    ]
    for y, z in cases:
        outs = []
        for tail in (b"\x5a" * 4096, b"\xa5" * 4096):  # no 0xF nibble: no bypass runs
            strings = [decoder_input(y, n_y) + tail, decoder_input(z, n_z) + tail]
            outs.append(torch.nan_to_num(codec.coder.decode(strings, z_shape)))
        assert torch.equal(*outs)


FUZZ = textwrap.dedent(
    """
    import random, struct, sys, threading, warnings, zlib
    warnings.filterwarnings("ignore")
    import torch
    torch.set_num_threads(1)
    from hcf_ray.bitstream import Bitstream, BitstreamError
    from hcf_ray.cascade import build_program
    from hcf_ray.images import load_image, sample_images
    from hcf_ray.sim.planner import ModelNeeds
    from hcf_ray.sim.work.models import ModelCache

    spec, level, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    size = (int(sys.argv[5]), int(sys.argv[6]))
    engine = ModelCache(spec, None, "fuzz").engine(ModelNeeds(base=frozenset({level})))
    send, recv = build_program("ssf", level, level).stages
    x = load_image(sample_images()[0])[..., : size[0], : size[1]]
    grow = (0, size[1] - x.shape[-1], 0, size[0] - x.shape[-2])
    x = torch.nn.functional.pad(x, grow, mode="replicate").contiguous()
    bs = engine.run_stage(send, x, size).bitstream
    wire = bs.to_bytes()
    y, z = bs.strings
    rng = random.Random(seed)

    def fix_crc(d):
        if len(d) < 18:
            return d
        crc = zlib.crc32(d[18:], zlib.crc32(d[:14])) & 0xFFFFFFFF
        return d[:14] + struct.pack("<I", crc) + d[18:]

    def flip(d, n):
        d = bytearray(d)
        for _ in range(n):
            if d:
                d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
        return bytes(d)

    def garbage_string(s):
        how = rng.randrange(6)
        n = rng.choice([0, 1, 3, 4, 7, 8, 12, rng.randrange(4 * len(s) + 16)])
        if how == 0:
            return flip(s, rng.randint(1, 8))
        if how == 1:
            return s[: rng.randrange(len(s) + 1)]
        if how == 2:
            return rng.randbytes(n)
        if how == 3:
            return rng.randbytes(n // 4 * 4)
        if how == 4:
            return rng.choice([b"\\xff", b"\\x00", b"\\x0f"]) * (n // 4 * 4)
        return s + rng.randbytes(rng.randrange(64))

    def mutate(i):
        kind = i % 8
        if kind == 0:
            return flip(wire, rng.randint(1, 4))
        if kind == 1:
            return wire[: rng.randrange(len(wire))]
        if kind == 2:
            at = rng.randrange(len(wire) + 1)
            return wire[:at] + rng.randbytes(rng.randint(1, 64)) + wire[at:]
        if kind == 3:
            a = rng.randrange(len(wire))
            return wire[:a] + wire[rng.randint(a + 1, len(wire)) :]
        if kind == 4:
            head = wire[:4] if rng.random() < 0.5 else b""
            return head + rng.randbytes(rng.randrange(2 * len(wire)))
        if kind == 5:  # damage after the header, then make the CRC match
            d = flip(wire, rng.randint(1, 8))
            return fix_crc(wire[:18] + d[18:])
        if kind == 6:  # damaged strings re-encoded: a valid CRC
            ys = garbage_string(y) if rng.random() < 0.7 else y
            zs = garbage_string(z) if rng.random() < 0.5 else z
            return Bitstream(bs.level, (ys, zs), bs.image_size, bs.z_shape).to_bytes()
        h, w = bs.image_size  # header fields changed, strings kept or damaged, valid CRC
        zh, zw = bs.z_shape
        lv = bs.level if rng.random() < 0.7 else rng.randrange(256)
        if rng.random() < 0.5:
            h, w = rng.choice([(h, w), (0, w), (h + 64, w), (rng.randrange(2048), w)])
        if rng.random() < 0.5:
            zh, zw = rng.choice([(zh + 1, zw), (0, zw), (-(-h // 64), -(-w // 64))])
        strings = (y, garbage_string(z)) if rng.random() < 0.5 else (y, z)
        if rng.random() < 0.2:
            strings = strings[: rng.choice([1, 2])] + (y,) * rng.randrange(3)
        return Bitstream(lv, strings, (h, w), (zh, zw)).to_bytes()

    codec = engine.ladder[level]

    def receive(i, data):
        # each in a fresh thread (as a worker's task thread): there an unguarded decoder
        # reading past a short string soon runs off the thread's stack (SIGSEGV)
        box = {}

        def run():
            try:
                if i % 2:  # both receiving paths
                    box["out"] = engine.run_stage(recv, data, size, stop=1).latent
                else:
                    box["out"] = codec.decompress_latent(Bitstream.from_bytes(data))
            except Exception as exc:
                box["exc"] = exc

        th = threading.Thread(target=run)
        th.start()
        th.join()
        if "exc" in box:
            raise box["exc"]
        return box["out"]

    # first the streams that crash an unguarded decoder here (segfault): short y strings
    # with a valid CRC, then random mutations
    short = [b"", y[:3], y[:8], y[:12], b"\\xff" * 8, bytes(8), bytes(16)]
    fixed = [Bitstream(bs.level, (s, z), bs.image_size, bs.z_shape).to_bytes() for s in short]
    decoded = refused = other = 0
    for i in range(count):
        data = fixed[i] if i < len(fixed) else mutate(i)
        try:
            latent = receive(i, data)
        except BitstreamError:
            refused += 1
            continue
        except ValueError:
            other += 1
            continue
        zh, zw = Bitstream.from_bytes(data).z_shape
        assert torch.isfinite(latent).all(), i
        assert latent.shape[-2:] == (4 * zh, 4 * zw), (i, latent.shape)
        decoded += 1
    print(f"fuzz decoded={decoded} refused={refused} other_value_errors={other}", flush=True)
    """
)


def test_random_mutations_never_crash_the_receiver():
    """A child process feeds hundreds of seeded mutations of a real stream (bit flips,
    truncations, insertions, random bytes, and damaged streams re-CRC'd so the CRC matches)
    to the receiving path. Each is refused or decodes to a finite latent; no signal.

    The harness does find the crash: with the receiver's checks and the decoder padding
    switched off (or only the padding: an 8-byte y with a valid CRC passes every check), the
    same child dies of SIGSEGV (rc -11), checked by hand when this test was written."""
    proc = subprocess.run(
        [sys.executable, "-c", FUZZ, "default", "4", "600", "20240611", "256", "384"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    line = proc.stdout.strip().splitlines()[-1]
    counts = dict(kv.split("=") for kv in line.split()[1:])
    decoded, refused = int(counts["decoded"]), int(counts["refused"])
    assert decoded + refused + int(counts["other_value_errors"]) == 600
    # both outcomes happen: garbage with a matching CRC reaches the decoder, safely
    assert decoded >= 20 and refused >= 300, line


def test_node_worker_sends_wire_bytes_and_refuses_damage():
    worker = NodeWorker("n", "random:mbt2018-mean")
    send, recv = build_program("ssf", 2, 2).stages
    x = torch.rand(1, 3, 70, 100, generator=torch.Generator().manual_seed(0)).numpy()
    size = (70, 100)
    src = Job(0, "cam", None, (Branch(send, ("dst",)),), plan_segments((Branch(send, ("dst",)),)))
    data, stats = worker.run_job(src, x, None, size)
    assert isinstance(data, bytes)
    sent = Bitstream.from_bytes(data)
    info = stats["outputs"][0]
    assert info == {"level": 2, "bytes": sent.nbytes, "wire_bytes": len(data)}
    assert info["wire_bytes"] == info["bytes"] + HEADER + 8

    dst_branch = (Branch(recv, (), destination="dst"),)
    dst = Job(1, "dst", (0, 0), dst_branch, plan_segments(dst_branch))
    (_, stats) = worker.run_job(dst, data, x, size)
    assert np.isfinite(stats["outputs"][0]["psnr"])
    (_, legacy) = worker.run_job(dst, sent, x, size)  # a Bitstream object (old disk caches)
    assert legacy["outputs"][0]["recon_sha256"] == stats["outputs"][0]["recon_sha256"]

    for bad, match in (
        (_flip(data, len(data) // 2), "CRC"),
        (data[:-3], "truncated"),
        (data + b"\0" * 100, "100 trailing bytes"),
        (Bitstream(2, (b"", sent.strings[1]), size, sent.z_shape).to_bytes(), "empty"),
        (Bitstream(3, sent.strings, size, sent.z_shape).to_bytes(), "level"),
    ):
        with pytest.raises(BitstreamError, match=match) as exc:
            worker.run_job(dst, bad, x, size)
        one_line(exc)


def test_bitstream_error_is_a_value_error_and_the_limit_is_sane():
    assert issubclass(BitstreamError, ValueError)
    assert MAX_IMAGE_PIXELS >= 9800 * 6530
