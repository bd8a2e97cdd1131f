"""rnnkit.audio: reading files, log-mel / MFCC against librosa, VTLP, normalisation and augmentation.

References are independent of the code under test: librosa (test-only) for the
features and the filterbank, the Slaney mel scale written out here in NumPy for
the tone tests and the VTLP-warped filterbank (Jaitly and Hinton's formula in NumPy), WAV files written with the standard library's ``wave`` (and float
WAVs assembled byte by byte here), soundfile for FLAC, NumPy for the statistics.
"""
from __future__ import annotations

import io
import json
import struct
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.audio import (GlobalNormalizer, SpeakerNormalizer, add_noise, log_mel, mel_filterbank, mel_spectrogram, mfcc, normalize,
                          num_frames, peak_normalize, read_audio, spec_augment, speed_perturb, trim_silence, vtlp_factors,
                          vtlp_warp)
from rnnkit.errors import ConfigError, DatasetError, ShapeError

# 25 ms windows and 10 ms hops at 8 kHz, as librosa's arguments
FRAMING_8K = {"n_fft": 256, "win_length": 200, "hop_length": 80}


def _librosa():
    return pytest.importorskip("librosa", reason="librosa is the test-only reference for the features (the [test] extra)")


def _wav_bytes(ints: np.ndarray, width: int, channels: int, rate: int) -> bytes:
    """A PCM WAV written by the standard library; ``ints`` (frames, channels) already in the stored integer form."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 3:  # little-endian 3-byte two's complement
            data = ints.astype("<i4").reshape(-1, 1).view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        else:
            data = ints.astype({1: "u1", 2: "<i2", 4: "<i4"}[width]).tobytes()
        w.writeframes(data)
    return buffer.getvalue()


def _float_wav_bytes(samples: np.ndarray, rate: int, bits: int = 32) -> bytes:
    """An IEEE-float (format tag 3) mono WAV assembled by hand: RIFF, fmt, fact, data."""
    data = samples.astype("<f4" if bits == 32 else "<f8").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * bits // 8, bits // 8, bits)
    fact = struct.pack("<I", len(samples))
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _fsdd_recordings(shared_data, count: int = 6) -> list[tuple[str, np.ndarray]]:
    """``count`` real recordings (one per speaker where possible), read with the standard library."""
    folder = shared_data("fsdd") / "fsdd" / "recordings"
    files = sorted(folder.glob("*.wav"))
    if not files:
        pytest.skip(f"no FSDD recordings in {folder}; run `rnnkit datasets fetch fsdd`")
    by_speaker: dict[str, Path] = {}
    for path in files:
        by_speaker.setdefault(path.stem.split("_")[1], path)
    chosen = (list(by_speaker.values()) + files)[:count]
    out = []
    for path in chosen:
        with wave.open(str(path), "rb") as w:
            assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == 8000
            out.append((path.name, np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0))
    return out


# ----------------------------------------------------------------------------- features against librosa
# (NumPy's assert_allclose throughout: torch.testing.assert_close imports torch.distributed, ~1 s)


def _check_against_librosa(y: np.ndarray, sr: int, dtype: torch.dtype, rtol: float, n_mels: int = 40,
                           win_ms: float = 25, hop_ms: float = 10, n_fft: int | None = None, fmin: float = 0.0,
                           fmax: float | None = None) -> None:
    librosa = _librosa()
    win, hop = round(sr * win_ms / 1000), round(sr * hop_ms / 1000)
    nfft = n_fft or 1 << (win - 1).bit_length()
    args = {"sr": sr, "n_fft": nfft, "win_length": win, "hop_length": hop, "n_mels": n_mels, "fmin": fmin, "fmax": fmax}
    ours = {"sample_rate": sr, "n_mels": n_mels, "win_ms": win_ms, "hop_ms": hop_ms, "n_fft": n_fft, "fmin": fmin,
            "fmax": fmax}
    wave_t = torch.from_numpy(y).to(dtype)
    ref_mel = librosa.feature.melspectrogram(y=y, **args).T  # (frames, n_mels), float64
    mel = mel_spectrogram(wave_t, **ours)
    assert mel.dtype == dtype and mel.shape == ref_mel.shape == (num_frames(len(y), sr, hop_ms), n_mels)
    # the power itself, relative, in every band of every frame (all are > 0 for these signals)
    assert ref_mel.min() > 0
    np.testing.assert_allclose(mel.double().numpy(), ref_mel, rtol=rtol, atol=0)
    # ln(mel + eps): an absolute error of rtol is a relative error of rtol on mel + eps
    np.testing.assert_allclose(log_mel(wave_t, **ours).double().numpy(), np.log(ref_mel + 1e-6), rtol=0, atol=rtol)
    # MFCC: librosa's defaults (power_to_db: ref 1, amin 1e-10, top_db 80; DCT-II ortho); coefficients
    # cross zero, so the tolerance is relative to the largest one
    ref_mfcc = librosa.feature.mfcc(y=y, n_mfcc=13, **args).T
    got = mfcc(wave_t, n_mfcc=13, **ours).double().numpy()
    np.testing.assert_allclose(got, ref_mfcc, rtol=0, atol=rtol * np.abs(ref_mfcc).max())


@pytest.mark.slow
@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-4), (torch.float64, 1e-6)])
def test_features_match_librosa_on_real_recordings(shared_data, dtype, rtol):
    for _name, y in _fsdd_recordings(shared_data):
        _check_against_librosa(y, 8000, dtype, rtol)


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-4), (torch.float64, 1e-6)])
def test_features_match_librosa_on_noise_with_other_settings(dtype, rtol):
    y = np.random.default_rng(0).uniform(-0.5, 0.5, 16000 + 123)
    _check_against_librosa(y, 16000, dtype, rtol)
    _check_against_librosa(y, 16000, dtype, rtol, n_mels=64, win_ms=32, hop_ms=12.5, n_fft=1024, fmin=40.0, fmax=7600.0)


def test_mfcc_natural_log_and_no_clipping_options():
    librosa = _librosa()
    y = np.random.default_rng(1).uniform(-0.5, 0.5, 4000)
    y[1000:3000] *= 1e-6  # 120 dB quieter: top_db=80 clips these frames
    ref = librosa.feature.melspectrogram(y=y, sr=8000, n_mels=40, **FRAMING_8K).T
    from scipy.fft import dct

    natural = dct(np.log(ref + 1e-6), type=2, norm="ortho", axis=1)[:, :13]
    # float64 throughout; librosa's float32 filterbank leaves ~1e-8 of the largest coefficient
    np.testing.assert_allclose(mfcc(torch.from_numpy(y), 8000, log="natural").numpy(), natural,
                               atol=1e-6 * np.abs(natural).max())
    unclipped = dct(10 * np.log10(np.maximum(ref, 1e-10)), type=2, norm="ortho", axis=1)[:, :13]
    np.testing.assert_allclose(mfcc(torch.from_numpy(y), 8000, top_db=None).numpy(), unclipped,
                               atol=1e-6 * np.abs(unclipped).max())
    clipped = mfcc(torch.from_numpy(y), 8000).numpy()
    assert np.abs(clipped - unclipped).max() > 1.0  # the default clipping did change the quiet frames


def test_filterbank_matches_librosa():
    librosa = _librosa()
    for sr, n_fft, n_mels, fmin, fmax in [(8000, 256, 40, 0.0, None), (16000, 512, 80, 20.0, 7600.0),
                                          (22050, 2048, 128, 0.0, None), (44100, 1024, 26, 300.0, 8000.0)]:
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float64)
        got = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, dtype=torch.float64).numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def _slaney_edges(n_mels: int, fmax: float, fmin: float = 0.0) -> np.ndarray:
    """Band edges written out from Slaney's scale: 200/3 Hz a mel to 1 kHz, then 27 mels per factor 6.4."""
    def to_mel(f):
        return f / (200 / 3) if f < 1000 else 15 + 27 * np.log(f / 1000) / np.log(6.4)

    def to_hz(m):
        return np.where(m < 15, m * 200 / 3, 1000 * 6.4 ** ((m - 15) / 27))

    return to_hz(np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2))


