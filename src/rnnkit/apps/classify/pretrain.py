"""Language-model pretraining for text classification, ULMFiT-style (Howard & Ruder 2018).

``rnnkit classify train --pretrain-lm`` works in three steps:

1. **The language model.**  The training texts (never the validation or test
   texts) are written tokenized by classify's own tokenizer, one text per line
   in a seeded random order, to ``RUN/lm/corpus.txt``, and an ``rnnkit lm`` /
   ``textgen`` word-level run is trained on them into ``RUN/lm/`` with the
   classification run's vocabulary (``--vocab-file RUN/vocab.json``), so ids
   agree.  Its held-out tail (:data:`LM_SETTINGS` ``holdout``) is the last texts
   of that order.  ``RUN/lm/`` is a complete run folder: ``rnnkit textgen sample
   --run RUN/lm`` samples from it and ``--encoder RUN/lm`` starts another
   classifier from it.
2. **The classifier** (:func:`build_classifier`): the language model's
   ``Embedding`` (now masking padding) and its stacked recurrent layers, rebuilt
   not stateful and returning every step, with the same weights, then
   ``GlobalConcatPooling1D`` (the maximum, the mean and the last real step over
   the steps) -> ``Dropout`` -> ``Dense(classes)``.  The language model's own
   ``Dropout`` layers stay between them.
3. **Fine-tuning**: discriminative learning rates (each lower layer group at the
   rate of the group above / :data:`FACTOR`,
   :func:`rnnkit.training.optimizers.discriminative_groups`) and the slanted
   triangular schedule (:class:`rnnkit.training.schedules.SlantedTriangular`,
   cut_frac 0.1, ratio 32) peaking at ``--lr``.  Every group trains from the
   first epoch (``--unfreeze all``, the default), or ULMFiT's gradual unfreezing
   (``--unfreeze gradual``, :class:`rnnkit.training.callbacks.GradualUnfreezing`:
   the head alone in the first epoch, one more group from the top each epoch).
   Measured on IMDB with a language model of one epoch over its training texts,
   gradual unfreezing lost about 5 points: the head alone learns little from an
   encoder whose pooled features barely differ between reviews, and the lower
   groups then have too few epochs left (``benchmarks/classify.py``, README).

``--encoder RUN`` skips step 1 and starts from any word-level language-model run:
the classifier adopts its vocabulary and sizes.  A run that is not a word-level
``textgen``/``lm`` run, or whose vocabulary covers less than :data:`MIN_COVERAGE`
of the task's training tokens, is a one-line error naming the fix.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from rnnkit.data import Vocab, tokenize
from rnnkit.errors import ConfigError
from rnnkit.layers import Dense, Dropout, Embedding, GlobalConcatPooling1D, RecurrentLayer
from rnnkit.models import Sequential
from rnnkit.optimizers import Adam, discriminative_groups
from rnnkit.runs import read_json
from rnnkit.saving import deserialize, serialize
from rnnkit.training.callbacks import GradualUnfreezing
from rnnkit.training.losses import SparseCategoricalCrossentropy
from rnnkit.training.schedules import SlantedTriangular

from ..framework import MEMBERS
from ..textgen import TextgenConfig  # the language model is textgen's: this app uses its public face
from ..textgen import load_run as load_lm_run
from ..textgen import train as train_lm

__all__ = ["LM_SETTINGS", "FACTOR", "MIN_COVERAGE", "FINE_TUNE_EPOCHS", "uses_lm", "check", "encoder_vocab",
           "pretrain", "lm_run", "build_classifier", "layer_groups", "fine_tuning", "unfreezing", "schedule",
           "lm_figures"]

#: the language model ``--pretrain-lm`` trains (the rest are textgen's defaults); see the module notes for why
LM_SETTINGS: dict[str, Any] = dict(level="word", cell="lstm", layers=2, units=256, embed_dim=256, dropout=0.1,
                                   softmax="adaptive", batch_size=64, seq_len=70, learning_rate=3e-3, holdout=0.02,
                                   sample_length=25)
#: discriminative fine-tuning: each lower layer group learns at the rate of the one above / FACTOR (ULMFiT's 2.6)
FACTOR = 2.6
#: the slanted triangular schedule of fine-tuning (ULMFiT's)
CUT_FRAC, RATIO = 0.1, 32.0
#: the share of the task's training tokens an --encoder's vocabulary must know
MIN_COVERAGE = 0.9
#: epochs of fine-tuning when neither --epochs nor --time-budget is given: one per layer group, then one more
FINE_TUNE_EPOCHS = 5
LM_FOLDER, CORPUS = "lm", "corpus.txt"


def uses_lm(cfg: Any) -> bool:
    """Whether the classifier of ``cfg`` starts from a language model (``--pretrain-lm`` or ``--encoder``)."""
    return bool(getattr(cfg, "pretrain_lm", False) or getattr(cfg, "encoder", None))


def check(cfg: Any) -> None:
    """The rules between the pretraining settings and the others (a one-line ConfigError)."""
    if cfg.pretrain_lm and cfg.encoder:
        raise ConfigError(f"give {cfg.option('pretrain_lm')} (train a language model here) or {cfg.option('encoder')} "
                          "(start from one trained before), not both")
    if cfg.unfreeze != "all" and not uses_lm(cfg):
        raise ConfigError(f"{cfg.option('unfreeze')} {cfg.unfreeze} is for fine-tuning a language model; add "
                          f"{cfg.option('pretrain_lm')} or {cfg.option('encoder')} RUN, or leave it out")
    if uses_lm(cfg) and cfg.level != "word":
        flag = cfg.option("pretrain_lm") if cfg.pretrain_lm else cfg.option("encoder")
        raise ConfigError(f"{flag} needs a word-level classifier; drop {cfg.option('level')} {cfg.level}")


# ---------------------------------------------------------------- the language model
def lm_run(cfg: Any) -> Path:
    """The language model of ``cfg``: ``--encoder``, its own ``RUN/lm``, or for an ensemble member 1's."""
    if cfg.encoder:
        return Path(cfg.encoder)
    members = getattr(cfg, "ensemble", 1) > 1 or getattr(cfg, "ensemble_with", None)
    return Path(cfg.out) / (f"{MEMBERS}/1/{LM_FOLDER}" if members else LM_FOLDER)


