"""Sentences to tokens and back: the translation app's documented, reversible text steps.

Reading (:func:`segment`):

1. Unicode NFC; the no-break and thin spaces that French puts before ``! ? : ;``
   become plain spaces, typographic apostrophes become ``'``.
2. Lower-casing and tokenising with rnnkit's shared rule (:func:`rnnkit.data.tokenize`):
   words (inner apostrophes kept), each punctuation mark alone, each CJK
   character alone — so Chinese is read character by character and the Latin
   words inside it ("Tom") stay whole.
3. French elision is split after its apostrophe (``j'ai`` -> ``j'`` ``ai``,
   ``qu'il`` -> ``qu'`` ``il``), so ``ai`` and ``il`` are learnt once.
4. At ``char`` level instead: every character, a space written as ``▁``.

Writing (:func:`detokenize`), the inverse for output: tokens are joined by
spaces except before closing punctuation, after opening punctuation and
elision, around a hyphen, and between CJK characters; each word takes its most frequent casing
in the training targets away from the sentence start (:class:`TrueCaser`), and
the sentence's first letter is capitalised (where most training targets start
with a capital).  So ``["tom", "est", "là", "."]`` becomes ``"Tom est là."``.

>>> segment("J'ai froid\u202f!", "fr")
["j'", 'ai', 'froid', '!']
>>> detokenize(["j'", "ai", "froid", "!"], "fr")
"J'ai froid!"
>>> segment("我很冷。", "zh"), detokenize(["我", "很", "冷", "。"], "zh")
(['我', '很', '冷', '。'], '我很冷。')
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

from rnnkit.data import tokenize

__all__ = ["LEVELS", "SPACE", "segment", "detokenize", "TrueCaser", "bleu_tokenizer", "is_cjk_language"]

LEVELS = ("word", "char")
SPACE = "▁"  # a space, as a token of char-level text

_SPACES = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# French elided words, split after their apostrophe
_ELISION = re.compile(r"^(c|d|j|l|m|n|s|t|qu|jusqu|lorsqu|puisqu|quoiqu)'(.+)$")
_CJK_LANGUAGES = {"zh", "cmn", "yue", "wuu", "ja", "jpn", "ko", "kor"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u3000-\u303f\uff00-\uffef]")
_NO_SPACE_BEFORE = set(".,!?;:)]}%»…") | {"'", '"'}
_NO_SPACE_AFTER = set("([{«¿¡$")


def is_cjk_language(lang: str) -> bool:
    """Chinese, Japanese or Korean (by ISO 639 code): written without spaces between words."""
    return lang.lower().split("-")[0] in _CJK_LANGUAGES


def normalise(text: str) -> str:
    """Step 1: NFC, plain spaces, plain apostrophes, single spaces."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    return " ".join(_SPACES.sub(" ", text).split())


def segment(text: str, lang: str, level: str = "word", *, lower: bool = True) -> list[str]:
    """The tokens of ``text`` in language ``lang`` (steps 1-4 of the module's docstring)."""
    text = normalise(text)
    if level == "char":
        return [SPACE if c == " " else c for c in (text.lower() if lower else text)]
    tokens = tokenize(text, "word", lower=lower)
    if lang.lower().split("-")[0] == "fr":
        split = []
        for token in tokens:
            m = _ELISION.match(token.lower())
            if m:
                cut = len(m.group(1)) + 1
                split += [token[:cut], token[cut:]]
            else:
                split.append(token)
        tokens = split
    return tokens


def _joined(tokens: Sequence[str]) -> str:
    out = ""
    for i, token in enumerate(tokens):
        # a hyphen joins the words on both sides (Assieds-toi, peut-être, well-known)
        if i and not (token[:1] in _NO_SPACE_BEFORE or out[-1:] in _NO_SPACE_AFTER or out.endswith("'")
                      or token == "-" or out.endswith("-") or _CJK.match(token[:1]) or _CJK.match(out[-1:])):
            out += " "
        out += token
    return out


def detokenize(tokens: Sequence[str], lang: str, level: str = "word", truecaser: "TrueCaser | None" = None) -> str:
    """A sentence from ``tokens`` (the inverse of :func:`segment` up to casing and spacing)."""
    if level == "char":
        text = "".join(" " if t == SPACE else t for t in tokens)
        text = " ".join(text.split())
    else:
        text = _joined([truecaser.case(t) if truecaser else t for t in tokens])
    if truecaser is not None and not truecaser.capitalise:
        return text
    for i, c in enumerate(text):  # the sentence starts with a capital
        if c.isalpha():
            return text[:i] + c.upper() + text[i + 1:]
    return text


class TrueCaser:
    """Each lower-cased word's most frequent written form away from the sentence start.

    >>> tc = TrueCaser.fit([["Tom", "and", "I"], ["I", "saw", "Tom"], ["Yes", "Tom"]])
    >>> tc.case("tom"), tc.case("i"), tc.case("yes"), tc.case("and")
    ('Tom', 'I', 'yes', 'and')
    """

    def __init__(self, forms: dict[str, str] | None = None, capitalise: bool = True) -> None:
        self.forms = dict(forms or {})  # only the words whose usual form is not all lower-case
        self.capitalise = capitalise  # a sentence's first letter is a capital

    @classmethod
    def fit(cls, sentences: Iterable[Sequence[str]]) -> "TrueCaser":
        """Learn from sentences tokenised with their case kept (``segment(..., lower=False)``)."""
        counts: dict[str, Counter] = defaultdict(Counter)
        starts = Counter()
        for tokens in sentences:
            first = next((c for c in "".join(tokens) if c.isalpha()), "")
            if first.lower() != first.upper():  # a letter with a case
                starts[first.isupper()] += 1
            for token in tokens[1:]:  # the first word's capital says nothing about the word
                counts[token.lower()][token] += 1
        forms = {}
        for word, seen in counts.items():
            best = max(seen.items(), key=lambda kv: (kv[1], kv[0] == word))[0]
            if best != word:
                forms[word] = best
        return cls(forms, capitalise=starts[True] >= starts[False])

    def case(self, token: str) -> str:
        return self.forms.get(token, token)

    def to_json(self) -> dict[str, Any]:
        return {"capitalise": self.capitalise, "forms": dict(sorted(self.forms.items()))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrueCaser":
        return cls(data.get("forms"), bool(data.get("capitalise", True)))


def bleu_tokenizer(lang: str) -> str:
    """sacreBLEU's tokeniser for ``lang``: ``'zh'`` for Chinese, ``'char'`` for Japanese and Korean, else ``'13a'``."""
    base = lang.lower().split("-")[0]
    if base in {"zh", "cmn", "yue", "wuu"}:
        return "zh"
    if base in {"ja", "jpn", "ko", "kor"}:
        return "char"
    return "13a"
