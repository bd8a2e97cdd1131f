"""Recipe of machine translation: train an encoder–decoder into a run folder, then translate with it.

``train(config)``:

1. reads sentence pairs (``tatoeba-fra-eng``, ``tatoeba-cmn-eng`` or a TSV file),
   keeps those of at most ``max_words`` words a side (a side read by character:
   ``3 * max_words`` characters), and splits them by source sentence
   (:func:`~.data.split_by_source`: 5% validation, 5% test with at least 1,000
   pairs, fixed by ``split_seed``) so no test source is ever trained on;
2. tokenises both sides (:mod:`.text`: lower-cased, punctuation apart, Chinese by
   character) and builds each vocabulary from the training pairs only (tokens
   seen fewer than ``min_freq`` times become ``<unk>``); learns the target's
   casing for the output;
3. trains :class:`rnnkit.models.Seq2Seq` with teacher forcing on batches of
   similar lengths (padding masked), Adam with a cosine-decayed learning rate
   and gradient clipping; after each epoch it translates up to 1,000 validation
   sources greedily for ``val_bleu``; early stopping on ``val_bleu`` (or
   ``val_loss``) keeps the best weights;
4. translates the test sources greedily and with beam search, scores them with
   sacreBLEU against every reference of each source, and writes the run folder:
   ``config.json``, ``run.json``, ``source_vocab.json``, ``target_vocab.json``,
   ``truecase.json``, ``metrics.csv``, ``metrics.json`` (``test_bleu_greedy``,
   ``test_bleu_beam``, ``test_chrf_greedy``, ``test_chrf_beam``, ``val_bleu``,
   ``test_pairs``, ``train_pairs`` ...), ``loss.png``, ``examples.tsv`` (50 test
   translations), ``attention.png`` (one test sentence) and the model.

``translate(run, sentences)`` and ``rnnkit translate run`` use a run folder.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rnnkit._io import atomic_write, decode_utf8
from rnnkit.data import Vocab
from rnnkit.errors import ConfigError, DatasetError
from rnnkit.models import Seq2Seq
from rnnkit.optimizers import Adam
from rnnkit.plots import plot_attention
from rnnkit.runs import parse_duration, read_csv, read_json, write_csv, write_json
from rnnkit.training.callbacks import Callback
from rnnkit.training.losses import SparseCategoricalCrossentropy

from ..framework import (AppConfig, Fitted, Recipe, ReportSection, TrainConfig, cosine_schedule, open_run, setting,
                         train_run)
from .data import DATASETS, PairBatches, Pairs, load_pairs, split_by_source
from .text import LEVELS, TrueCaser, bleu_tokenizer, is_cjk_language, segment
from .translator import Translation, Translator, corpus_scores

__all__ = ["TranslateConfig", "RunOptions", "train", "load_run", "translate", "run_command"]

APP = "translate"
VAL_SOURCES = 1000  # validation sources translated after each epoch for val_bleu
EXAMPLES = 50


@dataclass
class TranslateConfig(TrainConfig):
    """Every setting of a translation run (saved as the run's ``config.json``).

    >>> TranslateConfig(attention="luong")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `attention` must be one of additive, dot, none, got 'luong'
    """

    data: str = setting("tatoeba-fra-eng", help=f"{', '.join(DATASETS)}, or a TSV file of source<TAB>target lines")
    source: str | None = setting(None, help="source language (a dataset's: en; a file's first column: its name)")
    target: str | None = setting(None, help="target language (a dataset's: fr, zh; a file's second column: its name)")
    source_level: str | None = setting(None, help="source tokens: word (Chinese: by character) or char",
                                       choices=LEVELS)
    target_level: str | None = setting(None, help="target tokens: word (Chinese: by character) or char",
                                       choices=LEVELS)
    cell: str = setting("gru", help="recurrent layers", choices=("gru", "lstm"))
    attention: str = setting("additive", help="additive (Bahdanau), dot (Luong) or none",
                             choices=("additive", "dot", "none"))
    units: int = setting(256, help="units per recurrent layer", min=1)
    layers: int = setting(1, help="recurrent layers of the encoder and of the decoder", min=1)
    embed_dim: int = setting(256, help="embedding size", min=1)
    bidirectional_encoder: bool = setting(False, help="read the source in both directions")
    dropout: float = setting(0.2, help="dropout rate", min=0, lt=1)
    max_words: int = setting(10, help="keep pairs of at most this many words a side", min=1)
    min_freq: int = setting(3, help="tokens seen fewer times in training become <unk>", min=1)
    epochs: int | None = setting(None, help="at most this many epochs (default 10)", min=1, group="budget")
    time_budget: float | None = setting(None, help="training time, e.g. 90s, 20m (validation included)", gt=0,
                                        group="budget", parse=parse_duration)
    batch_size: int = setting(64, help="sentence pairs per batch", min=1)
    learning_rate: float = setting(2e-3, help="Adam's learning rate (cosine-decayed to a tenth)", gt=0, flag="--lr")
    clipnorm: float = setting(1.0, help="gradient norm clip", gt=0)
    monitor: str = setting("bleu", help="early stopping and best weights on validation bleu or loss",
                           choices=("bleu", "loss"))
    patience: int = setting(3, help="early stopping: epochs without a better validation figure", min=1)
    beam: int = setting(5, help="beam width of the test translations", min=1)
    alpha: float = setting(0.6, help="length penalty of beam search (Wu et al. 2016; 0 = none)", min=0)
    split_seed: int = setting(0, help="seed of the split by source sentence (the same split for every model)")
    seed: int = setting(0, help="seed of every generator")
    out: str | None = setting(None, help="run folder (default runs/translate-<time>)")


@dataclass
class RunOptions(AppConfig):
    """The options of ``rnnkit translate run`` (see :func:`run_command`)."""

    run: str = setting("", help="a run folder written by `rnnkit translate train`")
    sentences: list[str] = setting([], help="sentences to translate", positional=True)
    beam: int = setting(5, help="beam width (1 = greedy)", min=1)
    file: str | None = setting(None, help="a text file, one sentence per line")
    out: str | None = setting(None, help="write the translations to this file, one per line")
    overwrite: bool = setting(False, help="replace an existing --out file")
    show_attention: str | None = setting(None, help="draw the attention weights into this PNG file")

    def validate(self) -> None:
        self.need_run("translate")


# ---------------------------------------------------------------- data preparation
def _short_enough(text: str, lang: str, level: str, max_words: int) -> bool:
    if level == "char" or is_cjk_language(lang):
        return len(text.replace(" ", "")) <= 3 * max_words
    return len(text.split()) <= max_words


@dataclass
class _Data:
    """The parts of a translation run: pairs per split, ids, vocabularies, and the test references."""

    pairs: dict[str, Pairs]
    ids: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]
    source_vocab: Vocab
    target_vocab: Vocab
    truecaser: TrueCaser
    levels: tuple[str, str]
    references: dict[str, tuple[list[str], list[list[str]]]]  # split -> (unique sources, their references)
    val_bleu: list[float] = field(default_factory=list)  # per epoch, from _ValidationBleu


def _references(pairs: Pairs) -> tuple[list[str], list[list[str]]]:
    """Each distinct source sentence once (first-seen order) with every target it has."""
    refs: dict[str, list[str]] = {}
    for s, t in zip(pairs.sources, pairs.targets):
        refs.setdefault(s, []).append(t)
    return list(refs), list(refs.values())


def prepare_data(cfg: TranslateConfig, print_fn: Callable[[str], None] = print) -> _Data:
    """Read, filter, split, tokenise and encode the pairs of ``cfg`` (step 1 and 2 of the module docstring)."""
    pairs = load_pairs(cfg.data, cfg.source, cfg.target)
    src_level, tgt_level = cfg.source_level or "word", cfg.target_level or "word"
    keep = [i for i, (s, t) in enumerate(zip(pairs.sources, pairs.targets))
            if _short_enough(s, pairs.source_lang, src_level, cfg.max_words)
            and _short_enough(t, pairs.target_lang, tgt_level, cfg.max_words)]
    if not keep:
        raise DatasetError(f"--data {cfg.data}: no pair has at most {cfg.max_words} words a side; raise "
                           f"{cfg.option('max_words')}")
    kept = pairs.subset(keep)
    # each sentence is tokenised once: the split's groups, the vocabularies and the ids all come from these
    src_tokens = [segment(s, kept.source_lang, src_level) for s in kept.sources]
    tgt_tokens = [segment(t, kept.target_lang, tgt_level) for t in kept.targets]
    train_idx, valid_idx, test_idx = split_by_source([" ".join(t) for t in src_tokens], cfg.split_seed)
    if len(valid_idx) == 0 or len(test_idx) == 0 or len(train_idx) == 0:
        raise DatasetError(f"--data {cfg.data}: {len(kept)} pairs are too few to hold out validation and test "
                           "sentences; give at least 40 pairs")
    index = {"train": train_idx, "valid": valid_idx, "test": test_idx}
    parts = {name: kept.subset(idx) for name, idx in index.items()}
    train = parts["train"]
    source_vocab = Vocab.build([src_tokens[i] for i in train_idx], min_freq=cfg.min_freq)
    target_vocab = Vocab.build([tgt_tokens[i] for i in train_idx], min_freq=cfg.min_freq)
    truecaser = TrueCaser.fit(segment(t, train.target_lang, tgt_level, lower=False) for t in train.targets) \
        if tgt_level == "word" else TrueCaser()

    def ids(tokens: list[list[str]], idx: np.ndarray, vocab: Vocab) -> list[np.ndarray]:
        return [np.asarray(vocab.encode(tokens[i]), dtype=np.int64) for i in idx]

    encoded = {name: (ids(src_tokens, idx, source_vocab), ids(tgt_tokens, idx, target_vocab))
               for name, idx in index.items()}
    references = {name: _references(parts[name]) for name in ("valid", "test")}
    print_fn(f"translate: {cfg.data} {kept.source_lang}->{kept.target_lang}: {len(kept):,} pairs of at most "
             f"{cfg.max_words} words (of {len(pairs):,}); {len(train):,} training, {len(parts['valid']):,} validation "
             f"and {len(parts['test']):,} test pairs ({len(references['test'][0]):,} test sources, none seen in "
             f"training); vocabularies {len(source_vocab):,} / {len(target_vocab):,}")
    return _Data(parts, encoded, source_vocab, target_vocab, truecaser, (src_level, tgt_level), references)


def _translator(model: Any, cfg: TranslateConfig, data: _Data) -> Translator:
    return Translator(model, data.source_vocab, data.target_vocab, data.pairs["train"].source_lang,
                      data.pairs["train"].target_lang, *data.levels, data.truecaser, cfg.alpha)


def _bleu(translator: Translator, sources: Sequence[str], references: Sequence[Sequence[str]], beam: int,
          batch_size: int = 128) -> tuple[dict[str, float], list[Translation]]:
    found = translator.translate(list(sources), beam=beam, batch_size=batch_size)
    return corpus_scores([t.text for t in found], references, translator.target_lang), found


class _ValidationBleu(Callback):
    """After each epoch: greedy BLEU on (up to 1,000) validation sources, logged as ``val_bleu``."""

    def __init__(self, translator: Translator, sources: list[str], references: list[list[str]],
                 print_fn: Callable[[str], None], scores: list[float]) -> None:
        super().__init__()
        self.translator, self.sources, self.references, self.print_fn = translator, sources, references, print_fn
        self.scores = scores  # each epoch's figure is appended here too (History records the logs before it)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        self.translator.model = self.model
        scores, _ = _bleu(self.translator, self.sources, self.references, beam=1)
        logs["val_bleu"] = scores["bleu"]
        self.scores.append(scores["bleu"])
        self.translator.model.train()
        self.print_fn(f"translate: epoch {epoch + 1}: validation BLEU {scores['bleu']:.2f} (greedy, "
                      f"{len(self.sources):,} sources)")


# ---------------------------------------------------------------- training
def _model_for(cfg: TranslateConfig, source_vocab: int, target_vocab: int) -> Seq2Seq:
    return Seq2Seq(source_vocab, target_vocab, cell=cfg.cell, attention=cfg.attention, units=cfg.units,
                   layers=cfg.layers, embed_dim=cfg.embed_dim, bidirectional_encoder=cfg.bidirectional_encoder,
                   dropout=cfg.dropout)


class _Recipe(Recipe):
    """Machine translation's hooks of :func:`~rnnkit.apps.framework.train_run`."""

    name, config = APP, TranslateConfig
    monitor, mode = "val_bleu", "max"
    history_keys, history_plot = ["loss", "val_bleu"], "loss.png"

    def prepare(self, cfg: TranslateConfig, saved: Path | None, print_fn: Callable[[str], None]) -> tuple[TranslateConfig, _Data]:
        data = prepare_data(cfg, print_fn)
        cfg.source, cfg.target = data.pairs["train"].source_lang, data.pairs["train"].target_lang
        cfg.source_level, cfg.target_level = data.levels
        return cfg, data

    def save_data(self, run: Path, cfg: TranslateConfig, data: _Data) -> None:
        data.source_vocab.save(run / "source_vocab.json")
        data.target_vocab.save(run / "target_vocab.json")
        write_json(run / "truecase.json", data.truecaser.to_json())

    def build(self, cfg: TranslateConfig, data: _Data) -> Any:
        model = _model_for(cfg, len(data.source_vocab), len(data.target_vocab))
        model.compile(optimizer=Adam(learning_rate=cfg.learning_rate), loss=SparseCategoricalCrossentropy(from_logits=True),
                      clipnorm=cfg.clipnorm)
        return model

    def describe(self, cfg: TranslateConfig, data: _Data, parameters: int, run: Path) -> str:
        shape = f"{cfg.layers} x {cfg.units} {cfg.cell}" + (" (bidirectional encoder)" if cfg.bidirectional_encoder else "")
        return f"translate: {shape}, attention {cfg.attention}, {parameters:,} parameters; run folder {run}"

    def fit_data(self, cfg: TranslateConfig, data: _Data) -> dict[str, Any]:
        return dict(x=PairBatches(*data.ids["train"], cfg.batch_size, shuffle=True, seed=cfg.seed), shuffle=False,
                    validation_data=PairBatches(*data.ids["valid"], 256, shuffle=False))

    def monitoring(self, cfg: TranslateConfig) -> tuple[str, str]:
        return ("val_bleu", "max") if cfg.monitor == "bleu" else ("val_loss", "min")

    def schedule(self, cfg: TranslateConfig) -> Callable[[float, int], float]:
        return cosine_schedule(cfg.learning_rate)  # from lr_0 down to a tenth of it over the run

    def patience(self, cfg: TranslateConfig) -> int:
        return cfg.patience

    def callbacks(self, cfg: TranslateConfig, data: _Data, print_fn: Callable[[str], None]) -> list:
        sources, references = data.references["valid"]
        return [_ValidationBleu(_translator(None, cfg, data), sources[:VAL_SOURCES], references[:VAL_SOURCES], print_fn,
                                data.val_bleu)]

    def evaluate(self, cfg: TranslateConfig, data: _Data, fitted: Fitted, print_fn: Callable[[str], None]) -> dict[str, Any]:
        run, model = fitted.run, fitted.model
        translator = _translator(model, cfg, data)
        sources, references = data.references["test"]
        began = time.perf_counter()
        greedy, greedy_found = _bleu(translator, sources, references, beam=1)
        greedy_seconds = time.perf_counter() - began
        began = time.perf_counter()
        beam, beam_found = _bleu(translator, sources, references, beam=cfg.beam)
        beam_seconds = time.perf_counter() - began
        val_bleu = data.val_bleu[fitted.best_epoch]  # the epoch whose weights were kept
        metrics = {
            "test_bleu_greedy": greedy["bleu"], "test_bleu_beam": beam["bleu"],
            "test_chrf_greedy": greedy["chrf"], "test_chrf_beam": beam["chrf"], "val_bleu": val_bleu,
            "beam": cfg.beam, "alpha": cfg.alpha, "test_pairs": len(data.pairs["test"]), "test_sources": len(sources),
            "valid_pairs": len(data.pairs["valid"]), "train_pairs": len(data.pairs["train"]),
            "bleu_tokenizer": bleu_tokenizer(translator.target_lang),
            "test_sentences_per_second_greedy": round(len(sources) / greedy_seconds, 1),
            "test_sentences_per_second_beam": round(len(sources) / beam_seconds, 1),
            "source_vocab": len(data.source_vocab), "target_vocab": len(data.target_vocab), **fitted.figures(),
        }
        write_csv(run / "examples.tsv", ["source", "greedy", "beam", "references"],
                  ([s, g.text, b.text, " | ".join(r)] for s, g, b, r in
                   zip(sources[:EXAMPLES], greedy_found, beam_found, references)), delimiter="\t")
        _write_attention(run / "attention.png", translator, sources, beam_found)
        print_fn(f"translate: test BLEU {beam['bleu']:.2f} (beam {cfg.beam}), {greedy['bleu']:.2f} (greedy); chrF "
                 f"{beam['chrf']:.2f} / {greedy['chrf']:.2f}; validation BLEU {val_bleu:.2f}; {len(sources):,} test "
                 f"sources after {fitted.train_seconds:.0f} s of training; run folder {run} "
                 "(metrics.json, examples.tsv, loss.png)")
        return metrics

    def title(self, cfg: TranslateConfig) -> str:
        return f"{cfg.data} {cfg.source}->{cfg.target}: {cfg.cell} {cfg.units}, attention {cfg.attention}"

    def report_sections(self, run: Path, metrics: dict[str, Any]) -> list[ReportSection]:
        """BLEU and chrF (greedy and beam), test translations (examples.tsv) and the attention of one sentence."""
        sections = []
        if "test_bleu_greedy" in metrics:
            sections.append(ReportSection(
                "BLEU", f"sacreBLEU ({metrics.get('bleu_tokenizer', '13a')} tokenizer) on {metrics.get('test_pairs', '?')} "
                f"test pairs against every reference of each source; beam {metrics.get('beam', '?')}. Validation BLEU "
                f"of the kept epoch: {metrics.get('val_bleu', float('nan')):.2f}.",
                table=[["test", "greedy", "beam"],
                       ["BLEU", metrics["test_bleu_greedy"], metrics.get("test_bleu_beam")],
                       ["chrF", metrics.get("test_chrf_greedy"), metrics.get("test_chrf_beam")]]))
        if (run / "examples.tsv").is_file():
            sections.append(ReportSection("Examples", "Test sources with their greedy and beam translations and "
                                          "references (the first 20 of examples.tsv).",
                                          table=read_csv(run / "examples.tsv", limit=20)))
        if (run / "attention.png").is_file():
            sections.append(ReportSection("Attention", images=["attention.png"]))
        return sections


def _write_attention(path: Path, translator: Translator, sources: Sequence[str], found: Sequence[Translation]) -> None:
    """The attention map of the first test sentence of 4 to 10 tokens (or the first one)."""
    if translator.model.attention == "none" or not sources:
        return
    pick = next((i for i, t in enumerate(found) if 4 <= len(t.source_tokens) <= 10), 0)
    draw_attention(path, translator, sources[pick], found[pick])


def draw_attention(path: str | Path, translator: Translator, sentence: str, translation: Translation) -> Path:
    """A heat map of the attention of ``translation`` (of ``sentence``) over the source tokens."""
    ids = translator.target_vocab.encode(translation.tokens)
    weights = translator.attention(sentence, ids)  # (T + 1, S): the last row produced <eos>
    return plot_attention(path, weights, translation.source_tokens or ["<unk>"], [*translation.tokens, "<eos>"],
                          title=translation.text)


RECIPE = _Recipe()


def train(config: TranslateConfig | None = None, *, print_fn: Callable[[str], None] = print, verbose: int = 1,
          **settings: Any) -> dict[str, Any]:
    """Train a translation model; returns the final metrics (also written to ``metrics.json``).

    ``settings`` replace fields of ``config`` (``train(data="pairs.tsv", epochs=3)``).
    """
    return train_run(RECIPE, TranslateConfig.of(config, **settings), print_fn=print_fn, verbose=verbose)


# ---------------------------------------------------------------- using a run
def load_run(run: str | Path) -> Translator:
    """The best model of a run folder with its vocabularies and text steps, ready to translate."""
    model, cfg, run = open_run(run, RECIPE, needs=("source_vocab.json", "target_vocab.json"))
    truecase = run / "truecase.json"
    return Translator(model, Vocab.load(run / "source_vocab.json"), Vocab.load(run / "target_vocab.json"), cfg.source,
                      cfg.target, cfg.source_level or "word", cfg.target_level or "word",
                      TrueCaser.from_json(read_json(truecase)) if truecase.exists() else None, cfg.alpha)


def _check_sentences(sentences: Sequence[str]) -> list[str]:
    if isinstance(sentences, str):
        sentences = [sentences]
    if not sentences:
        raise ConfigError('nothing to translate: give sentences (rnnkit translate run --run R "I am cold.") '
                          "or --file in.txt")
    for i, text in enumerate(sentences, 1):
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"sentence {i} is empty; give it some words (or drop it)")
    return list(sentences)


