"""One quality level of the ladder: a CompressAI model split into its four HCF operators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.ops import compute_padding
from torch import Tensor, nn

from hcf_ray.bitstream import Bitstream, BitstreamError
from hcf_ray.codecs.latent_coders import latent_coder_for
from hcf_ray.errors import InputError
from hcf_ray.image_limits import MIN_IMAGE_SIDE

PAD_MULTIPLE = 64  # total down-sampling of g_a (16) times h_a (4)
Y_PER_Z = PAD_MULTIPLE // 16  # y is 4x the hyper-latent's size (h_s up-samples by 4)
NUM_STRINGS = 2  # every latent coder writes [y, z]
# rANS strings are whole 32-bit words, and at least the coder's final 64-bit state
RANS_WORD = 4
RANS_MIN_BYTES = 8
# no valid string is longer: a symbol costs at most 16 bits plus, for an out-of-range value,
# ~36 bits of bypass-coded int32 (≤ 6.5 bytes), plus the coder's flushed state and last word
RANS_MAX_BYTES_PER_SYMBOL = 8
RANS_MAX_OVERHEAD = 64


def pad_image(x: Tensor) -> Tensor:
    """Pad ``(1,3,H,W)`` to a multiple of :data:`PAD_MULTIPLE`, centred as CompressAI's
    evaluation does, but by repeating the border pixels instead of adding zeros.

    The padding is the encoder's own choice (the decoder only crops, bpp counts the image's
    pixels), and black borders are expensive: they put a hard edge on all four sides that
    costs bits and rings into the picture. On the val photos (816–1404 px sides, padding
    2–9 % of the coded area), replicating the border measured 5–7 % fewer bytes *and*
    0.17–0.25 dB more PSNR than zeros at every level of the shipped ladder (model card,
    "Border padding"). Images whose sides are multiples of 64 (Kodak) are not padded at all.
    """
    h, w = x.shape[-2:]
    pad, _ = compute_padding(h, w, min_div=PAD_MULTIPLE)
    return F.pad(x, pad, mode="replicate") if any(pad) else x


def crop_image(x_hat: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Undo :func:`pad_image`: the centred ``image_size`` window of a padded reconstruction."""
    _, unpad = compute_padding(*image_size, min_div=PAD_MULTIPLE)
    return F.pad(x_hat, unpad)


def latent_channels_of(model: nn.Module) -> int:
    """Number of channels of ``y`` (M; N for cheng2020 models)."""
    ep = getattr(model, "entropy_parameters", None)
    if ep is not None:
        return ep[-1].out_channels // 2
    return int(model.M)


