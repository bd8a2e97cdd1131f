"""Reading audio files: :func:`read_audio`, any WAV by the standard library, other formats through soundfile.

WAV files need nothing beyond NumPy: integer PCM (8-bit unsigned, 16, 24 and
32-bit signed) is read with the standard library's :mod:`wave`, IEEE-float WAV
(32 and 64-bit) and ``WAVE_FORMAT_EXTENSIBLE`` files (which :mod:`wave` reads only
from Python 3.12) from the chunks parsed here.  FLAC, OGG/Vorbis and the other
formats of libsndfile (and WAV encodings such as µ-law or ADPCM) are read by
``soundfile`` when it is installed (``pip install 'rnnkit[audio]'``).  Resampling
uses ``scipy.signal.resample_poly``, also in that extra.
"""
from __future__ import annotations

import io
import math
import os
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_positive_int
from ..errors import ConfigError, DatasetError, gist

__all__ = ["read_audio"]

_INSTALL = "pip install 'rnnkit[audio]'"
# format tags of the WAV fmt chunk
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
#: the bounds of resampling (see _resampling_problem): the output at most 16 times longer, the larger
#: factor of the two rates (divided by their gcd) at most 65536 (a filter of 1.3 million taps, 10 MB)
_MAX_UPSAMPLING, _MAX_FACTOR = 16, 1 << 16
# first bytes of audio formats read_audio leaves to soundfile: named in the error when it is missing
_MAGIC = {b"fLaC": "FLAC", b"OggS": "OGG", b"FORM": "AIFF", b"caff": "CAF", b"ID3": "MP3", b".snd": "AU",
          b"RF64": "RF64 WAV", b"RIFX": "big-endian WAV"}


def _soundfile():
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the package is there but libsndfile is not
        return None
    return soundfile


def _source_bytes(source: Any) -> tuple[bytes, str]:
    """The whole file as bytes and the name errors use for it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return data, f"audio bytes ({len(data):,} bytes)"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except FileNotFoundError:
            raise DatasetError(f"{path}: no such audio file; check the path") from None
        except IsADirectoryError:
            raise DatasetError(f"{path}: is a folder, not an audio file") from None
        except OSError as exc:
            raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise ConfigError(f"read_audio: `source` file object must be opened in binary mode ('rb'), "
                              f"got {type(data).__name__} from read()")
        return bytes(data), str(getattr(source, "name", "audio file object"))
    raise ConfigError(f"read_audio: `source` must be a path, bytes or a binary file object, got {type(source).__name__}")


def _wav_chunks(data: bytes, name: str) -> tuple[dict[str, int], int, int]:
    """Parse a RIFF/WAVE file: its fmt fields, and the offset and byte count of its sample data."""
    fmt: dict[str, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise DatasetError(f"{name}: truncated WAV file: its fmt chunk has {min(size, len(data) - body)} of 16 bytes")
            tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", data, body)
            extensible = tag == _EXTENSIBLE
            if extensible and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]  # the first 2 bytes of the sub-format GUID
            fmt = {"tag": tag, "extensible": extensible, "channels": channels, "rate": rate, "block_align": block_align,
                   "bits": bits}
        elif chunk_id == b"data":
            if fmt is None:
                raise DatasetError(f"{name}: not a valid WAV file: its data chunk comes before the fmt chunk")
            available = len(data) - body
            if size == 0xFFFFFFFF:  # written by a stream that could not seek back: the data runs to the end
                size = available
            if size > available:
                raise DatasetError(
                    f"{name}: truncated WAV file: the data chunk declares {size:,} bytes but {available:,} are there; "
                    "re-export or re-download it"
                )
            return fmt, body, size
        pos = body + size + (size & 1)  # chunks are padded to an even size
    if fmt is None:
        raise DatasetError(f"{name}: truncated or not a valid WAV file: no fmt chunk in its {len(data):,} bytes")
    raise DatasetError(f"{name}: truncated WAV file: no data chunk in its {len(data):,} bytes")


def _decode(raw: bytes, width: int, is_float: bool) -> np.ndarray:
    """Little-endian samples as float64: PCM scaled to [-1, 1), float as stored."""
    if is_float:
        return np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float64)
    if width == 1:  # 8-bit WAV is unsigned, 128 = silence
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:  # three bytes, little-endian, two's complement: place them in the top of an int32
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)) >> 8
        return ints.astype(np.float64) / float(1 << 23)
    return np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64) / float(1 << (8 * width - 1))


def _read_wav(data: bytes, name: str) -> tuple[np.ndarray, int] | None:
    """``(frames, channels)`` float64 samples and the rate; None for an encoding left to soundfile."""
    fmt, start, size = _wav_chunks(data, name)
    tag, channels, rate, bits = fmt["tag"], fmt["channels"], fmt["rate"], fmt["bits"]
    if channels == 0 or rate == 0:
        raise DatasetError(f"{name}: not a valid WAV file: {channels} channels at {rate} Hz")
    width = (bits + 7) // 8
    if tag == _PCM and not fmt["extensible"] and width in (1, 2, 3, 4) and fmt["block_align"] == width * channels:
        try:
            with wave.open(io.BytesIO(data), "rb") as w:
                frames, width, channels, rate = w.getnframes(), w.getsampwidth(), w.getnchannels(), w.getframerate()
                raw = w.readframes(frames)
        except (wave.Error, EOFError, struct.error) as exc:
            raise DatasetError(f"{name}: not a readable WAV file ({exc})") from None
        is_float = False
    elif tag in (_PCM, _FLOAT):
        # WAVE_FORMAT_EXTENSIBLE PCM, PCM in wider containers (20 bits in 3 or 4 bytes: left-justified, so
        # read as the container), or float: from the data chunk found above, a sample per block_align / channels
        width = fmt["block_align"] // channels if fmt["block_align"] % channels == 0 else 0
        if width not in ((1, 2, 3, 4) if tag == _PCM else (4, 8)):
            return None
        raw, is_float = data[start:start + size], tag == _FLOAT
    else:
        return None
    frame_bytes = width * channels
    if len(raw) % frame_bytes:
        raise DatasetError(f"{name}: truncated WAV file: {len(raw):,} bytes of samples is not a whole number of "
                           f"{channels}-channel {8 * width}-bit frames")
    with np.errstate(invalid="ignore"):  # a signalling NaN in a damaged float file: refused at the end
        samples = _decode(raw, width, is_float).reshape(-1, channels)
    return samples, rate


class _SeekableBytes(io.BytesIO):
    """Bytes for libsndfile: a seek before the start (asked by a damaged header) stays where it is, instead of
    raising inside soundfile's C callback, which can only print the exception."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return super().seek(offset, whence)
        except (ValueError, OverflowError):
            return self.tell()