def _slaney_centres(n_mels: int, fmax: float) -> np.ndarray:
    return _slaney_edges(n_mels, fmax)[1:-1]


@pytest.mark.parametrize("sr, tone", [(8000, 150.0), (8000, 440.0), (8000, 1234.0), (8000, 3600.0),
                                      (16000, 300.0), (16000, 2500.0), (16000, 6000.0)])
def test_a_pure_tone_lands_in_the_band_nearest_its_frequency(sr, tone):
    t = np.arange(sr) / sr
    mel = mel_spectrogram(torch.from_numpy(np.sin(2 * np.pi * tone * t)).float(), sr)[5:-5].mean(dim=0)
    nearest = int(np.abs(_slaney_centres(40, sr / 2) - tone).argmin())
    assert int(mel.argmax()) == nearest
    far = torch.cat([mel[: max(nearest - 2, 0)], mel[nearest + 3:]])
    assert float(far.sum() / mel.sum()) < 1e-3  # the rest is window leakage into the neighbours


def _vtlp_numpy(f, alpha: float, rate: int, boundary: float) -> np.ndarray:
    """Jaitly and Hinton's warp as the paper writes it."""
    f, half = np.asarray(f, dtype=np.float64), rate / 2
    bend = boundary * min(alpha, 1) / alpha
    return np.where(f <= bend, f * alpha,
                    half - (half - boundary * min(alpha, 1)) / (half - bend) * (half - f))


