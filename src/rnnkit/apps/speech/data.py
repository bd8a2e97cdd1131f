"""Data of speech recognition: labelled recordings, their splits, connected digit strings, features and batches.

* :func:`load_recordings`: FSDD (``rnnkit.datasets.load('fsdd', 'all')``) or a
  folder with one sub-folder per label holding audio files (any format
  :func:`rnnkit.audio.read_audio` reads), resampled to one rate.  A folder's
  speaker is read from each file name's stem: ``<label>_<speaker>_<index>``
  (FSDD's naming, three or more ``_`` fields) gives the second field,
  ``<speaker>_<anything>`` the first; a stem without ``_`` has no speaker.
* :func:`split_recordings`: ``standard`` (FSDD: recordings 0-4 of each speaker
  and digit are the test set; a folder: a seeded stratified 10%) or
  ``speaker:NAME`` (that speaker's recordings are the whole test set); the
  validation set is a seeded stratified part of the training recordings only.
* :func:`trimmed`: recordings without their leading and trailing silence.
* :func:`build_utterances`: connected digit strings, 2-7 recordings joined with
  random gaps, gains and low-level noise, deterministic from the seed and drawn
  from the recordings given (so test strings hold only test recordings); each
  recording is first brought to one peak level, so that the noise lies as far
  below every speaker.
* :func:`features_of`: log-mel (40 bands) or MFCC of each wave, normalised per
  utterance (or left for :class:`rnnkit.audio.SpeakerNormalizer`: words normalise by
  speaker); :func:`perturbed_features`: the same for each training wave played at
  each of :data:`SPEEDS`; :class:`WaveFeatures`: training features made anew for
  every batch, each wave at a random speed through a randomly warped filterbank
  (VTLP); :class:`Batches`: padded batches (padding :data:`PAD`, which the model's
  ``Masking`` layer turns into a mask), with one speed drawn per utterance and
  SpecAugment on training batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from rnnkit import datasets
from rnnkit.audio import (SpeakerNormalizer, add_noise, log_mel, mfcc, normalize, num_frames, peak_normalize,
                          read_audio, resample, spec_augment, speed_perturb, trim_silence, vtlp_factors)
from rnnkit.data import BucketBatchSampler, stratified_split
from rnnkit.errors import ConfigError, DatasetError

__all__ = ["PAD", "HOP_MS", "WIN_MS", "SPEEDS", "DIGIT_WORDS", "Recordings", "load_recordings", "split_recordings",
           "trimmed", "Utterances", "build_utterances", "features_of", "perturbed_features", "WaveFeatures", "Batches"]

PAD = -1000.0  #: the value of padded frames (no normalised feature comes near it)
HOP_MS, WIN_MS = 10, 25
SPEEDS = (1.0, 0.9, 1.1)  #: speed perturbation of training waves (the first is the wave itself)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3")


@dataclass
class Recordings:
    """Labelled recordings: mono float32 waves at ``sample_rate``, labels (text), speakers, file names."""

    waves: list[np.ndarray]
    labels: list[str]
    speakers: list[str | None]
    files: list[str]
    sample_rate: int
    source: str = ""
    test_index: np.ndarray | None = None  # the dataset's own test recordings (FSDD), else None
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.classes:
            self.classes = sorted(set(self.labels), key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))

    def __len__(self) -> int:
        return len(self.waves)

    def subset(self, index: Sequence[int]) -> "Recordings":
        index = [int(i) for i in index]
        return Recordings([self.waves[i] for i in index], [self.labels[i] for i in index],
                          [self.speakers[i] for i in index], [self.files[i] for i in index], self.sample_rate,
                          self.source, None, list(self.classes))


def speaker_of(stem: str) -> str | None:
    """The speaker in a file name's stem: ``7_jackson_3`` -> jackson, ``anna_take2`` -> anna, ``clip`` -> None."""
    parts = stem.split("_")
    if len(parts) >= 3:
        return parts[1] or None
    return parts[0] or None if len(parts) == 2 else None


