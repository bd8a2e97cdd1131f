r"""CTC decoding: best path, prefix beam search and forced alignment over per-frame class scores.

A CTC model (one trained with :class:`rnnkit.training.losses.CTC`) gives, for
each utterance, a score for every class at every frame, class ``blank`` (0 by
default) meaning "no label here".  A labelling :math:`y` is read from an
alignment :math:`a` (one class per frame) by :math:`\mathcal{B}`: merge repeated
classes, then drop the blanks, so ``a a - a b b`` reads ``a a b``.  Its
probability sums over every alignment that reads it:

.. math::

    p(y \mid x) = \sum_{a \in \mathcal{B}^{-1}(y)} \prod_{t=1}^{T} p(a_t \mid x, t)

* :func:`ctc_greedy_decode` reads the most probable *alignment* (the best path);
* :func:`ctc_beam_decode` searches for the most probable *labelling*, summing
  its alignments (CTC prefix beam search);
* :func:`ctc_alignment` finds, for a given labelling, its most probable
  alignment (Viterbi forced alignment) and so each label's frames.

Inputs are ``(batch, time, classes)`` tensors on any device, with an optional
``(batch,)`` number of valid frames per utterance (the frames after it are
ignored).  They are log-probabilities or logits: every function first applies
``log_softmax`` over the classes, which leaves log-probabilities unchanged
(probabilities must go through ``.log()`` first).  The results are Python
lists, one entry per utterance; the beam search and the alignment run in
float64 on the CPU (one copy of the scores), the greedy decoding on the
scores' device.  Nothing here needs a gradient.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch

from .._validation import as_tensor, check_real
from ..errors import ConfigError, ShapeError

__all__ = ["ctc_greedy_decode", "ctc_beam_decode", "ctc_alignment"]

NEG_INF = -math.inf


# ----------------------------------------------------------------------------- helpers
def _check_blank(owner: str, blank: Any, classes: int) -> int:
    if isinstance(blank, bool) or not isinstance(blank, numbers.Integral) or not 0 <= blank < classes:
        raise ConfigError(f"{owner}: `blank` must be a class id in [0, {classes}) for log_probs with {classes} "
                          f"classes, got {blank!r}")
    return int(blank)


def _prepare(owner: str, log_probs: Any, lengths: Any, blank: Any) -> tuple[torch.Tensor, list[int], int]:
    """(log_softmax of the scores (B, T, C), in float32 or float64, the valid frames per utterance, blank)."""
    scores = as_tensor(owner, log_probs, "log_probs")
    if scores.dim() != 3:
        hint = "; for one utterance add the batch axis: log_probs[None]" if scores.dim() == 2 else ""
        raise ShapeError(f"{owner}: expected log_probs of 3 dims (batch, time, classes), got {scores.dim()} dims "
                         f"with shape {tuple(scores.shape)}{hint}")
    if not scores.is_floating_point():
        raise ShapeError(f"{owner}: expected floating-point log_probs, got dtype {scores.dtype}")
    batch, time, classes = scores.shape
    if classes < 1:
        raise ShapeError(f"{owner}: log_probs has no classes (shape {tuple(scores.shape)})")
    blank = _check_blank(owner, blank, classes)
    if scores.dtype in (torch.float16, torch.bfloat16):  # sums over many frames need float32
        scores = scores.float()
    if bool(scores.isnan().any()):
        raise ShapeError(f"{owner}: log_probs holds NaN; check the model's output (mask with -inf, not NaN)")
    # log p(k | x, t): log_softmax leaves log-probabilities unchanged and normalises logits
    scores = torch.log_softmax(scores.detach(), dim=-1)
    if lengths is None:
        return scores, [time] * batch, blank
    if isinstance(lengths, (list, tuple)):
        lengths = np.asarray(lengths)
    counts = as_tensor(owner, lengths, "lengths")
    if tuple(counts.shape) != (batch,) or counts.is_floating_point() or counts.dtype == torch.bool:
        raise ShapeError(f"{owner}: expected `lengths` as {batch} whole numbers (batch,), one per utterance, got "
                         f"shape {tuple(counts.shape)} dtype {counts.dtype}")
    counts_ = [int(n) for n in counts.tolist()]
    bad = [n for n in counts_ if not 0 <= n <= time]
    if bad:
        raise ShapeError(f"{owner}: `lengths` must lie in [0, {time}] (the frames of log_probs), got {bad[0]}")
    return scores, counts_, blank


def _logaddexp(a: float, b: float) -> float:
    """log(e^a + e^b), exact for -inf."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


