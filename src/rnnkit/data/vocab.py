"""A token <-> id table with fixed special tokens, saved as JSON: :class:`Vocab`.

``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3, then the ordinary tokens by
descending frequency.  Texts are split into characters or on whitespace
(``analyzer="split"``, what text generation wants: every character, spaces and
newlines included), or by :func:`rnnkit.data.tokenize` (``analyzer="text"``:
words, punctuation marks and CJK characters, lower-cased; what classification wants).

>>> v = Vocab.build(["Hello, world!"], analyzer="text")
>>> v.tokens[4:], v.encode("HELLO there")
(['hello', ',', 'world', '!'], [4, 1])
"""
from __future__ import annotations

import json
import numbers
import os
from collections import Counter
from typing import Any, Iterable

from .._io import atomic_write
from .._validation import check_choice, check_positive_int
from ..errors import ConfigError, gist
from .tokens import tokenize

__all__ = ["Vocab", "ANALYZERS"]

ANALYZERS = ("split", "text")


class Vocab:
    """A token <-> id table with fixed special tokens ``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3.

    Build one with :meth:`Vocab.build`; ordinary tokens follow the specials by
    descending frequency, ties in order of first appearance.

    Args:
        tokens: the ordinary tokens in id order (ids start at 4).
        level: ``'char'`` (decode joins with ``''``) or ``'word'`` (joins with ``' '``).
        analyzer: how a str is cut into tokens (lists of str tokens are always
            taken as they are): ``'split'`` (the default) splits on whitespace at
            word level and gives every character (spaces and newlines too) at
            char level; ``'text'`` uses :func:`rnnkit.data.tokenize` at the
            vocabulary's level: lower-cased words, punctuation marks and CJK
            characters, or the non-space characters.  Saved with the vocabulary.

    >>> v = Vocab.build(["abba"], level="char")
    >>> v.encode("abc", add_eos=True)
    [4, 5, 1, 3]
    >>> v.decode([2, 5, 4, 3])
    'ba'
    >>> Vocab(["it's", "!"], analyzer="text").encode("It's it!")
    [4, 1, 5]
    """

    PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
    SPECIALS = (PAD, UNK, BOS, EOS)
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, tokens: Iterable[str] = (), level: str = "word", analyzer: str = "split") -> None:
        self.level = check_choice("Vocab", "level", level, ("char", "word"))
        self.analyzer = check_choice("Vocab", "analyzer", analyzer, ANALYZERS)
        self._itos: list[str] = list(self.SPECIALS)
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(self._itos)}
        for t in tokens:
            if not isinstance(t, str):
                raise ConfigError(f"Vocab: tokens must be str, got {type(t).__name__} ({t!r})")
            if t in self._stoi:
                raise ConfigError(f"Vocab: token {t!r} is listed twice (or is a special token)")
            self._stoi[t] = len(self._itos)
            self._itos.append(t)

    def split(self, text: Any) -> list[str]:
        """The tokens of ``text`` as this vocabulary cuts them (see ``analyzer``); a list of str is kept as is.

        Args:
            text: a str or a list of str tokens.

        >>> Vocab(level="char").split("a b")
        ['a', ' ', 'b']
        >>> Vocab(analyzer="text").split("Don't   STOP!<br />")
        ["don't", 'stop', '!']
        """
        if isinstance(text, str):
            if self.analyzer == "text":
                return tokenize(text, self.level)
            return list(text) if self.level == "char" else text.split()
        if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
            return list(text)
        raise ConfigError(
            f"Vocab: expected a str or a list of str tokens, got {type(text).__name__}"
        )

    @classmethod
    def build(
        cls, texts: Iterable[Any], level: str = "word", max_size: int | None = None, min_freq: int = 1,
        analyzer: str = "split",
    ) -> "Vocab":
        """Count tokens in ``texts`` and make a vocabulary from them.

        Args:
            texts: strings (split into characters or on whitespace by ``level``)
                or lists of str tokens.
            level: ``'char'`` or ``'word'``.
            max_size: keep at most this many ordinary tokens (the four specials
                come on top); ``None`` keeps all.
            min_freq: drop tokens seen fewer times than this.
            analyzer: ``'split'`` or ``'text'``: how a str is cut into tokens (see :class:`Vocab`).

        >>> v = Vocab.build(["to be or not to be"], max_size=2)
        >>> len(v), v.id_to_token(4), v.id_to_token(5)
        (6, 'to', 'be')
        >>> Vocab.build(["Good, good film."], analyzer="text").tokens[4:]
        ['good', ',', 'film', '.']
        """
        shell = cls(level=level, analyzer=analyzer)
        if isinstance(texts, (str, bytes)):
            raise ConfigError("Vocab.build: expected a list of texts, got a single str; wrap it in a list: [text]")
        max_size = check_positive_int("Vocab.build", "max_size", max_size, allow_none=True, minimum=0)
        min_freq = check_positive_int("Vocab.build", "min_freq", min_freq, minimum=1)
        counts: Counter = Counter()
        for text in texts:
            counts.update(shell.split(text))
        for s in cls.SPECIALS:
            counts.pop(s, None)
        ranked = [t for t in sorted(counts, key=counts.__getitem__, reverse=True) if counts[t] >= min_freq]
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls(ranked, level=level, analyzer=analyzer)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __repr__(self) -> str:
        text = "" if self.analyzer == "split" else f", analyzer={self.analyzer!r}"
        return f"Vocab(size={len(self)}, level={self.level!r}{text})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocab) and self.level == other.level and self.analyzer == other.analyzer
                and self._itos == other._itos)

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
            text: a str (cut by the vocabulary's ``analyzer`` and level) or a list of str tokens.
            add_bos: prepend ``<bos>`` (2).
            add_eos: append ``<eos>`` (3).

        >>> Vocab(["a", "b"]).encode("b a z", add_bos=True)
        [2, 5, 4, 1]
        """
        get, unk = self._stoi.get, self.unk_id
        ids = [get(t, unk) for t in self.split(text)]
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
        """The vocabulary as a JSON string (``analyzer`` is written only when it is not the default ``'split'``).

        >>> Vocab.from_json(Vocab(["x"], level="char").to_json()).tokens
        ['<pad>', '<unk>', '<bos>', '<eos>', 'x']
        >>> Vocab(analyzer="text").to_json()
        '{"format": "rnnkit.Vocab", "version": 1, "level": "word", "analyzer": "text", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>"]}'
        """
        data: dict[str, Any] = {"format": "rnnkit.Vocab", "version": 1, "level": self.level}
        if self.analyzer != "split":  # files without it (all written before it existed) read as 'split'
            data["analyzer"] = self.analyzer
        data["tokens"] = self._itos
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, json_string: str) -> "Vocab":
        """Rebuild a vocabulary from :meth:`to_json` output.

        Args:
            json_string: the JSON text.

        >>> len(Vocab.from_json(Vocab(["a", "b"]).to_json()))
        6
        """
        return cls._parse(json_string, "Vocab.from_json", "pass the text of Vocab.to_json()")

    @classmethod
    def _parse(cls, json_string: Any, where: str, fix: str) -> "Vocab":
        """A vocabulary from its JSON text; ``where`` starts and ``fix`` ends each error message."""
        try:
            data = json.loads(json_string)
            ok = isinstance(data, dict) and data.get("format") == "rnnkit.Vocab"
            tokens = data.get("tokens") if ok else None
        except (TypeError, ValueError, RecursionError) as exc:
            detail = gist(exc, 100)
            raise ConfigError(f"{where}: not valid JSON ({detail}); {fix}") from None
        if not ok or not isinstance(tokens, list) or tuple(tokens[:4]) != cls.SPECIALS:
            raise ConfigError(f"{where}: not an rnnkit Vocab (missing format tag or special tokens); {fix}")
        try:
            return cls(tokens[4:], level=data.get("level", "word"), analyzer=data.get("analyzer", "split"))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}; {fix}") from None

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
        where = f"Vocab.load: {os.fspath(path)}"
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{where} does not exist; give the vocab.json of a run folder") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where} is not UTF-8 text (bad byte at offset {exc.start}); it is damaged, "
                              "save the vocabulary again") from None
        except OSError as exc:
            raise ConfigError(f"{where} cannot be read ({exc.strerror or exc})") from None
        return cls._parse(text, where, "the file is damaged; save the vocabulary again")