def _load_fsdd(sample_rate: int) -> Recordings:
    raw = datasets.load("fsdd", "all")
    rate = int(raw["sample_rate"])
    waves = [np.asarray(w, dtype=np.float32) for w in raw["audio"]]
    if rate != sample_rate:
        waves = [resample(w, rate, sample_rate).astype(np.float32) for w in waves]
    files = list(raw["file"])
    test = np.asarray([i for i, f in enumerate(files) if int(Path(f).stem.split("_")[2]) < 5], dtype=np.int64)
    return Recordings(waves, [str(int(y)) for y in raw["label"]], list(raw["speaker"]), files, sample_rate, "fsdd", test)


def _load_folder(path: Path, sample_rate: int) -> Recordings:
    if not path.exists():
        raise DatasetError(f"--data {path}: no such folder (give fsdd, or a folder with one sub-folder of audio files "
                           "per label)")
    if not path.is_dir():
        raise DatasetError(f"--data {path}: not a folder; give fsdd, or a folder with one sub-folder of audio files "
                           "per label")
    waves, labels, speakers, files = [], [], [], []
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES):
            wave, _ = read_audio(f, sample_rate)
            waves.append(wave)
            labels.append(sub.name)
            speakers.append(speaker_of(f.stem))
            files.append(f"{sub.name}/{f.name}")
    if not waves:
        raise DatasetError(f"--data {path}: no audio files in sub-folders; put each label's recordings in a "
                           f"sub-folder named by the label ({', '.join(AUDIO_SUFFIXES)})")
    data = Recordings(waves, labels, speakers, files, sample_rate, str(path))
    if len(data.classes) < 2:
        raise DatasetError(f"--data {path}: only one label ({data.classes[0]!r}); a recogniser needs recordings of at "
                           "least two labels, one sub-folder each")
    return data


def load_recordings(data: str, sample_rate: int = 8000) -> Recordings:
    """FSDD (``data='fsdd'``) or a folder of label sub-folders, every wave at ``sample_rate``."""
    if data == "fsdd":
        return _load_fsdd(sample_rate)
    return _load_folder(Path(data), sample_rate)


