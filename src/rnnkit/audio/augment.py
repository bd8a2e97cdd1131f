r"""Data augmentation for training: speed perturbation of waves, VTLP factors, SpecAugment's time and frequency masks.

* :func:`speed_perturb` plays a wave faster or slower, tempo and pitch together
  (Ko et al., "Audio Augmentation for Speech Recognition", Interspeech 2015, whose
  factors 0.9, 1.0 and 1.1 Kaldi's recipes use);
* :func:`vtlp_factors` draws the warp factors of vocal tract length perturbation
  (Jaitly and Hinton 2013), which the feature functions apply through their
  ``warp`` argument (:func:`rnnkit.audio.vtlp_warp`);
* :func:`add_noise` adds white Gaussian noise at a signal-to-noise ratio, so a
  model meets the noise floors of other microphones and rooms;
* :func:`spec_augment` masks bands of channels and spans of frames (Park et al.,
  "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
  Recognition", Interspeech 2019), without the time warping, which the paper found
  the least useful and most costly.

Apply them to training data only.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import torch

from .._validation import check_positive_int, check_real
from ..errors import ConfigError
from ._frames import as_features, valid_frames
from .io import resample

__all__ = ["speed_perturb", "vtlp_factors", "add_noise", "spec_augment"]


def speed_perturb(wave: Any, factor: float) -> np.ndarray:
    """``wave`` played ``factor`` times as fast: ``len / factor`` samples, every frequency times ``factor``.

    The wave is resampled from ``p`` to ``q`` Hz with ``p / q = factor`` (the
    fraction with the smallest denominator within 0.1% of it, by polyphase
    filtering; needs scipy) and kept at its old rate.  ``factor`` 1 returns a copy.

    >>> speed_perturb(np.ones(1100, dtype=np.float32), 1.1).shape
    (1000,)
    """
    factor = check_real("speed_perturb", "factor", factor, minimum=0.0)
    if not 0.5 <= factor <= 2.0:
        raise ConfigError(f"speed_perturb: `factor` must be in [0.5, 2] (0.9 and 1.1 are usual), got {factor!r}")
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"speed_perturb: expected one wave (time,), got shape {tuple(x.shape)}")
    ratio = next(r for d in range(1, 1001) if abs(float(r := Fraction(factor).limit_denominator(d)) - factor)
                 <= 1e-3 * factor)
    if ratio == 1:
        return x.copy()
    # y(t) = x(factor t): resample from p Hz to q Hz, p / q = factor, and keep the old rate
    return resample(x, ratio.numerator, ratio.denominator).astype(np.float32)


def vtlp_factors(count: int, max_warp: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""``count`` VTLP warp factors drawn uniformly from :math:`[1 - r, 1 + r]`, ``r`` = ``max_warp``: ``(count,)`` float64.

    Give them as the ``warp`` of :func:`rnnkit.audio.log_mel` (or ``mfcc``,
    ``mel_spectrogram``) on a batch of ``count`` waves: each utterance heard as from
    a vocal tract up to ``max_warp`` shorter or longer (Jaitly and Hinton draw from
    [0.9, 1.1]).  Draws come from ``generator`` (on the CPU), so a seeded generator
    gives the same factors again; ``max_warp`` 0 gives ones.

    >>> f = vtlp_factors(1000, 0.1, torch.Generator().manual_seed(0))
    >>> bool((f >= 0.9).all() and (f <= 1.1).all()), f.dtype
    (True, torch.float64)
    """
    count = check_positive_int("vtlp_factors", "count", count, minimum=0)
    r = check_real("vtlp_factors", "max_warp", max_warp, minimum=0.0, maximum=0.5)
    # α = 1 + r (2u - 1), u ~ U[0, 1)
    return 1.0 + r * (2.0 * torch.rand(count, generator=generator, dtype=torch.float64) - 1.0)


