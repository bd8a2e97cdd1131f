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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from rnnkit.data import LMStream, Vocab
from rnnkit.errors import ConfigError
from rnnkit.optimizers import SGD, Adam
from rnnkit.protocols import state_carriers
from rnnkit.runs import parse_duration
from rnnkit.training.callbacks import Callback
from rnnkit.training.losses import SparseCategoricalCrossentropy

from ..framework import AppConfig, Fitted, Recipe, ReportSection, TrainConfig, open_run, setting, train_run
from . import sizing
from .data import Corpus, load_corpus
from .generate import generate
from .model import CELLS, SOFTMAX, build_model

__all__ = ["TextgenConfig", "SampleOptions", "LM_DEFAULTS", "train", "sample", "load_run", "evaluate_tokens",
           "parse_duration"]

APP = "textgen"

# the settings a run takes when they are neither given nor chosen by a time budget (sizing.py)
DEFAULT_SIZE: dict[str, Any] = dict(cell="lstm", layers=2, units=256, batch_size=64, seq_len=64, learning_rate=4e-3)

# Zaremba et al. 2014, "small" (``rnnkit lm train``): 2 x 200 LSTM, 20 steps, batch 20, weights from U(-0.1, 0.1), SGD
# at lr 1 halved after epoch 4, clip 5, 13 epochs.  Their loss is summed over the 20 steps and averaged over the batch;
# rnnkit's is the mean per token, 20x smaller, so the same updates are lr 20 and clip 5/20 = 0.25 here:
# lr * clip(20 g, 5) = (20 lr) * clip(g, 0.25).
LM_DEFAULTS: dict[str, Any] = dict(
    data="ptb", level="word", layers=2, units=200, embed_dim=200, dropout=0.0, seq_len=20, batch_size=20,
    epochs=13, optimizer="sgd", learning_rate=20.0, schedule="step", lr_decay=0.5, decay_after=4, clipnorm=0.25,
    init_scale=0.1, eval_batch_size=10, sample_length=30,
)
_CHOSEN = " (default 2 x 256 lstm, batch 64 x 64, lr 4e-3, or chosen by --time-budget)"


@dataclass
class TextgenConfig(TrainConfig):
    """Every setting of a text generation run (saved as the run's ``config.json``).

    ``cell``, ``layers``, ``units``, ``batch_size``, ``seq_len`` and
    ``learning_rate`` left at None are chosen by the run: with a ``time_budget``
    at character level and none of cell/layers/units given, by timing candidate
    models on this machine (:mod:`.sizing`, which says how); otherwise they take
    :data:`DEFAULT_SIZE` (2 x 256 LSTM, 64-step chunks of 64 rows, Adam at 4e-3).
    ``config.json`` holds the values the run used, so ``load_run`` and
    ``--resume`` rebuild that very model, and ``sizing`` the measurement behind
    a choice.  Training uses a cosine decay over the run and no dropout.

    >>> TextgenConfig(seq_len=0)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `seq_len` must be a whole number >= 1, got 0
    """

    data: str = setting("tinyshakespeare", help="dataset name or UTF-8 text file")
    level: str = setting("char", help="tokens: characters or words", choices=("char", "word"))
    cell: str | None = setting(None, help="recurrent cell" + _CHOSEN, choices=tuple(CELLS))
    layers: int | None = setting(None, help="recurrent layers" + _CHOSEN, min=1)
    units: int | None = setting(None, help="units per layer" + _CHOSEN, min=1)
    embed_dim: int = setting(64, help="embedding size", min=1)
    dropout: float = setting(0.0, help="dropout after the embedding and each layer", min=0, lt=1)
    tie_weights: bool = setting(False, help="share embedding and output weights (needs --embed-dim = --units)",
                                flag="--tie")
    init_scale: float | None = setting(None, help="start every weight from U(-s, s) (Zaremba et al.)", gt=0)
    softmax: str = setting("full", help="output layer: full softmax, or adaptive (Grave et al.: a head over the "
                                        "frequent words, narrower clusters for the rare ones; 3x faster training "
                                        "over a 20k-word vocabulary)", choices=SOFTMAX)
    cutoffs: list[int] = setting([], help="cluster boundaries of --softmax adaptive, e.g. 2000,10000 (default: "
                                          "those of 2000, 10000, 50000 below the vocabulary size)")
    vocab_file: str | None = setting(None, help="use this vocabulary (a run's vocab.json) instead of building one "
                                                "from the training text; words it lacks become <unk>")
    holdout: float = setting(0.1, help="fraction of a text file held out at its end (at word level: validation, "
                                       "then test)", gt=0, lt=1)
    seq_len: int | None = setting(None, help="BPTT length" + _CHOSEN, min=1)
    batch_size: int | None = setting(None, help="rows of the stream" + _CHOSEN, min=1)
    epochs: int | None = setting(None, help="epochs (default 10)", min=1, group="budget")
    time_budget: float | None = setting(
        None, help="training time, e.g. 90s, 10m, 1h (validation not counted); with no --cell/--layers/--units, its "
                   "first seconds time candidate models and the best one for this machine is trained",
        gt=0, group="budget", parse=parse_duration)
    optimizer: str = setting("adam", help="optimizer", choices=("adam", "sgd"))
    learning_rate: float | None = setting(None, help="learning rate" + _CHOSEN, gt=0, flag="--lr")
    schedule: str = setting("cosine", help="cosine (to 5% over the run), step (x lr-decay per epoch after "
                                           "decay-after), constant", choices=("cosine", "step", "constant"))
    lr_decay: float = setting(0.5, help="factor of the step schedule", gt=0)
    decay_after: int = setting(4, help="epochs before the step schedule decays", min=0)
    warmup: float = setting(0.02, help="fraction of the run with a rising learning rate (cosine only)", min=0, lt=1)
    clipnorm: float = setting(1.0, help="gradient norm clip", gt=0)
    eval_batch_size: int = setting(16, help="rows when scoring the held-out text", min=1)
    sample_length: int = setting(200, help="sample printed after each epoch (0: none)", min=0)
    sample_prompt: str = setting("", help="start of each epoch's sample", flag="--prompt")
    seed: int = setting(0, help="seed of every generator")
    out: str | None = setting(None, help="run folder (default runs/textgen-<time>)")
    sizing: dict | None = setting(None, cli=False)  # what the time budget's size choice measured (written by train)

    def validate(self) -> None:
        if self.tie_weights and self.units is not None and self.embed_dim != self.units:
            raise ConfigError(f"{self.option('tie_weights')} needs {self.option('embed_dim')} equal to "
                              f"{self.option('units')} (the output layer reuses the embedding), got {self.embed_dim} "
                              f"and {self.units}")


