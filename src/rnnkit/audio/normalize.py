r"""Normalisation: a wave's level (:func:`peak_normalize`) and extent (:func:`trim_silence`), and features per
utterance (:func:`normalize`), with training-set statistics (:class:`GlobalNormalizer`) or with each speaker's
(:class:`SpeakerNormalizer`).

A log-mel feature is not the same for a recording made louder or quieter: its
floor (``eps`` of :func:`rnnkit.audio.log_mel`, ``amin`` of the MFCC's decibels) is
absolute, so quiet frames move against it, and normalising the features after the
log does not undo that.  Scaling the wave to one peak first does.

The feature normalisations work on features laid out time first, ``(frames, features)`` or a padded
batch ``(batch, frames, features)`` with its ``lengths`` or ``mask``: statistics
are taken over the real frames only, and padded frames come out as 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import check_choice, check_real
from ..errors import ConfigError, ShapeError
from ._frames import as_features, valid_frames

__all__ = ["peak_normalize", "trim_silence", "normalize", "GlobalNormalizer", "SpeakerNormalizer"]


def peak_normalize(wave: Any, peak: float = 1.0) -> np.ndarray:
    r"""``wave`` scaled so that its largest magnitude is ``peak``: ``(time,)`` float32.

    .. math::
        y_i = \frac{p}{\max_j |x_j|}\, x_i

    So the same words recorded at any level give the same features.  A silent wave
    (all zeros) comes back unchanged.

    >>> peak_normalize(np.array([0.0, -0.25, 0.1])).tolist()
    [0.0, -1.0, 0.4000000059604645]
    """
    peak = check_real("peak_normalize", "peak", peak, positive=True)
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"peak_normalize: expected one wave (time,), got shape {tuple(x.shape)}")
    top = float(np.abs(x).max()) if x.size else 0.0
    return x * np.float32(peak / top) if top > 0 else x.copy()


def trim_silence(wave: Any, top_db: float = 40.0, frame_length: int = 200,
                 hop_length: int = 80) -> tuple[np.ndarray, tuple[int, int]]:
    r"""``wave`` without its leading and trailing silence, and where the kept part lies: ``(wave[start:end],
    (start, end))``.

    Frame :math:`t` holds the ``frame_length`` samples centred on sample :math:`t h` (``h`` =
    ``hop_length``; zeros beyond the ends), and its power is their mean square
    :math:`p_t`.  A frame is silent when

    .. math::
        10 \log_{10} \frac{\max(p_t, 10^{-10})}{\max(\max_u p_u, 10^{-10})} \le -\text{top\_db}

    and the wave is cut from the first loud frame's hop, :math:`t_0 h`, to the last
    one's next, :math:`\min(n, (t_1 + 1) h)`: the rule of ``librosa.effects.trim``.
    The defaults are 25 ms frames and 10 ms hops at 8 kHz.  Silence in the middle
    stays; a wave with no loud frame (all zeros) comes back whole.  Speakers leave
    different lengths of silence around a word, and features normalised per
    utterance take their mean and variance over it too.

    >>> y, (start, end) = trim_silence(np.r_[np.zeros(800), np.ones(400), np.zeros(800)])
    >>> start, end, len(y)
    (720, 1360, 640)
    """
    top_db = check_real("trim_silence", "top_db", top_db, positive=True)
    for name, value in (("frame_length", frame_length), ("hop_length", hop_length)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"trim_silence: {name} must be a positive whole number of samples, got {value!r}")
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"trim_silence: expected one wave (time,), got shape {tuple(x.shape)}")
    n, half = len(x), frame_length // 2
    # p_t = (1/L) sum of x^2 over frame t of the zero-padded wave, from a running sum
    square = np.pad(x.astype(np.float64) ** 2, (half, half))
    running = np.concatenate([[0.0], np.cumsum(square)])
    starts = np.arange(1 + (len(square) - frame_length) // hop_length) * hop_length if len(square) >= frame_length \
        else np.zeros(0, dtype=np.int64)
    power = (running[starts + frame_length] - running[starts]) / frame_length
    top = float(power.max()) if power.size else 0.0
    loud = np.flatnonzero(10 * np.log10(np.maximum(power, 1e-10) / max(top, 1e-10)) > -top_db)
    if top <= 0 or loud.size == 0:
        return x.copy(), (0, n)
    start, end = int(loud[0]) * hop_length, min(n, (int(loud[-1]) + 1) * hop_length)
    return x[start:end].copy(), (start, end)


def _weights(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """1 at real frames, 0 at padding: ``(batch, frames, 1)`` in x's dtype."""
    if valid is None:
        return torch.ones(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)
    return valid.to(x.dtype)[:, :, None]