def translate(run: str | Path, sentences: Sequence[str], beam: int = 5) -> list[Translation]:
    """Translate ``sentences`` with the best model of ``run`` (``beam`` 1 = greedy)."""
    sentences = _check_sentences(sentences)
    return load_run(run).translate(sentences, beam=beam)


def _read_lines(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--file {path}: " + ("a folder" if file.is_dir() else "no such file")
                          + "; give a text file, one sentence per line")
    raw = file.read_bytes()
    if b"\0" in raw[:65536]:
        raise ConfigError(f"--file {path} looks binary (it holds NUL bytes); give a UTF-8 text file, one sentence per line")
    lines = decode_utf8(raw, f"--file {path}").splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise ConfigError(f"--file {path}: line {i} is empty; give one sentence per line")
    return lines


def run_command(options: RunOptions, print_fn: Callable[[str], None] = print,
                warn: Callable[[str], None] | None = None) -> list[Translation]:
    """``rnnkit translate run``: one translation per line; unknown words reported; ``--show-attention`` heat maps."""
    import sys

    warn = warn or (lambda line: print(line, file=sys.stderr))
    if options.file and options.sentences:
        raise ConfigError(f"give sentences on the command line or {options.option('file')}, not both")
    sentences = _check_sentences(_read_lines(options.file) if options.file else list(options.sentences))
    out = Path(options.out) if options.out else None
    if out is not None and out.exists() and not options.overwrite:
        raise ConfigError(f"{options.option('out')} {out} already exists; choose another file or pass "
                          f"{options.option('overwrite')}")
    if options.show_attention and not options.show_attention.lower().endswith(".png"):
        raise ConfigError(f"{options.option('show_attention')} {options.show_attention}: give a .png file name")
    translator = load_run(options.run)
    if options.show_attention and translator.model.attention == "none":
        raise ConfigError(f"{options.option('show_attention')}: the model of {options.run} has no attention "
                          "(trained with --attention none)")
    found = translator.translate(sentences, beam=options.beam)
    for i, t in enumerate(found, 1):
        if t.unknown:
            warn(f"translate: sentence {i}: not in the source vocabulary (read as <unk>): {', '.join(t.unknown)}")
        if Vocab.UNK in t.tokens:
            warn(f"translate: sentence {i}: the translation has <unk> where the model had no word")
        print_fn(t.text)
    if out is not None:
        with atomic_write(out, "w") as f:
            f.write("".join(t.text + "\n" for t in found))
        print_fn(f"translate: {len(found):,} translations written to {out}")
    if options.show_attention:
        base = Path(options.show_attention)
        for i, (sentence, t) in enumerate(zip(sentences, found)):
            path = base if i == 0 else base.with_name(f"{base.stem}-{i + 1}{base.suffix}")
            draw_attention(path, translator, sentence, t)
        print_fn(f"translate: attention map{'s' if len(found) > 1 else ''} written to {base}"
                 + (f" (and {base.stem}-2 ... for the other sentences)" if len(found) > 1 else ""))
    return found