def _read_other(data: bytes, name: str, reason: str) -> tuple[np.ndarray, int]:
    """Any format libsndfile reads, as ``(frames, channels)`` float64 and the rate."""
    sf = _soundfile()
    if sf is None:
        raise DatasetError(f"{name}: {reason}; reading it needs soundfile: {_INSTALL}")
    try:
        samples, rate = sf.read(_SeekableBytes(data), dtype="float64", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        detail = gist(exc, None)  # one line; "Error opening <BytesIO ...>: " says nothing
        detail = detail.split(">: ", 1)[-1] if detail.startswith("Error opening") else detail
        raise DatasetError(f"{name}: not an audio file or a format libsndfile cannot read ({detail})") from None
    return samples, int(rate)


def _resampling_problem(rate: int, target: int) -> str | None:
    """Why ``rate`` Hz cannot be resampled to ``target`` Hz within bounded memory, or None if it can.

    The polyphase filter has 20 taps per unit of the larger factor (after dividing out the rates' gcd) and
    the output is ``target / rate`` times as long as the input: both are bounded, so that a file claiming an
    absurd rate (1 Hz, 4 GHz) costs nothing.
    """
    g = math.gcd(rate, target)
    up, down = target // g, rate // g
    if up > _MAX_UPSAMPLING * down:
        return f"that would make it {up / down:,.0f} times longer (at most {_MAX_UPSAMPLING} times)"
    if max(up, down) > _MAX_FACTOR:
        return (f"the rates share only a factor of {g:,}, so the polyphase filter would need "
                f"{20 * max(up, down) + 1:,} taps (at most {20 * _MAX_FACTOR + 1:,})")
    return None


def resample(wave_: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``wave_`` sampled at ``rate`` Hz, resampled to ``target`` Hz (polyphase; needs scipy, the ``[audio]`` extra).

    Refused (ConfigError) when it would lengthen the wave more than 16 times, or when the rates
    share so small a factor that the filter would need more than 1.3 million taps (e.g. 44101 Hz).

    >>> resample(np.zeros(8000, dtype=np.float32), 8000, 16000).shape
    (16000,)
    """
    problem = _resampling_problem(rate, target)
    if problem is not None:
        raise ConfigError(f"resampling {rate:,} Hz to {target:,} Hz is refused: {problem}")
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise ConfigError(f"resampling {rate} Hz to {target} Hz needs scipy; {_INSTALL}") from None
    g = math.gcd(rate, target)
    # polyphase: upsample by target/g, low-pass (Kaiser window, β = 5), downsample by rate/g
    return resample_poly(wave_, target // g, rate // g)


def read_audio(source: Any, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as a mono float32 wave in [-1, 1] and its sample rate.

    The format is found from the file's first bytes (not its name).  Integer PCM is
    scaled to [-1, 1): ``(u - 128) / 128`` for 8-bit (unsigned), ``s / 2^(bits-1)``
    for 16, 24 and 32-bit; float WAV keeps its values (normally in [-1, 1]).
    Several channels are mixed down to their mean.  With ``sample_rate`` the wave
    is resampled by ``scipy.signal.resample_poly`` (up by ``sample_rate / g``, down
    by ``rate / g``, ``g`` their gcd; its anti-aliasing filter may overshoot ±1
    by a little).  See the module docstring for the formats and what they need.

    Shape:
        * output: ``(samples,)`` float32 and the sample rate (``sample_rate`` when given).

    Args:
        source: a path, the file's bytes, or a binary file object.
        sample_rate: resample to this rate in Hz (default None = keep the file's).

    Raises:
        DatasetError: naming the file, when it is missing, not an audio file, truncated,
            holds no samples or samples that are not finite (NaN, infinity), has a rate that
            cannot be resampled to ``sample_rate`` in bounded memory (see :func:`resample`), or
            is in a format that needs soundfile (not installed).

    Example:
        >>> import io, wave
        >>> buffer = io.BytesIO()
        >>> with wave.open(buffer, "wb") as w:
        ...     w.setnchannels(2); w.setsampwidth(2); w.setframerate(8000)
        ...     w.writeframes(b"\\x00\\x40\\x00\\x20" * 4)  # left 0.5, right 0.25
        >>> samples, rate = read_audio(buffer.getvalue())
        >>> samples.tolist(), rate
        ([0.375, 0.375, 0.375, 0.375], 8000)
    """
    if sample_rate is not None:
        sample_rate = check_positive_int("read_audio", "sample_rate", sample_rate)
    data, name = _source_bytes(source)
    if not data:
        raise DatasetError(f"{name}: empty file (0 bytes), not an audio file")
    if data[:4] == b"RIFF" and len(data) < 12:
        raise DatasetError(f"{name}: truncated WAV file: {len(data)} bytes, shorter than a RIFF header")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        result = _read_wav(data, name)
        if result is None:
            result = _read_other(data, name, "a WAV encoding other than integer PCM or IEEE float")
    else:
        kind = next((k for magic, k in _MAGIC.items() if data.startswith(magic)), None)
        if kind is None and _soundfile() is None:
            raise DatasetError(
                f"{name}: not an audio file (it starts with {data[:8]!r}); read_audio reads WAV, and with "
                f"soundfile ({_INSTALL}) FLAC, OGG and the other formats of libsndfile"
            )
        result = _read_other(data, name, f"a {kind} file" if kind else "not a WAV file")
    samples, rate = result
    if samples.shape[0] == 0:
        raise DatasetError(f"{name}: the file holds no samples (an empty recording)")
    if sample_rate is not None and sample_rate != rate:
        problem = _resampling_problem(rate, sample_rate)
        if problem is not None:
            raise DatasetError(f"{name}: its sample rate of {rate:,} Hz cannot be resampled to {sample_rate:,} Hz: "
                               f"{problem}; convert the file to a common rate (8000, 16000, 44100 Hz ...) first")
    # (a damaged float file's NaN, infinities or values beyond float32 are refused below, not warned about)
    with np.errstate(over="ignore", invalid="ignore"):
        # mono = mean over the channels                                                 (samples,)
        mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
        if sample_rate is not None and sample_rate != rate:
            mono = resample(mono, rate, sample_rate)
            rate = sample_rate
        mono = mono.astype(np.float32)
    if not np.isfinite(mono).all():
        raise DatasetError(f"{name}: holds samples that are not finite numbers (NaN, infinity, or beyond float32's "
                           "range), so it is damaged; re-export or re-download it")
    return mono, int(rate)