def normalize(
    features: Any,
    mode: str = "utterance",
    *,
    lengths: Any = None,
    mask: Any = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Normalise each utterance's features over its own frames: zero mean (and unit variance) per feature.

    .. math::
        \mu_f = \frac{1}{n} \sum_t x_{t,f}, \qquad
        \sigma_f^2 = \frac{1}{n} \sum_t (x_{t,f} - \mu_f)^2, \qquad
        y_{t,f} = \frac{x_{t,f} - \mu_f}{\max(\sigma_f, \varepsilon)}

    over the ``n`` real frames ``t`` of the utterance.  ``mode="mean"`` only
    subtracts the mean (cepstral mean normalisation).  Padded frames are left out
    of the statistics and set to 0; an utterance of no frames stays 0.

    Shape:
        * features: ``(frames, features)`` or ``(batch, frames, features)``, floating point, any device.
        * lengths: ``(batch,)`` ints, real frames per utterance; or mask: ``(batch, frames)`` bool,
          True at real frames (one of them at most, only with a batch).
        * output: same shape, dtype and device as ``features``.

    Args:
        features: a tensor or NumPy array.
        mode: ``"utterance"`` (default: mean and variance) or ``"mean"`` (mean only).
        lengths: real frames of each utterance of a padded batch (default None = all real).
        mask: the same as a bool mask (default None).
        eps: floor of :math:`\sigma` (default 1e-5), so a constant feature maps to 0.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [3.0], [99.0]]])  # one utterance of 2 frames, padded to 3
        >>> normalize(x, lengths=[2])[0, :, 0].tolist()
        [-1.0, 1.0, 0.0]
    """
    owner = "normalize"
    check_choice(owner, "mode", mode, ("utterance", "mean"))
    eps = check_real(owner, "eps", eps, positive=True)
    x, single = as_features(owner, features)
    w = _weights(x, valid_frames(owner, x, lengths, mask, single))  # (B, T, 1)
    n = w.sum(dim=1, keepdim=True).clamp(min=1.0)  # real frames per utterance (B, 1, 1)
    # μ = Σ_t w x / n                                                                 (B, 1, F)
    mean = (w * x).sum(dim=1, keepdim=True) / n
    centred = x - mean
    if mode == "utterance":
        # σ² = Σ_t w (x - μ)² / n
        var = (w * centred.square()).sum(dim=1, keepdim=True) / n
        # y = (x - μ) / max(σ, ε)
        centred = centred / var.sqrt().clamp(min=eps)
    out = centred * w  # padded frames -> 0
    return out[0] if single else out


class GlobalNormalizer:
    r"""Per-feature mean and standard deviation over every real frame of a training set, applied to any features.

    .. math::
        y_{t,f} = \frac{x_{t,f} - \mu_f}{\max(\sigma_f, \varepsilon)}

    with :math:`\mu, \sigma` the mean and population standard deviation of feature
    ``f`` over all frames seen by :meth:`fit` / :meth:`partial_fit` (accumulated in
    float64 with Chan et al.'s pairwise update, so batches can stream in).
    :meth:`get_config` returns the statistics as a JSON-safe dict to save in a run
    folder; :meth:`from_config` rebuilds the normaliser (and can keep fitting).

    Shape:
        * features: ``(frames, features)``, ``(batch, frames, features)`` with optional
          ``lengths`` or ``mask`` (as :func:`normalize`), or (for fitting) a list of
          ``(frames, features)`` arrays of any lengths.
        * output of :meth:`apply`: same shape, dtype and device; padded frames are 0.

    Args:
        eps: floor of :math:`\sigma` (default 1e-5).

    Example:
        >>> import torch
        >>> norm = GlobalNormalizer().fit([torch.tensor([[0.0, 1.0], [2.0, 1.0]]), torch.tensor([[4.0, 1.0]])])
        >>> norm.get_config()["mean"], norm.get_config()["count"]
        ([2.0, 1.0], 3)
        >>> norm.apply(torch.tensor([[2.0, 1.0]])).tolist()
        [[0.0, 0.0]]
    """

    def __init__(self, eps: float = 1e-5):
        self.eps = check_real("GlobalNormalizer", "eps", eps, positive=True)
        self.count = 0
        self.mean: np.ndarray | None = None  # (F,) float64
        self._m2: np.ndarray | None = None  # Σ (x - μ)² (F,) float64

    @property
    def fitted(self) -> bool:
        """True once some frames have been seen (or statistics loaded)."""
        return self.count > 0

    @property
    def std(self) -> np.ndarray | None:
        """Population standard deviation per feature (float64), None before fitting."""
        return None if self._m2 is None else np.sqrt(self._m2 / max(self.count, 1))

    def fit(self, features: Any, *, lengths: Any = None, mask: Any = None) -> "GlobalNormalizer":
        """Forget earlier statistics and learn them from ``features`` (training data only); returns ``self``."""
        self.count, self.mean, self._m2 = 0, None, None
        return self.partial_fit(features, lengths=lengths, mask=mask)

    def partial_fit(self, features: Any, *, lengths: Any = None, mask: Any = None) -> "GlobalNormalizer":
        """Add the real frames of ``features`` to the statistics; returns ``self``."""
        owner = "GlobalNormalizer.fit"
        if isinstance(features, (list, tuple)):
            if lengths is not None or mask is not None:
                raise ConfigError(f"{owner}: `lengths` and `mask` are for a padded batch, not a list of utterances")
            for item in features:
                self.partial_fit(item)
            return self
        x, single = as_features(owner, features)
        self._check_features(owner, x)
        valid = valid_frames(owner, x, lengths, mask, single)
        rows = x.reshape(-1, x.shape[-1]) if valid is None else x[valid]  # the real frames (N, F)
        rows = rows.detach().to(torch.float64)
        count = rows.shape[0]
        if count == 0:
            return self
        mean = rows.mean(dim=0)
        # m2 = Σ (x - mean)² of this part
        m2 = (rows - mean).square().sum(dim=0)
        mean, m2 = mean.cpu().numpy(), m2.cpu().numpy()
        if self.count == 0:
            self.count, self.mean, self._m2 = count, mean, m2
        else:
            # merge (Chan, Golub & LeVeque): δ = mean_b - mean_a, n = n_a + n_b
            total = self.count + count
            delta = mean - self.mean
            self.mean = self.mean + delta * (count / total)
            self._m2 = self._m2 + m2 + delta**2 * (self.count * count / total)
            self.count = total
        return self

    def _check_features(self, owner: str, x: torch.Tensor) -> None:
        if self.mean is not None and x.shape[-1] != len(self.mean):
            raise ShapeError(f"{owner}: fitted on {len(self.mean)} features but got {x.shape[-1]} (shape {tuple(x.shape)})")

    def apply(self, features: Any, *, lengths: Any = None, mask: Any = None) -> torch.Tensor:
        """Normalise ``features`` with the fitted statistics; padded frames come out as 0."""
        owner = "GlobalNormalizer.apply"
        if not self.fitted:
            raise ConfigError(f"{owner}: called before fit(); fit the normaliser on the training features first")
        x, single = as_features(owner, features)
        self._check_features(owner, x)
        w = _weights(x, valid_frames(owner, x, lengths, mask, single))
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(np.maximum(self.std, self.eps), dtype=x.dtype, device=x.device)
        # y = (x - μ) / max(σ, ε), 0 at padding
        out = (x - mean) / std * w
        return out[0] if single else out

    __call__ = apply

    def get_config(self) -> dict[str, Any]:
        """JSON-safe: ``{"eps", "count", "mean", "std"}`` (lists of floats; None before fitting)."""
        return {
            "eps": self.eps,
            "count": int(self.count),
            "mean": None if self.mean is None else [float(v) for v in self.mean],
            "std": None if self.mean is None else [float(v) for v in self.std],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "GlobalNormalizer":
        """Rebuild a normaliser from :meth:`get_config` output."""
        owner = "GlobalNormalizer.from_config"
        if not isinstance(config, dict):
            raise ConfigError(f"{owner}: expected the dict of get_config(), got {type(config).__name__}")
        norm = cls(eps=config.get("eps", 1e-5))
        mean, std, count = config.get("mean"), config.get("std"), config.get("count", 0)
        if mean is None and std is None:
            return norm
        try:
            mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
            count = int(count)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{owner}: bad statistics ({exc}); pass the dict that get_config() returned") from None
        if mean.ndim != 1 or mean.shape != std.shape or count < 1 or not np.all(np.isfinite(mean)) or not np.all(std >= 0):
            raise ConfigError(
                f"{owner}: `mean` and `std` must be lists of equal length (finite, std >= 0) and `count` >= 1, got "
                f"{mean.shape} and {std.shape} with count {count}"
            )
        norm.count, norm.mean, norm._m2 = count, mean, std**2 * count
        return norm

    def __repr__(self) -> str:
        features = "unfitted" if self.mean is None else f"features={len(self.mean)}, count={self.count}"
        return f"GlobalNormalizer({features}, eps={self.eps:g})"


class SpeakerNormalizer:
    r"""Features normalised by their speaker's mean and variance per feature, shrunk toward a prior for a speaker
    heard briefly: speaker-level cepstral mean and variance normalisation (CMVN).

    For speaker :math:`s`, with :math:`n` frames :math:`x_t` over all of their utterances given to
    :meth:`fit`, and the prior's mean :math:`\mu_0` and standard deviation :math:`\sigma_0`
    (``prior``, a fitted :class:`GlobalNormalizer`: e.g. the training speakers pooled),
    counted as :math:`\tau` = ``prior_frames`` frames:

    .. math::
        \mu_s = \frac{\sum_t x_t + \tau \mu_0}{n + \tau}, \qquad
        q_s = \frac{\sum_t x_t^2 + \tau (\sigma_0^2 + \mu_0^2)}{n + \tau}, \qquad
        \sigma_s = \sqrt{\max(q_s - \mu_s^2, 0)}, \qquad
        y_t = \frac{x_t - \mu_s}{\max(\sigma_s, \varepsilon)}

    With :math:`\tau = 0` each speaker gets their own statistics; as :math:`\tau \to
    \infty`, the prior's (:meth:`GlobalNormalizer.apply`).  Unlike :func:`normalize`, one
    utterance keeps its own average spectrum (the word's), while what a speaker's
    voice and microphone add to every utterance is taken away.  The statistics are
    of the utterances at hand, their labels unused, so an unseen speaker is
    normalised from their own recordings; a few seconds of them already come near
    all of them.

    Shape:
        * features: a list of ``(frames, features)`` tensors or arrays, any lengths.
        * speakers: one hashable key per utterance (a name; None is a speaker too).
        * output of :meth:`apply`: a list of float tensors of the same shapes.

    Args:
        prior: a fitted :class:`GlobalNormalizer`.
        prior_frames: :math:`\tau`, the frames the prior counts as (default 100: 1 s of 10 ms frames).
        eps: floor of :math:`\sigma_s` (default 1e-5).

    Example:
        >>> import torch
        >>> prior = GlobalNormalizer().fit([torch.tensor([[0.0], [2.0]])])            # mean 1, std 1
        >>> norm = SpeakerNormalizer(prior, prior_frames=2).fit([torch.tensor([[4.0], [6.0]])], ["ann"])
        >>> [round(v, 4) for v in norm.apply([torch.tensor([[3.0]])], ["ann"])[0].flatten().tolist()]
        [0.0]
    """

    def __init__(self, prior: GlobalNormalizer, prior_frames: float = 100.0, eps: float = 1e-5):
        owner = "SpeakerNormalizer"
        if not isinstance(prior, GlobalNormalizer) or not prior.fitted:
            raise ConfigError(f"{owner}: `prior` must be a fitted GlobalNormalizer (fit it on the training features), "
                              f"got {prior!r:.60}")
        self.prior = prior
        self.prior_frames = check_real(owner, "prior_frames", prior_frames, minimum=0.0)
        self.eps = check_real(owner, "eps", eps, positive=True)
        self._stats: dict[Any, tuple[np.ndarray, np.ndarray]] = {}  # speaker -> (mean, std) after the blend

    @property
    def speakers(self) -> list[Any]:
        """The speakers :meth:`fit` saw, in the order it first met them."""
        return list(self._stats)

    def fit(self, features: Any, speakers: Any) -> "SpeakerNormalizer":
        """Forget earlier speakers and learn each speaker's statistics from their utterances; returns ``self``."""
        features, speakers = self._pairs("SpeakerNormalizer.fit", features, speakers)
        groups: dict[Any, GlobalNormalizer] = {}
        for f, who in zip(features, speakers):
            groups.setdefault(who, GlobalNormalizer()).partial_fit(f)
        tau, mu0 = self.prior_frames, self.prior.mean
        q0 = self.prior.std**2 + mu0**2
        self._stats = {}
        for who, g in groups.items():
            if g.mean is not None and len(g.mean) != len(mu0):
                raise ShapeError(f"SpeakerNormalizer.fit: the prior has {len(mu0)} features but speaker {who!r} has "
                                 f"{len(g.mean)}")
            n = g.count
            total = g.mean * n if n else np.zeros_like(mu0)  # Σ x
            squares = g._m2 + n * g.mean**2 if n else np.zeros_like(mu0)  # Σ x² = m2 + n mean²
            if n + tau == 0:  # no frames and no prior weight: the prior's statistics
                self._stats[who] = (mu0, self.prior.std)
                continue
            # μ_s = (Σ x + τ μ0) / (n + τ);  q_s = (Σ x² + τ q0) / (n + τ);  σ_s = sqrt(max(q_s - μ_s², 0))
            mean = (total + tau * mu0) / (n + tau)
            q = (squares + tau * q0) / (n + tau)
            self._stats[who] = (mean, np.sqrt(np.maximum(q - mean**2, 0.0)))
        return self

    def apply(self, features: Any, speakers: Any) -> list[torch.Tensor]:
        """Each utterance normalised by its speaker's statistics (of :meth:`fit`)."""
        owner = "SpeakerNormalizer.apply"
        features, speakers = self._pairs(owner, features, speakers)
        out = []
        for x, who in zip(features, speakers):
            if who not in self._stats:
                known = ", ".join(repr(k) for k in list(self._stats)[:5]) or "none"
                raise ConfigError(f"{owner}: speaker {who!r} was not fitted (fitted: {known}); fit() on their "
                                  "utterances first")
            mean, std = self._stats[who]
            if x.shape[-1] != len(mean):
                raise ShapeError(f"{owner}: fitted on {len(mean)} features but got {x.shape[-1]} (shape "
                                 f"{tuple(x.shape)})")
            # y = (x - μ_s) / max(σ_s, ε)
            out.append((x - torch.as_tensor(mean, dtype=x.dtype, device=x.device))
                       / torch.as_tensor(np.maximum(std, self.eps), dtype=x.dtype, device=x.device))
        return out

    @staticmethod
    def _pairs(owner: str, features: Any, speakers: Any) -> tuple[list[torch.Tensor], list[Any]]:
        """``features`` as 2-D float tensors (one utterance each) and ``speakers`` as a list, one per utterance."""
        if not isinstance(features, (list, tuple)):
            raise ConfigError(f"{owner}: `features` must be a list of (frames, features) utterances, got "
                              f"{type(features).__name__}")
        speakers = list(speakers)
        if len(speakers) != len(features):
            raise ConfigError(f"{owner}: one speaker per utterance is needed: {len(features)} utterances but "
                              f"{len(speakers)} speakers")
        out = []
        for i, f in enumerate(features):
            x, single = as_features(owner, f)
            if not single:  # a padded batch would count its padding as frames
                raise ShapeError(f"{owner}: utterance {i} must be (frames, features), got shape {tuple(x.shape)}; "
                                 "give a padded batch as a list of its utterances")
            out.append(x[0])
        return out, speakers

    def __repr__(self) -> str:
        return f"SpeakerNormalizer(speakers={len(self._stats)}, prior_frames={self.prior_frames:g}, eps={self.eps:g})"