# ----------------------------------------------------------------------------- best path
def ctc_greedy_decode(log_probs: Any, lengths: Any = None, blank: int = 0) -> tuple[list[list[int]], list[float]]:
    r"""Best-path decoding: the most probable class at every frame, repeats merged, blanks dropped.

    .. math::

        \hat a_t = \operatorname{argmax}_k \log p(k \mid x, t), \qquad
        \hat y = \mathcal{B}(\hat a), \qquad
        \text{score} = \sum_{t=1}^{T} \log p(\hat a_t \mid x, t)

    The score is the log-probability of the best *alignment*, a lower bound of
    :math:`\log p(\hat y \mid x)` (which sums every alignment of :math:`\hat y`),
    and :math:`\hat y` need not be the most probable labelling
    (:func:`ctc_beam_decode` searches for that).  Ties at a frame go to the lowest
    class id (``torch.argmax``), so the blank 0 wins a tie with a label.  A blank
    between two equal classes keeps both (``a - a`` reads ``a a``).

    Shape:
        * ``log_probs``: ``(batch, time, classes)`` log-probabilities or logits.
        * ``lengths``: ``(batch,)`` valid frames per utterance, or None (all ``time``).

    Args:
        log_probs: the model's output; any device.
        lengths: the valid frames of each utterance (default None: all).
        blank: the blank class (default 0, as the CTC loss).

    Returns:
        ``(tokens, scores)``: per utterance, its labels (a list of ints) and the
        best path's log-probability (a float; 0.0 for no frames).

    Example:
        >>> import torch
        >>> p = torch.tensor([[[0.1, 0.8, 0.1],    # a
        ...                    [0.2, 0.7, 0.1],    # a   (merged with the previous a)
        ...                    [0.6, 0.3, 0.1],    # -
        ...                    [0.1, 0.6, 0.3],    # a   (kept: a blank came between)
        ...                    [0.1, 0.1, 0.8]]])  # b
        >>> tokens, scores = ctc_greedy_decode(p.log())
        >>> tokens, round(math.exp(scores[0]), 5)   # 0.8 * 0.7 * 0.6 * 0.6 * 0.8
        ([[1, 1, 2]], 0.16128)
        >>> ctc_greedy_decode(p.log(), lengths=[2])[0]   # only the first 2 frames
        [[1]]
    """
    owner = "ctc_greedy_decode"
    scores, lengths_, blank = _prepare(owner, log_probs, lengths, blank)
    batch, time, _ = scores.shape
    best, path = scores.max(dim=-1)                                          # (B, T) each; ties: the lowest id
    valid = torch.arange(time, device=scores.device) < torch.tensor(lengths_, device=scores.device)[:, None]  # (B, T)
    # score = Σ_{t ≤ T_b} log p(â_t | x, t)                                   (B,)
    total = torch.where(valid, best, torch.zeros((), dtype=best.dtype, device=best.device)).sum(dim=1)
    # B: a frame emits its class unless it is the blank or repeats the previous frame's class
    new = torch.ones_like(valid)                                             # (B, T)
    new[:, 1:] = path[:, 1:] != path[:, :-1]
    emit = valid & new & (path != blank)                                     # (B, T)
    tokens = [[k for k, e in zip(row, keep) if e] for row, keep in zip(path.tolist(), emit.tolist())]
    return tokens, [float(s) for s in total.tolist()]


