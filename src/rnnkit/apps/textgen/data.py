"""Text generation data: a corpus by dataset name or file, its vocabulary, and its splits as id arrays.

Character level keeps every character (newlines included); word level splits
on whitespace and marks each line's end with ``<eos>`` (PTB's convention).
Validation is the held-out tail of the corpus (the last 10%; at word level the
tail is cut into validation and test halves) unless the dataset has official
splits, as PTB does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit import datasets
from rnnkit.data import Vocab
from rnnkit.errors import ConfigError

__all__ = ["Corpus", "load_corpus", "read_text_file", "check_known"]

_CHAR_DATASETS = ("tinyshakespeare", "shakespeare-plays")
_WORD_DATASETS = ("ptb",)


@dataclass
class Corpus:
    """Token id arrays of a corpus's splits and the vocabulary that maps them."""

    vocab: Vocab
    train: np.ndarray  # (tokens,) int64
    valid: np.ndarray
    test: np.ndarray | None
    source: str


def read_text_file(path: Path) -> str:
    """A UTF-8 text file; missing, empty, binary and non-UTF-8 files are one-line errors."""
    if not path.exists():
        raise ConfigError(f"--data {path}: no such file; give a dataset name ({', '.join(_CHAR_DATASETS + _WORD_DATASETS)}) or a text file")
    if path.is_dir():
        raise ConfigError(f"--data {path} is a folder; give one UTF-8 text file")
    raw = path.read_bytes()
    if not raw.strip():
        raise ConfigError(f"--data {path} is empty; give a text file with some text in it")
    if b"\0" in raw[:65536]:
        raise ConfigError(f"--data {path} looks binary (it holds NUL bytes); give a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--data {path} is not UTF-8 text (bad byte at offset {exc.start}); convert it to UTF-8 first") from None


def _words(text: str) -> list[str]:
    tokens: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words:
            tokens.extend(words)
            tokens.append(Vocab.EOS)
    return tokens


def _ids(vocab: Vocab, tokens: list[str] | str) -> np.ndarray:
    return np.asarray(vocab.encode(tokens if isinstance(tokens, list) else list(tokens)), dtype=np.int64)


def load_corpus(data: str, level: str = "char", *, vocab: Vocab | None = None, valid_fraction: float = 0.1) -> Corpus:
    """Load ``data`` (a dataset name or a path) at ``level`` and split it.

    ``vocab``: reuse a saved vocabulary (tokens it lacks map to ``<unk>``);
    otherwise one is built from the training split.  ``valid_fraction``: the
    share of a text held out at its end (at least 4 tokens).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = path.write_text("abab" * 50)
    >>> c = load_corpus(str(path), "char")
    >>> len(c.train), len(c.valid), c.vocab.decode(c.train[:4].tolist())
    (180, 20, 'abab')
    """
    if level not in ("char", "word"):
        raise ConfigError(f"--level must be 'char' or 'word', got {level!r}")
    test = None
    if data == "ptb":
        if level != "word":  # checked before reading 5 MB of text
            raise ConfigError("--data ptb is a word-level corpus; pass --level word (or use `rnnkit lm train --data ptb`)")
        parts = {s: datasets.load("ptb", s) for s in ("train", "valid", "test")}
        vocab = vocab or Vocab.build([parts["train"]], level="word")
        return Corpus(vocab, _ids(vocab, parts["train"]), _ids(vocab, parts["valid"]), _ids(vocab, parts["test"]), "ptb")
    if data in _CHAR_DATASETS:
        text = datasets.load(data, "all")
    elif data in datasets.available():
        raise ConfigError(f"--data {data} is not a text corpus; text generation takes {', '.join(_CHAR_DATASETS + _WORD_DATASETS)} or a file")
    else:
        text = read_text_file(Path(data))
    tokens: list[str] | str = _words(text) if level == "word" else text
    if len(tokens) < 20:
        raise ConfigError(f"--data {data}: only {len(tokens)} {level}s; give at least 20 (a held-out tail needs some text)")
    cut = min(int(len(tokens) * (1 - valid_fraction)), len(tokens) - 4)  # a tail of 4 tokens at least
    train, tail = tokens[:cut], tokens[cut:]
    if level == "word":  # the tail halves: validation, then test
        half = len(tail) // 2
        tail, test_tokens = tail[:half], tail[half:]
    vocab = vocab or Vocab.build([train], level=level)
    if level == "word":
        test = _ids(vocab, test_tokens)
    return Corpus(vocab, _ids(vocab, train), _ids(vocab, tail), test, data)


def check_known(vocab: Vocab, text: str, name: str = "--prompt") -> None:
    """Refuse a prompt holding tokens the model never saw, naming them (and the prompt as ``name``)."""
    tokens = list(text) if vocab.level == "char" else text.split()
    unknown = sorted({t for t in tokens if t not in vocab})
    if unknown:
        shown = ", ".join(repr(t) for t in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise ConfigError(f"{name} holds {'characters' if vocab.level == 'char' else 'words'} the model never saw: {shown}; leave them out")

