"""Keras' ``Tokenizer``: words (or characters) to integer indices, sequences and bag-of-words matrices.

:class:`Tokenizer` keeps index 0 free (padding), ranks words by descending
frequency (ties in order of first appearance) and puts the OOV token at index 1;
:func:`tokenizer_from_json` restores one saved with :meth:`Tokenizer.to_json`.
Words are split Keras' way (``filters``, ``lower``, ``split``) or, with
``analyzer="text"``, by :func:`rnnkit.data.tokenize` (punctuation marks and CJK
characters as tokens of their own).

>>> from rnnkit.data import Tokenizer, pad_sequences
>>> tok = Tokenizer()
>>> tok.fit_on_texts(["the cat sat", "the dog"])
>>> pad_sequences(tok.texts_to_sequences(["the dog sat"]), maxlen=4).tolist()
[[0, 1, 4, 3]]
"""
from __future__ import annotations

import json
import numbers
import operator
import re
from array import array
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .._validation import check_fits_memory, check_positive_int
from ..errors import ConfigError, gist
from .tokens import tokenize

__all__ = ["Tokenizer", "tokenizer_from_json"]

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
        if not isinstance(t, (str, list)) or (isinstance(t, list) and not all(isinstance(w, str) for w in t)):
            got = type(t).__name__ if not isinstance(t, list) else "a list holding " + next(
                type(w).__name__ for w in t if not isinstance(w, str))
            raise ConfigError(f"{owner}: text at index {i} must be a str (or a list of str tokens), got {got}")
    return items


def _bad_sequence(owner: str, row: int, seq: Any) -> ConfigError:
    """The error for ``sequences[row]``, which is not a list of integer indices."""
    try:
        item = next((i for i in seq if isinstance(i, bool) or not isinstance(i, numbers.Integral)), None)
        got = f"it holds {item!r} ({type(item).__name__})" if item is not None else "it holds an index out of range"
    except TypeError:
        got = f"got {type(seq).__name__}"
    return ConfigError(f"{owner}: sequence at index {row} must be a list of integer indices; {got}")