@dataclass
class SampleOptions(AppConfig):
    """The options of ``rnnkit textgen sample`` (see :func:`sample`)."""

    run: str = setting("", help="run folder written by `rnnkit textgen train`")
    prompt: str = setting("", help="text the sample continues")
    length: int = setting(500, help="tokens to generate", min=0)
    temperature: float = setting(0.8, help="sharpens (< 1) or flattens (> 1) the distribution", gt=0)
    top_k: int = setting(40, help="draw from the k most likely tokens (0: all)", min=0)
    top_p: float = setting(0.95, help="draw from the smallest set holding this probability", gt=0, max=1)
    greedy: bool = setting(False, help="always the most likely next token")
    beam: int = setting(0, help="beam search with this many beams", min=0)
    seed: int | None = setting(None, help="seed of the draws")

    def validate(self) -> None:
        self.need_run("textgen")
        if self.greedy and self.beam > 1:
            raise ConfigError(f"give {self.option('greedy')} or {self.option('beam')} {self.beam}, not both "
                              "(greedy is a beam of 1)")


# ---------------------------------------------------------------- callbacks of the recipe
def _schedule(cfg: TextgenConfig) -> Callable[[float, int], float]:
    """The learning rate at (fraction of the run done, epoch): cosine with warm-up, step decay, or constant."""

    def rate(frac: float, epoch: int) -> float:
        if cfg.schedule == "step":  # Zaremba et al.: constant, then x lr_decay each epoch after decay_after
            return cfg.learning_rate * cfg.lr_decay ** max(0, epoch + 1 - cfg.decay_after)
        if cfg.schedule == "constant":
            return cfg.learning_rate
        if frac < cfg.warmup:
            return cfg.learning_rate * (0.1 + 0.9 * frac / cfg.warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * (frac - cfg.warmup) / max(1 - cfg.warmup, 1e-9)))
        return cfg.learning_rate * (0.05 + 0.95 * cosine)

    return rate


def _reset_states(model: torch.nn.Module) -> None:
    for layer in state_carriers(model):  # the state-carrying protocol (rnnkit.protocols)
        layer.reset_states()


