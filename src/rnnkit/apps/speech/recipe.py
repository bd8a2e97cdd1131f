"""Recipe of speech recognition: train into a run folder, then transcribe files and draw a demo from it.

``train(config)``:

1. reads the labelled recordings (FSDD, or a folder of label sub-folders) at one
   sample rate and splits them by recording (``--split standard``) or by speaker
   (``--split speaker:NAME``: that speaker is the whole test set); validation is a
   seeded stratified part of the training recordings;
2. ``words``: one example per recording; ``digits``: connected strings of 2-7
   recordings built from each split's own recordings (:func:`.data.build_utterances`);
3. features (MFCC for words and log-mel for digits unless ``--features`` says;
   words normalised by each speaker's statistics over the split's recordings of them
   (:class:`rnnkit.audio.SpeakerNormalizer`), digits per utterance (``--normalise``);
   with ``--gain peak`` of waves scaled to peak 1), the
   training utterances also at 0.9x and 1.1x speed (one drawn per batch; or at a
   speed drawn from ``--speed-range``), each through a mel filterbank warped by a
   factor drawn per batch (VTLP, ``--vtlp``), with white noise at an SNR drawn per
   batch (``--noise-snr``), and SpecAugment on the training batches, a masked
   recurrent model (:mod:`.model`, every ``--stack`` frames one step) trained with Adam:
   cross-entropy on the label (words) or CTC over the frames (digits), the
   learning rate on a cosine; words validate and keep the moving average of the
   weights over the last 3 epochs (``--ema-epochs``); early stopping on the
   validation loss, best weights kept;
4. scores the test set: ``words``, each recording also played at 0.9x and 1.1x speed
   and the log-probabilities averaged (``--test-speeds``; test-time augmentation):
   ``test_accuracy``, ``test_macro_f1``, ``test_confusion`` and ``confusion.png``, and
   ``test_accuracy_own_speed`` (each recording at its own speed only); ``digits``:
   ``test_digit_error_rate`` (edit distance / reference length) and
   ``test_string_error_rate`` for greedy and beam decoding.  The run folder also
   holds ``speech.json`` (task, classes, feature settings, the normalisation and, by
   speaker, the training speakers' pooled statistics that shrink a briefly heard
   speaker's, the test speeds) and ``held_out.npz`` (a few test waves, for ``demo``).

``transcribe(run, files)`` and ``demo(run)`` reopen the run folder and recognise words at the
run's test speeds too.  A run normalised by speaker takes the files transcribed together as
one speaker's; ``serve`` takes each uploaded file as its own speaker (so a file alone leans
on the training statistics).
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from rnnkit.audio import GlobalNormalizer, SpeakerNormalizer, log_mel, peak_normalize, read_audio, speed_perturb
from rnnkit.decoding import ctc_alignment, ctc_beam_decode, ctc_greedy_decode
from rnnkit.errors import ConfigError, DatasetError, RnnkitError
from rnnkit.metrics import classification_report
from rnnkit.optimizers import Adam
from rnnkit.plots import plot_confusion, save_figure
from rnnkit.runs import read_json, write_json
from rnnkit.training.callbacks import SwapEMAWeights
from rnnkit.training.error_rates import token_error_rate
from rnnkit.training.losses import SparseCategoricalCrossentropy

from ..framework import (Fitted, Recipe, ReportSection, classification_sections, cosine_schedule, ema_momentum, open_run,
                         train_run)
from .config import DemoOptions, SpeechConfig, TranscribeOptions, numbers_text
from .data import (DIGIT_WORDS, HOP_MS, WIN_MS, Batches, Recordings, WaveFeatures, build_utterances, features_of,
                   load_recordings, perturbed_features, split_recordings, trimmed)
from .model import TASKS, build_model

__all__ = ["train", "load_run", "transcribe", "Transcript", "transcribe_command", "demo", "demo_command",
           "decode_waves", "read_wave", "RECIPE"]

APP = "speech"
INFO = "speech.json"
HELD_OUT = "held_out.npz"
MIN_SECONDS, SILENT_PEAK = 0.05, 1e-4
#: frames the training speakers' pooled statistics count as beside a speaker's own (--normalise speaker): 1 s.
#: A speaker-normalised model decoding one file normalised by that file alone lost 17-25 points against all 500 of a
#: held-out speaker's files together (two speakers); shrunk toward the pooled statistics by 1 s, one file at a time
#: scored within 2 points of the old per-utterance model on average over three held-out speakers (README)
PRIOR_FRAMES = 100.0


@dataclass
class _Data:
    """The parts of a speech run: features and targets per split, and what describes them."""

    task: str
    classes: list[str]
    feats: dict[str, list[torch.Tensor]]
    targets: dict[str, Any]  # words: class ids (N,); digits: token lists
    waves: dict[str, list[np.ndarray]]
    counts: dict[str, int]
    recordings: dict[str, int]
    test_speakers: list[str]
    prior: dict[str, Any] | None = None  # --normalise speaker: the training speakers' pooled statistics
    test_speaker_of: list[Any] | None = None  # words: each test recording's speaker


def _feats(cfg: SpeechConfig, waves: Sequence[np.ndarray], per_utterance: bool = True) -> list[torch.Tensor]:
    return features_of(waves, cfg.sample_rate, cfg.features, cfg.n_mels, cfg.n_mfcc, per_utterance=per_utterance)


class _Recipe(Recipe):
    """Speech recognition's hooks of :func:`~rnnkit.apps.framework.train_run`."""

    name, config = APP, SpeechConfig
    default_epochs = 30
    history_keys, history_plot = ["loss", "accuracy"], "training.png"
    monitor, mode = "val_loss", "min"  # finer than accuracy, which reaches 100% on FSDD's validation recordings

    def prepare(self, cfg: SpeechConfig, saved: Path | None, print_fn: Callable[[str], None]) -> tuple[SpeechConfig, _Data]:
        cfg = cfg.with_task_defaults()
        self.history_keys = ["loss", "accuracy"] if cfg.task == "words" else ["loss"]  # the curves of training.png
        recs = load_recordings(cfg.data, cfg.sample_rate)
        recs = replace(recs, waves=trimmed(recs.waves, cfg.sample_rate, cfg.trim_db)[0])
        parts = dict(zip(("train", "valid", "test"), split_recordings(recs, cfg.split, cfg.seed, cfg.valid_fraction)))
        subsets: dict[str, Recordings] = {k: recs.subset(v) for k, v in parts.items()}
        index = {c: i for i, c in enumerate(recs.classes)}
        feats, targets, waves = {}, {}, {}
        if cfg.task == "words":
            for name, sub in subsets.items():
                waves[name] = sub.waves
                targets[name] = np.asarray([index[y] for y in sub.labels], dtype=np.int64)
        else:
            sizes = {"train": cfg.utterances, "valid": max(cfg.utterances // 4, 1), "test": max(cfg.utterances // 4, 1)}
            for k, name in enumerate(("train", "valid", "test")):
                utt = build_utterances(subsets[name], sizes[name], cfg.seed + 1000 * (k + 1), peak_db=cfg.string_peak_db)
                waves[name], targets[name] = utt.waves, utt.tokens
        if cfg.gain == "peak":  # every wave at one level: features then do not depend on how loud it was recorded
            waves = {name: [peak_normalize(w) for w in ws] for name, ws in waves.items()}
        by_speaker, prior = {}, None
        if cfg.normalise == "speaker":  # each split's speakers by their own recordings in it, labels unused
            raw = {name: _feats(cfg, ws, per_utterance=False) for name, ws in waves.items()}
            prior = GlobalNormalizer().fit(raw["train"])
            for name, sub in subsets.items():
                by_speaker[name] = (SpeakerNormalizer(prior, PRIOR_FRAMES).fit(raw[name], sub.speakers), sub.speakers)
        for name in waves:  # training utterances at each speed of SPEEDS, one drawn per batch
            if name != "train" or cfg.no_augment:
                feats[name] = by_speaker[name][0].apply(raw[name], subsets[name].speakers) if by_speaker \
                    else _feats(cfg, waves[name])
            elif cfg.vtlp > 0 or cfg.speed_range > 0 or cfg.noise_snr:  # speed, warp, noise drawn for every batch
                feats[name] = WaveFeatures(waves[name], cfg.sample_rate, cfg.features, cfg.n_mels, cfg.n_mfcc,
                                           (1.0, *cfg.speeds), cfg.speed_range, cfg.vtlp,
                                           tuple(cfg.noise_snr) if cfg.noise_snr else None, by_speaker.get(name))
            else:
                feats[name] = perturbed_features(waves[name], cfg.sample_rate, cfg.features, cfg.n_mels, cfg.n_mfcc,
                                                 (1.0, *cfg.speeds), by_speaker.get(name))
        counts = {k: len(v) for k, v in waves.items()}
        waves = {"test": waves["test"]}  # only a few test waves are kept (held_out.npz); the others' memory goes
        test_speakers = sorted({s for s in subsets["test"].speakers if s})
        what = "recordings" if cfg.task == "words" else "digit strings"
        print_fn(f"speech: {cfg.data}: {counts['train']:,} training, {counts['valid']:,} validation and "
                 f"{counts['test']:,} test {what} ({cfg.split} split; from {len(parts['train'])}/{len(parts['valid'])}/"
                 f"{len(parts['test'])} recordings); {len(recs.classes)} classes; {cfg.features} features")
        return cfg, _Data(cfg.task, list(recs.classes), feats, targets, waves, counts,
                          {k: len(v) for k, v in parts.items()}, test_speakers, prior and prior.get_config(),
                          subsets["test"].speakers if cfg.task == "words" else None)

    def save_data(self, run: Path, cfg: SpeechConfig, data: _Data) -> None:
        write_json(run / INFO, {"task": data.task, "classes": data.classes, "sample_rate": cfg.sample_rate,
                                "features": cfg.features, "n_mels": cfg.n_mels, "n_mfcc": cfg.n_mfcc,
                                "trim_db": cfg.trim_db,
                                "win_ms": WIN_MS, "hop_ms": HOP_MS, "stack": cfg.stack, "normalisation": cfg.normalise,
                                "speaker_prior": data.prior, "prior_frames": PRIOR_FRAMES,
                                "gain": cfg.gain, "test_speeds": cfg.test_speeds,
                                "test_speakers": data.test_speakers})
        n = len(data.waves["test"])  # 8 test utterances drawn at random (the test set is ordered by label)
        picks = np.random.default_rng(cfg.seed).choice(n, size=min(8, n), replace=False)
        speakers = {} if data.test_speaker_of is None else {  # words: whose each is, for --normalise speaker
            "speakers": json.dumps([data.test_speaker_of[k] for k in picks])}
        np.savez_compressed(run / HELD_OUT, **{f"wave{i}": data.waves["test"][k] for i, k in enumerate(picks)},
                            tokens=json.dumps([_as_list(data.targets["test"][k]) for k in picks]), **speakers)

    def build(self, cfg: SpeechConfig, data: _Data) -> Any:
        model = build_model(cfg.model, cfg.task, len(data.classes), units=cfg.units, layers=cfg.layers,
                            dropout=cfg.dropout, filters=cfg.filters, stack=cfg.stack)
        ema = dict(use_ema=True, ema_momentum=ema_momentum(cfg.ema_epochs, data.counts["train"], cfg.batch_size)) \
            if cfg.ema_epochs else {}
        if cfg.task == "words":
            model.compile(optimizer=Adam(learning_rate=cfg.learning_rate, **ema),
                          loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                          clipnorm=cfg.clipnorm)
        else:
            model.compile(optimizer=Adam(learning_rate=cfg.learning_rate, **ema), loss="ctc", clipnorm=cfg.clipnorm)
        model(data.feats["valid"][0][None])  # build the layers whose input sizes are inferred
        return model

    def describe(self, cfg: SpeechConfig, data: _Data, parameters: int, run: Path) -> str:
        return (f"speech: {cfg.task} {cfg.model} ({cfg.layers} x {cfg.units} units), {parameters:,} parameters; "
                f"run folder {run}")

    def fit_data(self, cfg: SpeechConfig, data: _Data) -> dict[str, Any]:
        return dict(x=Batches(data.feats["train"], data.targets["train"], cfg.batch_size, shuffle=True,
                              augment=not cfg.no_augment, seed=cfg.seed),
                    shuffle=False, validation_data=Batches(data.feats["valid"], data.targets["valid"], 64, shuffle=False))

    def schedule(self, cfg: SpeechConfig) -> Callable[[float, int], float]:
        return cosine_schedule(cfg.learning_rate)

    def patience(self, cfg: SpeechConfig) -> int:
        return cfg.patience

    def callbacks(self, cfg: SpeechConfig, data: _Data, print_fn: Callable[[str], None]) -> list:
        # the moving average swapped in for validation and from each epoch's end: the checkpoints keep it
        return [SwapEMAWeights(swap_on_epoch=True)] if cfg.ema_epochs else []

    def progress_lines(self, cfg: SpeechConfig) -> bool:
        return False

    def evaluate(self, cfg: SpeechConfig, data: _Data, fitted: Fitted, print_fn: Callable[[str], None]) -> dict[str, Any]:
        run, model = fitted.run, fitted.model
        history = model.history.history
        common = {"task": cfg.task, "split": cfg.split, "test_speakers": data.test_speakers, **fitted.figures(),
                  "examples": data.counts, "recordings": data.recordings}
        if cfg.task == "words":
            info = read_json(run / INFO)  # as transcribe reads it
            logp = _word_log_probs(model, info, data.waves["test"], data.test_speaker_of)  # (S, N, C)
            report = classification_report(data.targets["test"], logp.mean(dim=0).argmax(dim=1).numpy(),
                                           data.classes)
            # the model at each recording's own speed alone, as the features validation saw (no test-time speeds)
            own = np.stack([z.numpy() for z, _ in _outputs(model, data.feats["test"])]).argmax(axis=1)
            own_acc = float(np.mean(own == data.targets["test"]))
            valid_acc = history["val_accuracy"][fitted.best_epoch]  # the kept epoch's
            plot_confusion(run / "confusion.png", report["confusion"], data.classes,
                           title=f"{cfg.data} ({cfg.split}): accuracy {report['accuracy']:.1%}")
            print_fn(f"speech: test accuracy {report['accuracy']:.2%} (speeds {numbers_text(cfg.test_speeds)}; at "
                     f"their own speed only {own_acc:.2%}), macro F1 {report['macro_f1']:.4f} (validation "
                     f"{valid_acc:.2%}) after {fitted.train_seconds:.0f} s of training; run folder {run}")
            return {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
                    "test_per_class": report["per_class"], "test_confusion": report["confusion"],
                    "test_accuracy_own_speed": own_acc, "val_accuracy": valid_acc, **common}
        refs = [list(t) for t in data.targets["test"]]
        outs = _outputs(model, data.feats["test"])
        greedy = [ctc_greedy_decode(z[None])[0][0] for z, _ in outs]
        beam = [ctc_beam_decode(z[None], beam_width=8, prune=math.log(1e-3))[0][0] for z, _ in outs]
        figures = {}
        for name, hyps in (("greedy", greedy), ("beam", beam)):
            figures[name] = (token_error_rate(refs, hyps), float(np.mean([h != r for h, r in zip(hyps, refs)])))
        print_fn(f"speech: test digit error rate {figures['greedy'][0]:.2%} (beam {figures['beam'][0]:.2%}), string "
                 f"error rate {figures['greedy'][1]:.2%} (beam {figures['beam'][1]:.2%}) after "
                 f"{fitted.train_seconds:.0f} s of training; run folder {run}")
        return {"test_digit_error_rate": figures["greedy"][0], "test_string_error_rate": figures["greedy"][1],
                "test_digit_error_rate_beam": figures["beam"][0], "test_string_error_rate_beam": figures["beam"][1],
                "val_loss": history["val_loss"][fitted.best_epoch], **common}

    def title(self, cfg: SpeechConfig) -> str:
        return f"{cfg.data} {cfg.task}: {cfg.model}"

    def report_sections(self, run: Path, metrics: dict[str, Any]) -> list[ReportSection]:
        """Words: the confusion matrix; digits: the error rates; both: the held-out utterances transcribed."""
        model, info, _ = load_run(run)
        sections = []
        if info["task"] == "words":
            sections += classification_sections(metrics, info["classes"], "confusion.png")
        elif "test_digit_error_rate" in metrics:
            sections.append(ReportSection("Error rates", "Edit distance over the reference length (digits), and the "
                                          "share of strings with any error, on the test digit strings.",
                                          table=[["test", "greedy", "beam"],
                                                 ["digit error rate", metrics["test_digit_error_rate"],
                                                  metrics.get("test_digit_error_rate_beam")],
                                                 ["string error rate", metrics["test_string_error_rate"],
                                                  metrics.get("test_string_error_rate_beam")]]))
        if (run / HELD_OUT).is_file():
            waves, truth, speakers = _held_out(run / HELD_OUT)
            results = decode_waves(model, info, waves, [f"held-out {i + 1}" for i in range(len(waves))],
                                   speakers=speakers)
            classes, words = info["classes"], info["task"] == "words"
            rows = [[t.file, t.text(), " ".join(classes[k] if words else classes[k - 1] for k in ref),
                     "yes" if t.tokens == [classes[k] if words else classes[k - 1] for k in ref] else "no"]
                    for t, ref in zip(results, truth)]
            sections.append(ReportSection("Transcriptions", f"The {len(rows)} held-out test utterances kept in "
                                          f"{HELD_OUT}, recognised by the best model (greedy).",
                                          table=[["utterance", "recognised", "true", "right"], *rows]))
        return sections


def _as_list(target: Any) -> list[int]:
    return [int(t) for t in np.atleast_1d(target)]


@torch.inference_mode()
def _outputs(model: torch.nn.Module, feats: list[torch.Tensor], batch_size: int = 64) -> list[tuple[torch.Tensor, int]]:
    """Per utterance, in order: the model's logits (``(classes,)``, or ``(steps, classes)`` cut to the utterance's
    steps, one per ``stack`` frames) and its number of steps."""
    model.eval()
    batches = Batches(feats, None, batch_size, shuffle=False)
    out: list[Any] = [None] * len(feats)
    for index in batches.order():
        y, mask = model.forward_with_mask(batches.batch(index))
        if y.dim() == 2:  # words: (B, C), pooled over the real steps
            for row, i in enumerate(index):
                out[i] = (y[row].float(), 1)
            continue
        steps = mask.sum(dim=1).tolist()  # (B,) real steps of each utterance
        for row, i in enumerate(index):
            n = int(steps[row])
            out[i] = (y[row, :n].float(), n)
    return out


RECIPE = _Recipe()


def train(config: SpeechConfig | None = None, *, print_fn: Callable[[str], None] = print, verbose: int = 1,
          **settings: Any) -> dict[str, Any]:
    """Train a speech recogniser; returns the final metrics (also written to ``metrics.json``).

    ``settings`` replace fields of ``config`` (``train(data="clips/", task="words", epochs=3)``).
    """
    return train_run(RECIPE, SpeechConfig.of(config, **settings), print_fn=print_fn, verbose=verbose)


# ---------------------------------------------------------------- using a run
def load_run(run: str | Path) -> tuple[torch.nn.Module, dict[str, Any], SpeechConfig]:
    """The best model of a run folder, its ``speech.json`` (task, classes, feature settings) and its settings."""
    model, cfg, run = open_run(run, RECIPE, needs=(INFO,))
    info = read_json(run / INFO, {"task": str, "classes": list, "sample_rate": int, "features": str, "n_mels": int,
                                  "n_mfcc": int, "hop_ms": (int, float), "stack": int})
    if info["task"] not in TASKS or not all(isinstance(c, str) for c in info["classes"]):
        raise ConfigError(f"{run / INFO}: task {info['task']!r:.40} or classes {info['classes']!r:.80} are not a "
                          "speech run's; the file is damaged (restore it or train the run again)")
    if info.get("normalisation") == "speaker":  # the statistics a briefly heard speaker's are shrunk toward
        try:
            prior = GlobalNormalizer.from_config(info.get("speaker_prior"))
            frames = float(info.get("prior_frames"))
            usable = prior.fitted and math.isfinite(frames) and frames >= 0
        except (ConfigError, TypeError, ValueError):
            usable = False
        if not usable:
            raise ConfigError(f"{run / INFO}: a run normalised by speaker needs its speaker_prior statistics and "
                              "prior_frames; the file is damaged (restore it or train the run again)")
    speeds = info.get("test_speeds", [1.0])
    if not (isinstance(speeds, list) and speeds and all(isinstance(f, (int, float)) and not isinstance(f, bool)
                                                         and 0.5 <= f <= 2.0 for f in speeds)):
        raise ConfigError(f"{run / INFO}: test_speeds must be a list of speeds in [0.5, 2], got {speeds!r:.80}; the "
                          "file is damaged (restore it or train the run again)")
    return model, info, cfg


@dataclass
class Transcript:
    """One file's result: its tokens (class names), per-token spans in seconds (digits runs), or its error."""

    file: str
    tokens: list[str]
    spans: list[tuple[float, float]] | None = None
    probability: float | None = None
    error: str | None = None

    def text(self, words: bool = False) -> str:
        return " ".join(_word(t) if words else t for t in self.tokens)


def _word(token: str) -> str:
    return DIGIT_WORDS[int(token)] if token.isdigit() and len(token) == 1 else token


def read_wave(source: Any, rate: int, name: str | None = None) -> np.ndarray:
    """The wave of an audio file (a path, its bytes or a binary file) at ``rate``; refuses one too short or silent,
    naming it (``name``, default the path)."""
    wave, _ = read_audio(source, rate)
    name = name or str(source)
    if len(wave) < MIN_SECONDS * rate:
        raise DatasetError(f"{name}: too short ({len(wave) / rate * 1000:.0f} ms); give at least "
                           f"{MIN_SECONDS * 1000:.0f} ms of speech")
    if float(np.abs(wave).max()) < SILENT_PEAK:
        raise DatasetError(f"{name}: silent (peak {float(np.abs(wave).max()):.1e}); nothing to transcribe")
    return wave


def _speed_features(info: dict[str, Any], waves: Sequence[np.ndarray], speakers: Sequence[Any] | None,
                    speeds: Sequence[float]) -> list[list[torch.Tensor]]:
    """Per speed of ``speeds``, the features of ``waves`` (trimmed and levelled as the run's) played at that speed
    (:func:`rnnkit.audio.speed_perturb`), normalised as the run's were: per utterance, or by the statistics of each
    speaker's unperturbed waves (``speakers``; None: all one speaker's), shrunk toward the training speakers', as
    training normalised its perturbed recordings."""
    by_speaker = info.get("normalisation") == "speaker"

    def feats(ws: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return features_of(ws, info["sample_rate"], info["features"], info["n_mels"], info["n_mfcc"],
                           per_utterance=not by_speaker)

    clean = feats(waves)
    out = [clean if f == 1.0 else feats([speed_perturb(w, f) for w in waves]) for f in speeds]
    if by_speaker:  # each speaker's statistics over their waves here, shrunk toward the training speakers'
        groups = [None] * len(waves) if speakers is None else list(speakers)
        norm = SpeakerNormalizer(GlobalNormalizer.from_config(info["speaker_prior"]), info["prior_frames"])
        norm.fit(clean, groups)
        out = [norm.apply(f, groups) for f in out]
    return out


def _word_log_probs(model: torch.nn.Module, info: dict[str, Any], waves: Sequence[np.ndarray],
                    speakers: Sequence[Any] | None) -> torch.Tensor:
    """``(S, N, C)``: a words model's log-probabilities of each of ``waves`` (trimmed and levelled as the run's) played
    at each of the run's ``test_speeds`` (runs before them: 1 only).  Their mean over S is the recognised
    distribution (test-time augmentation); the speeds go through the model as one set of batches."""
    speeds = info.get("test_speeds", [1.0])
    feats = [f for per_speed in _speed_features(info, waves, speakers, speeds) for f in per_speed]
    logits = torch.stack([z for z, _ in _outputs(model, feats)])  # (S N, C)
    return torch.log_softmax(logits, -1).reshape(len(speeds), len(waves), -1)


def decode_waves(model: torch.nn.Module, info: dict[str, Any], waves: list[np.ndarray], names: list[str],
                 beam: int = 1, speakers: Sequence[Any] | None = None) -> list[Transcript]:
    """The transcripts of ``waves`` (at the run's sample rate) with a run's model and ``speech.json``
    (:func:`load_run`): words recognised at each of the run's test speeds, their log-probabilities averaged; digits
    by greedy CTC decoding with ``beam=1``, else prefix beam search.  A run normalised by speaker takes each wave's
    speaker from ``speakers`` (default None: all the waves are one speaker's)."""
    whole = waves
    # as the run's training waves (runs before these settings: whole, as recorded)
    waves, starts = trimmed(waves, info["sample_rate"], info.get("trim_db", 0.0))
    if info.get("gain", "none") == "peak":
        waves = [peak_normalize(w) for w in waves]
    if info["task"] == "words":
        logp = _word_log_probs(model, info, waves, speakers).mean(dim=0)  # (N, C), over the test speeds
        probs = torch.softmax(logp, -1)
        return [Transcript(name, [info["classes"][int(p.argmax())]], probability=float(p.max()))
                for p, name in zip(probs, names)]
    (cfg_feats,) = _speed_features(info, waves, speakers, (1.0,))
    classes, hop = info["classes"], info["hop_ms"] * info.get("stack", 1) / 1000  # seconds per model step
    out = []
    for (z, n), wave, start, name in zip(_outputs(model, cfg_feats), whole, starts, names):
        tokens = (ctc_greedy_decode(z[None])[0][0] if beam == 1 else ctc_beam_decode(z[None], beam_width=beam)[0][0])
        duration, offset = len(wave) / info["sample_rate"], start / info["sample_rate"]  # seconds of the whole file
        spans = []
        if tokens:
            for _, first, end in ctc_alignment(z[None], [tokens])[0][0]:
                spans.append((round(offset + first * hop, 3), round(min(offset + end * hop, duration), 3)))
        out.append(Transcript(name, [classes[t - 1] for t in tokens], spans))
    return out


def transcribe(run: str | Path, files: Sequence[Any], *, beam: int = 1) -> list[Transcript]:
    """Each file's transcript with the best model of ``run``; a file that cannot be read (not audio, empty,
    silent, too short) gets its ``error`` and the others are still transcribed."""
    model, info, _ = load_run(run)
    results: list[Transcript | None] = [None] * len(files)
    good, waves = [], []
    for i, f in enumerate(files):
        try:
            waves.append(read_wave(f, info["sample_rate"]))
            good.append(i)
        except RnnkitError as exc:
            results[i] = Transcript(str(f), [], error=str(exc))
    for i, t in zip(good, decode_waves(model, info, waves, [str(files[i]) for i in good], beam)):
        results[i] = t
    return results  # type: ignore[return-value]


def transcribe_command(options: TranscribeOptions, print_fn: Callable[[str], None] = print) -> list[Transcript]:
    """``rnnkit speech transcribe``: ``file: 7 3 9`` per file (or JSON lines); errors one line each, exit code 2."""
    import sys

    if not options.files:
        raise ConfigError("nothing to transcribe: give audio files (rnnkit speech transcribe --run R a.wav b.wav)")
    results = transcribe(options.run, options.files, beam=options.beam)
    for t in results:
        if t.error:
            if options.json:
                print_fn(json.dumps({"file": t.file, "error": t.error}, ensure_ascii=False))
            print(f"rnnkit: error: {t.error}", file=sys.stderr)
        elif options.json:
            row: dict[str, Any] = {"file": t.file, "text": t.text(options.words), "tokens": t.tokens}
            if t.spans is not None:
                row["spans"] = [{"token": tok, "start": s, "end": e} for tok, (s, e) in zip(t.tokens, t.spans)]
            if t.probability is not None:
                row["probability"] = round(t.probability, 4)
            print_fn(json.dumps(row, ensure_ascii=False))
        else:
            print_fn(f"{t.file}: {t.text(options.words)}")
    failed = sum(1 for t in results if t.error)
    if failed:
        raise DatasetError(f"{failed} of {len(results)} files could not be transcribed (see above)")
    return results


def _held_out(path: Path) -> tuple[list[np.ndarray], list[list[int]], list[Any] | None]:
    """The waves kept in ``held_out.npz``, their targets (class ids; digits: ids from 1) and their speakers (words;
    None for digits and for runs saved before they were kept)."""
    try:
        with np.load(path) as held:
            waves = [held[k] for k in sorted((k for k in held.files if k.startswith("wave")), key=lambda k: int(k[4:]))]
            speakers = json.loads(str(held["speakers"])) if "speakers" in held.files else None
            return waves, json.loads(str(held["tokens"])), speakers
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a damaged file, not a bug
        raise ConfigError(f"{path} cannot be read ({type(exc).__name__}: {exc}); it is damaged (train the run "
                          "again)") from None


def demo(run: str | Path, out: str | Path = "demo.png", count: int = 3) -> tuple[Path, list[Transcript]]:
    """Transcribe up to ``count`` held-out utterances of ``run`` and draw their log-mel spectrograms into ``out``,
    the recognised digits written over the frames CTC placed them on (a words run: the label as the title)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: give a .png file name")
    model, info, _ = load_run(run)
    path = Path(run) / HELD_OUT
    if not path.exists():
        raise ConfigError(f"--run {run} has no {HELD_OUT}; it was not written by `rnnkit speech train`")
    waves, truth, speakers = _held_out(path)
    waves, truth, speakers = waves[:count], truth[:count], speakers and speakers[:count]
    results = decode_waves(model, info, waves, [f"held-out {i + 1}" for i in range(len(waves))], speakers=speakers)
    rate, hop = info["sample_rate"], info["hop_ms"] / 1000
    fig = Figure(figsize=(7.0, 2.2 * len(waves)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(waves), 1, sharex=True, squeeze=False)[:, 0]
    classes = info["classes"]
    for ax, wave, t, ref in zip(axes, waves, results, truth):
        spec = log_mel(torch.from_numpy(wave), rate, n_mels=info["n_mels"]).numpy().T  # (mels, frames)
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, spec.shape[1] * hop, 0, spec.shape[0]))
        ax.set_ylabel("mel band")
        if info["task"] == "words":
            ax.set_title(f"predicted {t.tokens[0]} ({t.probability:.0%}); true {classes[ref[0]]}")
            continue
        for tok, (s, e) in zip(t.tokens, t.spans or []):
            ax.axvspan(s, max(e, s + hop), color="white", alpha=0.25)
            ax.text((s + e) / 2, spec.shape[0] * 0.85, tok, color="white", ha="center", fontsize=14, weight="bold")
        ax.set_title(f"recognised {t.text()}   (true {' '.join(classes[k - 1] for k in ref)})")
    axes[-1].set_xlabel("seconds")
    save_figure(fig, out)  # atomically: a full disk leaves the old file, not half a PNG
    return out, results


def demo_command(options: DemoOptions, print_fn: Callable[[str], None] = print) -> Path:
    """``rnnkit speech demo``: ``demo.png`` and a line per utterance shown."""
    path, results = demo(options.run, options.out, options.count)
    for t in results:
        print_fn(f"{t.file}: {t.text()}")
    print_fn(f"speech: demo written to {path}")
    return path
