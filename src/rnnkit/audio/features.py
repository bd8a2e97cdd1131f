r"""Speech features in PyTorch: the mel filterbank, mel power spectrogram, log-mel and MFCC.

Every function takes one wave ``(time,)`` or a batch ``(batch, time)`` of float32
or float64 samples, as a tensor on any device or a NumPy array, and returns
features laid out time first, ``(frames, features)`` or ``(batch, frames,
features)``, on the wave's device and in its dtype: ready for a recurrent layer.

The numbers are those of librosa 0.11 with the matching arguments (the tests
compare to 1e-4):

* frames: ``win_length = round(sample_rate * win_ms / 1000)`` samples under a
  periodic Hann window, ``hop_length = round(sample_rate * hop_ms / 1000)``,
  ``n_fft`` the next power of two >= ``win_length`` (the window is zero-padded to
  ``n_fft`` in the middle), and **centred** frames: ``n_fft // 2`` zeros are added
  at both ends (librosa's ``center=True, pad_mode="constant"``, its default since
  0.9; torch's own default would be ``"reflect"``), so frame ``t`` is centred on
  sample ``t * hop_length`` and a wave of ``n`` samples has ``1 + n // hop_length``
  frames (:func:`num_frames`).  Zero padding also means that a wave padded with
  zeros at its end, as in a batch of waves of different lengths, gives the same
  first ``num_frames(n)`` frames as the wave alone.
* the mel filterbank of ``librosa.filters.mel`` by default: Slaney's mel scale
  (linear below 1 kHz, logarithmic above) and Slaney's area normalisation (each
  triangle scaled by ``2 / (f_{m+1} - f_{m-1})``), built here in torch.
* :func:`log_mel` is the natural log ``log(mel + eps)`` of the power mel
  spectrogram; :func:`mfcc` is by default ``librosa.feature.mfcc`` itself: the
  orthonormal DCT-II of ``10 log10(max(mel, 1e-10))`` clipped to 80 dB below the
  utterance's peak (librosa's ``power_to_db`` defaults), or of the natural log-mel
  with ``log="natural"``.
* ``warp`` (every function above): vocal tract length perturbation (Jaitly and
  Hinton, "Vocal Tract Length Perturbation (VTLP) improves speech recognition",
  ICML 2013 workshop): the filterbank reads the spectrum through the
  piecewise-linear warp :func:`vtlp_warp` of factor ``alpha``, one per utterance,
  so a voice sounds as from a longer or shorter vocal tract; ``alpha = 1`` gives
  exactly the unwarped features.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import torch

from .._validation import as_tensor, check_choice, check_positive_int, check_real
from ..errors import ConfigError, ShapeError

__all__ = ["mel_scale", "mel_frequencies", "vtlp_warp", "mel_filterbank", "num_frames", "mel_spectrogram", "log_mel", "mfcc"]

# Slaney's mel scale (Auditory Toolbox; librosa's htk=False): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mels
_LOGSTEP = math.log(6.4) / 27.0  # natural-log step per mel in the logarithmic part


def mel_scale(hz: torch.Tensor) -> torch.Tensor:
    r"""Frequencies in Hz to Slaney mels (librosa's ``hz_to_mel(htk=False)``).

    .. math::
        m(f) = \begin{cases} 3f/200 & f < 1000 \\ 15 + 27 \ln(f/1000) / \ln 6.4 & f \ge 1000 \end{cases}

    Example:
        >>> import torch
        >>> [round(m, 9) for m in mel_scale(torch.tensor([500.0, 1000.0, 6400.0], dtype=torch.float64)).tolist()]
        [7.5, 15.0, 42.0]
    """
    hz = torch.as_tensor(hz)
    # m = f / f_sp below 1 kHz; m = 15 + ln(f / 1000) / logstep above
    log_part = _MIN_LOG_MEL + torch.log(torch.clamp(hz, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(hz >= _MIN_LOG_HZ, log_part, hz / _F_SP)


def _mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    # f = f_sp m below 15 mels; f = 1000 exp(logstep (m - 15)) above
    log_part = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (torch.clamp(mels, min=_MIN_LOG_MEL) - _MIN_LOG_MEL))
    return torch.where(mels >= _MIN_LOG_MEL, log_part, mels * _F_SP)


def mel_frequencies(n: int, fmin: float = 0.0, fmax: float = 4000.0) -> torch.Tensor:
    """``n`` frequencies in Hz (float64) equally spaced on the Slaney mel scale from ``fmin`` to ``fmax``.

    The filterbank's band ``m`` rises from ``f[m]``, peaks at ``f[m + 1]`` (its centre)
    and falls to zero at ``f[m + 2]`` of ``mel_frequencies(n_mels + 2, fmin, fmax)``
    (librosa's ``mel_frequencies(htk=False)``).

    Example:
        >>> [round(f) for f in mel_frequencies(4, 0.0, 1000.0).tolist()]
        [0, 333, 667, 1000]
    """
    n = check_positive_int("mel_frequencies", "n", n)
    mels = torch.linspace(float(mel_scale(torch.tensor(float(fmin), dtype=torch.float64))),
                          float(mel_scale(torch.tensor(float(fmax), dtype=torch.float64))), n, dtype=torch.float64)
    return _mel_to_hz(mels)


def _check_band(owner: str, sample_rate: int, fmin: Any, fmax: Any) -> tuple[float, float]:
    nyquist = sample_rate / 2
    fmin = check_real(owner, "fmin", fmin, minimum=0.0)
    fmax = nyquist if fmax is None else check_real(owner, "fmax", fmax, positive=True)
    if fmax > nyquist:
        raise ConfigError(
            f"{owner}: `fmax` must be at most sample_rate / 2 = {nyquist:g} Hz, got {fmax:g}; lower it or leave it None"
        )
    if fmin >= fmax:
        raise ConfigError(f"{owner}: `fmin` must be below fmax = {fmax:g} Hz, got {fmin:g}")
    return fmin, fmax


#: the boundary frequency F_hi of the warp as a fraction of the Nyquist frequency: Jaitly and Hinton's
#: 4800 Hz at 16 kHz
VTLP_BOUNDARY = 0.6


def _warp_factors(owner: str, warp: Any) -> torch.Tensor:
    """``warp`` (a number, or a sequence / 1-D tensor / array of them) as float64 factors, each in [0.5, 2]."""
    if isinstance(warp, bool):
        raise ConfigError(f"{owner}: `warp` must be a number or a 1-D sequence of numbers in [0.5, 2], got {warp!r}")
    try:
        alpha = torch.as_tensor(warp.tolist() if isinstance(warp, torch.Tensor) else warp, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"{owner}: `warp` must be a number or a 1-D sequence of numbers in [0.5, 2], "
                          f"got {type(warp).__name__}") from None
    if alpha.dim() > 1 or alpha.numel() == 0 or not bool(((alpha >= 0.5) & (alpha <= 2.0)).all()):
        raise ConfigError(f"{owner}: `warp` must be a number or a 1-D sequence of numbers in [0.5, 2] (0.9 to 1.1 "
                          f"is usual), got {alpha.tolist() if alpha.numel() <= 4 else tuple(alpha.shape)}")
    return alpha


def vtlp_warp(hz: Any, alpha: Any, sample_rate: int, boundary_hz: float | None = None) -> torch.Tensor:
    r"""Jaitly and Hinton's VTLP warp of frequencies in Hz: ``alpha`` times ``hz``, bent to keep the Nyquist frequency.

    With :math:`S/2` the Nyquist frequency, :math:`F` the boundary ``boundary_hz``
    and :math:`b = F \min(\alpha, 1) / \alpha`:

    .. math::
        w(f) = \begin{cases} \alpha f & f \le b \\
               S/2 - \dfrac{S/2 - F \min(\alpha, 1)}{S/2 - b} (S/2 - f) & f > b \end{cases}

    a line through 0 up to the bend at :math:`b`, then the line from the bend to
    :math:`(S/2, S/2)`, so :math:`w` maps :math:`[0, S/2]` onto itself; ``alpha = 1``
    returns ``hz`` exactly.  A wave's energy at :math:`f` counts, under the warp, as
    energy at :math:`w(f)`: ``alpha > 1`` raises every formant (a shorter vocal tract).

    Shape:
        * hz: ``(F,)`` (any shape), alpha: a number or ``(B,)``.
        * output: float64, ``hz``'s shape, or ``(B, *hz.shape)`` for ``(B,)`` factors.

    Args:
        hz: frequencies in Hz (a tensor, array or number), in [0, sample_rate / 2].
        alpha: the warp factor(s), each in [0.5, 2]; Jaitly and Hinton draw it from U[0.9, 1.1] per utterance.
        sample_rate: samples per second (the Nyquist frequency is half of it).
        boundary_hz: :math:`F` (default None = :data:`VTLP_BOUNDARY` times the Nyquist frequency: 2400 Hz at 8 kHz).

    Example:
        >>> [round(f, 6) for f in vtlp_warp(torch.tensor([1000.0, 3000.0, 4000.0]), 1.1, 8000).tolist()]
        [1100.0, 3120.0, 4000.0]
    """
    owner = "vtlp_warp"
    nyquist = check_positive_int(owner, "sample_rate", sample_rate) / 2
    boundary = VTLP_BOUNDARY * nyquist if boundary_hz is None else check_real(owner, "boundary_hz", boundary_hz,
                                                                               positive=True)
    if boundary >= nyquist:
        raise ConfigError(f"{owner}: `boundary_hz` must be below sample_rate / 2 = {nyquist:g} Hz, got {boundary:g}")
    alpha = _warp_factors(owner, alpha)
    f = torch.as_tensor(hz, dtype=torch.float64)
    a = alpha.reshape(alpha.shape + (1,) * f.dim())  # (B, 1, ..) against f's axes
    low = boundary * torch.clamp(a, max=1.0)  # F min(α, 1)
    bend = low / a  # b = F min(α, 1) / α
    # r = (S/2 - F min(α, 1)) / (S/2 - b); w = S/2 - r (S/2 - f) written as f + (1 - r)(S/2 - f): f itself for α = 1
    r = (nyquist - low) / (nyquist - bend)
    return torch.where(f <= bend, a * f, f + (1.0 - r) * (nyquist - f))


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 40,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    warp: Any = None,
    warp_boundary: float | None = None,
    dtype: torch.dtype = torch.float32,
    device: Any = None,
) -> torch.Tensor:
    r"""The Slaney-normalised triangular mel filterbank, ``(n_mels, n_fft // 2 + 1)``: ``librosa.filters.mel``'s default.

    With :math:`f_0 < \dots < f_{M+1}` from :func:`mel_frequencies` (``M = n_mels``) and
    :math:`\nu_k = k \cdot \mathrm{sample\_rate} / \mathrm{n\_fft}` the FFT bins:

    .. math::
        W_{m,k} = \frac{2}{f_{m+2} - f_m} \max\Big(0, \min\Big(\frac{\nu_k - f_m}{f_{m+1} - f_m},
        \frac{f_{m+2} - \nu_k}{f_{m+2} - f_{m+1}}\Big)\Big)

    With ``warp`` (VTLP), :math:`\nu_k` is replaced by :math:`w(\nu_k)`
    (:func:`vtlp_warp` of factor ``warp`` and boundary ``warp_boundary``): bin
    :math:`k` feeds the bands around :math:`w(\nu_k)`, so a tone at :math:`f` lands
    in the band of a tone at :math:`w(f)` unwarped.  ``warp=1`` is exactly the
    unwarped filterbank.  Computed in float64, returned in ``dtype`` on ``device``.

    Args:
        sample_rate: samples per second.
        n_fft: FFT size; the filterbank covers its ``n_fft // 2 + 1`` bins.
        n_mels: number of bands (default 40).
        fmin: lowest frequency in Hz (default 0).
        fmax: highest frequency in Hz (default None = ``sample_rate / 2``).
        warp: None (default, no warp), a factor in [0.5, 2], or ``(B,)`` factors for ``(B, n_mels, n_fft // 2 + 1)``
            filterbanks, one per factor.
        warp_boundary: the warp's boundary frequency in Hz (default None: see :func:`vtlp_warp`).
        dtype, device: of the result (default float32 on the CPU).

    Example:
        >>> fb = mel_filterbank(8000, 256, n_mels=40)
        >>> fb.shape, bool((fb >= 0).all())
        (torch.Size([40, 129]), True)
        >>> mel_filterbank(8000, 256, warp=[0.9, 1.1]).shape
        torch.Size([2, 40, 129])
    """
    owner = "mel_filterbank"
    sample_rate = check_positive_int(owner, "sample_rate", sample_rate)
    n_fft = check_positive_int(owner, "n_fft", n_fft)
    n_mels = check_positive_int(owner, "n_mels", n_mels)
    fmin, fmax = _check_band(owner, sample_rate, fmin, fmax)
    if warp is not None:
        return _warped_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, warp, warp_boundary).to(device=device,
                                                                                                   dtype=dtype)
    # a copy: never the cached tensor itself
    return _filterbank(sample_rate, n_fft, n_mels, fmin, fmax).to(device=device, dtype=dtype, copy=True)


def _triangles(bins: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """The filterbank formula of :func:`mel_filterbank` at frequencies ``bins`` ``(*, F)``: ``(*, M, F)``."""
    widths = torch.diff(edges)  # f_{m+1} - f_m (M+1,)
    ramps = edges[:, None] - bins[..., None, :]  # f_m - ν_k (*, M+2, F)
    # rise (ν - f_m) / (f_{m+1} - f_m), fall (f_{m+2} - ν) / (f_{m+2} - f_{m+1})
    rise = -ramps[..., :-2, :] / widths[:-1, None]
    fall = ramps[..., 2:, :] / widths[1:, None]
    # W = 2 / (f_{m+2} - f_m) · max(0, min(rise, fall))                          (*, M, F)
    return torch.clamp(torch.minimum(rise, fall), min=0.0) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def _bins(sample_rate: int, n_fft: int) -> torch.Tensor:
    return torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)  # ν_k (F,)


@functools.lru_cache(maxsize=32)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    return _triangles(_bins(sample_rate, n_fft), mel_frequencies(n_mels + 2, fmin, fmax))


def _warped_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, warp: Any,
                       boundary: float | None) -> torch.Tensor:
    """The filterbank(s) read through :func:`vtlp_warp`: ``(M, F)`` for one factor, ``(B, M, F)`` for ``(B,)``."""
    warped = vtlp_warp(_bins(sample_rate, n_fft), warp, sample_rate, boundary)  # w(ν_k) (F,) or (B, F)
    return _triangles(warped, mel_frequencies(n_mels + 2, fmin, fmax))


@functools.lru_cache(maxsize=32)
def _filterbank_as(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, dtype: torch.dtype,
                   device: torch.device) -> torch.Tensor:
    """The filterbank in the features' dtype on their device, cached: one conversion per setting."""
    return _filterbank(sample_rate, n_fft, n_mels, fmin, fmax).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=32)
def _constants(kind: str, size: int, extra: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Cached per device and dtype: the Hann window, or the DCT-II basis (the filterbank is cached above)."""
    if kind == "hann":
        # periodic Hann (scipy's get_window('hann', N, fftbins=True)): w[n] = sin²(π n / N)
        return torch.hann_window(size, periodic=True, dtype=torch.float64).to(device=device, dtype=dtype)
    # orthonormal DCT-II rows k < extra of size N: sqrt(2/N) cos(π k (2n + 1) / 2N), row 0 times 1/sqrt(2)
    n = torch.arange(size, dtype=torch.float64)
    k = torch.arange(extra, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * k * (2 * n + 1) / (2 * size)) * math.sqrt(2.0 / size)
    basis[0] /= math.sqrt(2.0)
    return basis.to(device=device, dtype=dtype)


def _hop(owner: str, sample_rate: Any, hop_ms: Any) -> tuple[int, int]:
    sample_rate = check_positive_int(owner, "sample_rate", sample_rate)
    hop_ms = check_real(owner, "hop_ms", hop_ms, positive=True)
    hop_length = round(sample_rate * hop_ms / 1000)
    if hop_length < 1:
        raise ConfigError(f"{owner}: hop_ms={hop_ms:g} is less than one sample at {sample_rate} Hz; make it longer")
    return sample_rate, hop_length


def _framing(owner: str, sample_rate: Any, win_ms: Any, hop_ms: Any, n_fft: Any) -> tuple[int, int, int, int]:
    sample_rate, hop_length = _hop(owner, sample_rate, hop_ms)
    win_ms = check_real(owner, "win_ms", win_ms, positive=True)
    win_length = round(sample_rate * win_ms / 1000)
    if win_length < 1:
        raise ConfigError(f"{owner}: win_ms={win_ms:g} is less than one sample at {sample_rate} Hz; make it longer")
    if n_fft is None:
        n_fft = 1 << (win_length - 1).bit_length()  # next power of two >= win_length
    elif check_positive_int(owner, "n_fft", n_fft) < win_length:
        raise ConfigError(f"{owner}: `n_fft` must be >= the window of {win_length} samples ({win_ms:g} ms), got {n_fft}")
    return sample_rate, win_length, hop_length, int(n_fft)


def num_frames(num_samples: Any, sample_rate: int, hop_ms: float = 10) -> Any:
    """Frames that the features of a wave of ``num_samples`` samples have: ``1 + num_samples // hop_length``.

    Works on an int or an integer tensor of lengths (e.g. the true lengths of a
    zero-padded batch, to mask the frames that only padding produced).

    Example:
        >>> num_frames(8000, 8000)  # one second at 8 kHz, 10 ms hops
        101
    """
    _, hop_length = _hop("num_frames", sample_rate, hop_ms)
    return 1 + num_samples // hop_length


def _as_wave(owner: str, wave: Any) -> torch.Tensor:
    x = as_tensor(owner, wave, "wave")
    if x.dim() not in (1, 2):
        raise ShapeError(f"{owner}: expected wave of 1 or 2 dims (time,) or (batch, time), got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        raise ShapeError(
            f"{owner}: expected a float32 or float64 wave, got dtype {x.dtype}; "
            "read files with rnnkit.audio.read_audio (float32 in [-1, 1]) or convert with .float()"
        )
    if x.shape[-1] == 0:
        raise ShapeError(f"{owner}: the wave has no samples (shape {tuple(x.shape)})")
    return x


def _mel_power(owner: str, wave: Any, sample_rate: Any, n_mels: Any, win_ms: Any, hop_ms: Any, n_fft: Any,
               fmin: Any, fmax: Any, warp: Any = None, warp_boundary: Any = None) -> torch.Tensor:
    x = _as_wave(owner, wave)
    sample_rate, win_length, hop_length, n_fft = _framing(owner, sample_rate, win_ms, hop_ms, n_fft)
    n_mels = check_positive_int(owner, "n_mels", n_mels)
    fmin, fmax = _check_band(owner, sample_rate, fmin, fmax)
    window = _constants("hann", win_length, 0, x.dtype, x.device)
    # X[k, t] = Σ_n x[t·hop + n - n_fft/2] w[n] e^{-2πi k n / n_fft}, zeros beyond the ends   (*, F, frames)
    spec = torch.stft(x, n_fft, hop_length=hop_length, win_length=win_length, window=window, center=True,
                      pad_mode="constant", return_complex=True)
    # P = |X|² = Re² + Im² (8x faster than a sum over view_as_real's last axis of 2)        (*, F, frames)
    power = spec.real.square() + spec.imag.square()
    if warp is None:
        fb = _filterbank_as(sample_rate, n_fft, n_mels, fmin, fmax, x.dtype, x.device)  # (M, F)
    else:
        alpha = _warp_factors(owner, warp)
        if alpha.dim() == 1 and (x.dim() == 1 or len(alpha) != x.shape[0]):
            raise ShapeError(f"{owner}: `warp` holds {len(alpha)} factors for "
                             f"{'one wave' if x.dim() == 1 else f'a batch of {x.shape[0]} waves'}; give one number "
                             "or one factor per wave")
        # one filterbank (M, F) for a number, one per wave (B, M, F) for factors
        fb = _warped_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, alpha, warp_boundary).to(x.device, x.dtype)
    # mel[t, m] = Σ_k P[k, t] W[m, k]: stft's (F, frames) is a transposed view of a (frames, F)
    # array, so the product reads memory in order                                             (*, frames, M)
    return torch.matmul(power.transpose(-1, -2), fb.transpose(-1, -2))


def mel_spectrogram(
    wave: Any,
    sample_rate: int,
    n_mels: int = 40,
    win_ms: float = 25,
    hop_ms: float = 10,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    warp: Any = None,
    warp_boundary: float | None = None,
) -> torch.Tensor:
    r"""The power mel spectrogram, time first: ``librosa.feature.melspectrogram`` transposed.

    .. math::
        \mathrm{mel}_{t,m} = \sum_k W_{m,k} \Big| \sum_n x_{t h + n - N/2}\, w_n\, e^{-2\pi i k n / N} \Big|^2

    with :math:`W` from :func:`mel_filterbank`, :math:`w` the periodic Hann window of
    ``win_length`` samples centred in ``N = n_fft``, :math:`h` the hop and the wave
    zero-padded by ``N/2`` at both ends (see the module docstring).

    Shape:
        * wave: ``(time,)`` or ``(batch, time)``, float32 or float64, any device.
        * output: ``(frames, n_mels)`` or ``(batch, frames, n_mels)``, same dtype and
          device, ``frames = 1 + time // hop_length``.

    Args:
        wave: the samples (a tensor or NumPy array).
        sample_rate: samples per second of ``wave``.
        n_mels: mel bands (default 40).
        win_ms: window length in milliseconds (default 25).
        hop_ms: hop between frames in milliseconds (default 10).
        n_fft: FFT size (default None = the next power of two >= the window).
        fmin, fmax: band limits in Hz (default 0 and ``sample_rate / 2``).
        warp: VTLP: None (default, no warp), a factor in [0.5, 2] for every wave, or ``(batch,)`` factors, one
            per wave (:func:`mel_filterbank`'s ``warp``; 1 gives exactly the unwarped features).
        warp_boundary: the warp's boundary frequency in Hz (default None: :func:`vtlp_warp`'s).

    Example:
        >>> import torch
        >>> mel_spectrogram(torch.zeros(8000), 8000).shape
        torch.Size([101, 40])
    """
    return _mel_power("mel_spectrogram", wave, sample_rate, n_mels, win_ms, hop_ms, n_fft, fmin, fmax, warp,
                      warp_boundary)


def log_mel(
    wave: Any,
    sample_rate: int,
    n_mels: int = 40,
    win_ms: float = 25,
    hop_ms: float = 10,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    eps: float = 1e-6,
    *,
    warp: Any = None,
    warp_boundary: float | None = None,
) -> torch.Tensor:
    r"""Log-mel filterbank energies, time first: the natural log of :func:`mel_spectrogram` plus ``eps``.

    .. math::
        y_{t,m} = \ln(\mathrm{mel}_{t,m} + \varepsilon)

    The natural log (not dB: ``10 log10`` is the same up to the factor
    ``10 / ln 10``, which a normalisation removes); ``eps`` keeps silent frames finite
    at ``ln eps`` (-13.8 by default).  ``np.log(librosa.feature.melspectrogram(...) + eps).T``
    with the matching arguments gives the same numbers.

    Shape:
        * wave: ``(time,)`` or ``(batch, time)``, float32 or float64, any device.
        * output: ``(frames, n_mels)`` or ``(batch, frames, n_mels)``, same dtype and device.

    Args:
        wave, sample_rate, n_mels, win_ms, hop_ms, n_fft, fmin, fmax, warp, warp_boundary: as for
            :func:`mel_spectrogram` (defaults 40 bands, 25 ms windows, 10 ms hops, no warp).
        eps: added before the log (default 1e-6), > 0.

    Example:
        >>> import torch
        >>> t = torch.arange(8000) / 8000
        >>> feats = log_mel(torch.sin(2 * torch.pi * 440 * t), 8000)
        >>> feats.shape, int(feats[50].argmax())  # 440 Hz: band 7 (centre 457 Hz)
        (torch.Size([101, 40]), 7)
    """
    eps = check_real("log_mel", "eps", eps, positive=True)
    mel = _mel_power("log_mel", wave, sample_rate, n_mels, win_ms, hop_ms, n_fft, fmin, fmax, warp, warp_boundary)
    # y = ln(mel + ε)
    return torch.log(mel + eps)


def mfcc(
    wave: Any,
    sample_rate: int,
    n_mfcc: int = 13,
    n_mels: int = 40,
    win_ms: float = 25,
    hop_ms: float = 10,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    log: str = "db",
    top_db: float | None = 80.0,
    amin: float = 1e-10,
    eps: float = 1e-6,
    warp: Any = None,
    warp_boundary: float | None = None,
) -> torch.Tensor:
    r"""Mel-frequency cepstral coefficients, time first: the orthonormal DCT-II of a log-mel spectrogram.

    .. math::
        c_{t,k} = s_k \sqrt{2/M} \sum_{m=0}^{M-1} L_{t,m} \cos\frac{\pi k (2m + 1)}{2M},
        \qquad s_0 = 1/\sqrt{2},\ s_{k>0} = 1

    for ``k < n_mfcc``, with :math:`L` the log of :func:`mel_spectrogram`:

    * ``log="db"`` (default): ``L = max(10 log10(max(mel, amin)), peak - top_db)``,
      ``peak`` the largest value of the utterance — librosa's ``power_to_db`` with
      its defaults (``ref=1``, ``amin=1e-10``, ``top_db=80``), so the result equals
      ``librosa.feature.mfcc(y=..., sr=..., n_mfcc, n_mels, n_fft, hop_length,
      win_length, fmin, fmax).T``.  The peak is taken per utterance of a batch
      (librosa, given several channels, takes one peak over all of them);
      ``top_db=None`` turns the clipping off.
    * ``log="natural"``: ``L = ln(mel + eps)``, the features of :func:`log_mel`.

    Shape:
        * wave: ``(time,)`` or ``(batch, time)``, float32 or float64, any device.
        * output: ``(frames, n_mfcc)`` or ``(batch, frames, n_mfcc)``, same dtype and device.

    Args:
        wave, sample_rate, n_mels, win_ms, hop_ms, n_fft, fmin, fmax, warp, warp_boundary: as for
            :func:`mel_spectrogram`.
        n_mfcc: coefficients kept, at most ``n_mels`` (default 13).
        log: ``"db"`` (default, librosa's) or ``"natural"``.
        top_db: dB range kept below each utterance's peak with ``log="db"`` (default 80; None = all).
        amin: power floor with ``log="db"`` (default 1e-10).
        eps: added to the power with ``log="natural"`` (default 1e-6).

    Example:
        >>> import torch
        >>> coeffs = mfcc(torch.randn(2, 8000) * 0.1, 8000)
        >>> coeffs.shape
        torch.Size([2, 101, 13])
    """
    owner = "mfcc"
    n_mels = check_positive_int(owner, "n_mels", n_mels)
    n_mfcc = check_positive_int(owner, "n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ConfigError(f"{owner}: `n_mfcc` must be at most n_mels = {n_mels}, got {n_mfcc}; raise n_mels or lower n_mfcc")
    check_choice(owner, "log", log, ("db", "natural"))
    top_db = check_real(owner, "top_db", top_db, minimum=0.0, allow_none=True)
    amin = check_real(owner, "amin", amin, positive=True)
    eps = check_real(owner, "eps", eps, positive=True)
    mel = _mel_power(owner, wave, sample_rate, n_mels, win_ms, hop_ms, n_fft, fmin, fmax, warp, warp_boundary)
    if log == "natural":
        # L = ln(mel + ε)
        logs = torch.log(mel + eps)
    else:
        # L = 10 log10(max(mel, amin))
        logs = 10.0 * torch.log10(torch.clamp(mel, min=amin))
        if top_db is not None:
            # L = max(L, peak - top_db), peak over each utterance's (frames, M)
            peak = logs.amax(dim=(-2, -1), keepdim=True)
            logs = torch.maximum(logs, peak - top_db)
    basis = _constants("dct", n_mels, n_mfcc, logs.dtype, logs.device)  # (K, M)
    # c[t, k] = Σ_m L[t, m] D[k, m]                                                   (*, frames, K)
    return torch.matmul(logs, basis.T)
