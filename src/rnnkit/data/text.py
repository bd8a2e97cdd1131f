"""Text preprocessing with the Keras semantics that tutorial code expects.

* :class:`Tokenizer` turns texts into integer sequences (index 0 reserved,
  indices by descending frequency, the OOV token at index 1) and into
  bag-of-words matrices; :func:`tokenizer_from_json` restores one.
* :func:`pad_sequences` makes a rectangular NumPy array from ragged sequences.
* :func:`to_categorical` one-hot encodes integer labels.
* :class:`Vocab` is a small vocabulary with fixed special tokens
  (``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3), saved as JSON.

>>> from rnnkit.data.text import Tokenizer, pad_sequences
>>> tok = Tokenizer()
>>> tok.fit_on_texts(["the cat sat", "the dog"])
>>> pad_sequences(tok.texts_to_sequences(["the dog sat"]), maxlen=4).tolist()
[[0, 1, 4, 3]]
"""
from __future__ import annotations

import json
import numbers
import operator
import os
import re
from array import array
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from .._io import atomic_write
from ..errors import ConfigError, ShapeError

__all__ = ["Tokenizer", "tokenizer_from_json", "pad_sequences", "to_categorical", "Vocab"]

_DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_MATRIX_MODES = ("binary", "count", "tfidf", "freq")
# every character that str.split() treats as whitespace
_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


class _OovDict(dict):
    """A word -> index dict answering ``oov`` for missing words (lookups stay in C)."""

    def __init__(self, table: dict, oov: int) -> None:
        super().__init__(table)
        self.oov = oov

    def __missing__(self, key: Any) -> int:
        return self.oov