class _StreamStates(Callback):
    """Each epoch walks the stream from its start, and validation from a zero state (stateful layers)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        _reset_states(self.model)

    def on_test_begin(self, logs: dict | None = None) -> None:
        _reset_states(self.model)

    def on_test_end(self, logs: dict | None = None) -> None:
        _reset_states(self.model)


class _Sampler(Callback):
    """Print a short sample after each epoch, from a copy of the model (training state untouched)."""

    writes = True  # rank 0 only under data-parallel training

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
                       dropout=cfg.dropout, tie_weights=cfg.tie_weights, init_scale=cfg.init_scale,
                       softmax=cfg.softmax, cutoffs=cfg.cutoffs)


def _given_vocab(cfg: TextgenConfig) -> Vocab | None:
    """The vocabulary of ``--vocab-file`` (None when not given), checked against the run's level."""
    if not cfg.vocab_file:
        return None
    path = Path(cfg.vocab_file)
    try:
        vocab = Vocab.load(path)
    except ConfigError as exc:  # Vocab.load names the file and what is wrong with it (missing, not UTF-8, not ours)
        raise ConfigError(f"{cfg.option('vocab_file')}: {exc}") from None
    if vocab.level != cfg.level:
        raise ConfigError(f"{cfg.option('vocab_file')} {path} is a {vocab.level}-level vocabulary; pass "
                          f"{cfg.option('level')} {vocab.level} or another file")
    return vocab


