"""Settings of speech recognition: the training config (``config.json``) and the options of transcribe and demo.

>>> SpeechConfig(split="speaker:").split
Traceback (most recent call last):
rnnkit.errors.ConfigError: `split` must be standard or speaker:NAME, got 'speaker:'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnkit.errors import ConfigError
from rnnkit.runs import parse_duration

from ..framework import AppConfig, TrainConfig, setting
from .model import MODELS, TASKS

__all__ = ["SpeechConfig", "TranscribeOptions", "DemoOptions", "TASK_DEFAULTS"]

#: features, frame stacking, continuous speed range, VTLP and noise of each task where the config leaves them
#: out; measured on FSDD (benchmarks/speech.py): MFCC held words' test recordings better than log-mel
#: (99.0% against 97.7%), connected digits learn well from log-mel at 30 ms steps; speeds drawn from
#: [0.85, 1.15] with VTLP 0.1 moved the held-out-speaker mean by +0.8 points in single 3-minute runs
#: (README), within their spread, so neither is a default; noise at 10-40 dB SNR raised the mean over the
#: four hardest held-out speakers from 77.3% to 81.2% over three seeds (each seed's mean rose) and kept the
#: standard split at 99.3%; digits were not measured with it; trimming silence (40 dB) moved the six held-out
#: speakers' mean by +0.4 points in one seed, within its spread, so it is off; normalising words by each
#: speaker's statistics instead of each utterance's raised the four hardest held-out speakers by 6.4 points over two
#: seeds (with the moving average of the weights over 3 epochs, itself worth 1.7-3.8 there), README; digit
#: strings join several speakers' recordings, so they stay normalised per utterance and were not measured with the
#: average; recognising each word at 0.9, 1 and 1.1 times its speed and averaging the log-probabilities raised the
#: same models' six held-out speakers' mean from 91.3% to 93.2% (AVX-512) and from 92.2% to 93.2% (AVX2 only), README;
#: a digit string's CTC steps at other speeds do not line up, so digits are recognised at their own speed only
TASK_DEFAULTS = {"words": {"features": "mfcc", "stack": 2, "speed_range": 0.0, "vtlp": 0.0, "noise_snr": [10.0, 40.0],
                           "trim_db": 0.0, "normalise": "speaker", "ema_epochs": 3.0, "test_speeds": [0.9, 1.0, 1.1]},
                 "digits": {"features": "logmel", "stack": 3, "speed_range": 0.0, "vtlp": 0.0, "noise_snr": [],
                            "trim_db": 0.0, "normalise": "utterance", "ema_epochs": 0.0, "test_speeds": [1.0]}}


def numbers_text(values: list[float]) -> str:
    """A list of numbers as the CLI takes it: ``[0.9, 1.0, 1.1]`` -> ``'0.9,1,1.1'``."""
    return ",".join(f"{x:g}" for x in values)


def _snr_text(snr: list[float]) -> str:
    return numbers_text(snr) or "off"


def _task_defaults(key: str, text: Any = "{:g}".format) -> str:
    """The help's "default ..." for a setting that each task defaults in :data:`TASK_DEFAULTS`.

    >>> _task_defaults("stack"), _task_defaults("vtlp")
    ('default 2 for words, 3 for digits', 'default 0')
    """
    shown = {task: text(defaults[key]) for task, defaults in TASK_DEFAULTS.items()}
    if len(set(shown.values())) == 1:
        return f"default {next(iter(shown.values()))}"
    return "default " + ", ".join(f"{value} for {task}" for task, value in shown.items())


def parse_snr_range(text: str) -> list[float]:
    """``--noise-snr`` as given: ``'10,40'`` -> ``[10.0, 40.0]``; ``'off'`` -> ``[]`` (no noise).

    >>> parse_snr_range("10, 40"), parse_snr_range("off")
    ([10.0, 40.0], [])
    """
    if text.strip().lower() in ("off", "none", ""):
        return []
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--noise-snr must be LOW,HIGH in dB (e.g. 10,40) or off, got {text!r}") from None


@dataclass
class SpeechConfig(TrainConfig):
    """Every setting of a speech run (saved as the run's ``config.json``)."""

    data: str = setting("fsdd", help="fsdd, or a folder with one sub-folder of audio files per label")
    task: str = setting("words", help="words: one label per recording; digits: connected digit strings (CTC)",
                        choices=TASKS)
    split: str = setting("standard", help="standard (FSDD: recordings 0-4 test; a folder: 10% test) or "
                                          "speaker:NAME (that speaker is the whole test set)")
    features: str | None = setting(None, help="mfcc or logmel (--n-mels bands) "
                                              f"({_task_defaults('features', str)})", choices=("logmel", "mfcc"))
    normalise: str | None = setting(None, help="features scaled to zero mean and unit variance per utterance, or by "
                                               "each speaker's statistics over all their recordings (speaker: words "
                                               "only; transcribing takes the files given together as one speaker's, "
                                               "shrunk toward the training speakers' statistics by 1 s of frames) ("
                                               f"{_task_defaults('normalise', str)})", choices=("utterance", "speaker"))
    trim_db: float | None = setting(None, help="leading and trailing silence cut from every recording (and file "
                                              "transcribed) before its features: 25 ms frames more than DB below the "
                                              f"loudest (0: off; {_task_defaults('trim_db')})", min=0, flag="--trim")
    gain: str = setting("none", help="peak: each recording scaled to peak 1 before its features, so that they do not "
                                     "depend on the recording level; none: as recorded", choices=("peak", "none"))
    n_mels: int = setting(40, help="mel bands", min=1)
    n_mfcc: int = setting(13, help="MFCC coefficients (with --features mfcc)", min=1)
    sample_rate: int = setting(8000, help="audio is resampled to this rate (Hz)", min=1000)
    model: str = setting("bilstm", help="the recogniser", choices=MODELS)
    units: int = setting(128, help="units per recurrent layer (and direction)", min=1)
    layers: int = setting(2, help="recurrent layers", min=1)
    filters: int = setting(64, help="Conv1D filters of cnn-bilstm", min=1)
    stack: int | None = setting(None, help="10 ms frames joined into one recurrent step: fewer, wider steps "
                                           f"({_task_defaults('stack')})", min=1, max=8)
    dropout: float = setting(0.2, help="dropout rate", min=0, lt=1)
    speeds: list[float] = setting([0.9, 1.1], help="speed perturbation: training recordings also played at these "
                                                   "speeds (comma-separated, each in [0.5, 2])")
    speed_range: float | None = setting(None, help="continuous speed perturbation: each training utterance of each "
                                                  "batch played at a speed drawn from [1-R, 1+R] instead of --speeds "
                                                  f"(0: off; {_task_defaults('speed_range')})", min=0, max=0.5)
    vtlp: float | None = setting(None, help="vocal tract length perturbation: each training utterance of each batch "
                                           "through a mel filterbank warped by a factor drawn from [1-V, 1+V] "
                                           f"(0: off; {_task_defaults('vtlp')})", min=0, max=0.5)
    noise_snr: list[float] | None = setting(None, help="noise augmentation: white noise added to each training "
                                                       "utterance of each batch at an SNR drawn from [LOW, HIGH] dB; "
                                                       f"off: none ({_task_defaults('noise_snr', _snr_text)})",
                                            parse=parse_snr_range)
    test_speeds: list[float] | None = setting(None, help="test-time augmentation (words): each recording also "
                                                        "recognised played at these speeds, the log-probabilities "
                                                        "averaged (comma-separated, each in [0.5, 2]; 1: off; "
                                                        f"{_task_defaults('test_speeds', numbers_text)})")
    no_augment: bool = setting(False, help="no speed perturbation, VTLP, noise or SpecAugment of training data")
    utterances: int = setting(4000, help="digits: training strings built (validation and test: a quarter each)",
                              min=10)
    #: digits: the peak (dBFS) each recording is scaled to before its gain in a string (:func:`.data.build_utterances`;
    #: None, as in runs saved before it: as recorded)
    string_peak_db: float | None = setting(-12.0, cli=False, max=0)
    epochs: int | None = setting(None, help="at most this many epochs (default 30)", min=1, group="budget")
    time_budget: float | None = setting(None, help="training time, e.g. 90s, 10m (validation not counted)", gt=0,
                                        group="budget", parse=parse_duration)
    batch_size: int = setting(32, help="utterances per batch", min=1)
    learning_rate: float = setting(2e-3, help="Adam's learning rate at the start (a cosine down to a tenth of it)",
                                   gt=0, flag="--lr")
    clipnorm: float = setting(1.0, help="gradient norm clip", gt=0)
    ema_epochs: float | None = setting(None, help="validate and keep the moving average of the weights over about "
                                                  f"the last N epochs (0: off; {_task_defaults('ema_epochs')})",
                                       min=0)
    patience: int = setting(10, help="early stopping: epochs without a lower validation loss", min=1)
    valid_fraction: float = setting(0.1, help="training recordings held out for early stopping", gt=0, lt=1)
    seed: int = setting(0, help="seed of every generator (splits, digit strings, weights)")
    out: str | None = setting(None, help="run folder (default runs/speech-<time>)")

    def with_task_defaults(self) -> "SpeechConfig":
        """This config with the task's features, stacking, speed range, VTLP and noise where they are not given
        (:data:`TASK_DEFAULTS`)."""
        defaults = TASK_DEFAULTS[self.task]
        self.features = self.features or defaults["features"]
        self.stack = self.stack or defaults["stack"]
        self.speed_range = defaults["speed_range"] if self.speed_range is None else self.speed_range
        self.vtlp = defaults["vtlp"] if self.vtlp is None else self.vtlp
        self.noise_snr = list(defaults["noise_snr"]) if self.noise_snr is None else self.noise_snr
        self.trim_db = defaults["trim_db"] if self.trim_db is None else self.trim_db
        self.test_speeds = list(defaults["test_speeds"]) if self.test_speeds is None else self.test_speeds
        self.normalise = self.normalise or defaults["normalise"]
        self.ema_epochs = defaults["ema_epochs"] if self.ema_epochs is None else self.ema_epochs
        return self

    @classmethod
    def from_dict(cls, data: Any) -> "SpeechConfig":
        """The config of a run folder; a run saved before ``noise_snr``, ``trim_db``, ``string_peak_db``,
        ``normalise``, ``ema_epochs`` or ``test_speeds`` existed trained without noise, with its recordings whole or
        as recorded, normalised per utterance and without the average, recognised at their own speed, and resumes
        so."""
        cfg = super().from_dict(data)
        if "noise_snr" not in data:
            cfg.noise_snr = []
        if "trim_db" not in data:
            cfg.trim_db = 0.0
        if "string_peak_db" not in data:
            cfg.string_peak_db = None
        if "normalise" not in data:
            cfg.normalise = "utterance"
        if "ema_epochs" not in data:
            cfg.ema_epochs = 0.0
        if "test_speeds" not in data:
            cfg.test_speeds = [1.0]
        return cfg

    def validate(self) -> None:
        if self.split != "standard" and not (self.split.startswith("speaker:") and len(self.split) > len("speaker:")):
            raise ConfigError(f"{self.option('split')} must be standard or speaker:NAME, got {self.split!r}")
        if any(not 0.5 <= f <= 2.0 for f in self.speeds):
            raise ConfigError(f"{self.option('speeds')} must each be in [0.5, 2] (0.9,1.1 is usual), got {self.speeds}")
        if self.test_speeds is not None and (not self.test_speeds
                                             or any(not 0.5 <= f <= 2.0 for f in self.test_speeds)):
            raise ConfigError(f"{self.option('test_speeds')} must be one or more speeds, each in [0.5, 2] (0.9,1,1.1 "
                              f"is usual; 1 for none), got {self.test_speeds}")
        if self.task == "digits" and self.test_speeds not in (None, [1.0]):
            raise ConfigError(f"{self.option('test_speeds')} is for words: a digit string's CTC steps at other speeds "
                              f"do not line up; leave it out (or give 1) for --task digits")
        if self.noise_snr and (len(self.noise_snr) != 2 or self.noise_snr[0] > self.noise_snr[1]):
            raise ConfigError(f"{self.option('noise_snr')} must be two numbers LOW,HIGH in dB with LOW <= HIGH "
                              f"(10,40 is usual), got {self.noise_snr}")
        if self.task == "digits" and self.normalise == "speaker":
            raise ConfigError(f"{self.option('normalise')} speaker is for words: a digit string joins several "
                              f"speakers' recordings; use {self.option('normalise')} utterance or leave it out")
        if self.n_mfcc > self.n_mels:
            raise ConfigError(f"{self.option('n_mfcc')} must be at most {self.option('n_mels')} = {self.n_mels}, "
                              f"got {self.n_mfcc}")


@dataclass
class TranscribeOptions(AppConfig):
    """The options of ``rnnkit speech transcribe``."""

    run: str = setting("", help="a run folder written by `rnnkit speech train`")
    files: list[str] = setting([], help="audio files to transcribe (a run normalised by speaker, words' default, "
                                        "takes them as one speaker's: give several of one speaker together)",
                               positional=True)
    words: bool = setting(False, help="digits as words (seven three nine)")
    json: bool = setting(False, help="one JSON object per file, with per-token time spans (digits runs)")
    beam: int = setting(1, help="CTC beam width (1: greedy best path)", min=1)

    def validate(self) -> None:
        self.need_run("speech")


@dataclass
class DemoOptions(AppConfig):
    """The options of ``rnnkit speech demo``."""

    run: str = setting("", help="a run folder written by `rnnkit speech train`")
    out: str = setting("demo.png", help="the picture to write")
    count: int = setting(3, help="held-out utterances shown", min=1, max=8)

    def validate(self) -> None:
        self.need_run("speech")