# ----------------------------------------------------------------------------- prefix beam search
def _prefix_beam(frames: list[list[float]], beam_width: int, blank: int,
                 candidates: list[list[int]]) -> tuple[list[int], float]:
    """One utterance's prefix beam search over its valid frames' log-probabilities (lists of floats)."""
    # each prefix: [log p_b (its paths so far end in blank), log p_nb (they end in its last label)]
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF]}
    for lp, extend in zip(frames, candidates):
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_b, p_nb) in beams.items():
            p_total = _logaddexp(p_b, p_nb)
            stay = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
            # the prefix stays, by a blank: p_b(ℓ) += (p_b(ℓ) + p_nb(ℓ)) p(-)
            stay[0] = _logaddexp(stay[0], p_total + lp[blank])
            last = prefix[-1] if prefix else None
            if last is not None:
                # the prefix stays, by repeating its last label: p_nb(ℓ) += p_nb(ℓ) p(last)  (never pruned)
                stay[1] = _logaddexp(stay[1], p_nb + lp[last])
            for k in extend:
                longer = nxt.setdefault(prefix + (k,), [NEG_INF, NEG_INF])
                if k == last:
                    # a repeated label is a new one only after a blank: p_nb(ℓk) += p_b(ℓ) p(k)
                    longer[1] = _logaddexp(longer[1], p_b + lp[k])
                else:
                    # p_nb(ℓk) += (p_b(ℓ) + p_nb(ℓ)) p(k)
                    longer[1] = _logaddexp(longer[1], p_total + lp[k])
        # keep the beam_width most probable prefixes; ties: the one met first (a stable sort)
        ranked = sorted(nxt.items(), key=lambda item: -_logaddexp(*item[1]))
        beams = dict(ranked[:beam_width])
    prefix, (p_b, p_nb) = next(iter(beams.items()))
    return list(prefix), _logaddexp(p_b, p_nb)


def ctc_beam_decode(log_probs: Any, lengths: Any = None, beam_width: int = 8, blank: int = 0,
                    prune: float | None = None) -> tuple[list[list[int]], list[float]]:
    r"""CTC prefix beam search (Hannun et al., 2014): the most probable labelling, its alignments summed.

    Each prefix :math:`\ell` (a labelling so far) keeps two log-probabilities over
    the frames read: :math:`p_b(\ell)`, of its alignments ending in the blank, and
    :math:`p_{nb}(\ell)`, of those ending in its last label. Frame :math:`t`
    extends every kept prefix:

    .. math::

        p_b^{t}(\ell) &\mathrel{+}= \big(p_b^{t-1}(\ell) + p_{nb}^{t-1}(\ell)\big)\, p_t(\text{blank}) \\
        p_{nb}^{t}(\ell) &\mathrel{+}= p_{nb}^{t-1}(\ell)\, p_t(\ell_{\text{last}}) \\
        p_{nb}^{t}(\ell k) &\mathrel{+}= \begin{cases}
            p_b^{t-1}(\ell)\, p_t(k) & k = \ell_{\text{last}} \\
            \big(p_b^{t-1}(\ell) + p_{nb}^{t-1}(\ell)\big)\, p_t(k) & \text{otherwise} \end{cases}

    (sums of probabilities, computed as log-sum-exp of log-probabilities), and
    keeps the ``beam_width`` prefixes with the largest :math:`p_b + p_{nb}`; ties
    go to the prefix met first (kept prefixes in rank order, each followed by its
    extensions in class order).  The answer is the best prefix after the last
    frame, with :math:`\log(p_b + p_{nb})`: :math:`\log p(\hat y \mid x)` exactly
    when no alignment of :math:`\hat y` was pruned on the way.  No language model
    is used.

    With a beam as wide as the number of labellings the frames can read, the
    search is exact; ``beam_width=1`` keeps the one most probable prefix after
    each frame, which is **not** best-path decoding (:func:`ctc_greedy_decode`):
    it sums a prefix's alignments, and may read ``a`` where the best path reads
    ``a b``.

    Shape:
        * ``log_probs``: ``(batch, time, classes)`` log-probabilities or logits.
        * ``lengths``: ``(batch,)`` valid frames per utterance, or None (all ``time``).

    Args:
        log_probs: the model's output; any device (copied to the CPU in float64).
        lengths: the valid frames of each utterance (default None: all).
        beam_width: the prefixes kept after each frame (>= 1, default 8).
        blank: the blank class (default 0, as the CTC loss).
        prune: a log-probability (<= 0) or None (default): at a frame, labels with a
            log-probability below it start no new prefix, which speeds up large
            vocabularies (e.g. ``math.log(1e-3)``); a prefix staying as it is (by a
            blank or its repeated last label) is never pruned.

    Returns:
        ``(tokens, scores)``: per utterance, the best labelling (a list of ints) and
        its log-probability (a float; 0.0 for no frames).

    Example:
        Two frames where the blank is more likely than ``a`` (class 1) at each:
        the best path is ``- -`` (p = 0.36), but ``a`` has three alignments
        (``a -``, ``- a``, ``a a``: 0.24 + 0.24 + 0.16 = 0.64):

        >>> import torch
        >>> p = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]])
        >>> ctc_greedy_decode(p.log())[0]
        [[]]
        >>> tokens, scores = ctc_beam_decode(p.log(), beam_width=2)
        >>> tokens, round(math.exp(scores[0]), 4)
        ([[1]], 0.64)
    """
    owner = "ctc_beam_decode"
    if isinstance(beam_width, bool) or not isinstance(beam_width, numbers.Integral) or beam_width < 1:
        raise ConfigError(f"{owner}: `beam_width` must be a whole number >= 1 (the prefixes kept per frame), "
                          f"got {beam_width!r}")
    prune = check_real(owner, "prune", prune, maximum=0.0, allow_none=True)
    scores, lengths_, blank = _prepare(owner, log_probs, lengths, blank)
    scores = scores.to(device="cpu", dtype=torch.float64)
    classes = scores.shape[2]
    labels = [k for k in range(classes) if k != blank]
    tokens, totals = [], []
    for b, n in enumerate(lengths_):
        frames = scores[b, :n]                                                # (T_b, C)
        if prune is None:
            candidates = [labels] * n
        else:
            allowed = frames >= prune                                         # (T_b, C)
            allowed[:, blank] = False
            candidates = [row.nonzero().flatten().tolist() for row in allowed]
        seq, total = _prefix_beam(frames.tolist(), int(beam_width), blank, candidates)
        tokens.append(seq)
        totals.append(total)
    return tokens, totals


