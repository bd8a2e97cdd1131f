"""How natural-language text is cut into tokens: :func:`tokenize`, the rule every app shares.

At word level a token is a word (letters and digits, keeping inner apostrophes:
``don't``, ``o'brien's``), a single punctuation mark, or a single CJK character
(Chinese and Japanese put no spaces between words, so each ideograph, kana or
hangul syllable stands alone).  At char level a token is every non-space
character.  Both levels lower-case the text first (unless ``lower=False``) and
read an HTML line break (``<br />``, common in scraped reviews such as IMDB) as
a space.

:class:`~rnnkit.data.Vocab` (``analyzer="text"``) and
:class:`~rnnkit.data.Tokenizer` (``analyzer="text"``) tokenize with it; the
classify app uses it directly.

>>> tokenize("It's GREAT!<br />不错")
["it's", 'great', '!', '不', '错']
>>> tokenize("很好 吃", "char")
['很', '好', '吃']
"""
from __future__ import annotations

import re

from .._validation import check_bool, check_choice
from ..errors import ConfigError

__all__ = ["tokenize", "LEVELS"]

LEVELS = ("word", "char")

# CJK ideographs (and compatibility ones), kana and hangul syllables: one token per character
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# a CJK character | a word (no underscore, no CJK) with inner apostrophes | one mark that is neither word nor space
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)*|[^\w\s]", re.UNICODE)
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str, level: str = "word", *, lower: bool = True) -> list[str]:
    """The tokens of ``text``: words, punctuation marks and CJK characters, or non-space characters.

    Args:
        text: the text (a str).
        level: ``'word'``: words (inner apostrophes kept), each punctuation mark
            and each CJK character on its own; ``'char'``: every character
            that is not whitespace.
        lower: lower-case the text first.

    Returns:
        The list of tokens, in order; ``<br>``/``<br />`` tags count as spaces.
        At word level an underscore is dropped, as a space would be (``a_b`` gives ``a``, ``b``).

    >>> tokenize("Don't   STOP!<br /><br />Great.")
    ["don't", 'stop', '!', 'great', '.']
    >>> tokenize("我很喜欢 this movie")
    ['我', '很', '喜', '欢', 'this', 'movie']
    >>> tokenize("O'Brien's film", lower=False)
    ["O'Brien's", 'film']
    >>> tokenize("snake_case 3.5")
    ['snake', 'case', '3', '.', '5']
    >>> tokenize("好 看!", "char")
    ['好', '看', '!']
    """
    if not isinstance(text, str):
        raise ConfigError(f"tokenize: `text` must be a str, got {type(text).__name__}; tokenize one text at a time")
    check_choice("tokenize", "level", level, LEVELS)
    text = _HTML_BREAK.sub(" ", text)
    if check_bool("tokenize", "lower", lower):
        text = text.lower()
    if level == "char":
        return [c for c in text if not c.isspace()]
    return _WORD.findall(text)