def _warped_filterbank_numpy(rate, n_fft, n_mels, fmin, fmax, alpha, boundary) -> np.ndarray:
    """The Slaney-normalised triangles evaluated at each bin's warped frequency."""
    edges = _slaney_edges(n_mels, fmax, fmin)
    nu = _vtlp_numpy(np.arange(n_fft // 2 + 1) * rate / n_fft, alpha, rate, boundary)[None, :]
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((nu - lo) / (mid - lo), (hi - nu) / (hi - mid))) * 2 / (hi - lo)


def test_vtlp_filterbank_matches_the_papers_formula_in_numpy():
    for rate, n_fft, n_mels, fmin, fmax, boundary in [(8000, 256, 40, 0.0, None, None),
                                                      (16000, 512, 26, 20.0, 7600.0, 4800.0)]:
        f_hi = 0.6 * rate / 2 if boundary is None else boundary
        for alpha in (0.9, 0.95, 1.0, 1.04, 1.1):
            ref = _warped_filterbank_numpy(rate, n_fft, n_mels, fmin, fmax or rate / 2, alpha, f_hi)
            got = mel_filterbank(rate, n_fft, n_mels, fmin, fmax, warp=alpha, warp_boundary=boundary,
                                 dtype=torch.float64).numpy()
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
        # factors (B,) give one filterbank per factor
        both = mel_filterbank(rate, n_fft, n_mels, fmin, fmax, warp=[0.92, 1.08], warp_boundary=boundary,
                              dtype=torch.float64).numpy()
        for row, alpha in zip(both, (0.92, 1.08)):
            np.testing.assert_allclose(row, _warped_filterbank_numpy(rate, n_fft, n_mels, fmin, fmax or rate / 2,
                                                                     alpha, f_hi), rtol=1e-9, atol=1e-12)
    hz = np.linspace(0, 4000, 57)
    for alpha in (0.9, 1.1):
        np.testing.assert_allclose(vtlp_warp(torch.from_numpy(hz), alpha, 8000).numpy(),
                                   _vtlp_numpy(hz, alpha, 8000, 2400.0), rtol=1e-12, atol=1e-9)


def test_vtlp_of_one_gives_exactly_the_unwarped_features():
    rng = np.random.default_rng(4)
    wave = torch.from_numpy(rng.uniform(-0.5, 0.5, 5000)).float()
    assert torch.equal(mel_filterbank(8000, 256, warp=1.0), mel_filterbank(8000, 256))
    assert torch.equal(log_mel(wave, 8000, warp=1.0), log_mel(wave, 8000))
    assert torch.equal(mfcc(wave, 8000, warp=1.0), mfcc(wave, 8000))
    batch = torch.stack([wave, wave.flip(0)])
    np.testing.assert_allclose(log_mel(batch, 8000, warp=[1.0, 1.0]).numpy(), log_mel(batch, 8000).numpy(),
                               rtol=1e-6, atol=1e-6)
    # a batch's factors act per wave: each row is that wave alone with its factor
    warped = log_mel(batch, 8000, warp=torch.tensor([0.9, 1.1]))
    for row, alpha in zip(range(2), (0.9, 1.1)):
        np.testing.assert_allclose(warped[row].numpy(), log_mel(batch[row], 8000, warp=alpha).numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert not torch.allclose(warped[0], log_mel(batch[0], 8000), atol=1e-2)


@pytest.mark.parametrize("tone, alpha", [(600.0, 0.9), (1000.0, 1.1), (1800.0, 0.93), (3000.0, 0.9),
                                         (3000.0, 1.2)])
def test_vtlp_moves_a_pure_tone_to_the_band_the_formula_predicts(tone, alpha):
    rate = 8000
    t = np.arange(rate) / rate
    wave = torch.from_numpy(np.sin(2 * np.pi * tone * t)).float()
    mel = mel_spectrogram(wave, rate, warp=alpha)[5:-5].mean(dim=0)
    moved = _vtlp_numpy(tone, alpha, rate, 0.6 * rate / 2)
    centres = _slaney_centres(40, rate / 2)
    predicted = int(np.abs(centres - moved).argmin())
    assert predicted != int(np.abs(centres - tone).argmin())  # the warp does move it
    assert int(mel.argmax()) == predicted


def test_vtlp_errors_are_one_line_and_factors_are_seeded():
    wave = torch.zeros(2, 800)
    cases = [
        (lambda: log_mel(wave, 8000, warp=3.0), ConfigError, "[0.5, 2]"),
        (lambda: log_mel(wave, 8000, warp=[0.9, 1.0, 1.1]), ShapeError, "3 factors"),
        (lambda: log_mel(wave[0], 8000, warp=[0.9]), ShapeError, "one wave"),
        (lambda: mel_filterbank(8000, 256, warp="big"), ConfigError, "warp"),
        (lambda: vtlp_warp(torch.tensor([100.0]), 1.1, 8000, boundary_hz=4000), ConfigError, "boundary_hz"),
        (lambda: vtlp_factors(3, 0.7), ConfigError, "max_warp"),
    ]
    for call, error, word in cases:
        with pytest.raises(error) as info:
            call()
        assert word in str(info.value) and "\n" not in str(info.value)
    first = vtlp_factors(500, 0.1, torch.Generator().manual_seed(3))
    assert torch.equal(first, vtlp_factors(500, 0.1, torch.Generator().manual_seed(3)))
    assert float(first.min()) >= 0.9 and float(first.max()) <= 1.1 and float(first.std()) > 0.05
    assert torch.equal(vtlp_factors(4, 0.0), torch.ones(4, dtype=torch.float64))


def test_batched_features_equal_one_utterance_at_a_time():
    rng = np.random.default_rng(2)
    waves = [torch.from_numpy(rng.uniform(-0.5, 0.5, n)).float() for n in (8000, 5000, 2345, 81)]
    waves[1] = waves[1] * 1e-3  # 60 dB quieter than the others: mfcc's top_db clips it against its own peak
    waves[2][1000:] = 0.0  # digital silence inside an utterance
    batch = torch.zeros(len(waves), 8000)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w  # zeros after the end: the padding the frames see anyway
    for fn in (log_mel, mfcc, lambda w, sr: mfcc(w, sr, log="natural", n_mfcc=20)):
        together = fn(batch, 8000)
        assert together.shape[:2] == (4, 101)
        for i, w in enumerate(waves):
            alone = fn(w, 8000)
            assert alone.shape[0] == num_frames(len(w), 8000)
            np.testing.assert_allclose(together[i, : alone.shape[0]].numpy(), alone.numpy(), rtol=1e-5, atol=1e-4)
    # a NumPy batch works too, and float64 stays float64
    assert log_mel(batch.double().numpy(), 8000).dtype == torch.float64


def test_feature_argument_errors_are_one_line():
    cases = [
        (lambda: log_mel(torch.zeros(2, 3, 100), 8000), ShapeError, "1 or 2 dims"),
        (lambda: log_mel(torch.zeros(100, dtype=torch.int16), 8000), ShapeError, "int16"),
        (lambda: log_mel(torch.zeros(0), 8000), ShapeError, "no samples"),
        (lambda: log_mel(torch.zeros(100), 8000, fmax=5000), ConfigError, "fmax"),
        (lambda: log_mel(torch.zeros(100), 8000, n_fft=128), ConfigError, "n_fft"),
        (lambda: mfcc(torch.zeros(100), 8000, n_mfcc=41), ConfigError, "n_mfcc"),
        (lambda: mfcc(torch.zeros(100), 8000, log="log10"), ConfigError, "log"),
    ]
    for call, error, word in cases:
        with pytest.raises(error) as info:
            call()
        assert word in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_features_on_the_gpu_match_the_cpu():
    y = torch.rand(3, 8000, dtype=torch.float64) - 0.5
    for fn in (log_mel, mfcc):
        got = fn(y.cuda(), 8000)
        assert got.device.type == "cuda"
        np.testing.assert_allclose(got.cpu().numpy(), fn(y, 8000).numpy(), rtol=1e-7, atol=1e-7)


# ----------------------------------------------------------------------------- reading files


def _test_signal(rate: int = 8000) -> np.ndarray:
    """One second below 2.6 kHz, faded in and out: a chirp and low-passed noise, peak 0.8."""
    from scipy import signal

    t = np.arange(rate) / rate
    noise = signal.sosfiltfilt(signal.butter(8, 2500, fs=rate, output="sos"), np.random.default_rng(3).standard_normal(rate))
    x = (0.3 * np.sin(2 * np.pi * (200 * t + 1200 * t**2)) + 0.1 * noise) * np.hanning(rate)
    return x / np.abs(x).max() * 0.8


def test_stereo_44k_gives_the_features_of_mono_8k(tmp_path):
    signal = pytest.importorskip("scipy.signal", reason="resampling needs scipy (the [audio] extra)")
    x = np.round(_test_signal() * 32767).astype(np.int64)
    mono = tmp_path / "mono8k.wav"
    mono.write_bytes(_wav_bytes(x[:, None], 2, 1, 8000))
    up = signal.resample_poly(x / 32768.0, 441, 80)  # 8 kHz -> 44.1 kHz
    stereo = tmp_path / "stereo44k.wav"
    stereo.write_bytes(_wav_bytes(np.round(np.repeat(up[:, None], 2, axis=1) * 32767), 2, 2, 44100))
    a, rate_a = read_audio(mono)
    b, rate_b = read_audio(stereo, sample_rate=8000)
    assert rate_a == rate_b == 8000 and a.dtype == b.dtype == np.float32 and a.shape == b.shape == (8000,)
    # resampling tolerance: two polyphase low-pass filters (up to 44.1 kHz, down to 8 kHz) leave a
    # passband ripple of ~2e-3 of full scale on this 2.6 kHz-wide signal; features agree to 3% of each band's energy
    np.testing.assert_allclose(b, a, atol=5e-3)
    np.testing.assert_allclose(log_mel(b, 8000).numpy(), log_mel(a, 8000).numpy(), atol=0.03)
    np.testing.assert_allclose(mfcc(b, 8000).numpy(), mfcc(a, 8000).numpy(), atol=0.5)  # dB units, c0 ~ -200
    # and the same file read at its own rate is 44.1 kHz, both channels averaged
    c, rate_c = read_audio(stereo)
    assert rate_c == 44100 and len(c) == len(up)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_wavs_of_every_width_read_to_the_same_samples(width):
    x = np.sin(np.linspace(0, 40, 999)) * 0.9
    x[:3] = [-1.0, 0.0, 0.9999]  # the extremes of the scale
    scale = 2.0 ** (8 * width - 1)
    ints = np.clip(np.round(x * scale), -scale, scale - 1)
    stored = ints + 128 if width == 1 else ints  # 8-bit WAV is unsigned
    got, rate = read_audio(_wav_bytes(stored.astype(np.int64), width, 1, 11025))
    assert rate == 11025 and got.dtype == np.float32
    np.testing.assert_allclose(got, x, atol=1 / scale + 1e-7)  # within one quantisation step
    np.testing.assert_array_equal(got, (ints / scale).astype(np.float32))  # exactly the stored integers
    assert got[0] == -1.0
    sf = pytest.importorskip("soundfile", reason="soundfile is a second reader to compare with")
    ref, _ = sf.read(io.BytesIO(_wav_bytes(stored.astype(np.int64), width, 1, 11025)), dtype="float64")
    np.testing.assert_allclose(got, ref, atol=1e-7)


@pytest.mark.parametrize("bits", [32, 64])
def test_float_wavs_read_exactly(bits):
    x = (np.random.default_rng(4).uniform(-1, 1, 500)).astype(np.float32)
    got, rate = read_audio(_float_wav_bytes(x, 16000, bits))
    assert rate == 16000
    np.testing.assert_array_equal(got, x)


def test_channels_are_averaged_and_extensible_wavs_read():
    left, right = np.arange(-100, 100) * 100, np.arange(100, -100, -1) * 37
    got, _ = read_audio(_wav_bytes(np.stack([left, right], axis=1), 2, 2, 8000))
    np.testing.assert_allclose(got, (left + right) / 2 / 32768, atol=1e-7)
    sf = pytest.importorskip("soundfile", reason="soundfile writes the WAVE_FORMAT_EXTENSIBLE and FLAC files")
    x = np.random.default_rng(5).uniform(-0.9, 0.9, (300, 3))
    for fmt, subtype, step in [("WAV", "PCM_24", 2.0**-23), ("WAVEX", "PCM_24", 2.0**-23), ("WAVEX", "FLOAT", 1e-7),
                               ("FLAC", "PCM_16", 2.0**-15), ("OGG", "VORBIS", None)]:
        buffer = io.BytesIO()
        sf.write(buffer, x, 8000, format=fmt, subtype=subtype)
        got, rate = read_audio(buffer.getvalue())
        assert rate == 8000 and got.dtype == np.float32
        if step is None:  # lossy: just the length and the rough level
            assert abs(len(got) - 300) <= 300 and np.abs(got).max() < 1.5
        else:
            np.testing.assert_allclose(got, x.mean(axis=1), atol=step)


def _bad_file_error(path: Path) -> str:
    with pytest.raises(DatasetError) as info:
        read_audio(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    return message


@pytest.mark.parametrize("with_soundfile", [True, False])
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, monkeypatch, with_soundfile):
    if with_soundfile:
        pytest.importorskip("soundfile", reason="the soundfile half of the test")
    else:
        monkeypatch.setitem(sys.modules, "soundfile", None)  # `import soundfile` now fails
    good = _wav_bytes(np.zeros((400, 1), dtype=np.int64), 2, 1, 8000)
    files = {
        "noise.wav": np.random.default_rng(6).integers(0, 256, 2000, dtype=np.uint8).tobytes(),
        "cut.wav": good[: len(good) // 2],
        "header_only.wav": good[:30],
        "tiny.wav": good[:10],
        "silence.wav": _wav_bytes(np.zeros((0, 1), dtype=np.int64), 2, 1, 8000),
        "notes.txt": "This is a text file, not a recording.\n".encode() * 5,
        "empty.wav": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert "not an audio file" in _bad_file_error(tmp_path / "noise.wav")
    assert "truncated" in _bad_file_error(tmp_path / "cut.wav")
    assert "truncated" in _bad_file_error(tmp_path / "header_only.wav")
    assert "truncated" in _bad_file_error(tmp_path / "tiny.wav")
    assert "no samples" in _bad_file_error(tmp_path / "silence.wav")
    assert "not an audio file" in _bad_file_error(tmp_path / "notes.txt")
    assert "empty file" in _bad_file_error(tmp_path / "empty.wav")
    assert "no such audio file" in _bad_file_error(tmp_path / "missing.wav")
    if not with_soundfile:
        (tmp_path / "clip.flac").write_bytes(b"fLaC" + bytes(100))
        assert "pip install 'rnnkit[audio]'" in _bad_file_error(tmp_path / "clip.flac")
    with pytest.raises(ConfigError, match="sample_rate"):
        read_audio(good, sample_rate=0)
    with pytest.raises(ConfigError, match="source"):
        read_audio(12)


def test_real_recordings_read_as_the_dataset_loader_reads_them(shared_data):
    folder = shared_data("fsdd") / "fsdd" / "recordings"
    for name, y in _fsdd_recordings(shared_data, count=3):
        got, rate = read_audio(folder / name)
        assert rate == 8000
        np.testing.assert_array_equal(got, y.astype(np.float32))


# ----------------------------------------------------------------------------- normalisation


def _padded(utterances: list[np.ndarray], pad_value: float) -> tuple[torch.Tensor, list[int]]:
    frames = max(len(u) for u in utterances)
    batch = np.full((len(utterances), frames, utterances[0].shape[1]), pad_value)
    for i, u in enumerate(utterances):
        batch[i, : len(u)] = u
    return torch.from_numpy(batch), [len(u) for u in utterances]


def test_normalize_ignores_padded_frames():
    rng = np.random.default_rng(7)
    utterances = [rng.normal(3.0, 2.0, (n, 5)) for n in (9, 4, 1, 7)]
    utterances[1][:, 2] = 5.0  # a constant feature: 0 after normalising, no division by zero
    batch, lengths = _padded(utterances, pad_value=1e3)
    for mode in ("utterance", "mean"):
        out = normalize(batch, mode, lengths=lengths)
        mask = torch.arange(batch.shape[1])[None, :] < torch.tensor(lengths)[:, None]
        np.testing.assert_array_equal(normalize(batch, mode, mask=mask).numpy(), out.numpy())
        # a different padding value changes nothing
        np.testing.assert_allclose(normalize(_padded(utterances, -7.0)[0], mode, lengths=lengths).numpy(), out.numpy(),
                                   rtol=1e-14, atol=1e-14)
        for i, u in enumerate(utterances):
            centred = u - u.mean(axis=0)
            want = centred / np.maximum(u.std(axis=0), 1e-5) if mode == "utterance" else centred
            np.testing.assert_allclose(out[i, : len(u)].numpy(), want, atol=1e-12)
            np.testing.assert_array_equal(out[i, len(u):].numpy(), 0.0)
            np.testing.assert_allclose(normalize(torch.from_numpy(u), mode).numpy(), want, atol=1e-12)
    with pytest.raises(ConfigError, match="lengths"):
        normalize(batch, lengths=[9, 4, 1, 70])
    with pytest.raises(ConfigError, match="not both"):
        normalize(batch, lengths=lengths, mask=mask)


def test_global_normalizer_fits_real_frames_only_and_round_trips_through_json():
    rng = np.random.default_rng(8)
    utterances = [rng.normal([1.0, -2.0, 10.0], [0.5, 3.0, 0.1], (n, 3)) for n in (30, 12, 50, 7)]
    frames = np.concatenate(utterances)
    batch, lengths = _padded(utterances, pad_value=99.0)
    from_list = GlobalNormalizer().fit(utterances)
    from_batch = GlobalNormalizer().fit(batch, lengths=lengths)
    streamed = GlobalNormalizer().partial_fit(batch[:1], lengths=lengths[:1]).partial_fit(batch[1:], lengths=lengths[1:])
    for norm in (from_list, from_batch, streamed):
        assert norm.count == len(frames)
        np.testing.assert_allclose(norm.mean, frames.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(norm.std, frames.std(axis=0), rtol=1e-10)
    config = json.loads(json.dumps(from_batch.get_config()))
    loaded = GlobalNormalizer.from_config(config)
    out = loaded.apply(batch.float(), lengths=lengths)
    assert out.dtype == torch.float32
    want = (utterances[1] - frames.mean(axis=0)) / frames.std(axis=0)
    np.testing.assert_allclose(out[1, :12].numpy(), want, atol=1e-5)
    assert float(out[1, 12:].abs().max()) == 0.0
    # a reloaded normaliser keeps fitting as if it had never been saved
    more = rng.normal(0.0, 1.0, (20, 3))
    loaded.partial_fit(torch.from_numpy(more))
    both = np.concatenate([frames, more])
    np.testing.assert_allclose(loaded.mean, both.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(loaded.std, both.std(axis=0), rtol=1e-10)
    with pytest.raises(ConfigError, match="before fit"):
        GlobalNormalizer().apply(batch)
    with pytest.raises(ShapeError, match="3 features"):
        from_list.apply(torch.zeros(4, 5))


def test_speaker_normalizer_blends_each_speakers_statistics_with_the_prior_as_numpy_does():
    rng = np.random.default_rng(9)
    prior_frames = rng.normal([0.0, 5.0], [1.0, 2.0], (200, 2))
    prior = GlobalNormalizer().fit([torch.from_numpy(prior_frames)])
    ann = [rng.normal([3.0, -1.0], [0.5, 4.0], (n, 2)) for n in (20, 35)]
    bob = [rng.normal([-2.0, 8.0], [2.0, 0.3], (n, 2)) for n in (15,)]
    utterances, who = [*ann, *bob], ["ann", "ann", "bob"]
    m0, q0 = prior_frames.mean(axis=0), (prior_frames**2).mean(axis=0)  # population statistics, by NumPy
    for tau in (0.0, 40.0, 1e12):
        norm = SpeakerNormalizer(prior, prior_frames=tau).fit([torch.from_numpy(u) for u in utterances], who)
        out = norm.apply([torch.from_numpy(u).float() for u in utterances], who)
        assert norm.speakers == ["ann", "bob"] and [o.shape for o in out] == [u.shape for u in utterances]
        for frames, rows in ((np.concatenate(ann), (0, 1)), (bob[0], (2,))):
            n = len(frames)
            mean = (frames.sum(axis=0) + tau * m0) / (n + tau)
            std = np.sqrt((frames**2).sum(axis=0) / (n + tau) + tau * q0 / (n + tau) - mean**2)
            for i in rows:
                np.testing.assert_allclose(out[i].numpy(), (utterances[i] - mean) / std, rtol=1e-4, atol=1e-4)
        if tau == 0.0:  # each speaker on their own: zero mean, unit variance over all their frames
            pooled = torch.cat(out[:2]).double()
            np.testing.assert_allclose(pooled.mean(0).numpy(), 0.0, atol=1e-5)
            np.testing.assert_allclose(pooled.std(0, unbiased=False).numpy(), 1.0, atol=1e-5)
        if tau == 1e12:  # the prior alone: what GlobalNormalizer gives
            np.testing.assert_allclose(out[2].numpy(), prior.apply(torch.from_numpy(bob[0])).numpy(), atol=1e-4)
    # one utterance of a new speaker, as transcribing a single file: between its own statistics and the prior's
    short = rng.normal([3.0, -1.0], [0.5, 4.0], (30, 2))
    alone = SpeakerNormalizer(prior, prior_frames=100).fit([short], [None]).apply([short], [None])[0]
    assert alone.shape == (30, 2) and norm.apply([torch.from_numpy(short)], ["bob"])[0].shape == (30, 2)
    with pytest.raises(ConfigError, match="speaker 'cy' was not fitted"):
        norm.apply([torch.from_numpy(short)], ["cy"])
    with pytest.raises(ConfigError, match="3 utterances but 2 speakers"):
        norm.fit(utterances, who[:2])
    with pytest.raises(ShapeError, match="prior has 2 features"):
        norm.fit([torch.zeros(4, 3)], ["ann"])
    with pytest.raises(ShapeError, match="utterance 0 must be \\(frames, features\\), got shape \\(2, 4, 2\\)"):
        norm.apply([torch.zeros(2, 4, 2)], ["ann"])
    with pytest.raises(ConfigError, match="fitted GlobalNormalizer"):
        SpeakerNormalizer(GlobalNormalizer())
    with pytest.raises(ConfigError, match="prior_frames"):
        SpeakerNormalizer(prior, prior_frames=-1)


# ----------------------------------------------------------------------------- SpecAugment


def _runs(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def test_spec_augment_masks_at_most_the_requested_bands_and_spans():
    x = torch.randn(64, 120, 40) + 5.0
    lengths = torch.randint(20, 121, (64,), generator=torch.Generator().manual_seed(0))
    seen_widths, seen_counts = set(), set()
    for seed in range(10):
        out = spec_augment(x, time_masks=2, time_width=30, freq_masks=3, freq_width=6, max_time_fraction=0.2,
                           fill=float("nan"), lengths=lengths, generator=torch.Generator().manual_seed(seed))
        masked = torch.isnan(out).numpy()
        assert torch.equal(out[~torch.isnan(out)], x[~torch.isnan(out)])  # the rest untouched
        for b in range(64):
            n = int(lengths[b])
            assert not masked[b, n:].any()  # padding untouched
            real = masked[b, :n]
            bands = real.all(axis=0)  # a band is masked at every real frame
            spans = real.all(axis=1)  # a span at every channel
            assert (real == (bands[None, :] | spans[:, None])).all()  # nothing else is masked
            band_runs, span_runs = _runs(bands), _runs(spans)
            # overlapping masks merge into one run: at most 3 runs, at most 3 x 6 channels, each run <= 6 x its masks
            assert len(band_runs) <= 3 and bands.sum() <= 18
            assert len(span_runs) <= 2 and all(r <= min(30, int(0.2 * n)) * 2 for r in span_runs)
            assert spans.sum() <= 2 * min(30, int(0.2 * n))
            if len(band_runs) == 3:  # three separate bands: each is one mask, at most 6 wide
                assert max(band_runs) <= 6
                seen_widths.update(band_runs)
            seen_counts.add(len(band_runs))
    assert 3 in seen_counts  # the requested number of bands is reached
    assert seen_widths == {1, 2, 3, 4, 5, 6}  # widths run over 1..F (0 masks nothing)


def test_spec_augment_is_reproducible_and_fills_with_the_mean():
    x = torch.randn(3, 50, 20) * 2 + 1
    first = spec_augment(x, time_width=10, freq_width=5, generator=torch.Generator().manual_seed(42))
    again = spec_augment(x, time_width=10, freq_width=5, generator=torch.Generator().manual_seed(42))
    other = spec_augment(x, time_width=10, freq_width=5, generator=torch.Generator().manual_seed(43))
    assert torch.equal(first, again) and not torch.equal(first, other)
    for b in range(3):
        changed = first[b] != x[b]
        assert changed.any()
        np.testing.assert_allclose(first[b][changed].numpy(), float(x[b].mean()), rtol=1e-5)
    assert torch.equal(spec_augment(x, time_masks=0, freq_masks=0), x)
    one = spec_augment(x[0], fill=0.0, generator=torch.Generator().manual_seed(1))
    assert one.shape == (50, 20) and bool((one == 0).any())
    with pytest.raises(ConfigError, match="fill"):
        spec_augment(x, fill="zero")


@pytest.mark.parametrize("factor", [0.9, 1.1, 1.25])
def test_speed_perturb_scales_duration_and_every_frequency(factor):
    rate = 8000
    t = np.arange(rate) / rate
    x = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.2 * np.sin(2 * np.pi * 1300 * t)).astype(np.float32)
    y = speed_perturb(x, factor)
    assert y.dtype == np.float32 and abs(len(y) - rate / factor) <= 1
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    hz = np.fft.rfftfreq(len(y), 1 / rate)
    peaks = sorted(hz[np.argsort(spectrum)[-2:]])  # the two strongest bins, by NumPy's FFT
    np.testing.assert_allclose(peaks, [500 * factor, 1300 * factor], atol=1.5)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
def test_add_noise_is_white_gaussian_noise_at_the_snr(snr_db):
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 8000) + 0.05 * rng.standard_normal(16000)).astype(np.float32)
    y = add_noise(x, snr_db, torch.Generator().manual_seed(3))
    noise = (y - x).astype(np.float64)
    # SNR = 10 log10(mean x² / mean n²), within the sampling error of 16,000 draws
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert y.dtype == np.float32 and y.shape == x.shape and abs(measured - snr_db) < 0.1
    assert abs(noise.mean()) < 4 * noise.std() / np.sqrt(len(noise))  # zero mean
    spectrum = np.abs(np.fft.rfft(noise)) ** 2  # white: as much power in the upper half of the band as in the lower
    assert 0.9 < spectrum[: len(spectrum) // 2].sum() / spectrum[len(spectrum) // 2:].sum() < 1.1
    assert np.array_equal(y, add_noise(x, snr_db, torch.Generator().manual_seed(3)))  # seeded: the same noise
    assert not np.array_equal(y, add_noise(x, snr_db, torch.Generator().manual_seed(4)))


def test_peak_normalize_scales_to_the_peak_and_makes_log_mel_level_free():
    rng = np.random.default_rng(1)
    x = (0.2 * np.sin(2 * np.pi * 700 * np.arange(4000) / 8000) * np.hanning(4000)).astype(np.float32)
    x[:800] = 1e-4 * rng.standard_normal(800)  # a quiet lead-in, where the log's floor matters
    y = peak_normalize(x, 0.5)
    np.testing.assert_allclose(y, x * (0.5 / np.abs(x).max()), rtol=1e-6)
    quiet = x * np.float32(10 ** (-40 / 20))
    as_recorded = (normalize(log_mel(x, 8000)) - normalize(log_mel(quiet, 8000))).abs().max()
    levelled = (normalize(log_mel(peak_normalize(x), 8000)) - normalize(log_mel(peak_normalize(quiet), 8000))).abs().max()
    assert as_recorded > 0.5 and levelled < 1e-3
    assert np.array_equal(peak_normalize(np.zeros(5)), np.zeros(5, dtype=np.float32))
    with pytest.raises(ConfigError, match="peak"):
        peak_normalize(x, 0.0)


def _trims_like_librosa(y: np.ndarray, top_db: float, frame_length: int, hop_length: int) -> None:
    kept, (start, end) = trim_silence(y, top_db, frame_length, hop_length)
    _, expected = _librosa().effects.trim(y, top_db=top_db, frame_length=frame_length, hop_length=hop_length)
    assert (start, end) == tuple(int(i) for i in expected)
    assert np.array_equal(kept, np.asarray(y, dtype=np.float32)[start:end])


@pytest.mark.parametrize("top_db, frame_length, hop_length", [(40.0, 200, 80), (60.0, 2048, 512), (20.0, 201, 50),
                                                               (30.0, 64, 64)])
def test_trim_silence_cuts_where_librosa_does(top_db, frame_length, hop_length):
    rng = np.random.default_rng(int(top_db))
    for _ in range(30):  # bursts of noise between quiet stretches of every length, some of them none
        n = int(rng.integers(100, 6000))
        y = (rng.standard_normal(n) * 10 ** rng.uniform(-3, 0)).astype(np.float32)
        y[: int(rng.integers(0, n // 2))] *= 1e-3
        y[n - int(rng.integers(0, n // 2)):] *= 1e-4
        _trims_like_librosa(y, top_db, frame_length, hop_length)


def test_trim_silence_cuts_real_recordings_where_librosa_does(shared_data):
    for _, y in _fsdd_recordings(shared_data):
        for top_db in (20.0, 40.0):
            _trims_like_librosa(y, top_db, 200, 80)


def test_trim_silence_keeps_the_middle_and_a_silent_wave_and_refuses_bad_input():
    word = np.r_[np.zeros(1000), np.ones(300), np.zeros(2000), np.ones(300), np.zeros(1000)].astype(np.float32)
    kept, (start, end) = trim_silence(word, 40.0, 200, 80)
    assert start <= 1000 and end >= 3600 and np.count_nonzero(kept == 0) >= 2000  # the pause inside stays
    assert 1000 - start <= 200 and end - 3600 <= 200  # and no more than a frame of each end's silence
    whole, span = trim_silence(np.zeros(500))
    assert span == (0, 500) and np.array_equal(whole, np.zeros(500, dtype=np.float32))
    for bad in (dict(top_db=0.0), dict(top_db=float("nan")), dict(frame_length=0), dict(hop_length=2.5)):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            trim_silence(word, **bad)
    with pytest.raises(ConfigError, match="one wave"):
        trim_silence(np.zeros((2, 100)))


def test_add_noise_leaves_silence_and_refuses_bad_input():
    assert np.array_equal(add_noise(np.zeros(100, dtype=np.float32), 10.0), np.zeros(100, dtype=np.float32))
    with pytest.raises(ConfigError, match="snr_db"):
        add_noise(np.ones(10), float("nan"))
    with pytest.raises(ConfigError, match="one wave"):
        add_noise(np.zeros((2, 10)), 10.0)


def test_speed_perturb_of_one_copies_and_bad_factors_are_one_line_errors():
    x = np.arange(10, dtype=np.float32)
    y = speed_perturb(x, 1.0)
    assert np.array_equal(y, x) and y is not x
    for bad, match in ((0.2, "0.5, 2"), (float("nan"), "factor"), ("fast", "factor")):
        with pytest.raises(ConfigError, match=match):
            speed_perturb(x, bad)
    with pytest.raises(ConfigError, match="one wave"):
        speed_perturb(np.zeros((2, 10)), 1.1)
