"""IMDB as Keras' ``imdb.load_data`` gives it: each review a list of word ids ranked by frequency.

Keras ships the IMDB reviews already turned into word ids (its ``imdb.npz``).
rnnkit builds the same structure from the original reviews of its ``imdb``
dataset (Stanford's ``aclImdb``, through the verified cache in ``$RNNKIT_DATA``)
and then applies Keras' own arithmetic, so code written for
``keras.datasets.imdb.load_data`` gets what it expects:

* a word's rank is its place by count over the 25,000 training reviews (1 = the
  most frequent; ties keep the order of first appearance), words cut as Keras'
  ``text_to_word_sequence`` cuts them: lower-cased, punctuation except the
  apostrophe removed, so ``<br />`` becomes the word ``br`` as in Keras' file;
* in the returned sequences a word is ``rank + index_from``, each sequence starts
  with ``start_char``, words ranked past ``num_words`` (or under ``skip_top``)
  become ``oov_char``; 0 is never used (padding); test words never seen in
  training are left out, as Keras' documentation says;
* ``maxlen`` drops (does not cut) the reviews of ``maxlen`` ids or more, and both
  splits are shuffled with ``np.random.RandomState(seed)``, train first, then test;
* ``x`` are object arrays of Python lists of ints, ``y`` int64 arrays of 0/1.

Keras' quirks are kept, as its code has them: ``skip_top`` also applies to
``start_char`` (``skip_top=2`` turns it into ``oov_char``), and with
``num_words=None`` the largest id of the data becomes ``oov_char``.

What differs from Keras' file: Keras made its ids with a script it did not
publish, so ranks may differ where counts tie or a token was cut another way
(this vocabulary has 88,581 words; Keras' word index 88,584); the reviews come
in another order before the shuffle, so ``x_train[0]`` is another review; the
first call reads and tokenises 50,000 reviews (about 10 s; later calls in the
same process reuse it); ``path`` is accepted for Keras' signature and not used.

>>> load_data(num_words=0)
Traceback (most recent call last):
...
rnnkit.errors.ConfigError: imdb.load_data: `num_words` must be a positive integer or None, got 0
"""
from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from ..data.tokenizer import Tokenizer
from ..errors import ConfigError
from .cache import cache_dir
from .registry import load

__all__ = ["load_data", "get_word_index"]

_OWNER = "imdb.load_data"


@functools.lru_cache(maxsize=1)
def _encoded(root: str) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray, dict[str, int]]:
    """Ranks from the training reviews and every review as an int32 array of ranks (for the cache at ``root``)."""
    train_texts, train_labels = load("imdb", "train")
    test_texts, test_labels = load("imdb", "test")
    tokenizer = Tokenizer()  # Keras' rules: filters then split on spaces, lower-cased; ranks by count
    tokenizer.fit_on_texts(train_texts)
    train = [np.asarray(s, dtype=np.int64) for s in tokenizer.texts_to_sequences(train_texts)]
    test = [np.asarray(s, dtype=np.int64) for s in tokenizer.texts_to_sequences(test_texts)]
    return train, train_labels, test, test_labels, dict(tokenizer.word_index)


def _int(name: str, value: Any, minimum: int, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{_OWNER}: `{name}` must be {what}{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def _object_array(rows: list[list[int]]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)  # one list per cell, even when every review has the same length
    for i, row in enumerate(rows):
        out[i] = row
    return out


def load_data(path: Any = None, num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
              index_from: int = 3) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: the IMDB reviews as lists of word ids, Keras' conventions.

    Args:
        path: Keras' cache file name; accepted and not used (the data come from ``$RNNKIT_DATA``).
        num_words: keep the ids below ``num_words`` (the most frequent words); the others become
            ``oov_char`` (or are dropped when ``oov_char`` is None). None: every word.
        skip_top: ids below it also become ``oov_char``.
        maxlen: leave out the reviews of ``maxlen`` ids or more (start character included).
        seed: the shuffle's seed (``np.random.RandomState``).
        start_char: the id that starts each review (None: no start id).
        oov_char: the id of words cut by ``num_words`` / ``skip_top``.
        index_from: added to each word's rank (ids below it are left to the special ids).

    Raises:
        ConfigError: for a bad argument, or a ``maxlen`` that leaves a split empty.
        DatasetError: if the ``imdb`` dataset is neither in the cache nor downloadable.
    """
    num_words = _int("num_words", num_words, 1, allow_none=True)
    skip_top = _int("skip_top", skip_top, 0, allow_none=False)
    maxlen = _int("maxlen", maxlen, 1, allow_none=True)
    seed = _int("seed", seed, 0, allow_none=False)
    start_char = _int("start_char", start_char, 0, allow_none=True)
    oov_char = _int("oov_char", oov_char, 0, allow_none=True)
    index_from = _int("index_from", index_from, 0, allow_none=False)
    train, train_labels, test, test_labels, _ = _encoded(str(cache_dir()))

    rng = np.random.RandomState(seed)
    splits = []
    for rows, labels in ((train, train_labels), (test, test_labels)):
        order = np.arange(len(rows))
        rng.shuffle(order)
        head = np.array([] if start_char is None else [start_char], dtype=np.int64)
        seqs = [np.concatenate([head, rows[i] + index_from]) for i in order]
        labels = labels[order]
        if maxlen:
            keep = [i for i, s in enumerate(seqs) if len(s) < maxlen]
            seqs, labels = [seqs[i] for i in keep], labels[keep]
            if not seqs:
                raise ConfigError(f"{_OWNER}: no review is shorter than maxlen={maxlen} ids; use a larger maxlen")
        splits.append((seqs, labels))

    if not num_words:
        num_words = max(int(s.max()) for seqs, _ in splits for s in seqs if len(s))
    out = []
    for seqs, labels in splits:
        rows = []
        for s in seqs:
            cut = (s < skip_top) | (s >= num_words)
            rows.append((np.where(cut, oov_char, s) if oov_char is not None else s[~cut]).tolist())
        out.append((_object_array(rows), labels))
    return out[0], out[1]


def get_word_index(path: Any = None) -> dict[str, int]:
    """``{word: rank}`` of :func:`load_data` (rank 1 = the most frequent); the id in a sequence is ``rank + index_from``.

    ``path`` is accepted for Keras' signature and not used.
    """
    return dict(_encoded(str(cache_dir()))[4])