class LevelCodec:
    """Level ``k`` of a quality ladder: ``g_a^k``, ``Q^k/E^k``, ``D^k``, ``g_s^k``.

    Inputs are RGB tensors in [0, 1] of shape ``(1, 3, H, W)`` of any size ≥ 64×64; they are
    padded to a multiple of 64 by repeating their border (:func:`pad_image`) and cropped back.
    """

    def __init__(
        self,
        model: nn.Module,
        level: int,
        arch: str,
        lmbda: float | None = None,
        update_cdfs: bool = True,
    ):
        self.model = model.eval()
        self.level = int(level)
        self.arch = arch
        self.lmbda = lmbda
        if update_cdfs:
            self.model.update(force=True)
        self.coder = latent_coder_for(self.model)

    def __repr__(self) -> str:
        return f"LevelCodec(level={self.level}, arch={self.arch!r}, M={self.latent_channels})"

    @property
    def latent_channels(self) -> int:
        return latent_channels_of(self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def num_parameters(self, part: str | None = None) -> int:
        mod = self.model if part is None else getattr(self.model, part)
        return sum(p.numel() for p in mod.parameters())

    # -- the four operators -----------------------------------------------------------
    @torch.no_grad()
    def analysis(self, x: Tensor) -> Tensor:
        """``g_a^k``: image ``(1,3,H,W)`` in [0,1] → unquantized latent ``ỹ``."""
        check_image_tensor(x)
        return self.model.g_a(pad_image(x))

    @torch.no_grad()
    def compress_latent(self, y: Tensor, image_size: tuple[int, int]) -> Bitstream:
        """``E^k ∘ Q^k``: entropy-code ``y`` with this level's prior (no ``g_a``)."""
        return self.encode_latent(y, image_size)[0]

    @torch.no_grad()
    def encode_latent(self, y: Tensor, image_size: tuple[int, int]) -> tuple[Bitstream, Tensor]:
        """Like :meth:`compress_latent` but also returns the encoder-side ``ŷ``."""
        self._check_latent(y)
        coded = self.coder.encode(y)
        bs = Bitstream(
            level=self.level,
            strings=tuple(coded.strings),
            image_size=(int(image_size[0]), int(image_size[1])),
            z_shape=(int(coded.z_shape[0]), int(coded.z_shape[1])),
        )
        return bs, coded.y_hat

    @torch.no_grad()
    def decompress_latent(self, bitstream: Bitstream) -> Tensor:
        """``D^k``: bitstream → quantized latent ``ŷ`` (bit-exact with the encoder side).

        The stream is checked first (:meth:`check_bitstream`); what reaches the rANS decoder
        is padded (:func:`decoder_input`), and a latent that decodes to non-finite values is
        refused. Every refusal is a :class:`~hcf_ray.bitstream.BitstreamError`.
        """
        counts = self.check_bitstream(bitstream)
        strings = [decoder_input(s, n) for s, n in zip(bitstream.strings, counts)]
        y_hat = self.coder.decode(strings, bitstream.z_shape)
        if not torch.isfinite(y_hat).all():
            raise BitstreamError(f"level-{self.level} bitstream decodes to a non-finite latent")
        return y_hat

    def symbol_counts(self, z_shape: tuple[int, int]) -> tuple[int, int]:
        """How many symbols the y and z strings code for a hyper-latent of ``z_shape``."""
        zh, zw = z_shape
        n_z = int(self.model.entropy_bottleneck.channels) * zh * zw
        return self.latent_channels * (Y_PER_Z * zh) * (Y_PER_Z * zw), n_z

    def check_bitstream(self, bitstream: Bitstream) -> tuple[int, int]:
        """Refuse (:class:`~hcf_ray.bitstream.BitstreamError`) a stream this level cannot
        decode safely; returns the symbol counts of its strings.

        Besides :meth:`Bitstream.validate`: the level, two strings (y, z), the hyper-latent
        size the image size implies (:func:`z_shape_for`), and string lengths a rANS coder
        can write for that many symbols (whole 32-bit words, at least its 8-byte final
        state, at most :data:`RANS_MAX_BYTES_PER_SYMBOL` per symbol plus
        :data:`RANS_MAX_OVERHEAD`). CompressAI's C++ decoder checks no bounds: these checks
        and :func:`decoder_input` are what keep a damaged stream from crashing the process.
        """
        if not isinstance(bitstream, Bitstream):
            raise BitstreamError(
                f"level {self.level} decodes a Bitstream, got {type(bitstream).__name__}"
            )
        if bitstream.level != self.level:
            raise BitstreamError(
                f"bitstream of level {bitstream.level} cannot be decoded by level {self.level}"
            )
        bitstream.validate()
        if len(bitstream.strings) != NUM_STRINGS:
            raise BitstreamError(
                f"level {self.level} expects {NUM_STRINGS} strings (y, z), "
                f"got {len(bitstream.strings)}"
            )
        want = z_shape_for(bitstream.image_size)
        if tuple(bitstream.z_shape) != want:
            h, w = bitstream.image_size
            raise BitstreamError(
                f"hyper-latent {bitstream.z_shape[0]}x{bitstream.z_shape[1]} does not fit a "
                f"{h}x{w} image (expected {want[0]}x{want[1]})"
            )
        counts = self.symbol_counts(want)
        for name, s, n in zip(("y", "z"), bitstream.strings, counts):
            most = RANS_MAX_BYTES_PER_SYMBOL * n + RANS_MAX_OVERHEAD
            if len(s) < RANS_MIN_BYTES or len(s) % RANS_WORD or len(s) > most:
                raise BitstreamError(
                    f"{name} string of {len(s)} bytes is not a rANS stream of {n} symbols "
                    f"(needs a multiple of {RANS_WORD} in {RANS_MIN_BYTES}..{most})"
                )
        return counts

    @torch.no_grad()
    def quantize_latent(self, y: Tensor) -> tuple[Tensor, float]:
        """``Q^k`` without the entropy coder: ``(ŷ, estimated bits)`` (entropy estimation)."""
        self._check_latent(y)
        y_hat, bits = self.coder.quantize(y)
        return y_hat, float(bits)

    @torch.no_grad()
    def synthesis(self, y_hat: Tensor, image_size: tuple[int, int]) -> Tensor:
        """``g_s^k``: latent → reconstruction, clamped to [0,1] and cropped to ``image_size``."""
        self._check_latent(y_hat)
        return crop_image(self.model.g_s(y_hat).clamp_(0, 1), image_size)

    def _check_latent(self, y: Tensor) -> None:
        if y.dim() != 4 or y.size(1) != self.latent_channels:
            raise ValueError(
                f"level {self.level} expects a latent with {self.latent_channels} channels, "
                f"got shape {tuple(y.shape)}"
            )


def z_shape_for(image_size: tuple[int, int]) -> tuple[int, int]:
    """Hyper-latent size of an image: its sides padded to :data:`PAD_MULTIPLE`
    (:func:`pad_image`), then down-sampled 16x by ``g_a`` and 4x by ``h_a`` (stride-2 convs
    on even sizes, exact) — ``ceil(H/64) x ceil(W/64)``, for every supported architecture."""
    h, w = image_size
    return -(-int(h) // PAD_MULTIPLE), -(-int(w) // PAD_MULTIPLE)


def decoder_input(string: bytes, n_symbols: int) -> bytes:
    """``string`` followed by zero bytes: what the rANS decoder is given.

    CompressAI's C++ decoder reads 32-bit words without checking the end of its buffer. A
    valid stream is read exactly to its end (the padding changes nothing), but a damaged one,
    even with a valid CRC and a plausible length, makes it read on past it: from a short
    string held on the C stack or a large one in its own memory mapping, into unmapped memory
    (a segfault). The padding keeps those reads inside this buffer, so a damaged stream only
    decodes to a wrong latent. Its size bounds the over-read: outside bypass mode a decoded
    symbol reads at most one word (4 bytes; a decoder state stuck at 0 does that for every
    symbol), and bypass mode (escape codes for out-of-range values) reads at most ~15 bytes
    per byte of the string (a string of 0xFF bytes); measured on the shipped ladder and
    random models, the worst case used 90 % of this padding (tests/test_integrity.py checks
    that nothing past it is read).
    """
    return bytes(string) + bytes(16 * len(string) + 2 * RANS_WORD * n_symbols + 4096)


def check_image_tensor(x: Tensor) -> None:
    if x.dim() != 4 or x.size(0) != 1 or x.size(1) != 3:
        raise ValueError(f"image must be a (1, 3, H, W) RGB tensor, got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise InputError(f"image is {h}x{w}; both sides must be at least {MIN_IMAGE_SIDE} pixels")
