"""Recipe of text generation: train a language model into a run folder, and sample from a run.

``train(config)`` walks the training stream in contiguous ``(batch, seq_len)``
chunks with stateful layers (truncated BPTT, the state carried from chunk to
chunk), validates on the held-out tail after every epoch, keeps the best weights,
and writes the run folder:

* ``config.json`` (this module's :class:`TextgenConfig`, with the model a time
  budget chose and the measurement behind the choice: :mod:`.sizing`), ``vocab.json``;
* ``metrics.csv`` (per epoch: loss, val_loss, lr, grad_norm, seconds),
  ``metrics.json`` (final: ``val_loss`` in nats per token, ``val_bpc`` at character
  level, ``val_perplexity``/``test_perplexity`` at word level);
* ``loss.png``; ``model.safetensors`` (best weights) and ``checkpoint.safetensors``
  (the last epoch's weights, optimizer and progress, for ``--resume``).

``sample(run, ...)`` rebuilds the model from the folder and generates text.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch

import rnnkit
from rnnkit.data import LMStream, Vocab
from rnnkit.errors import ConfigError
from rnnkit.optimizers import SGD, Adam
from rnnkit.plots import plot_history
from rnnkit.runs import new_run_dir, parse_duration, read_config, write_config, write_json
from rnnkit.training.callbacks import Callback, CSVLogger, ModelCheckpoint, TimeBudget
from rnnkit.training.losses import SparseCategoricalCrossentropy

from . import sizing
from .data import Corpus, load_corpus
from .generate import generate
from .model import build_model, recurrent_layers

__all__ = ["TextgenConfig", "train", "sample", "load_run", "evaluate_tokens", "parse_duration"]

APP = "textgen"

# the settings a run takes when they are neither given nor chosen by a time budget (sizing.py)
DEFAULT_SIZE: dict[str, Any] = dict(cell="lstm", layers=2, units=256, batch_size=64, seq_len=64, learning_rate=4e-3)


@dataclass
class TextgenConfig:
    """Every setting of a text generation run (saved as the run's ``config.json``).

    ``cell``, ``layers``, ``units``, ``batch_size``, ``seq_len`` and
    ``learning_rate`` left at None are chosen by the run: with a ``time_budget``
    at character level and none of cell/layers/units given, by timing candidate
    models on this machine (:mod:`.sizing`, which says how); otherwise they take
    :data:`DEFAULT_SIZE` (2 x 256 LSTM, 64-step chunks of 64 rows, Adam at 4e-3).
    ``config.json`` holds the values the run used, so ``load_run`` and
    ``--resume`` rebuild that very model, and ``sizing`` the measurement behind
    a choice.  Training uses a cosine decay over the run and no dropout.
    """

    data: str = "tinyshakespeare"
    level: str = "char"
    cell: str | None = None  # None: chosen (see above); 'lstm', 'gru', 'rnn', 'mingru' or 'minlstm'
    layers: int | None = None
    units: int | None = None
    embed_dim: int = 64
    dropout: float = 0.0
    tie_weights: bool = False
    init_scale: float | None = None  # every weight from U(-s, s) (Zaremba et al.); None: see build_model
    seq_len: int | None = None
    batch_size: int | None = None
    epochs: int | None = None  # None with no time budget: 10
    time_budget: float | None = None  # seconds of training (validation not counted)
    optimizer: str = "adam"  # 'adam' or 'sgd'
    learning_rate: float | None = None
    schedule: str = "cosine"  # 'cosine' (to 5% over the run), 'step' (x decay per epoch after decay_after), 'constant'
    lr_decay: float = 0.5
    decay_after: int = 4
    warmup: float = 0.02  # fraction of the run with a linearly rising learning rate (cosine only)
    clipnorm: float = 1.0
    eval_batch_size: int = 16
    sample_length: int = 200
    sample_prompt: str = ""
    seed: int = 0
    out: str | None = None
    sizing: dict | None = None  # what the time budget's size choice measured (written by train)

    def check(self) -> None:
        """Refuse bad settings in one line each; None (still to be chosen) passes."""
        if self.seq_len is not None and (not isinstance(self.seq_len, int) or self.seq_len < 1):
            raise ConfigError(f"--seq-len must be a whole number >= 1, got {self.seq_len!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigError(f"--batch-size must be a whole number >= 1, got {self.batch_size!r}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise ConfigError(f"--epochs must be a whole number >= 1, got {self.epochs!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(f"--time-budget must be positive, got {self.time_budget!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"--optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"--schedule must be 'cosine', 'step' or 'constant', got {self.schedule!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"--lr must be positive, got {self.learning_rate!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextgenConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------- callbacks of the recipe
class _Progress(TimeBudget):
    """The training clock and budget (:class:`TimeBudget`), plus the learning-rate schedule and state resets.

    The clock starts at the seconds spent choosing the model (``cfg.sizing``), so
    that they count against the budget; the schedule runs over what is left.
    """

    def __init__(self, cfg: TextgenConfig, epochs: int) -> None:
        super().__init__(cfg.time_budget)
        self.cfg, self.epochs = cfg, epochs
        self._epoch, self._epoch_start = 0, 0.0
        self.start = float((cfg.sizing or {}).get("seconds", 0.0)) if cfg.time_budget else 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.elapsed = self.start  # a resumed run then takes up its saved clock

    def _fraction(self, step: int) -> float:
        if self.cfg.time_budget:
            return min((self.elapsed - self.start) / max(self.cfg.time_budget - self.start, 1e-9), 1.0)
        steps = self.params.get("steps") or 1
        return min((self._epoch + step / steps) / self.epochs, 1.0)

    def _lr(self, step: int) -> float:
        cfg = self.cfg
        if cfg.schedule == "step":  # Zaremba et al.: constant, then x lr_decay each epoch after decay_after
            return cfg.learning_rate * cfg.lr_decay ** max(0, self._epoch + 1 - cfg.decay_after)
        if cfg.schedule == "constant":
            return cfg.learning_rate
        frac = self._fraction(step)
        if frac < cfg.warmup:
            return cfg.learning_rate * (0.1 + 0.9 * frac / cfg.warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * (frac - cfg.warmup) / max(1 - cfg.warmup, 1e-9)))
        return cfg.learning_rate * (0.05 + 0.95 * cosine)

    def _reset(self) -> None:
        for layer in recurrent_layers(self.model):
            layer.reset_states()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = self.elapsed
        self._reset()  # each epoch walks the stream from its start

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for group in self.model.optimizer.param_groups:
            group["lr"] = self._lr(batch)
        super().on_train_batch_begin(batch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_test_end(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if logs is not None:
            logs["epoch_seconds"] = round(self.elapsed - self._epoch_start, 2)


class _Sampler(Callback):
    """Print a short sample after each epoch, from a copy of the model (training state untouched)."""

    def __init__(self, cfg: TextgenConfig, vocab: Vocab, print_fn: Callable[[str], None]) -> None:
        super().__init__()
        self.cfg, self.vocab, self.print_fn = cfg, vocab, print_fn
        self._copy = _model_for(cfg, len(vocab))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.cfg.sample_length <= 0:
            return
        self._copy.load_state_dict(self.model.state_dict())
        text = generate(self._copy, self.vocab, self.cfg.sample_prompt, self.cfg.sample_length,
                        temperature=0.8, top_k=40, seed=self.cfg.seed)
        self.print_fn(f"--- sample after epoch {epoch + 1} ---\n{self.cfg.sample_prompt}{text}\n---")


# ---------------------------------------------------------------- training
def _model_for(cfg: TextgenConfig, vocab_size: int) -> torch.nn.Module:
    return build_model(vocab_size, cell=cfg.cell, layers=cfg.layers, units=cfg.units, embed_dim=cfg.embed_dim,
                       dropout=cfg.dropout, tie_weights=cfg.tie_weights, init_scale=cfg.init_scale)


@torch.inference_mode()
def evaluate_tokens(model: torch.nn.Module, tokens: Any, batch_size: int, seq_len: int) -> float:
    """Mean cross-entropy in nats per predicted token over a contiguous token array (every token counted once)."""
    model.eval()
    # rows of at least 20 chunks, so that the cold start of each row's state weighs little
    rows = max(1, min(batch_size, len(tokens) // (20 * seq_len)))
    stream = LMStream(tokens, batch_size=rows, steps=seq_len)
    for layer in recurrent_layers(model):
        layer.reset_states()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in stream:
        logits = model(x.to(device))  # (B, s, V)
        total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum"))
        count += y.numel()
    for layer in recurrent_layers(model):
        layer.reset_states()
    return total / count


def _choose_size(cfg: TextgenConfig, corpus: Corpus, print_fn: Callable[[str], None]) -> None:
    """Fill the settings left at None: by timing candidates for a time budget (``sizing``), else the defaults.

    The size is chosen only when the user gave none of cell/layers/units, at
    character level (the candidates' curves are character-level ones), with a
    time budget.  Settings the user gave (batch_size, seq_len, learning_rate)
    are kept: the candidates are timed with them.
    """
    given = {k: getattr(cfg, k) for k in DEFAULT_SIZE if getattr(cfg, k) is not None}
    chosen: dict[str, Any] = {}
    if cfg.time_budget and cfg.level == "char" and not any(k in given for k in sizing.SIZE_FIELDS):
        overrides = {k: v for k, v in given.items() if k not in sizing.SIZE_FIELDS}
        if "batch_size" in overrides and len(corpus.train) < 2 * overrides["batch_size"]:
            raise ConfigError(f"--data {cfg.data}: {len(corpus.train)} training tokens cannot fill --batch-size {overrides['batch_size']} rows; lower --batch-size")
        # a corpus too small for a candidate's rows is timed with rows it can fill (the run then checks its own)
        rows = max(1, len(corpus.train) // 2)
        candidates = [c if c.settings["batch_size"] <= rows else
                      sizing.Candidate(c.name, {**c.settings, "batch_size": rows}, c.curve) for c in sizing.CANDIDATES]
        chosen, cfg.sizing = sizing.size_for_budget(
            cfg.time_budget, corpus.train, len(corpus.vocab), overrides=overrides, embed_dim=cfg.embed_dim,
            dropout=cfg.dropout, optimizer=cfg.optimizer, clipnorm=cfg.clipnorm, candidates=candidates, print_fn=print_fn)
    for key, default in DEFAULT_SIZE.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, chosen.get(key, default))


def _final_metrics(cfg: TextgenConfig, model: torch.nn.Module, corpus: Corpus) -> dict[str, float]:
    val = evaluate_tokens(model, corpus.valid, cfg.eval_batch_size, cfg.seq_len)
    out = {"val_loss": val}
    if cfg.level == "char":
        out["val_bpc"] = val / math.log(2)
    else:
        out["val_perplexity"] = math.exp(val)
        if corpus.test is not None and len(corpus.test) > 2:
            test = evaluate_tokens(model, corpus.test, cfg.eval_batch_size, cfg.seq_len)
            out.update(test_loss=test, test_perplexity=math.exp(test))
    return out


def train(config: TextgenConfig | None = None, *, resume: bool = False, print_fn: Callable[[str], None] = print,
          verbose: int = 1) -> dict[str, Any]:
    """Train a language model; returns the final metrics (also written to ``metrics.json``).

    ``resume=True`` continues the run in ``config.out`` from its last completed
    epoch, with the settings saved there (``epochs``/``time_budget`` may be raised).
    """
    cfg = config or TextgenConfig()
    run = new_run_dir(APP, cfg.out, resume=resume)
    if resume:
        saved = TextgenConfig.from_dict(read_config(run, APP))
        saved.epochs = cfg.epochs or saved.epochs
        saved.time_budget = cfg.time_budget or saved.time_budget
        saved.out = str(run)
        cfg = saved
        if not (run / "checkpoint.safetensors").exists():
            raise ConfigError(f"--resume: {run} has no checkpoint.safetensors yet (no epoch finished); start it again without --resume")
    cfg.out = str(run)
    cfg.check()
    vocab = Vocab.load(run / "vocab.json") if resume else None
    corpus = load_corpus(cfg.data, cfg.level, vocab=vocab)
    vocab = corpus.vocab
    if not resume:
        _choose_size(cfg, corpus, print_fn)
    cfg.check()
    rnnkit.set_seed(cfg.seed)  # after the size choice, whose trial models draw from the generators
    if len(corpus.train) < 2 * cfg.batch_size:
        raise ConfigError(f"--data {cfg.data}: {len(corpus.train)} training tokens cannot fill --batch-size {cfg.batch_size} rows; lower --batch-size")
    if not resume:
        write_config(run, APP, asdict(cfg))
        vocab.save(run / "vocab.json")
    model = _model_for(cfg, len(vocab))
    optimizer = (Adam(learning_rate=cfg.learning_rate) if cfg.optimizer == "adam"
                 else SGD(learning_rate=cfg.learning_rate))
    model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True), clipnorm=cfg.clipnorm)
    epochs = cfg.epochs or (10_000 if cfg.time_budget else 10)
    params = sum(p.numel() for p in model.parameters())
    print_fn(f"textgen: {cfg.data} at {cfg.level} level, {len(corpus.train):,} training and {len(corpus.valid):,} "
             f"validation tokens, vocabulary {len(vocab):,}; {cfg.layers} x {cfg.units} {cfg.cell}, {params:,} parameters, "
             f"batch {cfg.batch_size} x {cfg.seq_len} steps, lr {cfg.learning_rate:g}; "
             f"run folder {run}")
    train_stream = LMStream(corpus.train, cfg.batch_size, cfg.seq_len)
    valid_stream = LMStream(corpus.valid, min(cfg.batch_size, max(1, len(corpus.valid) // 2)), cfg.seq_len)
    callbacks = [
        _Progress(cfg, epochs),
        CSVLogger(str(run / "metrics.csv"), append=resume),
        ModelCheckpoint(str(run / "model.safetensors"), monitor="val_loss", save_best_only=True, save_weights_only=True),
        ModelCheckpoint(str(run / "checkpoint.safetensors"), save_weights_only=False),
        _Sampler(cfg, vocab, print_fn),
    ]
    start = time.perf_counter()
    model.fit(train_stream, epochs=epochs, shuffle=False, validation_data=valid_stream, callbacks=callbacks,
              verbose=verbose, resume_from=str(run / "checkpoint.safetensors") if resume else None)
    wall = time.perf_counter() - start
    if not (run / "model.safetensors").exists():
        raise ConfigError("training stopped before the first epoch finished (time budget too short?); nothing was saved")
    model.load_weights(str(run / "model.safetensors"))
    metrics = _final_metrics(cfg, model, corpus)
    metrics.update(epochs=model.epochs_done, train_seconds=callbacks[0].elapsed, wall_seconds=wall, parameters=params)
    write_json(run / "metrics.json", metrics)
    plot_history(run / "metrics.csv", run / "loss.png", title=f"{cfg.data}: {cfg.layers} x {cfg.units} {cfg.cell}", keys=["loss"])
    figures = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in ("val_loss", "val_bpc", "val_perplexity", "test_perplexity"))
    print_fn(f"textgen: best {figures} after {metrics['train_seconds']:.0f} s of training; "
             f"run folder {run} (model.safetensors, metrics.json, loss.png)")
    return metrics


# ---------------------------------------------------------------- using a run
def load_run(run: str | Path) -> tuple[torch.nn.Module, Vocab, TextgenConfig]:
    """The best model of a run folder, its vocabulary and its settings."""
    run = Path(run)
    cfg = TextgenConfig.from_dict(read_config(run, APP))
    for name in ("vocab.json", "model.safetensors"):
        if not (run / name).exists():
            raise ConfigError(f"--run {run} has no {name}; its training did not finish an epoch")
    vocab = Vocab.load(run / "vocab.json")
    model = _model_for(cfg, len(vocab))
    model.load_weights(str(run / "model.safetensors"))
    model.eval()
    return model, vocab, cfg


def sample(run: str | Path, prompt: str = "", length: int = 500, *, temperature: float = 0.8, top_k: int = 40,
           top_p: float = 0.95, greedy: bool = False, beam: int = 0, seed: int | None = None,
           stream: Callable[[str], None] | None = None) -> str:
    """Generate ``length`` tokens after ``prompt`` with the best model of ``run``."""
    model, vocab, _ = load_run(run)
    return generate(model, vocab, prompt, length, temperature=temperature, top_k=top_k, top_p=top_p,
                    greedy=greedy, beam=beam, seed=seed, stream=stream)