# ----------------------------------------------------------------------------- forced alignment
def ctc_alignment(log_probs: Any, tokens: Sequence[Sequence[int]], lengths: Any = None,
                  blank: int = 0) -> tuple[list[list[tuple[int, int, int]]], list[float]]:
    r"""Viterbi forced alignment: the most probable alignment of each utterance's given labels, as frame spans.

    With the labels :math:`y_1 \dots y_U` written as :math:`2U + 1` states
    :math:`s = (-, y_1, -, y_2, \dots, y_U, -)`, the best alignment ending at frame
    :math:`t` in state :math:`i` has the log-probability

    .. math::

        \delta_t(i) = \log p(s_i \mid x, t) + \max\big(\delta_{t-1}(i),\ \delta_{t-1}(i-1),\
                      \delta_{t-1}(i-2)\ [s_i \ne -,\ s_i \ne s_{i-2}]\big)

    starting in :math:`s_1` or :math:`s_2` and ending in :math:`s_{2U+1}` or
    :math:`s_{2U}`; a backtrace gives the path.  Ties go to ending in the final
    blank, and in the backtrace to staying in the same state, then to coming from
    the previous one.
    The score is the log-probability of that one alignment (the CTC loss sums
    them all).  Use it with the labels of :func:`ctc_greedy_decode` or
    :func:`ctc_beam_decode` to place each label in time: its span is the frames
    the best alignment spends in its state; blank frames belong to no label.

    Shape:
        * ``log_probs``: ``(batch, time, classes)`` log-probabilities or logits.
        * ``tokens``: ``batch`` lists of labels (no blanks).
        * ``lengths``: ``(batch,)`` valid frames per utterance, or None (all ``time``).

    Args:
        log_probs: the model's output; any device (copied to the CPU in float64).
        tokens: each utterance's labels.
        lengths: the valid frames of each utterance (default None: all).
        blank: the blank class (default 0).

    Returns:
        ``(spans, scores)``: per utterance, one ``(label, start, end)`` per label in
        order, ``end`` exclusive (frames ``start .. end - 1``), and the best
        alignment's log-probability.

    Raises:
        ConfigError: if an utterance has fewer frames than its labels need (one
            per label, plus one blank between each pair of equal neighbours).

    Example:
        >>> import torch
        >>> p = torch.tensor([[[0.1, 0.8, 0.1],    # a
        ...                    [0.2, 0.7, 0.1],    # a
        ...                    [0.6, 0.3, 0.1],    # -
        ...                    [0.1, 0.6, 0.3],    # a
        ...                    [0.1, 0.1, 0.8]]])  # b
        >>> spans, scores = ctc_alignment(p.log(), [[1, 1, 2]])
        >>> spans
        [[(1, 0, 2), (1, 3, 4), (2, 4, 5)]]
    """
    owner = "ctc_alignment"
    scores, lengths_, blank = _prepare(owner, log_probs, lengths, blank)
    batch, _, classes = scores.shape
    if not isinstance(tokens, (list, tuple)) or len(tokens) != batch:
        length = f" of length {len(tokens)}" if isinstance(tokens, (list, tuple)) else ""
        raise ConfigError(f"{owner}: `tokens` must be a list of {batch} label lists, one per utterance, "
                          f"got {type(tokens).__name__}{length}")
    scores = scores.to(device="cpu", dtype=torch.float64)
    all_spans, totals = [], []
    for b, (labels, n) in enumerate(zip(tokens, lengths_)):
        labels = [int(k) for k in labels]
        bad = [k for k in labels if not 0 <= k < classes or k == blank]
        if bad:
            raise ConfigError(f"{owner}: utterance {b}: labels must be class ids in [0, {classes}) other than the "
                              f"blank {blank}, got {bad[0]}")
        spans, total = _viterbi(owner, b, scores[b, :n], labels, blank)
        all_spans.append(spans)
        totals.append(total)
    return all_spans, totals