@torch.inference_mode()
def evaluate_tokens(model: torch.nn.Module, tokens: Any, batch_size: int, seq_len: int) -> float:
    """Mean cross-entropy in nats per predicted token over a contiguous token array (every token counted once)."""
    model.eval()
    # rows of at least 20 chunks, so that the cold start of each row's state weighs little
    rows = max(1, min(batch_size, len(tokens) // (20 * seq_len)))
    stream = LMStream(tokens, batch_size=rows, steps=seq_len)
    _reset_states(model)
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in stream:
        logits = model(x.to(device))  # (B, s, V)
        total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum"))
        count += y.numel()
    _reset_states(model)
    return total / count


def _check_rows(cfg: TextgenConfig, corpus: Corpus, rows: int) -> None:
    """Refuse a batch of ``rows`` the training text cannot fill (each row needs two tokens or more)."""
    if len(corpus.train) < 2 * rows:
        raise ConfigError(f"{cfg.option('data')} {cfg.data}: {len(corpus.train)} training tokens cannot fill "
                          f"{cfg.option('batch_size')} {rows} rows; lower {cfg.option('batch_size')}")


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
        if "batch_size" in overrides:
            _check_rows(cfg, corpus, overrides["batch_size"])
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


class _Recipe(Recipe):
    """Text generation's hooks of :func:`~rnnkit.apps.framework.train_run`."""

    name, config, resumable = APP, TextgenConfig, True

    def prepare(self, cfg: TextgenConfig, saved: Path | None, print_fn: Callable[[str], None]) -> tuple[TextgenConfig, Corpus]:
        vocab = Vocab.load(saved / "vocab.json") if saved else _given_vocab(cfg)
        corpus = load_corpus(cfg.data, cfg.level, vocab=vocab, valid_fraction=cfg.holdout)
        if saved is None:
            _choose_size(cfg, corpus, print_fn)
        _check_rows(cfg, corpus, cfg.batch_size)
        return cfg, corpus

    def save_data(self, run: Path, cfg: TextgenConfig, corpus: Corpus) -> None:
        corpus.vocab.save(run / "vocab.json")

    def spent(self, cfg: TextgenConfig) -> float:
        return float((cfg.sizing or {}).get("seconds", 0.0)) if cfg.time_budget else 0.0

    def build(self, cfg: TextgenConfig, corpus: Corpus) -> torch.nn.Module:
        model = _model_for(cfg, len(corpus.vocab))
        optimizer = (Adam(learning_rate=cfg.learning_rate) if cfg.optimizer == "adam"
                     else SGD(learning_rate=cfg.learning_rate))
        model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True), clipnorm=cfg.clipnorm)
        return model

    def rebuild(self, cfg: TextgenConfig, run: Path) -> torch.nn.Module:
        return _model_for(cfg, len(Vocab.load(run / "vocab.json")))

    def describe(self, cfg: TextgenConfig, corpus: Corpus, parameters: int, run: Path) -> str:
        return (f"textgen: {cfg.data} at {cfg.level} level, {len(corpus.train):,} training and {len(corpus.valid):,} "
                f"validation tokens, vocabulary {len(corpus.vocab):,}; {cfg.layers} x {cfg.units} {cfg.cell}"
                f"{', adaptive softmax' if cfg.softmax == 'adaptive' else ''}, "
                f"{parameters:,} parameters, batch {cfg.batch_size} x {cfg.seq_len} steps, lr {cfg.learning_rate:g}; "
                f"run folder {run}")

    def fit_data(self, cfg: TextgenConfig, corpus: Corpus) -> dict[str, Any]:
        valid_rows = min(cfg.batch_size, max(1, len(corpus.valid) // 2))
        return dict(x=LMStream(corpus.train, cfg.batch_size, cfg.seq_len), shuffle=False,
                    validation_data=LMStream(corpus.valid, valid_rows, cfg.seq_len))

    def schedule(self, cfg: TextgenConfig) -> Callable[[float, int], float]:
        return _schedule(cfg)

    def callbacks(self, cfg: TextgenConfig, corpus: Corpus, print_fn: Callable[[str], None]) -> list:
        return [_StreamStates(), _Sampler(cfg, corpus.vocab, print_fn)]

    def evaluate(self, cfg: TextgenConfig, corpus: Corpus, fitted: Fitted, print_fn: Callable[[str], None]) -> dict[str, Any]:
        metrics = {**_final_metrics(cfg, fitted.model, corpus), **fitted.figures()}
        figures = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                            if k in ("val_loss", "val_bpc", "val_perplexity", "test_perplexity"))
        print_fn(f"textgen: best {figures} after {metrics['train_seconds']:.0f} s of training; "
                 f"run folder {fitted.run} (model.safetensors, metrics.json, loss.png)")
        return metrics

    def title(self, cfg: TextgenConfig) -> str:
        return f"{cfg.data}: {cfg.layers} x {cfg.units} {cfg.cell}"

    def report_sections(self, run: Path, metrics: dict[str, Any]) -> list[ReportSection]:
        """A sample of the best model, drawn as each epoch's was (the run's prompt and seed)."""
        model, vocab, cfg = load_run(run)
        length = REPORT_SAMPLE[cfg.level]
        text = generate(model, vocab, cfg.sample_prompt, length, temperature=0.8, top_k=40, seed=cfg.seed)
        return [ReportSection("Sample", f"{length} {'characters' if cfg.level == 'char' else 'words'} generated by the "
                              f"best model after the prompt {cfg.sample_prompt!r} (temperature 0.8, top-k 40, seed "
                              f"{cfg.seed}).", pre=cfg.sample_prompt + text)]


RECIPE = _Recipe()
REPORT_SAMPLE = {"char": 500, "word": 100}  # tokens of the report's sample


def train(config: TextgenConfig | None = None, *, resume: bool = False, print_fn: Callable[[str], None] = print,
          verbose: int = 1, **settings: Any) -> dict[str, Any]:
    """Train a language model; returns the final metrics (also written to ``metrics.json``).

    ``settings`` replace fields of ``config`` (``train(data="my.txt", epochs=3)``).
    ``resume=True`` continues the run in ``config.out`` from its last completed
    epoch, with the settings saved there (``epochs``/``time_budget`` may be raised).
    """
    return train_run(RECIPE, TextgenConfig.of(config, **settings), resume=resume, print_fn=print_fn, verbose=verbose)


# ---------------------------------------------------------------- using a run
def load_run(run: str | Path) -> tuple[torch.nn.Module, Vocab, TextgenConfig]:
    """The best model of a run folder, its vocabulary and its settings."""
    model, cfg, run = open_run(run, RECIPE, needs=("vocab.json",))
    return model, Vocab.load(run / "vocab.json"), cfg


def sample(run: str | Path, prompt: str = "", length: int = 500, *, temperature: float = 0.8, top_k: int = 40,
           top_p: float = 0.95, greedy: bool = False, beam: int = 0, seed: int | None = None,
           stream: Callable[[str], None] | None = None) -> str:
    """Generate ``length`` tokens after ``prompt`` with the best model of ``run``."""
    model, vocab, _ = load_run(run)
    return generate(model, vocab, prompt, length, temperature=temperature, top_k=top_k, top_p=top_p,
                    greedy=greedy, beam=beam, seed=seed, stream=stream)


def sample_command(options: SampleOptions, print_fn: Callable[[str], None] | None = None) -> str:
    """``rnnkit textgen sample``: the prompt, then each generated piece as it comes, on standard output."""
    import sys

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    sys.stdout.write(options.prompt)
    text = sample(options.run, options.prompt, options.length, temperature=options.temperature, top_k=options.top_k,
                  top_p=options.top_p, greedy=options.greedy, beam=options.beam, seed=options.seed, stream=stream)
    sys.stdout.write("\n")
    return text
