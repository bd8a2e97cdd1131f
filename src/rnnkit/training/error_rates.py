r"""Edit distance and the error rates of recognisers: token, word and character error rates.

An error rate counts the fewest substitutions :math:`S`, deletions :math:`D`
and insertions :math:`I` that turn each hypothesis into its reference (the
Levenshtein distance, :func:`edit_distance`), summed over a corpus, per
reference token:

.. math::

    \mathrm{ER} = \frac{\sum_i (S_i + D_i + I_i)}{\sum_i N_i}

with :math:`N_i` the length of reference :math:`i`.  It is a ratio of sums, not
a mean of per-utterance rates (a long utterance weighs more), and it can exceed
1 (insertions).  :func:`word_error_rate` splits strings on whitespace,
:func:`character_error_rate` counts every character, spaces included,
:func:`token_error_rate` takes any token sequences (e.g. the label ids from
:func:`rnnkit.decoding.ctc_greedy_decode`).  Nothing is normalised (case,
punctuation): do that before.  The values equal ``jiwer``'s ``wer`` and ``cer``
on text without leading, trailing or repeated spaces, which ``jiwer`` removes.

>>> from rnnkit.training.error_rates import word_error_rate
>>> word_error_rate(["the cat sat", "on the mat"], ["the cat sat down", "on mat"])   # 1 insertion, 1 deletion
0.3333333333333333
"""
from __future__ import annotations

from typing import Any, Hashable, Sequence

from ..errors import ConfigError

__all__ = ["edit_distance", "token_error_rate", "word_error_rate", "character_error_rate"]


def _check_sequence(owner: str, name: str, value: Any) -> Sequence[Hashable]:
    if isinstance(value, (str, bytes, list, tuple, range)):
        return value
    if hasattr(value, "tolist"):  # a tensor or NumPy array of ids: compare the numbers, not the objects
        value = value.tolist()
        if isinstance(value, list):
            return value
    try:
        return list(value)
    except TypeError:
        raise ConfigError(f"{owner}: `{name}` must be a sequence of tokens (list, tuple or str), "
                          f"got {type(value).__name__}") from None


def edit_distance(ref: Sequence[Hashable], hyp: Sequence[Hashable]) -> int:
    r"""The Levenshtein distance: the fewest substitutions, deletions and insertions turning ``hyp`` into ``ref``.

    .. math::

        d(i, j) = \min\big(d(i-1, j) + 1,\ d(i, j-1) + 1,\ d(i-1, j-1) + [r_i \ne h_j]\big),
        \qquad d(i, 0) = i,\ d(0, j) = j

    and the distance is :math:`d(|r|, |h|)`.  Tokens are compared with ``==``
    (any hashable values: words, characters, ids).  Computed with the bit-vector
    algorithm of Myers (1999) in the form of Hyyrö (2003): one pass over ``hyp``
    with Python integers as bit vectors over ``ref``, so long sequences (a
    character error rate) stay fast.

    Args:
        ref: the reference tokens (a list, tuple or str: a str is its characters).
        hyp: the hypothesis tokens.

    Returns:
        the distance, an int in ``[|len(ref) - len(hyp)|, max(len(ref), len(hyp))]``.

    Example:
        >>> edit_distance("kitten", "sitting")   # k->s, e->i, +g
        3
        >>> edit_distance(["a", "b", "c"], ["a", "c"])
        1
    """
    ref = _check_sequence("edit_distance", "ref", ref)
    hyp = _check_sequence("edit_distance", "hyp", hyp)
    # common ends cost nothing
    start = 0
    while start < len(ref) and start < len(hyp) and ref[start] == hyp[start]:
        start += 1
    end_r, end_h = len(ref), len(hyp)
    while end_r > start and end_h > start and ref[end_r - 1] == hyp[end_h - 1]:
        end_r, end_h = end_r - 1, end_h - 1
    ref, hyp = ref[start:end_r], hyp[start:end_h]
    m = len(ref)
    if m == 0 or not hyp:
        return max(m, len(hyp))
    # bit i of peq[c] is set where ref[i] == c
    peq: dict[Hashable, int] = {}
    for i, token in enumerate(ref):
        peq[token] = peq.get(token, 0) | (1 << i)
    full, top = (1 << m) - 1, 1 << (m - 1)
    # the vertical deltas d(i, j) - d(i-1, j) of the current column as bit vectors: +1 (pv) and -1 (mv)
    pv, mv, score = full, 0, m                                       # column j = 0: d(i, 0) = i
    for token in hyp:
        eq = peq.get(token, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & full) ^ pv) | eq
        # the horizontal deltas d(i, j) - d(i, j-1): +1 (ph) and -1 (mh)
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        # d(m, j) = d(m, j-1) + the horizontal delta of the last row
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full                                  # d(0, j) - d(0, j-1) = +1
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def _corpus(owner: str, refs: Any, hyps: Any, words: bool) -> tuple[list[Sequence[Hashable]], list[Sequence[Hashable]]]:
    """refs and hyps as equally long lists of token sequences (a str is one utterance)."""
    pair = []
    for name, value in (("refs", refs), ("hyps", hyps)):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{owner}: `{name}` must be a list of utterances, got {type(value).__name__}")
        items = []
        for i, item in enumerate(value):
            if words:
                if not isinstance(item, str):
                    raise ConfigError(f"{owner}: `{name}`[{i}] must be a string of words, got {type(item).__name__}")
                item = item.split()
            elif isinstance(item, (int, float)):
                raise ConfigError(f"{owner}: `{name}` must hold one token sequence per utterance, got a "
                                  f"{type(item).__name__} at [{i}]; for one utterance wrap it in a list: [tokens]")
            items.append(_check_sequence(owner, f"{name}[{i}]", item))
        pair.append(items)
    refs_, hyps_ = pair
    if len(refs_) != len(hyps_):
        raise ConfigError(f"{owner}: got {len(refs_)} references but {len(hyps_)} hypotheses; "
                          "give one hypothesis per reference")
    return refs_, hyps_