def split_recordings(recs: Recordings, split: str, seed: int, valid_fraction: float = 0.1,
                     test_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, valid, test) of ``recs``; validation is carved from the training recordings only."""
    if split == "standard":
        if recs.test_index is not None:
            test = np.asarray(recs.test_index, dtype=np.int64)
            rest = np.setdiff1d(np.arange(len(recs)), test)
        else:
            rest, test = stratified_split(recs.labels, test_fraction, seed)
    elif split.startswith("speaker:"):
        name = split.split(":", 1)[1]
        known = sorted({s for s in recs.speakers if s})
        if not known:
            raise ConfigError(f"--split {split}: {recs.source} names no speakers (file names like "
                              "<label>_<speaker>_<index>.wav); use --split standard")
        if name not in known:
            raise ConfigError(f"--split {split}: no speaker {name!r} in {recs.source}; its speakers are "
                              f"{', '.join(known)}")
        is_test = np.asarray([s == name for s in recs.speakers])
        test, rest = np.flatnonzero(is_test), np.flatnonzero(~is_test)
    else:
        raise ConfigError(f"--split must be standard or speaker:NAME, got {split!r}")
    if not len(test) or len(rest) < 2:
        raise DatasetError(f"{recs.source}: too few recordings ({len(recs)}) for a test split; add recordings")
    keep, held = stratified_split([recs.labels[i] for i in rest], valid_fraction, seed + 1)
    if not len(held):
        raise DatasetError(f"{recs.source}: too few training recordings ({len(rest)}) to hold out a validation set")
    return rest[keep], rest[held], test


def trimmed(waves: Sequence[np.ndarray], sample_rate: int, top_db: float) -> tuple[list[np.ndarray], list[int]]:
    """Each wave without its leading and trailing silence (:func:`rnnkit.audio.trim_silence`, frames of the
    features' window and hop, more than ``top_db`` dB below the loudest), and the sample each now starts at;
    ``top_db`` 0 leaves them whole."""
    if top_db <= 0:
        return list(waves), [0] * len(waves)
    frame, hop = round(WIN_MS * sample_rate / 1000), round(HOP_MS * sample_rate / 1000)
    cut = [trim_silence(w, top_db, frame, hop) for w in waves]
    return [w for w, _ in cut], [span[0] for _, span in cut]


# ---------------------------------------------------------------- connected digit strings
@dataclass
class Utterances:
    """Joined utterances: waves, their token ids (class index + 1; 0 is the CTC blank) and the recordings used."""

    waves: list[np.ndarray]
    tokens: list[list[int]]
    sources: list[list[int]]  # indices into the recordings each utterance was built from


def build_utterances(recs: Recordings, count: int, seed: int, *, min_len: int = 2, max_len: int = 7,
                     gap: tuple[float, float] = (0.05, 0.4), gain_db: tuple[float, float] = (-6.0, 6.0),
                     noise_db: float = -50.0, peak_db: float | None = -12.0) -> Utterances:
    """``count`` strings of ``min_len``-``max_len`` random recordings of ``recs`` with random gaps (seconds of
    silence, also before the first and after the last), a random gain per recording and white noise
    ``noise_db`` dB below full scale; the same ``seed`` gives the same utterances.

    Each recording is scaled to a peak of ``peak_db`` dBFS before its gain (None: as recorded).
    FSDD's speakers recorded at levels 24 dB apart (median peaks from -6.5 dBFS, lucas, to -30.6 dBFS, theo), so
    as recorded the -50 dBFS noise lay 43 dB below lucas' peaks but 19 dB below theo's, 6 dB below his speech's
    mean power (-43.8 dBFS).
    """
    if len(recs) == 0:
        raise DatasetError("build_utterances: no recordings to build digit strings from")
    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(recs.classes)}
    rate = recs.sample_rate
    level = None if peak_db is None else 10 ** (peak_db / 20)
    recordings = recs.waves if level is None else [peak_normalize(w, level) for w in recs.waves]  # once each
    waves, tokens, sources = [], [], []
    for _ in range(count):
        n = int(rng.integers(min_len, max_len + 1))
        picks = rng.integers(0, len(recs), size=n)
        pieces = []
        for k in picks:
            pieces.append(np.zeros(int(rng.uniform(*gap) * rate), dtype=np.float32))
            wave = recordings[k] * np.float32(10 ** (rng.uniform(*gain_db) / 20))
            pieces.append(wave.astype(np.float32))
        pieces.append(np.zeros(int(rng.uniform(*gap) * rate), dtype=np.float32))
        joined = np.concatenate(pieces)
        joined += (rng.standard_normal(joined.shape[0]) * 10 ** (noise_db / 20)).astype(np.float32)
        waves.append(np.clip(joined, -1.0, 1.0))
        tokens.append([index[recs.labels[k]] + 1 for k in picks])
        sources.append([int(k) for k in picks])
    return Utterances(waves, tokens, sources)


# ---------------------------------------------------------------- features and batches
def features_of(waves: Sequence[np.ndarray], sample_rate: int, kind: str = "logmel", n_mels: int = 40,
                n_mfcc: int = 13, warps: Sequence[float] | None = None,
                per_utterance: bool = True) -> list[torch.Tensor]:
    """Features ``(frames, features)`` of each wave, normalised per utterance (``per_utterance=False``: as they come,
    for :class:`rnnkit.audio.SpeakerNormalizer`), each through a filterbank warped by its factor of ``warps`` (VTLP;
    default None: unwarped)."""
    out = []
    for i, wave in enumerate(waves):  # one at a time: a padded batch would change mfcc's per-utterance peak
        w = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        warp = None if warps is None else float(warps[i])
        if kind == "mfcc":
            f = mfcc(w, sample_rate, n_mfcc=n_mfcc, n_mels=n_mels, win_ms=WIN_MS, hop_ms=HOP_MS, warp=warp)
        else:
            f = log_mel(w, sample_rate, n_mels=n_mels, win_ms=WIN_MS, hop_ms=HOP_MS, warp=warp)
        out.append(normalize(f) if per_utterance else f)
    return out


def perturbed_features(waves: Sequence[np.ndarray], sample_rate: int, kind: str = "logmel", n_mels: int = 40,
                       n_mfcc: int = 13, speeds: Sequence[float] = SPEEDS,
                       by_speaker: tuple[SpeakerNormalizer, Sequence[Any]] | None = None) -> list[list[torch.Tensor]]:
    """Per wave, its features (as :func:`features_of`) at each speed of ``speeds`` (:func:`rnnkit.audio.speed_perturb`);
    with ``by_speaker`` (a fitted normaliser and each wave's speaker), normalised by the speaker's statistics."""
    per_speed = [features_of([w if f == 1.0 else speed_perturb(w, f) for w in waves], sample_rate, kind, n_mels, n_mfcc,
                             per_utterance=by_speaker is None) for f in speeds]
    if by_speaker is not None:
        norm, speakers = by_speaker
        per_speed = [norm.apply(feats, speakers) for feats in per_speed]
    return [list(v) for v in zip(*per_speed)]


class WaveFeatures:
    """Training features made anew for every batch: each wave at a random speed, through a randomly warped filterbank.

    Per utterance and batch, a speed is drawn from ``[1 - speed_range, 1 + speed_range]``
    in steps of 0.01 (:func:`rnnkit.audio.speed_perturb` by the ratio ``100 / (100 s)``)
    or, with ``speed_range`` 0, from ``speeds`` (the waves at these speeds are made
    once, here); a VTLP warp factor from ``[1 - vtlp, 1 + vtlp]``
    (:func:`rnnkit.audio.vtlp_factors`; 0: no warp); and, with ``noise_snr`` (low, high),
    white noise at a signal-to-noise ratio drawn from ``[low, high]`` dB
    (:func:`rnnkit.audio.add_noise`; None: no noise).  Features as :func:`features_of`; with
    ``by_speaker`` (a fitted :class:`rnnkit.audio.SpeakerNormalizer` and each wave's
    speaker), normalised by the statistics of each wave's speaker instead of its own.
    """

    def __init__(self, waves: Sequence[np.ndarray], sample_rate: int, kind: str = "logmel", n_mels: int = 40,
                 n_mfcc: int = 13, speeds: Sequence[float] = SPEEDS, speed_range: float = 0.0,
                 vtlp: float = 0.0, noise_snr: tuple[float, float] | None = None,
                 by_speaker: tuple[SpeakerNormalizer, Sequence[Any]] | None = None) -> None:
        self.waves, self.sample_rate, self.kind, self.n_mels, self.n_mfcc = waves, sample_rate, kind, n_mels, n_mfcc
        self.speed_range, self.vtlp, self.noise_snr, self.by_speaker = speed_range, vtlp, noise_snr, by_speaker
        speeds = [1.0] if speed_range > 0 else list(speeds)
        self.variants = [[w if f == 1.0 else speed_perturb(w, f) for f in speeds] for w in waves]

    def __len__(self) -> int:
        return len(self.waves)

    def frames(self) -> list[int]:
        """Frames of each unperturbed wave's features (for batching similar lengths)."""
        return [int(num_frames(len(w), self.sample_rate, HOP_MS)) for w in self.waves]

    def draw(self, index: Sequence[int], generator: torch.Generator) -> list[torch.Tensor]:
        """The features of the waves ``index``, each at a speed and a warp drawn from ``generator``."""
        u = torch.rand(len(index), generator=generator, dtype=torch.float64).tolist()
        if self.speed_range > 0:
            # s = 1 + R (2u - 1), u ~ U[0, 1), to a step of 0.01
            waves = [speed_perturb(self.waves[i], round(1.0 + self.speed_range * (2.0 * x - 1.0), 2))
                     for i, x in zip(index, u)]
        else:
            waves = [self.variants[i][min(int(x * len(self.variants[i])), len(self.variants[i]) - 1)]
                     for i, x in zip(index, u)]
        warps = vtlp_factors(len(index), self.vtlp, generator).tolist() if self.vtlp > 0 else None
        if self.noise_snr is not None:
            low, high = self.noise_snr
            # SNR = low + (high - low) u, u ~ U[0, 1), per utterance
            snrs = (low + (high - low) * torch.rand(len(index), generator=generator, dtype=torch.float64)).tolist()
            waves = [add_noise(w, snr, generator) for w, snr in zip(waves, snrs)]
        if self.by_speaker is None:
            return features_of(waves, self.sample_rate, self.kind, self.n_mels, self.n_mfcc, warps)
        norm, speakers = self.by_speaker
        return norm.apply(features_of(waves, self.sample_rate, self.kind, self.n_mels, self.n_mfcc, warps,
                                      per_utterance=False), [speakers[i] for i in index])


class Batches:
    """``(features (B, T, F) padded with PAD, targets)`` batches of similar lengths, reshuffled every pass.

    ``feats`` holds one tensor per utterance, or a list of variants of it (the same
    utterance at several speeds: :func:`perturbed_features`), of which each batch
    takes one at random; lengths for bucketing are the first variant's.  Or it is a
    :class:`WaveFeatures`, which makes each batch's features anew from the waves.  Targets
    are class ids ``(B,)`` (words) or token ids ``(B, L)`` padded with 0 (digits).
    With ``augment``, SpecAugment masks (filled with 0, the normalised mean) are
    drawn too; every draw comes from a generator seeded with ``seed``.
    """

    def __init__(self, feats: Sequence[torch.Tensor | Sequence[torch.Tensor]] | WaveFeatures, targets: Any,
                 batch_size: int, shuffle: bool, augment: bool = False, seed: int = 0) -> None:
        self.source = feats if isinstance(feats, WaveFeatures) else None
        self.variants = [] if self.source is not None else [list(f) if isinstance(f, (list, tuple)) else [f]
                                                            for f in feats]
        lengths = self.source.frames() if self.source is not None else [len(v[0]) for v in self.variants]
        self.targets = targets
        self.sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle)
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.sampler)

    def order(self) -> list[list[int]]:
        return list(self.sampler)

    def batch(self, index: Sequence[int]) -> torch.Tensor:
        if self.source is not None:  # features made anew from the waves
            rows = self.source.draw(index, self.generator)
        else:
            picks = [self.variants[i] for i in index]
            if any(len(v) > 1 for v in picks):
                draws = torch.randint(0, 1 << 30, (len(index),), generator=self.generator).tolist()
                rows = [v[k % len(v)] for v, k in zip(picks, draws)]
            else:
                rows = [v[0] for v in picks]
        lengths = [len(r) for r in rows]
        x = torch.full((len(index), max(lengths), rows[0].shape[1]), PAD)
        for row, r in enumerate(rows):
            x[row, : lengths[row]] = r
        if self.augment:
            width = x.shape[2]
            x = spec_augment(x, time_masks=2, time_width=20, freq_masks=2, freq_width=max(1, width // 8), fill=0.0,
                             lengths=lengths, generator=self.generator)
        return x

    def target(self, index: Sequence[int]) -> torch.Tensor:
        if isinstance(self.targets, np.ndarray):
            return torch.from_numpy(self.targets[list(index)])
        rows = [self.targets[i] for i in index]
        y = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
        for row, r in enumerate(rows):
            y[row, : len(r)] = torch.tensor(r, dtype=torch.long)
        return y

    def __iter__(self):
        for index in self.sampler:
            yield self.batch(index), self.target(index)