def add_noise(wave: Any, snr_db: float, generator: torch.Generator | None = None) -> np.ndarray:
    r"""``wave`` plus white Gaussian noise ``snr_db`` decibels below the wave's mean power: ``(time,)`` float32.

    .. math::
        y_i = x_i + \sigma n_i, \qquad n_i \sim \mathcal N(0, 1), \qquad
        \sigma^2 = 10^{-\mathrm{SNR}/10}\ \frac{1}{N} \sum_{j=1}^{N} x_j^2

    The noise comes from ``generator`` (on the CPU), so a seeded generator adds the
    same noise again; a silent wave comes back unchanged (its power is 0).

    >>> x = np.sin(np.arange(8000, dtype=np.float32))
    >>> y = add_noise(x, 20.0, torch.Generator().manual_seed(0))
    >>> round(float(10 * np.log10(np.mean(x ** 2) / np.mean((y - x) ** 2))))
    20
    """
    snr_db = check_real("add_noise", "snr_db", snr_db)
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"add_noise: expected one wave (time,), got shape {tuple(x.shape)}")
    # σ² = 10^(-SNR/10) · mean(x²)
    sigma = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) * 10.0 ** (-snr_db / 10.0)))
    noise = torch.randn(len(x), generator=generator, dtype=torch.float32).numpy()  # n ~ N(0, 1)
    return x + np.float32(sigma) * noise


def _spans(count: int, batch: int, masks: int, limit: torch.Tensor, size: torch.Tensor,
           generator: torch.Generator | None) -> torch.Tensor:
    """``(batch, count)`` bool: the union of ``masks`` random spans of each row.

    Width ``w ~ U{0, ..., limit}`` and start ``s ~ U{0, ..., size - w}`` per span,
    with ``limit`` and ``size`` per row (``(batch,)`` long tensors).
    """
    if masks == 0:
        return torch.zeros(batch, count, dtype=torch.bool)
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(2, batch, masks, generator=generator, dtype=torch.float64, device=device).cpu()
    limit, size = limit[:, None], size[:, None]
    width = torch.minimum(torch.floor(u[0] * (limit + 1)).long(), limit)  # U{0..limit}  (B, n)
    start = torch.minimum(torch.floor(u[1] * (size - width + 1)).long(), size - width)  # U{0..size-w}
    pos = torch.arange(count)[None, None, :]
    # masked[b, i] = any_n  start[b, n] <= i < start[b, n] + width[b, n]
    return ((pos >= start[:, :, None]) & (pos < (start + width)[:, :, None])).any(dim=1)


