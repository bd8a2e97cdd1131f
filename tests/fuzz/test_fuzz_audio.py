"""Hostile audio for rnnkit.audio.read_audio: random bytes, mutated WAV/FLAC/AIFF/AU/OGG files, WAV headers
with boundary values in every field (0 channels, absurd rates, sizes past the end), NaN float WAV.

Only rnnkit's errors may come out; a wave that is returned is mono float32 and finite; a header that claims
more than the file holds costs no memory.
"""
import io
import struct

import numpy as np
import pytest
from hypothesis import given

from fuzz_support import BATCH, BOUNDARY, cheaply, fuzz, hostile, mutate, seeds
from rnnkit.audio import read_audio
from rnnkit.errors import DatasetError, RnnkitError


def riff(tag: int, channels: int, rate: int, bits: int, data: bytes, *, block_align: int | None = None,
         extensible: bool = False, data_size: int | None = None, sub_tag: int | None = None) -> bytes:
    """A RIFF/WAVE file written field by field (the layout of the WAV specification), any field set at will."""
    if block_align is None:
        block_align = channels * ((bits + 7) // 8)
    fields = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block_align & 0xFFFFFFFF,
                         block_align & 0xFFFF, bits)
    if extensible:  # cbSize, valid bits, channel mask, then the sub-format GUID whose first 2 bytes are the tag
        fields += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag if sub_tag is None else sub_tag) + bytes(14)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fields)) + fields + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body + b"\x00" * (len(data) & 1)


RNG = np.random.default_rng(0)
PCM16 = riff(1, 1, 8000, 16, RNG.integers(-3000, 3000, 64).astype("<i2").tobytes())
VALID = [
    PCM16,
    riff(1, 2, 16000, 8, RNG.integers(0, 255, 64, dtype=np.uint8).tobytes()),
    riff(1, 1, 11025, 24, RNG.integers(0, 255, 96, dtype=np.uint8).tobytes()),
    riff(1, 2, 8000, 32, RNG.integers(-9, 9, 32).astype("<i4").tobytes()),
    riff(3, 1, 8000, 32, RNG.uniform(-1, 1, 32).astype("<f4").tobytes()),
    riff(3, 2, 22050, 64, RNG.uniform(-1, 1, 32).astype("<f8").tobytes()),
    riff(1, 2, 8000, 16, RNG.integers(-9, 9, 32).astype("<i2").tobytes(), extensible=True),
    riff(3, 1, 44100, 32, RNG.uniform(-1, 1, 16).astype("<f4").tobytes(), extensible=True),
]


def _other_formats() -> list[bytes]:
    sf = pytest.importorskip("soundfile")
    out = []
    for fmt, sub in (("FLAC", "PCM_16"), ("AIFF", "PCM_16"), ("AU", "PCM_16"), ("OGG", "VORBIS"), ("WAV", "ULAW")):
        buffer = io.BytesIO()
        sf.write(buffer, RNG.uniform(-0.5, 0.5, 200), 8000, format=fmt, subtype=sub)
        out.append(buffer.getvalue())
    return out


OTHER = _other_formats()


def _check(got, rate):
    if isinstance(got, RnnkitError):
        return
    wave_, got_rate = got
    assert wave_.dtype == np.float32 and wave_.ndim == 1 and wave_.size and np.isfinite(wave_).all()
    assert isinstance(got_rate, int) and got_rate > 0 and (rate is None or got_rate == rate)


RATES = (None, None, None, 8000, 16000)  # (most of the valid files are at 8000 Hz: 16000 resamples them)
MAGIC = (b"RIFF", b"fLaC", b"OggS", b".snd", b"FORM", b"caff", b"ID3", b"RIFF\x00\x00\x00\x00WAVE")


@fuzz(1500)
@given(rnd=seeds)
def test_read_audio_on_mutated_wav_and_random_bytes(rnd):
    for _ in range(BATCH):
        r = rnd.random()
        if r < 0.8:
            raw = mutate(rnd, rnd.choice(VALID))
        elif r < 0.9:
            raw = rnd.randbytes(rnd.randint(0, 80))
        else:
            raw = rnd.choice(MAGIC) + rnd.randbytes(rnd.randint(0, 60))
        rate = rnd.choice(RATES)
        _check(hostile(read_audio, raw, rate, name="audio bytes", case=(raw, rate)), rate)


@fuzz(250)
@given(rnd=seeds)
def test_read_audio_on_mutated_soundfile_formats(rnd):
    for _ in range(BATCH):
        raw, rate = mutate(rnd, rnd.choice(OTHER)), rnd.choice(RATES)
        _check(hostile(read_audio, raw, rate, name="audio bytes", case=(raw, rate)), rate)


def field(rnd):
    return rnd.choice(BOUNDARY) if rnd.random() < 0.5 else rnd.randint(0, 70_000)


@fuzz(1500)
@given(rnd=seeds)
def test_read_audio_on_wav_headers_with_boundary_fields(rnd):
    for _ in range(BATCH):
        args = dict(tag=rnd.choice([1, 3, 2, 0, 0xFFFE]), channels=field(rnd) % 65536, rate=field(rnd) % (1 << 32),
                    bits=rnd.choice([0, 1, 8, 12, 16, 20, 24, 32, 64, 65535]), data=rnd.randbytes(rnd.randint(0, 64)))
        extra = dict(block_align=field(rnd) if rnd.random() < 0.5 else None, extensible=rnd.random() < 0.3,
                     data_size=field(rnd) % (1 << 32) if rnd.random() < 0.5 else None)
        raw, rate = riff(*args.values(), **extra), rnd.choice(RATES)
        _check(hostile(read_audio, raw, rate, name="audio bytes", case=(args, extra, rate)), rate)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("bits", [32, 64])
def test_read_audio_refuses_a_float_wav_holding_nan_or_infinity(value, bits):
    samples = np.array([0.1, value, -0.2], dtype="<f4" if bits == 32 else "<f8")
    err = hostile(read_audio, riff(3, 1, 8000, bits, samples.tobytes()), name="audio bytes")
    assert isinstance(err, DatasetError) and "finite" in str(err), err


@pytest.mark.parametrize("rate", [1, 7, 0x7FFFFFFF, 0xFFFFFFFF])
def test_read_audio_refuses_an_absurd_rate_fast_without_memory(rate):
    raw = riff(1, 1, rate, 16, np.zeros(4000, "<i2").tobytes())
    got = cheaply(lambda: read_audio(raw, 16000), refused=f"{rate:,} Hz")
    assert isinstance(got, DatasetError), got


@pytest.mark.parametrize("raw", [
    riff(1, 1, 8000, 16, b"\x00" * 8, data_size=0xFFFFFFFE),  # a data chunk claiming 4 GiB
    riff(1, 65535, 8000, 32, b"\x00" * 8),  # 65535 channels, 262 KiB frames
    riff(3, 1, 8000, 64, b"\x00" * 8, data_size=0xFFFFFFFF),  # "to the end", as a stream writes
    OTHER[2][:8] + struct.pack(">I", 0x7FFFFFFF) + OTHER[2][12:],  # AU header: 2 GiB of samples
    OTHER[1][:22] + struct.pack(">I", 0x7FFFFFFF) + OTHER[1][26:],  # AIFF COMM: 2^31 frames
])
def test_read_audio_headers_claiming_huge_sizes_cost_no_memory(raw):
    _check(cheaply(lambda: read_audio(raw, 8000)), 8000)