def _viterbi(owner: str, b: int, frames: torch.Tensor, labels: list[int],
             blank: int) -> tuple[list[tuple[int, int, int]], float]:
    """One utterance: the spans of its labels in the best alignment of ``frames`` (T, C), and its log-probability."""
    time, u = frames.shape[0], len(labels)
    repeats = sum(1 for i in range(1, u) if labels[i] == labels[i - 1])
    if time < u + repeats:
        raise ConfigError(f"{owner}: utterance {b}: {u} labels ({repeats} repeated neighbours, each needing a "
                          f"blank between) need at least {u + repeats} frames, got {time}")
    if time == 0:
        return [], 0.0
    states = [blank]
    for k in labels:
        states += [k, blank]
    n = len(states)                                                           # 2U + 1
    ids = torch.tensor(states)
    # the skip s_{i-2} -> s_i is allowed into a label that differs from the label before it
    skip = torch.zeros(n, dtype=torch.bool)
    for i in range(2, n):
        skip[i] = states[i] != blank and states[i] != states[i - 2]
    emit = frames[:, ids]                                                     # (T, S) log p(s_i | x, t)
    delta = torch.full((n,), NEG_INF, dtype=frames.dtype)
    delta[0] = emit[0, 0]
    if n > 1:
        delta[1] = emit[0, 1]
    back = torch.zeros(time, n, dtype=torch.long)                             # (T, S) predecessor offset 0, 1, 2
    for t in range(1, time):
        prev1, prev2 = torch.full_like(delta, NEG_INF), torch.full_like(delta, NEG_INF)  # δ_{t-1}(i-1), δ_{t-1}(i-2)
        prev1[1:] = delta[:-1]
        prev2[2:] = delta[:-2]
        prev2 = torch.where(skip, prev2, NEG_INF)
        # δ_t(i) = log p(s_i | x, t) + max(δ_{t-1}(i), δ_{t-1}(i-1), δ_{t-1}(i-2) where allowed); ties: stay
        best, arg = torch.stack([delta, prev1, prev2]).max(dim=0)             # (S,) each
        back[t] = arg
        delta = best + emit[t]
    ends = [n - 1] + ([n - 2] if n > 1 else [])
    last = max(ends, key=lambda i: (float(delta[i]), i))                      # ties: the final blank
    total = float(delta[last])
    if total == NEG_INF:
        raise ConfigError(f"{owner}: utterance {b}: no alignment of its labels has a non-zero probability "
                          "(a needed class has log-probability -inf)")
    path, state, steps = [], last, back.tolist()
    for t in range(time - 1, -1, -1):
        path.append(state)
        state -= steps[t][state]
    path.reverse()                                                            # the state at each frame
    spans: list[tuple[int, int, int]] = []
    for t, state in enumerate(path):
        if state % 2 == 1:                                                    # label j = (state - 1) / 2
            j = (state - 1) // 2
            if len(spans) == j:
                spans.append((labels[j], t, t + 1))
            else:
                spans[j] = (labels[j], spans[j][1], t + 1)
    return spans, total