def spec_augment(
    features: Any,
    time_masks: int = 2,
    time_width: int = 70,
    freq_masks: int = 2,
    freq_width: int = 15,
    *,
    max_time_fraction: float = 0.2,
    fill: str | float = "mean",
    lengths: Any = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""SpecAugment masking: random bands of channels and spans of frames set to a fill value.

    For each utterance, independently (Park et al. 2019, section 2):

    * ``freq_masks`` times: :math:`f \sim U\{0, \dots, F\}`, :math:`f_0 \sim U\{0, \dots, \nu - f\}`,
      channels :math:`[f_0, f_0 + f)` masked, with :math:`F` = ``freq_width`` and
      :math:`\nu` the number of channels;
    * ``time_masks`` times: :math:`t \sim U\{0, \dots, \min(T, \lfloor p\tau \rfloor)\}`,
      :math:`t_0 \sim U\{0, \dots, \tau - t\}`, frames :math:`[t_0, t_0 + t)` masked, with
      :math:`T` = ``time_width``, :math:`p` = ``max_time_fraction`` and :math:`\tau`
      the utterance's real frames (its ``lengths`` entry).

    Masks may overlap, and a width of 0 masks nothing, so up to ``freq_masks``
    bands and ``time_masks`` spans are masked.  Masked values become ``fill``:
    ``"mean"`` (default, the paper's choice) is the mean of the utterance's real
    frames over all channels, or a number (use 0.0 on normalised features, whose
    mean is 0).  Padded frames are left as they are.  The defaults are the
    paper's policy for 40 mel channels ("SM": F = 15, two masks of each kind,
    T = 70, p = 0.2); scale them to your features.  Draws come from ``generator``
    (on its device), so a seeded generator gives the same masks again.

    Shape:
        * features: ``(frames, channels)`` or ``(batch, frames, channels)``, floating point, any device.
        * lengths: ``(batch,)`` real frames per utterance of a padded batch (default None = all).
        * output: a new tensor of the same shape, dtype and device.

    Args:
        features: log-mel (or other) features, a tensor or NumPy array.
        time_masks: spans of frames per utterance (default 2), >= 0.
        time_width: largest span :math:`T` in frames (default 70).
        freq_masks: bands of channels per utterance (default 2), >= 0.
        freq_width: widest band :math:`F` in channels (default 15).
        max_time_fraction: :math:`p`, a span covers at most this fraction of the utterance (default 0.2), in (0, 1].
        fill: ``"mean"`` or a number (default ``"mean"``).
        lengths: real frames of each utterance (default None).
        generator: a ``torch.Generator`` for reproducible masks (default None: torch's global one).

    Example:
        >>> import torch
        >>> x = torch.ones(100, 40)
        >>> y = spec_augment(x, fill=0.0, generator=torch.Generator().manual_seed(0))
        >>> y.shape, bool((y == 0).any()), bool((y == 1).any())
        (torch.Size([100, 40]), True, True)
    """
    owner = "spec_augment"
    time_masks = check_positive_int(owner, "time_masks", time_masks, minimum=0)
    time_width = check_positive_int(owner, "time_width", time_width, minimum=0)
    freq_masks = check_positive_int(owner, "freq_masks", freq_masks, minimum=0)
    freq_width = check_positive_int(owner, "freq_width", freq_width, minimum=0)
    p = check_real(owner, "max_time_fraction", max_time_fraction, positive=True, maximum=1.0)
    if not (fill == "mean" or (isinstance(fill, (int, float)) and not isinstance(fill, bool))):
        raise ConfigError(f"{owner}: `fill` must be 'mean' or a number, got {fill!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ConfigError(f"{owner}: `generator` must be a torch.Generator or None, got {type(generator).__name__}")
    x, single = as_features(owner, features)
    batch, frames, channels = x.shape
    valid = valid_frames(owner, x, lengths, None, single)
    tau = torch.full((batch,), frames, dtype=torch.long) if valid is None else valid.sum(dim=1).cpu()
    # frequency masks: width <= F (and <= ν), start in [0, ν - f]
    nu = torch.full((batch,), channels, dtype=torch.long)
    freq = _spans(channels, batch, freq_masks, torch.clamp(torch.full_like(nu, freq_width), max=channels), nu, generator)
    # time masks: width <= min(T, ⌊p τ⌋), start in [0, τ - t]
    limit = torch.minimum(torch.full_like(tau, time_width), torch.floor(tau.double() * p + 1e-9).long())
    time = _spans(frames, batch, time_masks, limit, tau, generator)
    masked = (time[:, :, None] | freq[:, None, :]).to(x.device)  # (B, T, C)
    if valid is not None:
        masked &= valid[:, :, None]
    if fill == "mean":
        w = torch.ones(batch, frames, 1, dtype=x.dtype, device=x.device) if valid is None else valid.to(x.dtype)[:, :, None]
        # the utterance's mean over its real frames and all channels                  (B, 1, 1)
        value = (x * w).sum(dim=(1, 2), keepdim=True) / (w.sum(dim=(1, 2), keepdim=True) * channels).clamp(min=1)
    else:
        value = torch.tensor(float(fill), dtype=x.dtype, device=x.device)
    out = torch.where(masked, value, x)
    return out[0] if single else out