def _checked_encoder(cfg: Any) -> Path:
    """``--encoder``'s folder, refused unless it holds a finished word-level language-model run."""
    run, flag = Path(cfg.encoder), cfg.option("encoder")
    fix = "give a run folder of `rnnkit lm train` (or `rnnkit textgen train --level word`), or use --pretrain-lm"
    data = read_json(run / "config.json") if (run / "config.json").is_file() else None
    if data is None:
        raise ConfigError(f"{flag} {run}: not a run folder (no config.json); {fix}")
    if data.get("app") != "textgen":
        raise ConfigError(f"{flag} {run} is a run of `rnnkit {data.get('app')}`, not a language model; {fix}")
    level = (data.get("config") or {}).get("level")
    if level != "word":
        raise ConfigError(f"{flag} {run} is a {level}-level language model; the classifier needs a word-level one; {fix}")
    for name in ("vocab.json", "model.safetensors"):
        if not (run / name).is_file():
            raise ConfigError(f"{flag} {run} has no {name} (its training did not finish an epoch); {fix}")
    return run


def encoder_vocab(cfg: Any, texts: Sequence[str]) -> Vocab | None:
    """The vocabulary the classifier adopts: ``--encoder``'s, or None (the task's own is built from ``texts``).

    Refused when it knows less than :data:`MIN_COVERAGE` of the tokens of ``texts``
    (the training texts): the classifier would read mostly ``<unk>``.
    """
    if not cfg.encoder:
        return None
    run = _checked_encoder(cfg)
    vocab = Vocab.load(run / "vocab.json")
    known = total = 0
    for text in texts:
        tokens = tokenize(text, cfg.level)
        known += sum(1 for t in tokens if t in vocab)
        total += len(tokens)
    share = known / max(total, 1)
    if share < MIN_COVERAGE:
        raise ConfigError(f"{cfg.option('encoder')} {run}: its vocabulary knows {share:.1%} of the training tokens "
                          f"(at least {MIN_COVERAGE:.0%} needed); pretrain on this task's texts with "
                          f"{cfg.option('pretrain_lm')} instead")
    return vocab


