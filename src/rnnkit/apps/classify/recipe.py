"""Recipe of text classification: train into a run folder, then predict and evaluate from it.

``train(config)``:

1. reads the labelled texts (a registered dataset, or a CSV/TSV/JSONL file or a
   folder of label sub-folders) and splits them: a stratified ``valid_fraction`` of
   the training texts for early stopping; the test split is the dataset's own
   (IMDB test, SST-2 dev), ``--test-data PATH``, or a stratified ``test_fraction``.
   Texts of one group (IMDB's movies; ``--group-column``) stay on one side: a
   validation split sharing movies with training overstates the test figure;
2. builds the vocabulary from the training texts only (at most ``vocab`` ids, 0 =
   padding, 1 = unknown; words seen fewer than ``min_freq`` times are left out, so the
   unknown-word vector is trained on them and means something for unseen words), and cuts texts longer than
   ``max_len`` tokens (``truncating``: their last ``max_len``, Keras' ``pad_sequences``
   default, or their first, or their head and tail), reporting how many were cut;
3. trains with batches of similar lengths (:class:`rnnkit.data.BucketBatchSampler`,
   padding masked), AdamW, gradient clipping, early stopping on validation accuracy
   (best weights kept), within ``epochs`` or a ``time_budget``.  The optimizer keeps
   the moving average of the weights over about the last ``ema_epochs`` epochs
   (:mod:`rnnkit.training.ema`); validation scores it and the run keeps it.  A
   BiLSTM memorises IMDB's 22,400 training reviews within two epochs: its
   validation figure peaks in the first or second and then falls, and the average
   holds the peak longer;
4. scores the best weights on the test split and writes the run folder:
   ``config.json``, ``vocab.json``, ``classes.json``, ``metrics.csv`` (per epoch),
   ``metrics.json`` (``test_accuracy``, ``test_macro_f1``, ``test_per_class``, ...),
   ``training.png``, ``confusion.png``, ``mistakes.csv`` (the 20 most confident
   wrong predictions) and ``model.safetensors``.

``predict(run, texts)`` and ``evaluate(run, path)`` rebuild the model from the folder.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from rnnkit.data import BucketBatchSampler, Vocab, stratified_split, tokenize
from rnnkit.errors import ConfigError, DatasetError
from rnnkit.metrics import classification_report
from rnnkit.models import Ensemble
from rnnkit.optimizers import Adam, AdamW
from rnnkit.plots import plot_confusion
from rnnkit.runs import parse_duration, read_csv, read_json, write_csv, write_json
from rnnkit.training.callbacks import SwapEMAWeights
from rnnkit.training.losses import SparseCategoricalCrossentropy

from ..framework import (AppConfig, Fitted, Recipe, ReportSection, TrainConfig, classification_sections,
                         ema_momentum, open_run, setting, train_run)
from . import pretrain
from .data import NAMED, Labelled, load_named, read_labelled, read_texts
from .model import MODELS, NGRAM_BINS, POOLINGS, adapt_nbsvm, build_model

__all__ = ["ClassifyConfig", "PredictOptions", "EvaluateOptions", "train", "predict", "evaluate", "load_run",
           "Prediction", "predict_command", "evaluate_command", "label_texts"]

APP = "classify"
#: the ways :func:`truncate` cuts a text
TRUNCATING = ("pre", "post", "head-tail")


@dataclass
class ClassifyConfig(TrainConfig):
    """Every setting of a classification run (saved as the run's ``config.json``).

    >>> ClassifyConfig(vocab=3)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `vocab` must be a whole number >= 5, got 3
    """

    data: str = setting("imdb", help="imdb, sst2, or a CSV/TSV/JSONL file or a folder with one sub-folder per label")
    text_column: str | None = setting(None, help="column of the texts (default: text, sentence, review ...)")
    label_column: str | None = setting(None, help="column of the labels (default: label, sentiment, class ...)")
    group_column: str | None = setting(None, help="column whose texts stay on one side of the validation/test split "
                                              "(a movie, an author; IMDB's movies are kept together by default)")
    test_data: str | None = setting(None, help="a separate labelled file for the test figures")
    model: str = setting("bilstm", help="the classifier", choices=MODELS)
    level: str = setting("word", help="tokens: words or characters (Chinese: char)", choices=("word", "char"))
    max_len: int = setting(400, help="tokens kept per text (see --truncating)", min=1)
    truncating: str = setting("pre", help="which tokens a longer text loses: pre (keep its end), post (keep its "
                                          "start), head-tail (keep the first quarter and the last three quarters)",
                              choices=TRUNCATING)
    vocab: int = setting(20000, help="vocabulary size (4 ids are reserved)", min=5)
    min_freq: int = setting(2, help="words seen fewer times become <unk>", min=1)
    embed_dim: int = setting(256, help="embedding size", min=1)
    ngrams: int = setting(2, help="--model nbsvm: the longest n-gram (1: words alone)", min=1, max=5)
    units: int = setting(128, help="units per recurrent layer", min=1)
    layers: int = setting(1, help="recurrent layers", min=1)
    dropout: float = setting(0.3, help="dropout before the output layer", min=0, lt=1)
    embed_dropout: float = setting(0.1, help="words dropped whole from the embedding in training (AWD-LSTM)",
                                   min=0, lt=1)
    locked_dropout: float = setting(0.2, help="dropout with one mask per text for all steps, before each recurrent "
                                              "layer (variational)", min=0, lt=1)
    weight_dropout: float = setting(0.3, help="DropConnect on the recurrent weights (AWD-LSTM)", min=0, lt=1)
    pooling: str = setting("max-mean", help="pooling over the steps of the recurrent models (concat: max, mean and "
                                            "last, for one direction)", choices=tuple(POOLINGS))
    epochs: int | None = setting(None, help="at most this many epochs (default 10)", min=1, group="budget")
    time_budget: float | None = setting(None, help="training time, e.g. 90s, 10m (validation not counted)", gt=0,
                                        group="budget", parse=parse_duration)
    batch_size: int = setting(32, help="texts per batch", min=1)
    learning_rate: float = setting(2e-3, help="Adam's learning rate", gt=0, flag="--lr")
    weight_decay: float = setting(0.01, help="AdamW's decoupled weight decay (0: Adam)", min=0)
    schedule: str = setting("constant", help="the learning rate over the run: constant, or linear decay to 5%",
                            choices=("constant", "linear"))
    clipnorm: float = setting(1.0, help="gradient norm clip", gt=0)
    ema_epochs: float | None = setting(None, help="validate and keep the moving average of the weights over about the "
                                                  "last N epochs (0: off; default 0.7, off when fine-tuning a language "
                                                  "model)", min=0)
    patience: int = setting(2, help="early stopping: epochs without a better validation accuracy", min=1)
    valid_fraction: float = setting(0.1, help="training texts held out for early stopping", gt=0, lt=1)
    test_fraction: float = setting(0.1, help="held out for testing when the data has no test split", gt=0, lt=1)
    seed: int = setting(0, help="seed of every generator")
    ensemble: int = setting(1, help="train N models one after the other (seeds seed .. seed+N-1 for their weights, "
                                    "one split and vocabulary, an equal share of a time budget; with --pretrain-lm "
                                    "one language model for all) into RUN/members/ and predict with the average of "
                                    "their probabilities", min=1, max=32)
    ensemble_with: str | None = setting(None, help="members of other kinds besides them: --model names, "
                                                   "comma-separated (nbsvm: n-gram errors differ from a recurrent "
                                                   "model's), trained first at the default --lr; the rest of a time "
                                                   "budget is the --model members'")
    member: int | None = setting(None, cli=False, min=1, help="this run is member N of an ensemble: seed + N - 1 "
                                                              "draws its weights and batches, seed its splits")
    out: str | None = setting(None, help="run folder (default runs/classify-<time>)")
    pretrain_lm: bool = setting(False, help="first train a word-level language model on the training texts (into "
                                            "RUN/lm), then fine-tune its encoder as the classifier (ULMFiT)")
    lm_epochs: int = setting(1, help="epochs of the --pretrain-lm language model", min=1)
    encoder: str | None = setting(None, help="start the classifier from this word-level language-model run "
                                             "(rnnkit lm train, or a classify run's lm/ folder): its vocabulary and sizes")
    unfreeze: str = setting("all", help="fine-tuning a language model: train every layer group from the first epoch "
                                        "(all), or unfreeze one group per epoch from the top (gradual, ULMFiT's)",
                            choices=("all", "gradual"))

    def validate(self) -> None:
        if self.data in NAMED:  # a registered dataset has its own columns, groups and test split
            for name in ("test_data", "text_column", "label_column", "group_column"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{self.option(name)} is for a file given to {self.option('data')}; "
                                      f"{self.data} has its own columns, groups and test split, so leave it out")
        for name in self.others:
            if name not in MODELS:
                raise ConfigError(f"{self.option('ensemble_with')}: {name!r} is not a model; give some of "
                                  f"{', '.join(MODELS)}, comma-separated")
        pretrain.check(self)

    @property
    def others(self) -> list[str]:
        """The models of ``ensemble_with``, in order (members ``ensemble + 1`` ...)."""
        return [name.strip() for name in self.ensemble_with.split(",")] if self.ensemble_with else []

    @classmethod
    def from_dict(cls, data: Any) -> "ClassifyConfig":
        """A saved config; a run written before a setting existed keeps what it was trained with (:data:`LEGACY`)."""
        if isinstance(data, dict) and "unfreeze" not in data and (data.get("pretrain_lm") or data.get("encoder")):
            data = {**data, "unfreeze": "gradual"}  # fine-tuned before --unfreeze existed: gradually
        return super().from_dict({**LEGACY, **data})


#: the values of later settings that reproduce a run folder written before them (max pooling, the last tokens,
#: plain dropout: the dropout rates do not change the weights, so a rebuilt model needs only the first two)
LEGACY = {"pooling": "max", "truncating": "pre", "embed_dropout": 0.0, "locked_dropout": 0.0, "weight_dropout": 0.0,
          "weight_decay": 0.0, "schedule": "constant", "ema_epochs": 0.0}
#: ``ema_epochs`` when not given, for models trained from scratch: on IMDB (700 batches an epoch) the momentum 0.998
#: measured there (README)
EMA_EPOCHS = 0.7


@dataclass
class PredictOptions(AppConfig):
    """The options of ``rnnkit classify predict`` (see :func:`predict_command`)."""

    run: str = setting("", help="a run folder written by `rnnkit classify train`")
    texts: list[str] = setting([], help="texts to classify", positional=True)
    file: str | None = setting(None, help="CSV/TSV/JSONL (text column) or .txt (one text per line)")
    text_column: str | None = setting(None, help="column of the texts in --file")
    out: str | None = setting(None, help="also write the predictions to this CSV file")
    overwrite: bool = setting(False, help="replace an existing --out file")

    def validate(self) -> None:
        self.need_run("classify")


@dataclass
class EvaluateOptions(AppConfig):
    """The options of ``rnnkit classify evaluate`` (see :func:`evaluate_command`)."""

    run: str = setting("", help="a run folder written by `rnnkit classify train`")
    data: str = setting("", help="a labelled CSV/TSV/JSONL file or folder, or imdb/sst2 (their test split)")
    text_column: str | None = setting(None, help="column of the texts")
    label_column: str | None = setting(None, help="column of the labels")

    def validate(self) -> None:
        self.need_run("classify")
        if not self.data:
            raise ConfigError(f"{self.option('data')} is needed: the labelled file or folder to score (or imdb, sst2)")


@dataclass
class Prediction:
    """One text's predicted label, its probability, and every class's probability."""

    label: str
    probability: float
    probabilities: dict[str, float]


# ---------------------------------------------------------------- data preparation
def _splits(cfg: ClassifyConfig) -> tuple[Labelled, Labelled, Labelled, str]:
    """(train, valid, test, name of the test split)."""
    if cfg.test_data and not Path(cfg.test_data).exists():
        raise DatasetError(f"{cfg.option('test_data')} {cfg.test_data}: no such file or folder")
    if cfg.data in NAMED:
        train, test = load_named(cfg.data)
        test_name = NAMED[cfg.data][1]
    else:
        path = Path(cfg.data)
        if not path.exists():
            known = ", ".join(NAMED)
            raise DatasetError(f"--data {cfg.data}: no such file or folder (registered datasets: {known})")
        data = read_labelled(path, cfg.text_column, cfg.label_column, group_column=cfg.group_column)
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
            keep, held = stratified_split(data.labels, cfg.test_fraction, cfg.seed, groups=data.groups)
            train, test = data.subset(keep), data.subset(held)
            if not len(test):
                raise DatasetError(f"{path}: too few texts ({len(data)}) to hold out a test split; add texts or pass --test-data")
        test_name = "test"
    keep, held = stratified_split(train.labels, cfg.valid_fraction, cfg.seed + 1, groups=train.groups)
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


def truncate(tokens: Sequence[str], max_len: int, truncating: str = "pre") -> Sequence[str]:
    """``tokens`` cut to ``max_len``: ``pre`` drops the start (Keras' ``pad_sequences`` default), ``post`` the
    end, ``head-tail`` the middle (the first quarter of ``max_len`` and the last three quarters are kept: a
    review states its subject first and its verdict last; Sun et al. 2019 keep 128 + 382 of BERT's 512).

    >>> truncate(list("abcdefgh"), 4, "head-tail")
    ['a', 'f', 'g', 'h']
    """
    if len(tokens) <= max_len:
        return tokens
    if truncating == "pre":
        return tokens[-max_len:]
    if truncating == "post":
        return tokens[:max_len]
    head = max_len // 4
    return [*tokens[:head], *tokens[len(tokens) - (max_len - head):]]


def _encode(texts: Sequence[str], vocab: Vocab, level: str, max_len: int,
            truncating: str = "pre") -> tuple[list[np.ndarray], int]:
    """Token ids of each text, cut to ``max_len`` ids (:func:`truncate`); and how many texts were cut."""
    encoded, cut = [], 0
    for text in texts:
        tokens = tokenize(text, level) or ["<unk>"]
        if len(tokens) > max_len:
            cut += 1
            tokens = truncate(tokens, max_len, truncating)
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
def _ema_epochs(cfg: ClassifyConfig) -> float:
    """The epochs the moving average of the weights of ``cfg`` spans (0: none kept)."""
    if cfg.ema_epochs is not None:
        return cfg.ema_epochs
    return 0.0 if pretrain.uses_lm(cfg) else EMA_EPOCHS


def _ema_momentum(cfg: ClassifyConfig, texts: int) -> float:
    """The momentum of that average over ``texts`` training texts (:func:`~rnnkit.apps.framework.ema_momentum`).

    >>> round(_ema_momentum(ClassifyConfig(), 22400), 5)   # IMDB: 700 batches of 32
    0.99796
    """
    return ema_momentum(_ema_epochs(cfg), texts, cfg.batch_size)


def _model_for(cfg: ClassifyConfig, vocab_size: int, num_classes: int) -> torch.nn.Module:
    return build_model(cfg.model, vocab_size, num_classes, embed_dim=cfg.embed_dim, units=cfg.units,
                       layers=cfg.layers, dropout=cfg.dropout, pooling=cfg.pooling, embed_dropout=cfg.embed_dropout,
                       locked_dropout=cfg.locked_dropout, weight_dropout=cfg.weight_dropout, ngrams=cfg.ngrams)


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


@dataclass
class _Data:
    """The parts of a classification run: encoded texts and labels per split, and what describes them."""

    classes: list[str]
    vocab: Vocab
    parts: dict[str, tuple[list[np.ndarray], np.ndarray]]
    texts: dict[str, Labelled]
    test_name: str
    cut: dict[str, int]
    say: Callable[[str], None] = print  # the run's print_fn (language-model pretraining speaks while building)


class _Recipe(Recipe):
    """Text classification's hooks of :func:`~rnnkit.apps.framework.train_run`."""

    name, config = APP, ClassifyConfig
    monitor, mode = "val_accuracy", "max"
    history_keys, history_plot = ["loss", "accuracy"], "training.png"

    def prepare(self, cfg: ClassifyConfig, saved: Path | None, print_fn: Callable[[str], None]) -> tuple[ClassifyConfig, _Data]:
        train_set, valid_set, test_set, test_name = _splits(cfg)
        vocab = pretrain.encoder_vocab(cfg, train_set.texts) or Vocab.build(
            (tokenize(t, cfg.level) for t in train_set.texts), level=cfg.level, max_size=cfg.vocab - 4,
            min_freq=cfg.min_freq)
        if pretrain.uses_lm(cfg) and cfg.epochs is None and cfg.time_budget is None:
            cfg.epochs = pretrain.FINE_TUNE_EPOCHS
        classes = list(train_set.classes)
        index = {c: i for i, c in enumerate(classes)}
        parts, cut, texts = {}, {}, {"train": train_set, "valid": valid_set, test_name: test_set}
        for name, part in texts.items():
            ids, cut[name] = _encode(part.texts, vocab, cfg.level, cfg.max_len, cfg.truncating)
            parts[name] = (ids, np.asarray([index[y] for y in part.labels], dtype=np.int64))
        dropped = sum(p.dropped_empty for p in (train_set, test_set))
        print_fn(f"classify: {cfg.data}: {len(train_set):,} training, {len(valid_set):,} validation and {len(test_set):,} "
                 f"{test_name} texts; {len(classes)} classes; vocabulary {len(vocab):,} ({cfg.level} level)"
                 + (f"; {dropped:,} empty texts skipped" if dropped else ""))
        for name, n_cut in cut.items():
            if n_cut:
                print_fn(f"classify: {n_cut:,} of {len(parts[name][0]):,} {name} texts were longer than "
                         f"{cfg.option('max_len')} {cfg.max_len} tokens; each was cut to {cfg.max_len} "
                         f"({cfg.option('truncating')} {cfg.truncating})")
        return cfg, _Data(classes, vocab, parts, texts, test_name, cut, say=print_fn)

    def save_data(self, run: Path, cfg: ClassifyConfig, data: _Data) -> None:
        data.vocab.save(run / "vocab.json")
        write_json(run / "classes.json", {"classes": data.classes})

    def build(self, cfg: ClassifyConfig, data: _Data) -> Any:
        momentum = _ema_momentum(cfg, len(data.parts["train"][0])) if _ema_epochs(cfg) else None
        if pretrain.uses_lm(cfg):
            if cfg.pretrain_lm:
                pretrain.pretrain(cfg, data.texts["train"].texts, data.say)
            return pretrain.fine_tuning(cfg, len(data.classes), data.say, momentum)
        model = _model_for(cfg, len(data.vocab), len(data.classes))
        if cfg.model == "nbsvm":  # the naive-Bayes ratios of the training texts' n-grams, before any step
            adapt_nbsvm(model, _Batches(*data.parts["train"], 256, shuffle=False))
        ema = dict(use_ema=True, ema_momentum=momentum) if momentum is not None else {}
        optimizer = (AdamW(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, **ema) if cfg.weight_decay
                     else Adam(learning_rate=cfg.learning_rate, **ema))
        model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], clipnorm=cfg.clipnorm)
        model(torch.ones(1, 1, dtype=torch.long))  # build the layers whose input sizes are inferred
        return model

    def ensemble(self, cfg: ClassifyConfig, members: list) -> Ensemble:
        """The members' logits joined as the log of their averaged probabilities (a valid vector of logits)."""
        model = Ensemble(members, average="probabilities")
        model.compile(loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    def ensemble_size(self, cfg: ClassifyConfig) -> int:
        return cfg.ensemble + len(cfg.others)

    def member_order(self, cfg: ClassifyConfig) -> list[int]:
        """The ``--ensemble-with`` members first (an n-gram model takes a minute on IMDB), then the ``--model``
        ones, which share what is left of a time budget."""
        return [*range(cfg.ensemble + 1, self.ensemble_size(cfg) + 1), *range(1, cfg.ensemble + 1)]

    def member_label(self, cfg: ClassifyConfig) -> str:
        return "language-model encoder" if pretrain.uses_lm(cfg) else cfg.model

    def member_config(self, cfg: ClassifyConfig, member: int, folder: Path, budget: float | None) -> ClassifyConfig:
        """Members 1 .. ``ensemble`` are ``--model``'s; the next ones the ``--ensemble-with`` models, trained from
        scratch.  With ``--pretrain-lm`` member 1 trains the language model (into ``RUN/members/1/lm``) and the
        other ``--model`` members fine-tune from it (as ``--encoder``)."""
        config = dataclasses.replace(super().member_config(cfg, member, folder, budget), ensemble_with=None)
        if member == 1 or (member <= cfg.ensemble and not cfg.pretrain_lm):
            return config
        if member <= cfg.ensemble:  # trained after member 1, whose language model is there by then
            return dataclasses.replace(config, pretrain_lm=False, encoder=str(pretrain.lm_run(cfg)))
        # the --lr given is --model's (a language model's fine-tuning peak is no rate for an n-gram model)
        return dataclasses.replace(config, model=cfg.others[member - cfg.ensemble - 1], pretrain_lm=False,
                                   encoder=None, unfreeze="all", learning_rate=ClassifyConfig.learning_rate)

    def rebuild(self, cfg: ClassifyConfig, run: Path) -> Any:
        classes = _read_classes(run)
        model = _model_for(cfg, len(Vocab.load(run / "vocab.json")), len(classes))
        model(torch.ones(1, 1, dtype=torch.long))  # build the layers whose input sizes are inferred
        return model

    def describe(self, cfg: ClassifyConfig, data: _Data, parameters: int, run: Path) -> str:
        span = _ema_epochs(cfg)
        average = f"; validated as the moving average of its weights over {span:g} epoch{'' if span == 1 else 's'}" \
            if span else ""
        if pretrain.uses_lm(cfg):
            return (f"classify: language-model encoder, concat pooling, {parameters:,} parameters{average}; "
                    f"run folder {run}")
        shape = {"bag": f"embeddings {cfg.embed_dim}", "nbsvm": f"1- to {cfg.ngrams}-grams in {NGRAM_BINS:,} bins"
                 }.get(cfg.model, f"{cfg.layers} x {cfg.units} units, embeddings {cfg.embed_dim}")
        return f"classify: {cfg.model} ({shape}), {parameters:,} parameters{average}; run folder {run}"

    def fit_data(self, cfg: ClassifyConfig, data: _Data) -> dict[str, Any]:
        return dict(x=_Batches(*data.parts["train"], cfg.batch_size, shuffle=True), shuffle=False,
                    validation_data=_Batches(*data.parts["valid"], 128, shuffle=False))

    def schedule(self, cfg: ClassifyConfig) -> Callable[[float, int], float] | None:
        """Fine-tuning a language model: the slanted triangular schedule; else ``--schedule``."""
        if pretrain.uses_lm(cfg):
            return pretrain.schedule(cfg)
        if cfg.schedule == "constant":
            return None
        # lr(f) = lr_0 max(0.05, 1 - f), f the fraction of the run (its epochs or its time budget) done
        return lambda fraction, epoch: cfg.learning_rate * max(0.05, 1.0 - fraction)

    def patience(self, cfg: ClassifyConfig) -> int:
        return cfg.patience

    def callbacks(self, cfg: ClassifyConfig, data: _Data, print_fn: Callable[[str], None]) -> list:
        # the moving average swapped in for validation and from each epoch's end: the checkpoints keep it
        swap = [SwapEMAWeights(swap_on_epoch=True)] if _ema_epochs(cfg) else []
        return [*swap, pretrain.unfreezing()] if pretrain.uses_lm(cfg) and cfg.unfreeze == "gradual" else swap

    def evaluate(self, cfg: ClassifyConfig, data: _Data, fitted: Fitted, print_fn: Callable[[str], None]) -> dict[str, Any]:
        run, classes, name = fitted.run, data.classes, data.test_name
        test_ids, test_y = data.parts[name]
        probs = _probabilities(fitted.model, test_ids)
        report = classification_report(test_y, probs.argmax(axis=1), classes)
        valid_acc = fitted.monitored  # the validation accuracy of the weights kept (or of the ensemble)
        metrics = {
            "test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
            "test_per_class": report["per_class"], "test_confusion": report["confusion"],
            "test_split": name, "val_accuracy": valid_acc, **fitted.figures(),
            "examples": {k: len(v) for k, v in data.texts.items()}, "truncated": data.cut,
            **pretrain.lm_figures(cfg),
        }
        plot_confusion(run / "confusion.png", report["confusion"], classes,
                       title=f"{cfg.data} {name}: accuracy {report['accuracy']:.1%}")
        _write_mistakes(run / "mistakes.csv", data.texts[name].texts, test_y, probs, classes)
        size = self.ensemble_size(cfg)
        whose = f"the ensemble of {size} models: " if size > 1 else ""
        print_fn(f"classify: {whose}{name} accuracy {report['accuracy']:.2%}, macro F1 {report['macro_f1']:.4f} "
                 f"(validation {valid_acc:.2%}) after {fitted.train_seconds:.0f} s of training; run folder {run} "
                 "(metrics.json, confusion.png, training.png, mistakes.csv)")
        return metrics

    def title(self, cfg: ClassifyConfig) -> str:
        return f"{cfg.data}: {'+'.join([cfg.model, *cfg.others])}"  # imdb: bilstm+nbsvm for a mixed ensemble

    def report_sections(self, run: Path, metrics: dict[str, Any]) -> list[ReportSection]:
        """The test split's confusion matrix and per-class figures, and the most confident mistakes."""
        classes = _read_classes(run)
        return [*classification_sections(metrics, classes, "confusion.png"), ReportSection(
            "Most confident mistakes", "The test texts predicted wrong with the highest probability (mistakes.csv).",
            table=read_csv(run / "mistakes.csv"))]


RECIPE = _Recipe()



def train(config: ClassifyConfig | None = None, *, print_fn: Callable[[str], None] = print, verbose: int = 1,
          **settings: Any) -> dict[str, Any]:
    """Train a text classifier; returns the final metrics (also written to ``metrics.json``).

    ``settings`` replace fields of ``config`` (``train(data="reviews.csv", epochs=3)``).
    """
    return train_run(RECIPE, ClassifyConfig.of(config, **settings), print_fn=print_fn, verbose=verbose)


# ---------------------------------------------------------------- using a run
def load_run(run: str | Path) -> tuple[torch.nn.Module, Vocab, list[str], ClassifyConfig]:
    """The best model of a run folder, its vocabulary, class names and settings."""
    model, cfg, run = open_run(run, RECIPE, needs=("vocab.json", "classes.json"))
    return model, Vocab.load(run / "vocab.json"), _read_classes(run), cfg


def _read_classes(run: Path) -> list[str]:
    """The class names a run saved (``classes.json``); a damaged file is a one-line error naming it."""
    path = run / "classes.json"
    classes = read_json(path, {"classes": list})["classes"]
    if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ConfigError(f'{path}: "classes" should be two or more class names, got {classes!r:.80}; the file is '
                          "damaged (restore it or train the run again)")
    return classes


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
    return label_texts(*load_run(run), texts)


def label_texts(model: torch.nn.Module, vocab: Vocab, classes: Sequence[str], cfg: ClassifyConfig,
                texts: Sequence[str]) -> list[Prediction]:
    """The predictions of a loaded run (:func:`load_run`'s four values) for ``texts``, batched by length."""
    ids, _ = _encode(texts, vocab, cfg.level, cfg.max_len, cfg.truncating)
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
    ids, cut = _encode(labelled.texts, vocab, cfg.level, cfg.max_len, cfg.truncating)
    probs = _probabilities(model, ids)
    truth = np.asarray([classes.index(y) for y in labelled.labels])
    report = classification_report(truth, probs.argmax(axis=1), classes)
    return {**report, "examples": len(labelled), "truncated": cut, "dropped_empty": labelled.dropped_empty}


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def predict_command(options: PredictOptions, print_fn: Callable[[str], None] = print) -> list[Prediction]:
    """``rnnkit classify predict``: a line per text (label, probability, text), and the CSV ``options.out``."""
    if options.file and options.texts:
        raise ConfigError(f"give texts on the command line or {options.option('file')}, not both")
    texts = read_texts(options.file, options.text_column) if options.file else list(options.texts)
    if not texts:
        raise ConfigError('nothing to classify: give texts (rnnkit classify predict --run R "a text") or --file texts.csv')
    out = Path(options.out) if options.out else None
    if out is not None and out.exists() and not options.overwrite:
        raise ConfigError(f"{options.option('out')} {out} already exists; choose another file or pass "
                          f"{options.option('overwrite')}")
    predictions = predict(options.run, texts)
    for text, p in zip(texts, predictions):
        print_fn(f"{p.label}\t{p.probability:.4f}\t{_short(text)}")
    if out is not None:
        classes = list(predictions[0].probabilities)
        write_csv(out, ["text", "label", "probability", *[f"p_{c}" for c in classes]],
                  ([t, p.label, f"{p.probability:.6f}", *[f"{p.probabilities[c]:.6f}" for c in classes]]
                   for t, p in zip(texts, predictions)))
        print_fn(f"classify: {len(texts):,} predictions written to {out}")
    return predictions


def evaluate_command(options: EvaluateOptions, print_fn: Callable[[str], None] = print) -> dict[str, Any]:
    """``rnnkit classify evaluate``: accuracy, macro F1 and a per-class table of a run on labelled data."""
    r = evaluate(options.run, options.data, text_column=options.text_column, label_column=options.label_column)
    print_fn(f"{options.data}: {r['examples']:,} texts, accuracy {r['accuracy']:.2%}, macro F1 {r['macro_f1']:.4f}"
             + (f"; {r['truncated']:,} cut to --max-len" if r["truncated"] else ""))
    width = max(len(c) for c in r["per_class"])
    print_fn(f"{'class':<{width}}  precision  recall      f1  support")
    for c, m in r["per_class"].items():
        print_fn(f"{c:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  {m['support']:7,}")
    return r
