"""Audio for speech models: reading files, log-mel and MFCC features in PyTorch, normalisation and augmentation.

* :func:`read_audio` (:mod:`rnnkit.audio.io`): a path or bytes to a mono float32
  wave in [-1, 1] and its rate, optionally resampled; WAV needs only the standard
  library, other formats and resampling the ``audio`` extra (soundfile, scipy).
* :func:`log_mel`, :func:`mfcc`, :func:`mel_spectrogram`, :func:`mel_filterbank`
  (:mod:`rnnkit.audio.features`): one wave ``(time,)`` or a batch ``(batch, time)``
  to features ``(frames, features)`` / ``(batch, frames, features)``, time first, on
  the wave's device; the numbers of librosa with the matching arguments.
* :func:`peak_normalize`, :func:`trim_silence`, :func:`normalize`, :class:`GlobalNormalizer` and
  :class:`SpeakerNormalizer` (:mod:`rnnkit.audio.normalize`): a wave's level and extent, and per-utterance,
  training-set or per-speaker mean and variance of features, padding-aware.
* :func:`speed_perturb`, :func:`vtlp_factors`, :func:`add_noise` and :func:`spec_augment`
  (:mod:`rnnkit.audio.augment`): speed perturbation of waves, warp factors of vocal
  tract length perturbation (VTLP, applied by the features' ``warp`` argument
  through :func:`vtlp_warp`), white noise at a signal-to-noise ratio and
  SpecAugment's masks (seeded), for training.

The package depends only on torch, NumPy and the ground of rnnkit (errors,
_validation); scipy and soundfile are imported when a call needs them.
"""
from .augment import add_noise, spec_augment, speed_perturb, vtlp_factors
from .features import (log_mel, mel_filterbank, mel_frequencies, mel_scale, mel_spectrogram, mfcc, num_frames,
                       vtlp_warp)
from .io import read_audio, resample
from .normalize import GlobalNormalizer, SpeakerNormalizer, normalize, peak_normalize, trim_silence

__all__ = [
    "read_audio",
    "resample",
    "mel_scale",
    "mel_frequencies",
    "vtlp_warp",
    "mel_filterbank",
    "num_frames",
    "mel_spectrogram",
    "log_mel",
    "mfcc",
    "peak_normalize",
    "trim_silence",
    "normalize",
    "GlobalNormalizer",
    "SpeakerNormalizer",
    "speed_perturb",
    "vtlp_factors",
    "add_noise",
    "spec_augment",
]