def _write_corpus(path: Path, texts: Sequence[str], level: str, seed: int) -> int:
    """The texts tokenized by classify's tokenizer, one per line, in a seeded random order; returns the tokens."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)  # the held-out tail: a random sample of the texts, not the last label's
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in order:
            tokens = tokenize(texts[i], level)
            if tokens:
                f.write(" ".join(tokens) + "\n")
                count += len(tokens) + 1  # and the <eos> textgen ends each line with
    return count


def pretrain(cfg: Any, texts: Sequence[str], say: Callable[[str], None]) -> Path:
    """Train the language model on ``texts`` (the training texts only) into ``RUN/lm``; returns that folder."""
    run, folder = Path(cfg.out), lm_run(cfg)
    corpus = folder / CORPUS
    tokens = _write_corpus(corpus, texts, cfg.level, cfg.seed)
    say(f"classify: pretraining a language model on the {len(texts):,} training texts ({tokens:,} tokens, "
        f"{corpus}) for {cfg.lm_epochs} epoch(s) into {folder}")
    settings = {**LM_SETTINGS, "data": str(corpus), "vocab_file": str(run / "vocab.json"), "epochs": cfg.lm_epochs,
                "seed": cfg.seed, "out": str(folder)}
    train_lm(TextgenConfig(**settings), print_fn=say, verbose=0)
    return folder


def lm_figures(cfg: Any) -> dict[str, Any]:
    """What ``metrics.json`` of the classifier records of its language model (empty without one)."""
    if not uses_lm(cfg):
        return {}
    run = lm_run(cfg)
    lm = read_json(run / "metrics.json") if (run / "metrics.json").is_file() else {}
    out: dict[str, Any] = {"lm_run": str(run)}
    for key in ("val_perplexity", "train_seconds", "wall_seconds", "epochs"):
        if key in lm:
            out[f"lm_{key}"] = lm[key]
    return out


# ---------------------------------------------------------------- the classifier
def build_classifier(lm: nn.Module, num_classes: int, dropout: float) -> Sequential:
    """The classifier over a language model's encoder (module notes, step 2), sharing no tensor with ``lm``.

    ``lm``: a textgen ``Sequential`` (Embedding, recurrent layers, optional Dropout
    layers, an output layer).
    """
    layers = list(getattr(lm, "layers", []))
    if not layers or not isinstance(layers[0], Embedding) or not any(isinstance(m, RecurrentLayer) for m in layers):
        raise ConfigError("--encoder: the run's model is not an embedding followed by recurrent layers; give a run "
                          "of `rnnkit lm train`")
    last = max(i for i, m in enumerate(layers) if isinstance(m, RecurrentLayer))
    source = layers[0]
    embed = Embedding(source.input_dim, source.output_dim, mask_zero=True)  # id 0 (<pad>): padding, masked
    embed.load_state_dict(source.state_dict())
    stack: list[nn.Module] = [embed]
    for module in layers[1:last + 1]:
        if isinstance(module, RecurrentLayer):
            config = {**serialize(module)["config"], "stateful": False, "return_sequences": True, "name": None}
            layer = deserialize({"class_name": type(module).__name__, "config": config})
            layer.load_state_dict(module.state_dict())
        elif isinstance(module, Dropout):
            layer = Dropout(module.rate)
        else:
            raise ConfigError(f"--encoder: the run's model has a {type(module).__name__} between its recurrent layers; "
                              "give a run of `rnnkit lm train`")
        stack.append(layer)
    stack += [GlobalConcatPooling1D(), Dropout(dropout), Dense(num_classes)]  # (B, 3U) -> logits (B, C)
    model = Sequential(stack)
    model(torch.ones(1, 1, dtype=torch.long))  # builds the head
    return model


def layer_groups(model: Sequential) -> list[list[nn.Parameter]]:
    """The parameter groups of fine-tuning, top first: the head, each recurrent layer from the top, the embedding."""
    layers = list(model.layers)
    recurrent = [i for i, m in enumerate(layers) if isinstance(m, RecurrentLayer)]
    head = [p for m in layers[recurrent[-1] + 1:] for p in m.parameters()]
    return [head, *([*layers[i].parameters()] for i in reversed(recurrent)), [*layers[0].parameters()]]


def fine_tuning(cfg: Any, num_classes: int, say: Callable[[str], None],
                ema_momentum: float | None = None) -> Sequential:
    """The compiled classifier of ``cfg``: from ``--encoder``, or from the language model trained here now.

    ``ema_momentum``: the optimizer keeps the moving average of the weights with it (None: it keeps none).
    """
    run = lm_run(cfg)
    lm, _, lm_cfg = load_lm_run(run)
    model = build_classifier(lm, num_classes, cfg.dropout)
    groups = layer_groups(model)
    ema = dict(use_ema=True, ema_momentum=ema_momentum) if ema_momentum is not None else {}
    model.compile(optimizer=Adam(learning_rate=cfg.learning_rate, **ema).build(discriminative_groups(groups, FACTOR)),
                  loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], clipnorm=cfg.clipnorm)
    trained = ("unfrozen one per epoch from the top" if cfg.unfreeze == "gradual" else "all trained from the start")
    say(f"classify: classifier from the language model {run} ({lm_cfg.layers} x {lm_cfg.units} {lm_cfg.cell}, "
        f"embeddings {lm_cfg.embed_dim}); {len(groups)} layer groups {trained}, learning "
        f"rates {cfg.learning_rate:g} / {FACTOR}^k, slanted triangular schedule")
    return model


def unfreezing() -> GradualUnfreezing:
    """The gradual unfreezing of a classifier made by :func:`fine_tuning` (its groups found when training begins)."""
    return GradualUnfreezing(layer_groups)


def schedule(cfg: Any) -> SlantedTriangular:
    """The learning rate of fine-tuning over the run: slanted triangular, peaking at ``--lr``."""
    return SlantedTriangular(cfg.learning_rate, CUT_FRAC, RATIO)