def _rate(owner: str, refs: list[Sequence[Hashable]], hyps: list[Sequence[Hashable]]) -> float:
    total = sum(len(ref) for ref in refs)
    if total == 0:
        raise ConfigError(f"{owner}: the references hold no tokens, so the error rate (edits per reference "
                          "token) is undefined; give at least one non-empty reference")
    # ER = Σ_i (S_i + D_i + I_i) / Σ_i N_i
    return sum(edit_distance(ref, hyp) for ref, hyp in zip(refs, hyps)) / total


def token_error_rate(refs: Sequence[Sequence[Hashable]], hyps: Sequence[Sequence[Hashable]]) -> float:
    r"""Edits per reference token over a corpus of token sequences: :math:`\sum_i d(r_i, h_i) / \sum_i |r_i|`.

    Args:
        refs: one token sequence per utterance (lists of ids or words, or strings
            of characters); a single string is one utterance.
        hyps: the hypotheses, one per reference.

    Returns:
        the rate, a float >= 0 (above 1 when insertions outnumber the rest).

    Raises:
        ConfigError: if the lists differ in length or the references hold no token.

    Example:
        >>> token_error_rate([[3, 1, 4, 1], [5, 9]], [[3, 1, 1], [5, 9, 2]])   # 1 deletion + 1 insertion / 6
        0.3333333333333333
    """
    return _rate("token_error_rate", *_corpus("token_error_rate", refs, hyps, words=False))


def word_error_rate(refs: str | Sequence[str], hyps: str | Sequence[str]) -> float:
    r"""The word error rate: edits per reference word, over strings split on whitespace.

    .. math:: \mathrm{WER} = \frac{\sum_i (S_i + D_i + I_i)}{\sum_i N_i} \quad\text{(words)}

    Args:
        refs: one reference string per utterance, or one string.
        hyps: the hypotheses, one per reference.

    Returns:
        the rate, a float >= 0.

    Raises:
        ConfigError: if the lists differ in length or the references hold no word.

    Example:
        >>> word_error_rate("the cat sat on the mat", "the cat sit on mat")   # 1 substitution, 1 deletion / 6
        0.3333333333333333
    """
    return _rate("word_error_rate", *_corpus("word_error_rate", refs, hyps, words=True))


def character_error_rate(refs: str | Sequence[str], hyps: str | Sequence[str]) -> float:
    r"""The character error rate: edits per reference character, spaces included.

    .. math:: \mathrm{CER} = \frac{\sum_i (S_i + D_i + I_i)}{\sum_i N_i} \quad\text{(characters)}

    Args:
        refs: one reference string per utterance, or one string.
        hyps: the hypotheses, one per reference.

    Returns:
        the rate, a float >= 0.

    Example:
        >>> character_error_rate("hello world", "helo world")   # 1 deletion / 11
        0.09090909090909091
    """
    owner = "character_error_rate"
    refs_, hyps_ = _corpus(owner, refs, hyps, words=False)
    for name, items in (("refs", refs_), ("hyps", hyps_)):
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ConfigError(f"{owner}: `{name}`[{i}] must be a string, got {type(item).__name__}; "
                                  "token_error_rate takes other token sequences")
    return _rate(owner, refs_, hyps_)
