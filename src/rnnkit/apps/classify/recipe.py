"""Recipe of text classification: train into a run folder, then predict and evaluate from it.

``train(config)``:

1. reads the labelled texts (a registered dataset, or a CSV/TSV/JSONL file or a
   folder of label sub-folders) and splits them: a stratified ``valid_fraction`` of
   the training texts for early stopping; the test split is the dataset's own
   (IMDB test, SST-2 dev), ``--test-data PATH``, or a stratified ``test_fraction``;
2. builds the vocabulary from the training texts only (at most ``vocab`` ids, 0 =
   padding, 1 = unknown; words seen fewer than ``min_freq`` times are left out, so the
   unknown-word vector is trained on them and means something for unseen words), and cuts texts longer than ``max_len`` tokens to their last
   ``max_len`` (Keras' ``pad_sequences`` default, ``truncating='pre'``: a review's
   verdict tends to come at its end), reporting how many were cut;
3. trains with batches of similar lengths (:class:`rnnkit.data.BucketBatchSampler`,
   padding masked), Adam, gradient clipping, early stopping on validation accuracy
   (best weights kept), within ``epochs`` or a ``time_budget``;
4. scores the best weights on the test split and writes the run folder:
   ``config.json``, ``vocab.json``, ``classes.json``, ``metrics.csv`` (per epoch),
   ``metrics.json`` (``test_accuracy``, ``test_macro_f1``, ``test_per_class``, ...),
   ``training.png``, ``confusion.png``, ``mistakes.csv`` (the 20 most confident
   wrong predictions) and ``model.safetensors``.

``predict(run, texts)`` and ``evaluate(run, path)`` rebuild the model from the folder.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

import rnnkit
from rnnkit.data import BucketBatchSampler, Vocab, tokenize
from rnnkit.errors import ConfigError, DatasetError
from rnnkit.optimizers import Adam
from rnnkit.plots import plot_confusion, plot_history
from rnnkit.runs import new_run_dir, read_config, read_json, write_config, write_csv, write_json
from rnnkit.training.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TimeBudget
from rnnkit.training.losses import SparseCategoricalCrossentropy

from .data import NAMED, Labelled, load_named, read_labelled, stratified_split
from .model import MODELS, build_model
from .report import classification_report

__all__ = ["ClassifyConfig", "train", "predict", "evaluate", "load_run", "Prediction"]

APP = "classify"


@dataclass
class ClassifyConfig:
    """Every setting of a classification run (saved as the run's ``config.json``)."""

    data: str = "imdb"
    text_column: str | None = None  # None: 'text', else a known alternative ('review', 'sentence', ...)
    label_column: str | None = None  # None: 'label', else 'sentiment', 'class', ...
    test_data: str | None = None  # a separate labelled file for the test figures
    model: str = "bilstm"
    level: str = "word"
    max_len: int = 200
    vocab: int = 20000
    min_freq: int = 2  # rarer training words become <unk>, so that <unk> (every unseen word later) is learned
    embed_dim: int = 128
    units: int = 64
    layers: int = 1
    dropout: float = 0.3
    epochs: int | None = None  # None with no time budget: 10
    time_budget: float | None = None  # seconds of training (validation not counted)
    batch_size: int = 32
    learning_rate: float = 2e-3
    clipnorm: float = 1.0
    patience: int = 2  # epochs without a better validation accuracy before stopping
    valid_fraction: float = 0.1
    test_fraction: float = 0.1  # only when the data has no test split of its own
    seed: int = 0
    out: str | None = None

    def check(self) -> None:
        for name in ("max_len", "vocab", "min_freq", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value!r}")
        if self.vocab < 5:
            raise ConfigError(f"--vocab must be at least 5 (4 ids are reserved), got {self.vocab}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise ConfigError(f"--epochs must be a whole number >= 1, got {self.epochs!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(f"--time-budget must be positive, got {self.time_budget!r}")
        if self.level not in ("word", "char"):
            raise ConfigError(f"--level must be 'word' or 'char', got {self.level!r}")
        if self.model not in MODELS:
            raise ConfigError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        for name in ("valid_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be between 0 and 1, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--lr must be positive, got {self.learning_rate!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassifyConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Prediction:
    """One text's predicted label, its probability, and every class's probability."""

    label: str
    probability: float
    probabilities: dict[str, float]


# ---------------------------------------------------------------- data preparation
def _splits(cfg: ClassifyConfig) -> tuple[Labelled, Labelled, Labelled, str]:
    """(train, valid, test, name of the test split)."""
    if cfg.data in NAMED:
        train, test = load_named(cfg.data)
        test_name = NAMED[cfg.data][1]
    else:
        path = Path(cfg.data)
        if not path.exists():
            known = ", ".join(NAMED)
            raise DatasetError(f"--data {cfg.data}: no such file or folder (registered datasets: {known})")
        data = read_labelled(path, cfg.text_column, cfg.label_column)
        if len(data.classes) < 2:
            raise DatasetError(
                f"{path}: the label column holds only one class ({data.classes[0]!r}); a classifier needs texts of at "
                "least two classes (check --label-column)"
            )
        if cfg.test_data:
            train, test = data, read_labelled(cfg.test_data, cfg.text_column, cfg.label_column)
            _check_known(test, train.classes, cfg.test_data)
            test.classes = list(train.classes)
        else:
            keep, held = stratified_split(data.labels, cfg.test_fraction, cfg.seed)
            train, test = data.subset(keep), data.subset(held)
            if not len(test):
                raise DatasetError(f"{path}: too few texts ({len(data)}) to hold out a test split; add texts or pass --test-data")
        test_name = "test"
    keep, held = stratified_split(train.labels, cfg.valid_fraction, cfg.seed + 1)
    if not len(held):
        raise DatasetError(f"{cfg.data}: too few texts ({len(train)}) to hold out a validation split; add texts")
    return train.subset(keep), train.subset(held), test, test_name


def _check_known(data: Labelled, classes: Sequence[str], source: str) -> None:
    unknown = sorted(set(data.labels) - set(classes))
    if unknown:
        count = sum(1 for y in data.labels if y in unknown)
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise DatasetError(f"{source}: {count} text(s) have labels the model never saw in training ({shown}); "
                           f"it knows {', '.join(map(repr, classes))}")


def _encode(texts: Sequence[str], vocab: Vocab, level: str, max_len: int) -> tuple[list[np.ndarray], int]:
    """Token ids of each text, cut to its last ``max_len`` ids; and how many texts were cut."""
    encoded, cut = [], 0
    for text in texts:
        tokens = tokenize(text, level) or ["<unk>"]
        if len(tokens) > max_len:
            cut += 1
            tokens = tokens[-max_len:]
        encoded.append(np.asarray(vocab.encode(tokens), dtype=np.int64))
    return encoded, cut


class _Batches:
    """``(ids (B, T), labels (B,))`` batches of similar lengths, right-padded with 0; reshuffled every pass."""

    def __init__(self, ids: list[np.ndarray], labels: np.ndarray | None, batch_size: int, shuffle: bool) -> None:
        self.ids, self.labels = ids, labels
        self.sampler = BucketBatchSampler([len(a) for a in ids], batch_size, shuffle=shuffle)

    def __len__(self) -> int:
        return len(self.sampler)

    def order(self) -> list[list[int]]:
        return list(self.sampler)

    def batch(self, index: Sequence[int]) -> torch.Tensor:
        width = max(len(self.ids[i]) for i in index)
        x = np.zeros((len(index), width), dtype=np.int64)  # (B, T), 0 = padding
        for row, i in enumerate(index):
            x[row, : len(self.ids[i])] = self.ids[i]
        return torch.from_numpy(x)

    def __iter__(self):
        for index in self.sampler:
            x = self.batch(index)
            yield (x, torch.from_numpy(self.labels[index])) if self.labels is not None else (x,)


# ---------------------------------------------------------------- training
def _model_for(cfg: ClassifyConfig, vocab_size: int, num_classes: int) -> rnnkit.Sequential:
    return build_model(cfg.model, vocab_size, num_classes, embed_dim=cfg.embed_dim, units=cfg.units,
                       layers=cfg.layers, dropout=cfg.dropout)


@torch.inference_mode()
def _probabilities(model: torch.nn.Module, ids: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Class probabilities ``(N, C)`` in the order of ``ids`` (batched by length for speed)."""
    model.eval()
    batches = _Batches(ids, None, batch_size, shuffle=False)
    out = None
    for index in batches.order():
        probs = torch.softmax(model(batches.batch(index)).float(), dim=-1).numpy()  # (B, C)
        if out is None:
            out = np.zeros((len(ids), probs.shape[1]), dtype=np.float64)
        out[index] = probs
    return out


def _write_mistakes(path: Path, texts: Sequence[str], truth: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                    count: int = 20) -> int:
    """The ``count`` wrong predictions with the highest probability, most confident first; returns how many."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    confidence = probs[wrong, predicted[wrong]]
    worst = wrong[np.argsort(-confidence, kind="stable")][:count]
    write_csv(path, ["text", "label", "predicted", "probability"],
              ([texts[i], classes[truth[i]], classes[predicted[i]], f"{probs[i, predicted[i]]:.4f}"] for i in worst))
    return len(worst)


def train(config: ClassifyConfig | None = None, *, print_fn: Callable[[str], None] = print,
          verbose: int = 1) -> dict[str, Any]:
    """Train a text classifier; returns the final metrics (also written to ``metrics.json``)."""
    cfg = config or ClassifyConfig()
    cfg.check()
    train_set, valid_set, test_set, test_name = _splits(cfg)
    classes = list(train_set.classes)
    run = new_run_dir(APP, cfg.out)
    cfg.out = str(run)
    rnnkit.set_seed(cfg.seed)
    vocab = Vocab.build((tokenize(t, cfg.level) for t in train_set.texts), level=cfg.level, max_size=cfg.vocab - 4,
                         min_freq=cfg.min_freq)
    write_config(run, APP, asdict(cfg))
    vocab.save(run / "vocab.json")
    write_json(run / "classes.json", {"classes": classes})
    index = {c: i for i, c in enumerate(classes)}
    parts, cut = {}, {}
    for name, part in (("train", train_set), ("valid", valid_set), (test_name, test_set)):
        ids, n_cut = _encode(part.texts, vocab, cfg.level, cfg.max_len)
        parts[name] = (ids, np.asarray([index[y] for y in part.labels], dtype=np.int64))
        cut[name] = n_cut
    dropped = sum(p.dropped_empty for p in (train_set, test_set))
    print_fn(f"classify: {cfg.data}: {len(train_set):,} training, {len(valid_set):,} validation and {len(test_set):,} "
             f"{test_name} texts; {len(classes)} classes; vocabulary {len(vocab):,} ({cfg.level} level)"
             + (f"; {dropped:,} empty texts skipped" if dropped else ""))
    for name, n_cut in cut.items():
        if n_cut:
            print_fn(f"classify: {n_cut:,} of {len(parts[name][0]):,} {name} texts were longer than --max-len "
                     f"{cfg.max_len} tokens; each keeps its last {cfg.max_len}")
    model = _model_for(cfg, len(vocab), len(classes))
    model.compile(optimizer=Adam(learning_rate=cfg.learning_rate), loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], clipnorm=cfg.clipnorm)
    model(torch.ones(1, 1, dtype=torch.long))  # build the layers whose input sizes are inferred
    params = sum(p.numel() for p in model.parameters())
    shape = f"embeddings {cfg.embed_dim}" if cfg.model == "bag" else f"{cfg.layers} x {cfg.units} units, embeddings {cfg.embed_dim}"
    print_fn(f"classify: {cfg.model} ({shape}), {params:,} parameters; run folder {run}")
    clock = TimeBudget(cfg.time_budget)
    callbacks = [
        clock,
        EarlyStopping(monitor="val_accuracy", mode="max", patience=cfg.patience),
        CSVLogger(str(run / "metrics.csv")),
        ModelCheckpoint(str(run / "model.safetensors"), monitor="val_accuracy", mode="max", save_best_only=True,
                        save_weights_only=True),
    ]
    epochs = cfg.epochs or (10_000 if cfg.time_budget else 10)
    start = time.perf_counter()
    model.fit(_Batches(*parts["train"], cfg.batch_size, shuffle=True), epochs=epochs, shuffle=False,
              validation_data=_Batches(*parts["valid"], 128, shuffle=False), callbacks=callbacks, verbose=verbose)
    wall = time.perf_counter() - start
    if not (run / "model.safetensors").exists():
        raise ConfigError("training stopped before the first epoch finished (time budget too short?); nothing was saved")
    model.load_weights(str(run / "model.safetensors"))
    test_ids, test_y = parts[test_name]
    probs = _probabilities(model, test_ids)
    report = classification_report(test_y, probs.argmax(axis=1), classes)
    valid_acc = max(model.history.history["val_accuracy"])  # the epoch whose weights were kept
    metrics = {
        "test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
        "test_per_class": report["per_class"], "test_confusion": report["confusion"],
        "test_split": test_name, "val_accuracy": valid_acc, "epochs": model.epochs_done,
        "train_seconds": clock.elapsed, "wall_seconds": wall, "parameters": params,
        "examples": {"train": len(train_set), "valid": len(valid_set), test_name: len(test_set)},
        "truncated": cut,
    }
    write_json(run / "metrics.json", metrics)
    plot_history(run / "metrics.csv", run / "training.png", title=f"{cfg.data}: {cfg.model}", keys=["loss", "accuracy"])
    plot_confusion(run / "confusion.png", report["confusion"], classes,
                   title=f"{cfg.data} {test_name}: accuracy {report['accuracy']:.1%}")
    _write_mistakes(run / "mistakes.csv", test_set.texts, test_y, probs, classes)
    print_fn(f"classify: {test_name} accuracy {report['accuracy']:.2%}, macro F1 {report['macro_f1']:.4f} "
             f"(validation {valid_acc:.2%}) after {clock.elapsed:.0f} s of training; run folder {run} "
             "(metrics.json, confusion.png, training.png, mistakes.csv)")
    return metrics


# ---------------------------------------------------------------- using a run
def load_run(run: str | Path) -> tuple[torch.nn.Module, Vocab, list[str], ClassifyConfig]:
    """The best model of a run folder, its vocabulary, class names and settings."""
    run = Path(run)
    cfg = ClassifyConfig.from_dict(read_config(run, APP))
    for name in ("vocab.json", "classes.json", "model.safetensors"):
        if not (run / name).exists():
            raise ConfigError(f"--run {run} has no {name}; its training did not finish an epoch")
    vocab = Vocab.load(run / "vocab.json")
    classes = list(read_json(run / "classes.json")["classes"])
    model = _model_for(cfg, len(vocab), len(classes))
    model(torch.ones(1, 1, dtype=torch.long))  # build the layers whose input sizes are inferred
    model.load_weights(str(run / "model.safetensors"))
    model.eval()
    return model, vocab, classes, cfg


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        raise ConfigError("nothing to classify: give texts, or --file with one text per line/row")
    for i, text in enumerate(texts, 1):
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"text {i} is empty; give it some words (or drop it)")
    return list(texts)


def predict(run: str | Path, texts: Sequence[str]) -> list[Prediction]:
    """The predicted label and probabilities of each text, with the best model of ``run``."""
    texts = _check_texts(texts)
    model, vocab, classes, cfg = load_run(run)
    ids, _ = _encode(texts, vocab, cfg.level, cfg.max_len)
    probs = _probabilities(model, ids)
    out = []
    for row in probs:
        k = int(row.argmax())
        out.append(Prediction(classes[k], float(row[k]), {c: float(p) for c, p in zip(classes, row)}))
    return out


def evaluate(run: str | Path, data: str | Path, *, text_column: str | None = None,
             label_column: str | None = None) -> dict[str, Any]:
    """Accuracy, macro F1, per-class figures and confusion matrix of a run's model on a labelled file."""
    model, vocab, classes, cfg = load_run(run)
    if str(data) in NAMED:
        labelled = load_named(str(data))[1]
    else:
        labelled = read_labelled(data, text_column or cfg.text_column, label_column or cfg.label_column)
    _check_known(labelled, classes, str(data))
    ids, cut = _encode(labelled.texts, vocab, cfg.level, cfg.max_len)
    probs = _probabilities(model, ids)
    truth = np.asarray([classes.index(y) for y in labelled.labels])
    report = classification_report(truth, probs.argmax(axis=1), classes)
    return {**report, "examples": len(labelled), "truncated": cut, "dropped_empty": labelled.dropped_empty}