class _NewIdDict(dict):
    """A word -> id dict that gives each new word the next id (0, 1, 2, ...) on lookup."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


def _check_texts(owner: str, texts: Any) -> list:
    """Return ``texts`` as a list of str / list-of-str items, refusing a bare string."""
    if isinstance(texts, (str, bytes)):
        raise ConfigError(
            f"{owner}: expected a list of texts, got a single {type(texts).__name__}; wrap it in a list: [text]"
        )
    try:
        items = list(texts)
    except TypeError:
        raise ConfigError(f"{owner}: expected a list of texts, got {type(texts).__name__}") from None
    for i, t in enumerate(items):
        if not isinstance(t, (str, list)):
            raise ConfigError(
                f"{owner}: text at index {i} must be a str (or a list of str tokens), got {type(t).__name__}"
            )
    return items


class Tokenizer:
    """Map words (or characters) to integer indices, with Keras' ``Tokenizer`` semantics.

    Args:
        num_words: when converting, keep only words whose index is below
            ``num_words`` (the ``num_words - 1`` most frequent); ``None`` keeps all.
            ``word_index`` always holds every word seen.
        filters: characters replaced by ``split`` before splitting (ignored
            when ``char_level=True``).
        lower: lower-case the text first.
        split: the separator between words.
        char_level: treat every character as a token (works for Chinese text).
        oov_token: if given, it takes index 1 and stands in for unknown words;
            otherwise unknown words are dropped.

    Attributes: ``word_index`` / ``index_word`` (word <-> index),
    ``word_counts`` (counts, in order of first appearance), ``word_docs`` /
    ``index_docs`` (number of texts containing each word), ``document_count``.

    >>> tok = Tokenizer(num_words=3, oov_token="<oov>")
    >>> tok.fit_on_texts(["a b b", "c a b"])
    >>> tok.word_index
    {'<oov>': 1, 'b': 2, 'a': 3, 'c': 4}
    >>> tok.texts_to_sequences(["b a d"])
    [[2, 1, 1]]
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = _DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
        document_count: int = 0,
    ) -> None:
        if num_words is not None and (
            isinstance(num_words, bool) or not isinstance(num_words, numbers.Integral) or num_words < 0
        ):
            raise ConfigError(f"Tokenizer: `num_words` must be None or a non-negative integer, got {num_words!r}")
        if not isinstance(filters, str):
            raise ConfigError(f"Tokenizer: `filters` must be a str of characters, got {type(filters).__name__}")
        if not isinstance(split, str) or not split:
            raise ConfigError(f"Tokenizer: `split` must be a non-empty str, got {split!r}")
        if oov_token is not None and not isinstance(oov_token, str):
            raise ConfigError(f"Tokenizer: `oov_token` must be None or a str, got {type(oov_token).__name__}")
        self.num_words = None if num_words is None else int(num_words)
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.document_count = int(document_count)
        self.word_counts: dict[str, int] = {}
        self.word_docs: dict[str, int] = {}
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}
        self.index_docs: dict[int, int] = {}
        self._cache_key: Any = None
        self._table_for: Any = None
        self._table: dict = {}
        self._other_ws: Any = None
        self._other_ascii_ws: tuple = ()
        self._bytes_table: bytes | None = None
        # token ids of the texts of the last fit_on_texts call, for texts_to_sequences on the same texts
        self._fitted: tuple | None = None
        self._lookup: dict[str, int] = {}
        self._reverse: dict[int, str] = {}

    # -- splitting -----------------------------------------------------
    def _tokens(self, text: str | list) -> list:
        if isinstance(text, list):
            return [t.lower() for t in text] if self.lower else list(text)
        if self.lower:
            text = text.lower()
        if self.char_level:
            return list(text)
        if self._table_for != (self.filters, self.split):
            self._table = str.maketrans({c: self.split for c in self.filters})
            others = [c for c in _WHITESPACE if c not in self.filters and c != self.split]
            # str.split() equals "split on ' ' and drop empties" when no other whitespace is present
            self._other_ws = re.compile("[" + re.escape("".join(others)) + "]") if others else None
            self._other_ascii_ws = tuple(c for c in others if c < "\x80")
            # ASCII filters and separator: translate UTF-8 bytes (multi-byte characters never hold
            # an ASCII byte), which is an order of magnitude faster than str.translate
            ascii_only = (self.filters + self.split).isascii() and len(self.split) == 1
            self._bytes_table = (bytes.maketrans(self.filters.encode(), self.split.encode() * len(self.filters))
                                 if ascii_only else None)
            self._table_for = (self.filters, self.split)
        if self._bytes_table is not None:
            text = text.encode("utf-8", "surrogatepass").translate(self._bytes_table).decode("utf-8", "surrogatepass")
        else:
            text = text.translate(self._table)
        if self.split == " ":
            if text.isascii():
                clean = not any(c in text for c in self._other_ascii_ws)
            else:
                clean = self._other_ws is None or self._other_ws.search(text) is None
            if clean:
                return text.split()
        return [w for w in text.split(self.split) if w]

    # -- fitting -------------------------------------------------------
    def fit_on_texts(self, texts: Iterable[str | list]) -> None:
        """Count the words of ``texts`` and rebuild ``word_index``.

        Args:
            texts: a list of strings, or of lists of string tokens.

        >>> tok = Tokenizer()
        >>> tok.fit_on_texts(["Hi, hi there!"])
        >>> tok.word_index, tok.word_counts
        ({'hi': 1, 'there': 2}, {'hi': 2, 'there': 1})
        """
        items = _check_texts("Tokenizer.fit_on_texts", texts)
        # each word gets a provisional id in order of first appearance; counts come from the ids
        ids = _NewIdDict()
        getitem, tokens = ids.__getitem__, self._tokens
        flat, lengths, doc_ids = array("i"), array("q"), array("i")
        for text in items:
            seq = list(map(getitem, tokens(text)))  # (tokens,) provisional ids
            flat.fromlist(seq)
            lengths.append(len(seq))
            doc_ids.fromlist(list(set(seq)))  # each word once per text: document frequency
        words = list(ids)  # provisional id -> word
        flat_np = np.frombuffer(flat, dtype=np.int32) if len(flat) else np.zeros(0, np.int32)
        counts = np.bincount(flat_np, minlength=len(words)).tolist()
        docs = np.bincount(np.frombuffer(doc_ids, dtype=np.int32), minlength=len(words)).tolist() if len(doc_ids) else []
        self.document_count += len(items)
        # merged into earlier counts; dict order is first appearance overall, as Keras keeps it
        word_counts, word_docs = dict(self.word_counts), dict(self.word_docs)
        for w, c, d in zip(words, counts, docs):
            word_counts[w] = word_counts.get(w, 0) + c
            word_docs[w] = word_docs.get(w, 0) + d
        self.word_counts = word_counts
        self.word_docs = {w: word_docs[w] for w in word_counts}
        # stable sort: ties keep first-appearance order
        ranked = sorted(self.word_counts, key=self.word_counts.__getitem__, reverse=True)
        vocab = ([] if self.oov_token is None else [self.oov_token]) + ranked
        self.word_index = dict(zip(vocab, range(1, len(vocab) + 1)))
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = {self.word_index[w]: c for w, c in self.word_docs.items()}
        # texts_to_sequences on these same texts (the usual next call) maps these ids instead of
        # splitting every text again; kept until then or the next fit (4 bytes per token)
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(np.frombuffer(lengths, dtype=np.int64) if len(lengths) else [], out=offsets[1:])
        cacheable = all(isinstance(t, str) for t in items)  # token lists are mutable: never cached
        self._fitted = (items, self._settings(), flat_np, offsets, words) if cacheable else None

    def _settings(self) -> tuple:
        return (self.filters, self.split, self.lower, self.char_level)

    def _fitted_sequences(self, items: list, lookup: dict, oov_index: int | None) -> list[list[int]] | None:
        """``texts_to_sequences(items)`` from the ids kept by the last fit, if ``items`` are its texts."""
        fitted, self._fitted = self._fitted, None
        if fitted is None:
            return None
        texts, settings, flat, offsets, words = fitted
        if len(items) != len(texts) or settings != self._settings() or not all(map(operator.is_, items, texts)):
            return None
        if oov_index is None:
            get = lookup.get
            remap = np.fromiter((get(w, 0) for w in words), dtype=np.int64, count=len(words))
        else:
            remap = np.fromiter(map(lookup.__getitem__, words), dtype=np.int64, count=len(words))
        mapped = remap[flat]  # (tokens,) final indices; 0 = dropped
        if oov_index is None and not mapped.all():
            keep = mapped != 0
            kept = np.zeros(len(keep) + 1, dtype=np.int64)
            np.cumsum(keep, out=kept[1:])
            mapped, offsets = mapped[keep], kept[offsets]
        values, bounds = mapped.tolist(), offsets.tolist()
        return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def fit_on_sequences(self, sequences: Iterable[Sequence[int]]) -> None:
        """Count, for each index, how many sequences contain it (needed by tfidf on sequences).

        Args:
            sequences: lists of integer indices.

        >>> tok = Tokenizer()
        >>> tok.fit_on_sequences([[1, 2, 2], [2]])
        >>> tok.index_docs, tok.document_count
        ({1: 1, 2: 2}, 2)
        """
        docs = Counter(self.index_docs)
        n = 0
        for seq in sequences:
            docs.update(dict.fromkeys((int(i) for i in seq), 1))
            n += 1
        self.document_count += n
        self.index_docs = dict(docs)

    # -- conversion ----------------------------------------------------
    def _tables(self) -> tuple[dict[str, int], dict[int, str], int | None]:
        """Word->index and index->word maps with the ``num_words`` cut and OOV applied (cached)."""
        oov_index = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        key = (id(self.word_index), len(self.word_index), id(self.index_word), len(self.index_word),
               self.num_words, self.oov_token, oov_index)
        if key != self._cache_key:
            nw = self.num_words
            if nw:
                lookup = {}
                for w, i in self.word_index.items():
                    if i < nw:
                        lookup[w] = i
                    elif oov_index is not None:
                        lookup[w] = oov_index
                oov_word = self.index_word.get(oov_index) if oov_index is not None else None
                reverse = {}
                for i, w in self.index_word.items():
                    if i < nw:
                        reverse[i] = w
                    elif oov_index is not None:
                        reverse[i] = oov_word
            else:
                lookup, reverse = self.word_index, self.index_word
            if oov_index is not None:
                lookup = _OovDict(lookup, oov_index)
            self._lookup, self._reverse, self._cache_key = lookup, reverse, key
        return self._lookup, self._reverse, oov_index

    def texts_to_sequences(self, texts: Iterable[str | list]) -> list[list[int]]:
        """Turn each text into a list of word indices.

        Words with index ``>= num_words`` and unknown words become the OOV
        index if ``oov_token`` is set, and are dropped otherwise.

        Args:
            texts: a list of strings, or of lists of string tokens.

        >>> tok = Tokenizer()
        >>> tok.fit_on_texts(["b a b"])
        >>> tok.texts_to_sequences(["a b c", "b"])
        [[2, 1], [1]]
        """
        items = _check_texts("Tokenizer.texts_to_sequences", texts)
        lookup, _, oov_index = self._tables()
        fitted = self._fitted_sequences(items, lookup, oov_index)
        if fitted is not None:
            return fitted
        tokens = self._tokens
        if oov_index is None:
            get = lookup.get  # indices are >= 1, so filter(None, ...) drops exactly the misses
            return [list(filter(None, map(get, tokens(text)))) for text in items]
        getitem = lookup.__getitem__  # _OovDict: misses give the OOV index
        return [list(map(getitem, tokens(text))) for text in items]

    def texts_to_sequences_generator(self, texts: Iterable[str | list]):
        """Yield ``texts_to_sequences([text])[0]`` for each text, one at a time.

        Args:
            texts: an iterable of strings (or token lists).

        >>> tok = Tokenizer()
        >>> tok.fit_on_texts(["x y"])
        >>> list(tok.texts_to_sequences_generator(["y x"]))
        [[2, 1]]
        """
        for text in texts:
            yield self.texts_to_sequences([text])[0]

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        """Turn index sequences back into space-joined texts (the inverse of :meth:`texts_to_sequences`).

        Unknown indices and indices ``>= num_words`` become the OOV token if
        there is one, and are dropped otherwise.

        Args:
            sequences: lists of integer indices.

        >>> tok = Tokenizer(oov_token="?")
        >>> tok.fit_on_texts(["hello world"])
        >>> tok.sequences_to_texts([[2, 3, 9]])
        ['hello world ?']
        """
        _, reverse, oov_index = self._tables()
        oov_word = self.index_word.get(oov_index) if oov_index is not None else None
        out = []
        for seq in sequences:
            words = []
            for num in seq:
                w = reverse.get(num)
                if w is None:
                    w = oov_word
                if w is not None:
                    words.append(w)
            out.append(" ".join(words))
        return out

    def texts_to_matrix(self, texts: Iterable[str | list], mode: str = "binary") -> np.ndarray:
        """Bag-of-words matrix of shape ``(len(texts), num_words)``.

        Args:
            texts: a list of strings.
            mode: ``'binary'`` (1 if present), ``'count'``, ``'freq'`` (count
                divided by the sequence length) or ``'tfidf'``.

        >>> tok = Tokenizer()
        >>> tok.fit_on_texts(["a a b"])
        >>> tok.texts_to_matrix(["a a b"], mode="count").tolist()
        [[0.0, 2.0, 1.0]]
        """
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences: Sequence[Sequence[int]], mode: str = "binary") -> np.ndarray:
        """Bag-of-words matrix from index sequences; see :meth:`texts_to_matrix`.

        Columns are indices ``0 .. num_words - 1`` (``len(word_index) + 1``
        columns when ``num_words`` is not set); indices outside that range are ignored.
        tfidf uses ``tf = 1 + log(count)`` and
        ``idf = log(1 + document_count / (1 + documents containing the word))``.

        Args:
            sequences: lists of integer indices.
            mode: ``'binary'``, ``'count'``, ``'freq'`` or ``'tfidf'``.

        >>> Tokenizer(num_words=4).sequences_to_matrix([[1, 3, 3, 7]], mode="freq").tolist()
        [[0.0, 0.25, 0.0, 0.5]]
        """
        if mode not in _MATRIX_MODES:
            raise ConfigError(
                f"Tokenizer: `mode` must be one of {', '.join(map(repr, _MATRIX_MODES))}, got {mode!r}"
            )
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ConfigError(
                "Tokenizer: the matrix width is unknown; pass `num_words=` to Tokenizer or call fit_on_texts first"
            )
        if mode == "tfidf" and not self.document_count:
            raise ConfigError("Tokenizer: tfidf mode needs document counts; call fit_on_texts first")
        sequences = list(sequences)
        x = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            seq = list(seq)
            if not seq:
                continue
            counts = Counter(j for j in seq if 0 <= j < width)
            for j, c in counts.items():
                if mode == "count":
                    x[row, j] = c
                elif mode == "freq":
                    x[row, j] = c / len(seq)
                elif mode == "binary":
                    x[row, j] = 1
                else:
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[row, j] = tf * idf
        return x

    # -- serialisation -------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Settings and fitted state as a JSON-friendly dict (count tables as JSON strings, as Keras).

        >>> Tokenizer(num_words=5).get_config()["num_words"]
        5
        """
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs: Any) -> str:
        """Serialise to a JSON string; restore it with :func:`tokenizer_from_json`.

        Args:
            **kwargs: passed to :func:`json.dumps` (e.g. ``indent=2``).

        >>> tok = Tokenizer()
        >>> tok.fit_on_texts(["a b"])
        >>> tokenizer_from_json(tok.to_json()).word_index
        {'a': 1, 'b': 2}
        """
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """Rebuild a :class:`Tokenizer` from :meth:`Tokenizer.to_json` output.

    Args:
        json_string: the JSON text.

    >>> tok = tokenizer_from_json(Tokenizer(oov_token="<u>").to_json())
    >>> tok.oov_token
    '<u>'
    """
    try:
        data = json.loads(json_string)
        config = dict(data["config"])
        tables = {k: json.loads(config.pop(k)) for k in
                  ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
        tok = Tokenizer(**config)
    except ConfigError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"tokenizer_from_json: not a Tokenizer JSON string ({type(exc).__name__}: {exc}); "
            "pass the text returned by Tokenizer.to_json()"
        ) from None
    tok.word_counts = tables["word_counts"]
    tok.word_docs = tables["word_docs"]
    tok.index_docs = {int(k): v for k, v in tables["index_docs"].items()}
    tok.index_word = {int(k): v for k, v in tables["index_word"].items()}
    tok.word_index = tables["word_index"]
    return tok


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (and cut) sequences to one length, giving a ``(n, maxlen, *feature_shape)`` array.

    Args:
        sequences: a list of sequences; each element may be a number or an
            array (sequences of vectors), all elements sharing one shape.
        maxlen: the output length; ``None`` uses the longest sequence.
        dtype: output dtype (strings and ``object`` work too).
        padding: ``'pre'`` or ``'post'``: where the fill values go.
        truncating: ``'pre'`` or ``'post'``: which end of a long sequence is cut.
        value: the fill value.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    >>> pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", value=-1).tolist()
    [[1, 2, 3], [4, -1, -1]]
    """
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ConfigError(f"pad_sequences: `{name}` must be one of 'pre', 'post', got {choice!r}")
    if maxlen is not None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral):
            raise ConfigError(f"pad_sequences: `maxlen` must be a positive integer or None, got {maxlen!r}")
        if maxlen <= 0:
            raise ConfigError(
                f"pad_sequences: `maxlen` must be a positive integer, got {maxlen}; "
                "pass maxlen=None to pad to the longest sequence"
            )
        maxlen = int(maxlen)
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ConfigError(
            f"pad_sequences: expected a list of sequences, got {type(sequences).__name__}"
        )
    lengths = []
    feature_shape: tuple = ()
    found = False
    for idx, seq in enumerate(sequences):
        try:
            n = len(seq)
        except TypeError:
            raise ConfigError(
                f"pad_sequences: sequence at index {idx} has no length (got {type(seq).__name__}); "
                "expected a list or array"
            ) from None
        lengths.append(n)
        if n and not found:
            feature_shape = np.asarray(seq[:1]).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise ConfigError(
            f"pad_sequences: `dtype` {dtype!r} is not a NumPy dtype; try 'int32', 'float32' or object"
        ) from None
    is_str = np.issubdtype(np_dtype, np.str_) or np.issubdtype(np_dtype, np.bytes_)
    if isinstance(value, str) and np_dtype != np.dtype(object) and not is_str:
        raise ConfigError(
            f"pad_sequences: `value` is the string {value!r} but `dtype` is {np_dtype}; "
            "use dtype=object or a string dtype, or a numeric value"
        )
    out = np.full((len(lengths), maxlen) + tuple(feature_shape), value, dtype=np_dtype)
    for idx, seq in enumerate(sequences):
        if not lengths[idx]:
            continue
        cut = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        try:
            cut = np.asarray(cut, dtype=np_dtype)
        except ValueError as exc:
            raise ShapeError(
                f"pad_sequences: sequence at index {idx} could not be converted to {np_dtype} "
                f"(elements of differing shapes or bad values: {exc})"
            ) from None
        if cut.shape[1:] != tuple(feature_shape):
            raise ShapeError(
                f"pad_sequences: sequence at index {idx} has elements of shape {cut.shape[1:]}, "
                f"expected {tuple(feature_shape)} like the first non-empty sequence"
            )
        if padding == "post":
            out[idx, : len(cut)] = cut
        else:
            out[idx, maxlen - len(cut):] = cut
    return out


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels; the output gains a trailing axis of size ``num_classes``.

    A trailing axis of size 1 in ``y`` (e.g. shape ``(n, 1)``) is dropped
    first, as Keras does.

    Args:
        y: integer labels in ``[0, num_classes)`` (any array-like).
        num_classes: the number of classes; ``None`` uses ``max(y) + 1``.
        dtype: the output dtype.

    >>> to_categorical([0, 2, 1]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    >>> to_categorical([[1], [0]], num_classes=2).shape
    (2, 2)
    """
    arr = np.asarray(y)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ConfigError(f"to_categorical: labels must be integers, got dtype {arr.dtype}")
    if arr.size and np.issubdtype(arr.dtype, np.floating) and not np.all(np.floor(arr) == arr):
        raise ConfigError("to_categorical: labels must be whole numbers (class indices), got fractional values")
    arr = arr.astype(np.int64)
    shape = arr.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = arr.ravel()
    if num_classes is None:
        if not flat.size:
            raise ConfigError("to_categorical: `y` is empty; pass `num_classes=` to fix the output width")
        num_classes = int(flat.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ConfigError(f"to_categorical: `num_classes` must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    if flat.size:
        bad = np.flatnonzero((flat < 0) | (flat >= num_classes))
        if bad.size:
            k = int(bad[0])
            raise ConfigError(
                f"to_categorical: label {int(flat[k])} at flat position {k} is outside [0, {num_classes}); "
                "labels must be 0 .. num_classes - 1"
            )
    out = np.zeros((flat.size, num_classes), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(tuple(shape) + (num_classes,))


class Vocab:
    """A token <-> id table with fixed special tokens ``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3.

    Build one with :meth:`Vocab.build`; ordinary tokens follow the specials by
    descending frequency, ties in order of first appearance.

    Args:
        tokens: the ordinary tokens in id order (ids start at 4).
        level: ``'char'`` (decode joins with ``''``) or ``'word'`` (joins with ``' '``).

    >>> v = Vocab.build(["abba"], level="char")
    >>> v.encode("abc", add_eos=True)
    [4, 5, 1, 3]
    >>> v.decode([2, 5, 4, 3])
    'ba'
    """

    PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
    SPECIALS = (PAD, UNK, BOS, EOS)
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, tokens: Iterable[str] = (), level: str = "word") -> None:
        if level not in ("char", "word"):
            raise ConfigError(f"Vocab: `level` must be one of 'char', 'word', got {level!r}")
        self.level = level
        self._itos: list[str] = list(self.SPECIALS)
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(self._itos)}
        for t in tokens:
            if not isinstance(t, str):
                raise ConfigError(f"Vocab: tokens must be str, got {type(t).__name__} ({t!r})")
            if t in self._stoi:
                raise ConfigError(f"Vocab: token {t!r} is listed twice (or is a special token)")
            self._stoi[t] = len(self._itos)
            self._itos.append(t)

    def _split(self, text: Any) -> list[str]:
        if isinstance(text, str):
            return list(text) if self.level == "char" else text.split()
        if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
            return list(text)
        raise ConfigError(
            f"Vocab: expected a str or a list of str tokens, got {type(text).__name__}"
        )

    @classmethod
    def build(
        cls, texts: Iterable[Any], level: str = "word", max_size: int | None = None, min_freq: int = 1
    ) -> "Vocab":
        """Count tokens in ``texts`` and make a vocabulary from them.

        Args:
            texts: strings (split into characters or on whitespace by ``level``)
                or lists of str tokens.
            level: ``'char'`` or ``'word'``.
            max_size: keep at most this many ordinary tokens (the four specials
                come on top); ``None`` keeps all.
            min_freq: drop tokens seen fewer times than this.

        >>> v = Vocab.build(["to be or not to be"], max_size=2)
        >>> len(v), v.id_to_token(4), v.id_to_token(5)
        (6, 'to', 'be')
        """
        shell = cls(level=level)
        if isinstance(texts, (str, bytes)):
            raise ConfigError("Vocab.build: expected a list of texts, got a single str; wrap it in a list: [text]")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, numbers.Integral) or max_size < 0
        ):
            raise ConfigError(f"Vocab.build: `max_size` must be None or an integer >= 0, got {max_size!r}")
        if isinstance(min_freq, bool) or not isinstance(min_freq, numbers.Integral) or min_freq < 1:
            raise ConfigError(f"Vocab.build: `min_freq` must be an integer >= 1, got {min_freq!r}")
        counts: Counter = Counter()
        for text in texts:
            counts.update(shell._split(text))
        for s in cls.SPECIALS:
            counts.pop(s, None)
        ranked = [t for t in sorted(counts, key=counts.__getitem__, reverse=True) if counts[t] >= min_freq]
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls(ranked, level=level)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, level={self.level!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.level == other.level and self._itos == other._itos

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, specials first."""
        return list(self._itos)

    def token_to_id(self, token: str) -> int:
        """The id of ``token``, or ``unk_id`` (1) if unknown.

        Args:
            token: a token.

        >>> Vocab(["hi"]).token_to_id("hi"), Vocab(["hi"]).token_to_id("yo")
        (4, 1)
        """
        return self._stoi.get(token, self.unk_id)

    def id_to_token(self, idx: int) -> str:
        """The token of id ``idx``.

        Args:
            idx: an id in ``[0, len(vocab))``.

        >>> Vocab(["hi"]).id_to_token(4)
        'hi'
        """
        if isinstance(idx, bool) or not isinstance(idx, numbers.Integral) or not 0 <= idx < len(self._itos):
            raise ConfigError(f"Vocab: id {idx!r} is outside [0, {len(self._itos)})")
        return self._itos[int(idx)]

    def encode(self, text: Any, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of the tokens of ``text``; unknown tokens map to ``<unk>`` (1).

        Args:
            text: a str (split by the vocabulary's level) or a list of str tokens.
            add_bos: prepend ``<bos>`` (2).
            add_eos: append ``<eos>`` (3).

        >>> Vocab(["a", "b"]).encode("b a z", add_bos=True)
        [2, 5, 4, 1]
        """
        get, unk = self._stoi.get, self.unk_id
        ids = [get(t, unk) for t in self._split(text)]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """Text of ``ids``, joined with ``''`` (char level) or ``' '`` (word level).

        Args:
            ids: token ids.
            skip_special: drop ``<pad>``, ``<bos>`` and ``<eos>``; ``<unk>`` is
                kept so that lost tokens stay visible.

        >>> Vocab(["a", "b"]).decode([2, 4, 1, 5, 3, 0])
        'a <unk> b'
        """
        skip = {self.pad_id, self.bos_id, self.eos_id} if skip_special else set()
        toks = [self.id_to_token(int(i)) for i in ids if int(i) not in skip]
        return ("" if self.level == "char" else " ").join(toks)

    def to_json(self) -> str:
        """The vocabulary as a JSON string.

        >>> Vocab.from_json(Vocab(["x"], level="char").to_json()).tokens
        ['<pad>', '<unk>', '<bos>', '<eos>', 'x']
        """
        return json.dumps({"format": "rnnkit.Vocab", "version": 1, "level": self.level, "tokens": self._itos},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, json_string: str) -> "Vocab":
        """Rebuild a vocabulary from :meth:`to_json` output.

        Args:
            json_string: the JSON text.

        >>> len(Vocab.from_json(Vocab(["a", "b"]).to_json()))
        6
        """
        try:
            data = json.loads(json_string)
            ok = isinstance(data, dict) and data.get("format") == "rnnkit.Vocab"
            tokens = data["tokens"] if ok else None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Vocab.from_json: not valid JSON ({exc}); pass the text of Vocab.to_json()") from None
        if not ok or not isinstance(tokens, list) or tuple(tokens[:4]) != cls.SPECIALS:
            raise ConfigError(
                "Vocab.from_json: not an rnnkit Vocab (missing format tag or special tokens); "
                "pass the text of Vocab.to_json()"
            )
        return cls(tokens[4:], level=data.get("level", "word"))

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON to ``path`` atomically (temp file, then rename).

        Args:
            path: the file to write.

        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "vocab.json")
        >>> Vocab(["a"]).save(p); Vocab.load(p).tokens[-1]
        'a'
        """
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        """Read a vocabulary written by :meth:`save`.

        Args:
            path: the JSON file.

        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "v.json")
        >>> Vocab(["a"], level="char").save(p); Vocab.load(p).level
        'char'
        """
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())