def _table(name: str, value: Any, keys: type, values: type) -> dict:
    """A count or index table of a Tokenizer JSON: ``{key: value}`` with int keys (written as str) or str keys."""
    if not isinstance(value, dict):
        raise ConfigError(f"tokenizer_from_json: `{name}` must be a JSON object, got {type(value).__name__}; "
                          "pass the text returned by Tokenizer.to_json()")
    out = {}
    for k, v in value.items():
        if keys is int:
            try:
                k = int(k)
            except ValueError:
                raise ConfigError(f"tokenizer_from_json: `{name}` has the key {k!r}, not an integer; "
                                  "pass the text returned by Tokenizer.to_json()") from None
        ok = isinstance(v, str) if values is str else isinstance(v, int) and not isinstance(v, bool) and v >= 0
        if not ok:
            want = "a str" if values is str else "a non-negative integer"
            raise ConfigError(f"tokenizer_from_json: `{name}` maps {k!r} to {v!r}, expected {want}; "
                              "pass the text returned by Tokenizer.to_json()")
        index = v if name == "word_index" else k if name == "index_word" else 1
        if index < 1:  # 0 is padding
            raise ConfigError(f"tokenizer_from_json: `{name}` holds the index {index}, but word indices start at 1; "
                              "pass the text returned by Tokenizer.to_json()")
        out[k] = v
    return out


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
        analyzer: how a text is cut into words. ``None`` (the default): Keras'
            way, ``filters`` then ``split``. ``'text'``: :func:`rnnkit.data.tokenize`
            (words with inner apostrophes, each punctuation mark and each CJK
            character on its own; every non-space character when
            ``char_level=True``; lower-cased if ``lower``), saved by
            :meth:`to_json`. A callable ``text -> list of str``, as in Keras: it
            gets the text as it is (no lower-casing) and is not used when
            ``char_level=True``; it cannot be saved by :meth:`to_json`.

    Attributes: ``word_index`` / ``index_word`` (word <-> index),
    ``word_counts`` (counts, in order of first appearance), ``word_docs`` /
    ``index_docs`` (number of texts containing each word), ``document_count``.

    >>> tok = Tokenizer(num_words=3, oov_token="<oov>")
    >>> tok.fit_on_texts(["a b b", "c a b"])
    >>> tok.word_index
    {'<oov>': 1, 'b': 2, 'a': 3, 'c': 4}
    >>> tok.texts_to_sequences(["b a d"])
    [[2, 1, 1]]
    >>> tok = Tokenizer(analyzer="text")
    >>> tok.fit_on_texts(["Don't stop!<br />不错"])
    >>> tok.word_index
    {"don't": 1, 'stop': 2, '!': 3, '不': 4, '错': 5}
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
        analyzer: str | Callable[[str], list[str]] | None = None,
    ) -> None:
        num_words = check_positive_int("Tokenizer", "num_words", num_words, allow_none=True, minimum=0)
        if not isinstance(filters, str):
            raise ConfigError(f"Tokenizer: `filters` must be a str of characters, got {type(filters).__name__}")
        if not isinstance(split, str) or not split:
            raise ConfigError(f"Tokenizer: `split` must be a non-empty str, got {split!r}")
        if oov_token is not None and not isinstance(oov_token, str):
            raise ConfigError(f"Tokenizer: `oov_token` must be None or a str, got {type(oov_token).__name__}")
        if not (analyzer is None or analyzer == "text" or callable(analyzer)):
            raise ConfigError(
                f"Tokenizer: `analyzer` must be None, 'text' or a function text -> list of tokens, got {analyzer!r}"
            )
        self.num_words = num_words
        self.analyzer = analyzer
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.document_count = check_positive_int("Tokenizer", "document_count", document_count, minimum=0)
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
        if self.analyzer is not None:
            if self.analyzer == "text":
                return tokenize(text, "char" if self.char_level else "word", lower=self.lower)
            if not self.char_level:  # Keras: char_level wins over an analyzer, which gets the text as it is
                return list(self.analyzer(text))
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
        return (self.filters, self.split, self.lower, self.char_level, self.analyzer)

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
            try:
                docs.update(dict.fromkeys((operator.index(i) for i in seq), 1))
            except TypeError:
                raise _bad_sequence("Tokenizer.fit_on_sequences", n, seq) from None
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
        for row, seq in enumerate(sequences):
            words = []
            try:
                for num in seq:
                    w = reverse.get(num)
                    if w is None:
                        w = oov_word
                    if w is not None:
                        words.append(w)
            except TypeError:  # not iterable, or an unhashable item
                raise _bad_sequence("Tokenizer.sequences_to_texts", row, seq) from None
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
        check_fits_memory("Tokenizer.sequences_to_matrix", (len(sequences), width), np.float64,
                          "lower `num_words`")
        try:
            x = np.zeros((len(sequences), width))  # (texts, num_words)
        except (ValueError, MemoryError):  # past NumPy's largest dimension (even with no rows), or the memory left
            raise ConfigError(f"Tokenizer.sequences_to_matrix: a matrix of {len(sequences):,} x {width:,} does not "
                              "fit in memory; lower `num_words`") from None
        for row, seq in enumerate(sequences):
            try:
                seq = [operator.index(j) for j in seq]
            except TypeError:
                raise _bad_sequence("Tokenizer.sequences_to_matrix", row, seq) from None
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

        ``analyzer`` is included only when it is ``'text'`` (Keras' own dict has no such key).

        >>> Tokenizer(num_words=5).get_config()["num_words"]
        5
        """
        if callable(self.analyzer):
            raise ConfigError(
                "Tokenizer: a function given as `analyzer` cannot be saved; use analyzer='text', "
                "or set tok.analyzer again after tokenizer_from_json"
            )
        extra = {} if self.analyzer is None else {"analyzer": self.analyzer}
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
            **extra,
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
    except (TypeError, KeyError, ValueError, AttributeError, RecursionError) as exc:
        detail = gist(exc, 100)
        raise ConfigError(
            f"tokenizer_from_json: not a Tokenizer JSON string ({type(exc).__name__}: {detail}); "
            "pass the text returned by Tokenizer.to_json()"
        ) from None
    tok.word_counts = _table("word_counts", tables["word_counts"], str, int)
    tok.word_docs = _table("word_docs", tables["word_docs"], str, int)
    tok.index_docs = _table("index_docs", tables["index_docs"], int, int)
    tok.index_word = _table("index_word", tables["index_word"], int, str)
    tok.word_index = _table("word_index", tables["word_index"], str, int)
    return tok
