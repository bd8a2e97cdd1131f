r"""Greedy and beam search over a step function, batched over sentences: one implementation for every app.

A decoder is given to the searches as a *step function*: it reads one token
per row and returns the log-probabilities of the next one, with its new state.

.. code-block:: text

    step(tokens (N,), state) -> (log_probs (N, V), new_state)

The state is any nesting of tuples, lists, dicts, None and tensors (an RNN's
``(h, c)``, an encoder's memory ``(N, S, H)`` for attention, ...).  Every
tensor in it has the rows (N) on dim 0, unless the caller passes
``reorder_state`` for a state laid out otherwise.  The searches copy, reorder
and drop rows with it (:func:`select_state`): a beam that continues another
beam's hypothesis takes that beam's state, and the rows of a sentence whose
search has ended leave the batch, so N shrinks as sentences finish.  Everything
the step needs per sentence must therefore live in the state, not in the step
function's closure.

All sentences are searched together: each step is one call of ``step`` on
every live row (beam search: ``beam_size`` rows per sentence).  The searches
draw nothing at random, need no gradient (run them under
``torch.inference_mode()``) and work on the device of ``start_tokens``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch

from .._validation import check_real
from ..errors import ConfigError, ShapeError

__all__ = ["StepFn", "Decoded", "greedy_search", "beam_search", "length_penalty", "select_state"]

#: ``step(tokens (N,), state) -> (log_probs (N, V), new_state)``: see the module docstring.
StepFn = Callable[[torch.Tensor, Any], "tuple[torch.Tensor, Any]"]
#: ``reorder_state(state, index (M,)) -> state`` with the rows ``index`` of ``state``, in that order.
ReorderFn = Callable[[Any, torch.Tensor], Any]

#: leaves of a state that are shared by every row and pass through :func:`select_state` unchanged
_SHARED_LEAVES = (bool, int, float, str, bytes)


@dataclass
class Decoded:
    """What a search found, one entry per input sentence (in the order of ``start_tokens``).

    Attributes:
        tokens: the best sequence, without the start token and without the end token.
        scores: its score: the sum of its log-probabilities divided by the length
            penalty (:func:`length_penalty`; greedy search: the plain sum).
        log_probs: the plain sum of its log-probabilities, the end token's included
            when it ended.
        finished: whether it ended with ``end_token`` (False: it stopped at ``max_len``).
        nbest: beam search: every finalised hypothesis of the sentence as
            ``(tokens, score)``, best score first (``nbest[i][0]`` is the answer);
            greedy search: None.
    """

    tokens: list[list[int]]
    scores: list[float]
    log_probs: list[float]
    finished: list[bool]
    nbest: Optional[list[list[tuple[list[int], float]]]] = None


# ----------------------------------------------------------------------------- helpers
def length_penalty(length: int, alpha: float) -> float:
    r"""The length penalty of Wu et al. (2016), "Google's Neural Machine Translation System", eq. 14.

    .. math::
        lp(Y) = \left(\frac{5 + |Y|}{6}\right)^{\alpha}

    A hypothesis' score is :math:`\log P(Y \mid X) / lp(Y)`; the coverage penalty
    of the same equation is not used.  ``alpha = 0`` gives 1 (the plain sum of
    log-probabilities, which favours short outputs); a larger ``alpha`` divides
    long hypotheses' (negative) sums by more, favouring them.

    Args:
        length: :math:`|Y|`, the number of generated tokens, the end token included.
        alpha: :math:`\alpha \ge 0`.

    Example:
        >>> length_penalty(7, 1.0)
        2.0
        >>> length_penalty(7, 0.0)
        1.0
    """
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ConfigError(f"length_penalty: `length` must be a whole number >= 0 (tokens generated), got {length!r}")
    alpha = _check_alpha("length_penalty", alpha)
    # lp(Y) = ((5 + |Y|) / 6)^α
    return ((5 + int(length)) / 6) ** alpha


def select_state(state: Any, index: torch.Tensor) -> Any:
    """The rows ``index`` of every tensor in ``state`` (``index_select`` on dim 0), keeping the nesting.

    Tuples (named tuples too), lists and dicts are rebuilt with the selected
    tensors; None and plain Python values (bool, int, float, str) are shared by
    every row and pass unchanged.  A state whose rows are not on dim 0 (e.g. a
    ``(layers, N, H)`` tensor of ``torch.nn.LSTM``) needs its own ``reorder_state``.

    Args:
        state: the state of N rows.
        index: LongTensor (M,) of row numbers in ``[0, N)``; rows may repeat.

    Returns:
        the state of M rows: row ``m`` is row ``index[m]`` of ``state``.

    Example:
        >>> h = torch.tensor([[1.0], [2.0]])
        >>> select_state({"h": h, "layers": 2, "mask": None}, torch.tensor([1, 1, 0]))
        {'h': tensor([[2.],
                [2.],
                [1.]]), 'layers': 2, 'mask': None}
    """
    if isinstance(state, torch.Tensor):
        if state.dim() == 0:
            raise ShapeError("select_state: the state holds a 0-dim tensor, which has no rows to select; "
                             "keep shared values as Python numbers, or pass reorder_state")
        return state.index_select(0, index.to(state.device))
    if state is None or isinstance(state, _SHARED_LEAVES):
        return state
    if isinstance(state, tuple):
        items = [select_state(s, index) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [select_state(s, index) for s in state]
    if isinstance(state, dict):
        return {key: select_state(value, index) for key, value in state.items()}
    raise ConfigError(f"select_state: cannot select rows of a {type(state).__name__} in the state; use tensors, "
                      "tuples, lists, dicts and None, or pass reorder_state(state, index)")


def _check_alpha(owner: str, alpha: Any) -> float:
    return check_real(owner, "alpha", alpha, minimum=0.0)


def _check_common(owner: str, start_tokens: Any, max_len: Any, end_token: Any, reorder_state: Any) -> None:
    if not isinstance(start_tokens, torch.Tensor) or start_tokens.dim() != 1 or start_tokens.dtype != torch.long:
        got = (f"shape {tuple(start_tokens.shape)} dtype {start_tokens.dtype}" if isinstance(start_tokens, torch.Tensor)
               else type(start_tokens).__name__)
        raise ShapeError(f"{owner}: `start_tokens` must be a 1-D LongTensor (B,) with one start token per sentence, "
                         f"got {got}; e.g. torch.full((B,), bos_id)")
    if isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 1:
        raise ConfigError(f"{owner}: `max_len` must be a whole number >= 1 (the most tokens to generate), "
                          f"got {max_len!r}")
    if end_token is not None and (isinstance(end_token, bool) or not isinstance(end_token, numbers.Integral)
                                  or end_token < 0):
        raise ConfigError(f"{owner}: `end_token` must be a token id >= 0, or None to generate exactly max_len "
                          f"tokens, got {end_token!r}")
    if reorder_state is not None and not callable(reorder_state):
        raise ConfigError(f"{owner}: `reorder_state` must be a function (state, index) -> state, or None for "
                          f"select_state, got {type(reorder_state).__name__}")


def _call_step(owner: str, step: StepFn, tokens: torch.Tensor, state: Any, vocab: int | None,
               end_token: int | None) -> tuple[torch.Tensor, Any]:
    """``step(tokens, state)``, its log-probabilities checked: (N, V) floating point, V the same every step."""
    out = step(tokens, state)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ShapeError(f"{owner}: `step` must return a pair (log_probs, new_state), got {type(out).__name__}"
                         + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    log_probs, state = out
    n = tokens.shape[0]
    if (not isinstance(log_probs, torch.Tensor) or log_probs.dim() != 2 or log_probs.shape[0] != n
            or not log_probs.is_floating_point() or log_probs.shape[1] < 1):
        got = (f"shape {tuple(log_probs.shape)} dtype {log_probs.dtype}" if isinstance(log_probs, torch.Tensor)
               else type(log_probs).__name__)
        raise ShapeError(f"{owner}: `step` must return floating-point log_probs of shape (N, V) = ({n}, V) for its "
                         f"{n} input tokens, got {got}; return one row of next-token log-probabilities per token")
    if vocab is not None and log_probs.shape[1] != vocab:
        raise ShapeError(f"{owner}: `step` returned log_probs over {log_probs.shape[1]} tokens, but over {vocab} "
                         "at the first step; the vocabulary must stay the same")
    if end_token is not None and end_token >= log_probs.shape[1]:
        raise ConfigError(f"{owner}: `end_token` must be a token id below the vocabulary size "
                          f"{log_probs.shape[1]} of step's log_probs, got {end_token}")
    if log_probs.dtype in (torch.float16, torch.bfloat16):  # sums of many log-probabilities need float32
        log_probs = log_probs.float()
    return log_probs, state


def _check_no_nan(owner: str, values: torch.Tensor) -> None:
    # NaN ranks above every number in argmax and topk, so a NaN anywhere in a row shows up among the chosen values
    if bool(values.isnan().any()):
        raise ShapeError(f"{owner}: `step` returned NaN log-probabilities; check the model's output "
                         "(log_softmax of finite logits) and mask with -inf, not NaN")


def _top(owner: str, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest entries of each row of ``x`` (R, n), largest first; ties: the lower index first.

    ``torch.topk`` neither picks nor orders tied entries by index, so it only
    gives the k-th largest value here: every entry above it is kept, and of the
    entries equal to it, those with the lowest indices.
    """
    n = x.shape[1]
    values, index = torch.topk(x, min(k + 1, n), dim=1)                    # (R, k + 1): one past the k-th
    _check_no_nan(owner, values[:, :1])
    if k == n or not bool((values[:, k] == values[:, k - 1]).any()):
        # no tie across the k-th place (the usual case): the k entries are topk's; order ties among them by index
        values, index = values[:, :k], index[:, :k]
        by_index = index.argsort(dim=1)
        values, index = values.gather(1, by_index), index.gather(1, by_index)
        order = torch.sort(values, dim=1, descending=True, stable=True).indices
        return values.gather(1, order), index.gather(1, order)
    # a tie across the k-th place: of the entries equal to the k-th value, keep the lowest indices
    largest = values[:, :k]                                                # (R, k)
    kth = largest[:, -1:]                                                  # (R, 1)
    above, tied = x > kth, x == kth                                        # (R, n)
    wanted = k - above.sum(dim=1, keepdim=True)                            # (R, 1) tied entries to keep
    keep = above | (tied & (tied.cumsum(dim=1) <= wanted))                 # (R, n), k per row
    index = keep.nonzero()[:, 1].view(x.shape[0], k)                       # (R, k) ascending
    values = x.gather(1, index)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices  # ties keep the ascending index
    return values.gather(1, order), index.gather(1, order)


def _empty(beam: bool) -> Decoded:
    return Decoded([], [], [], [], [] if beam else None)


# ----------------------------------------------------------------------------- greedy search
def greedy_search(step: StepFn, state: Any, start_tokens: torch.Tensor, *, max_len: int,
                  end_token: int | None = None, reorder_state: ReorderFn | None = None) -> Decoded:
    r"""The most likely token at every step, for every sentence at once.

    .. math::
        y_t = \operatorname{argmax}_v \log p(v \mid y_{<t}, x), \qquad
        \text{score} = \sum_t \log p(y_t \mid y_{<t}, x)

    with :math:`y_0` the start token.  Ties go to the lowest token id
    (``torch.argmax`` returns the first maximum).  A sentence that emits
    ``end_token`` stops: its rows leave the batch (the step is called with
    fewer rows) and the search ends when every sentence has ended, or after
    ``max_len`` tokens.  :func:`beam_search` with ``beam_size=1`` gives the same
    tokens (and, with ``alpha=0``, the same scores).

    Shape:
        * ``start_tokens``: ``(B,)`` LongTensor; ``state``: the state of those B rows.
        * ``step``: ``(N,)`` tokens and the state of N rows -> ``(N, V)`` log-probabilities
          and the new state (N <= B: the sentences not yet ended).

    Args:
        step: the decoder, ``step(tokens, state) -> (log_probs, new_state)`` (module docstring).
        state: the decoder's state for the B sentences, rows on dim 0 (see ``reorder_state``).
        start_tokens: the first input token of each sentence (e.g. ``<bos>``).
        max_len: the most tokens generated per sentence, the end token included.
        end_token: the token that ends a sentence; None: none does, every sentence
            gets exactly ``max_len`` tokens.
        reorder_state: ``(state, index) -> state`` keeping the rows ``index``, for a
            state whose rows are not on dim 0; :func:`select_state` by default.

    Returns:
        :class:`Decoded`; ``scores`` equal ``log_probs`` and ``nbest`` is None.

    Example:
        Token 0 ends a sentence; the table gives p(next | previous) for the previous tokens 1 and 2:

        >>> table = torch.tensor([[1/3, 1/3, 1/3], [0.5, 0.2, 0.3], [0.1, 0.6, 0.3]]).log()
        >>> step = lambda tokens, state: (table[tokens], state)
        >>> out = greedy_search(step, None, torch.tensor([1, 2]), max_len=5, end_token=0)
        >>> out.tokens, out.finished
        ([[], [1]], [True, True])
        >>> math.isclose(out.log_probs[1], math.log(0.6 * 0.5), rel_tol=1e-6)
        True
    """
    owner = "greedy_search"
    _check_common(owner, start_tokens, max_len, end_token, reorder_state)
    reorder = reorder_state or select_state
    batch, device = start_tokens.shape[0], start_tokens.device
    if batch == 0:
        return _empty(beam=False)
    out = torch.zeros(batch, max_len, dtype=torch.long, device=device)      # (B, max_len)
    lengths = torch.full((batch,), max_len, dtype=torch.long, device=device)  # (B,) without the end token
    finished = torch.zeros(batch, dtype=torch.bool, device=device)          # (B,)
    total: torch.Tensor | None = None                                       # (B,) sum of log-probabilities
    sentence = torch.arange(batch, device=device)                           # (N,) the sentence of each live row
    tokens, vocab = start_tokens, None
    for t in range(max_len):
        log_probs, state = _call_step(owner, step, tokens, state, vocab, end_token)  # (N, V)
        vocab = log_probs.shape[1]
        if total is None:
            total = torch.zeros(batch, dtype=log_probs.dtype, device=device)
        # y_t = argmax_v log p(v | y_<t), the first maximum on ties          (N,)
        tokens = log_probs.argmax(dim=1)
        chosen = log_probs.gather(1, tokens[:, None]).squeeze(1)             # (N,)
        _check_no_nan(owner, chosen)
        # log P(y_≤t) = log P(y_<t) + log p(y_t | y_<t)
        total[sentence] = total[sentence] + chosen
        out[sentence, t] = tokens
        if end_token is None:
            continue
        ended = tokens == end_token                                          # (N,)
        if bool(ended.any()):
            finished[sentence[ended]] = True
            lengths[sentence[ended]] = t
            live = (~ended).nonzero().squeeze(1)                             # (N',) rows that go on
            if live.numel() == 0:
                break
            sentence, tokens = sentence[live], tokens[live]
            if t + 1 < max_len:
                state = reorder(state, live)
    assert total is not None
    rows, lengths_, sums = out.tolist(), lengths.tolist(), total.tolist()
    return Decoded(tokens=[row[:n] for row, n in zip(rows, lengths_)], scores=list(sums), log_probs=list(sums),
                   finished=finished.tolist(), nbest=None)


# ----------------------------------------------------------------------------- beam search
def beam_search(step: StepFn, state: Any, start_tokens: torch.Tensor, *, beam_size: int = 5, alpha: float = 0.0,
                max_len: int, end_token: int | None = None, reorder_state: ReorderFn | None = None) -> Decoded:
    r"""Beam search as fairseq does it, for every sentence at once (``beam_size`` rows per sentence).

    Each sentence keeps ``beam_size`` (K) live hypotheses.  At step :math:`t`
    every live hypothesis :math:`k` with total log-probability :math:`S_k` is
    extended by every token :math:`v`:

    .. math::
        s_{k,v} = S_k + \log p(v \mid y^{(k)}_{<t}, x)

    and per sentence:

    1. the ``2K`` best candidates :math:`(k, v)` are ranked by :math:`s_{k,v}`;
       ties go to the earlier beam, then the lower token id (deterministic; note
       that ``torch.topk`` does not promise this, so it is enforced here);
    2. a candidate ending in ``end_token`` that ranks within the first K, with a
       finite :math:`s_{k,v}`, is *finalised* with the score
       :math:`s_{k,v} / lp(t)` (:func:`length_penalty`, :math:`t` counting the
       end token), while the sentence has fewer than K finalised hypotheses;
       candidates ending in ``end_token`` never stay live;
    3. the first K candidates not ending in ``end_token`` are the new live
       hypotheses (if fewer exist, the rest are dead, :math:`-\infty`).

    A sentence is done once it has K finalised hypotheses (its rows then leave
    the batch).  After ``max_len`` steps the live hypotheses of the sentences
    not done are finalised as they are (``finished=False``, score
    :math:`S_k / lp(\text{max\_len})`), best first, into the free places (dead
    ones only when a sentence has nothing else).  The answer is the finalised
    hypothesis with the best score; ties go to the one finalised first.  At the
    first step only beam 0 is live (the others start at :math:`-\infty`), so
    the first step does not pick the same token K times.  With ``beam_size=1``
    this is exactly :func:`greedy_search` (tokens, and scores when ``alpha=0``).

    The length penalty is that of Wu et al. (2016), "Google's Neural Machine
    Translation System", eq. 14, :math:`lp(Y) = ((5 + |Y|) / 6)^\alpha`; their
    coverage penalty is not used.  ``alpha=0`` ranks by the plain sum of
    log-probabilities, which favours short outputs; 0.6 to 1 are usual in
    translation.

    Shape:
        * ``start_tokens``: ``(B,)`` LongTensor; ``state``: the state of those B rows.
        * ``step``: ``(N,)`` tokens and the state of N rows -> ``(N, V)`` log-probabilities
          and the new state; ``N = K * (sentences not done)``, the K rows of a
          sentence next to each other (row ``i * K + k`` is its beam k).

    Args:
        step: the decoder, ``step(tokens, state) -> (log_probs, new_state)`` (module docstring).
        state: the decoder's state for the B sentences, rows on dim 0 (see ``reorder_state``).
        start_tokens: the first input token of each sentence (e.g. ``<bos>``).
        beam_size: K, the hypotheses kept per sentence (>= 1).
        alpha: the length penalty's exponent (>= 0; 0: no penalty).
        max_len: the most tokens generated per sentence, the end token included.
        end_token: the token that ends a hypothesis; None: none does, and the
            search runs exactly ``max_len`` steps.
        reorder_state: ``(state, index) -> state`` keeping the rows ``index`` in
            that order (rows repeat), for a state whose rows are not on dim 0;
            :func:`select_state` by default.

    Returns:
        :class:`Decoded`, with ``nbest`` (every finalised hypothesis, best first).

    Example:
        Greedy takes ``1`` (p = 0.6) and then at best p = 0.4; beam search finds
        ``2 3`` (p = 0.4 * 0.9 = 0.36 > 0.6 * 0.4 = 0.24):

        >>> table = torch.tensor([[0.0, 0.6, 0.4, 0.0],     # after the start token 0
        ...                       [0.0, 0.2, 0.4, 0.4],     # after 1
        ...                       [0.0, 0.05, 0.05, 0.9],   # after 2
        ...                       [0.0, 1/3, 1/3, 1/3]]).log()
        >>> step = lambda tokens, state: (table[tokens], state)
        >>> greedy_search(step, None, torch.tensor([0]), max_len=2).tokens
        [[1, 2]]
        >>> out = beam_search(step, None, torch.tensor([0]), beam_size=2, max_len=2)
        >>> out.tokens, round(math.exp(out.scores[0]), 4)
        ([[2, 3]], 0.36)
    """
    owner = "beam_search"
    if isinstance(beam_size, bool) or not isinstance(beam_size, numbers.Integral) or beam_size < 1:
        raise ConfigError(f"{owner}: `beam_size` must be a whole number >= 1 (1 is greedy search), got {beam_size!r}")
    alpha = _check_alpha(owner, alpha)
    _check_common(owner, start_tokens, max_len, end_token, reorder_state)
    reorder = reorder_state or select_state
    beams, batch, device = int(beam_size), start_tokens.shape[0], start_tokens.device
    if batch == 0:
        return _empty(beam=True)
    # every sentence's state repeated for its K beams: row i*K + k is beam k of live sentence i
    state = reorder(state, torch.arange(batch, device=device).repeat_interleave(beams))
    tokens = start_tokens.repeat_interleave(beams)                        # (N,) N = B*K
    sentence = torch.arange(batch, device=device)                          # (A,) the live sentences, in row order
    hyps = torch.zeros(batch, beams, 0, dtype=torch.long, device=device)   # (A, K, t-1) live hypotheses
    # the finalised hypotheses, K places per sentence, filled in order
    fin_tokens = torch.zeros(batch, beams, max_len, dtype=torch.long, device=device)  # (B, K, max_len)
    fin_length = torch.zeros(batch, beams, dtype=torch.long, device=device)           # without the end token
    fin_finished = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    fin_count = torch.zeros(batch, dtype=torch.long, device=device)                   # (B,)
    fin_score = fin_sum = live = None  # (B, K), (B, K), (A, K): in the log-probabilities' dtype
    vocab = None
    for t in range(1, max_len + 1):
        log_probs, state = _call_step(owner, step, tokens, state, vocab, end_token)  # (N, V)
        vocab = log_probs.shape[1]
        n_live = sentence.shape[0]
        if live is None:
            live = torch.full((batch, beams), -math.inf, dtype=log_probs.dtype, device=device)
            live[:, 0] = 0.0  # one live beam per sentence at first
            fin_score = torch.full((batch, beams), -math.inf, dtype=log_probs.dtype, device=device)
            fin_sum = fin_score.clone()
        n_cand = min(2 * beams, beams * vocab)
        if vocab > n_cand:
            # a sentence's 2K best candidates lie among each beam's 2K best tokens: rank those (K * 2K per
            # sentence) instead of all K * V; the order, ties included, is the same (beam, then token id)
            row_lp, row_token = _top(owner, log_probs, n_cand)               # (N, 2K) best first
            # s_{k,v} = S_k + log p(v | y^(k)_<t)                            (A, K*2K)
            candidates = (live[:, :, None] + row_lp.view(n_live, beams, n_cand)).view(n_live, beams * n_cand)
            cand_sum, flat = _top(owner, candidates, n_cand)                # (A, 2K) best first
            parent, token = flat // n_cand, row_token.view(n_live, beams * n_cand).gather(1, flat)
        else:
            # s_{k,v} = S_k + log p(v | y^(k)_<t)                            (A, K*V)
            candidates = (live[:, :, None] + log_probs.reshape(n_live, beams, vocab)).view(n_live, beams * vocab)
            cand_sum, flat = _top(owner, candidates, n_cand)                # (A, 2K) best first
            parent, token = flat // vocab, flat % vocab                     # (A, 2K)
        ends = token == end_token if end_token is not None else torch.zeros_like(token, dtype=torch.bool)
        if end_token is not None:
            # finalise: ends in end_token, within the first K, finite, while the sentence has free places
            rank = torch.arange(n_cand, device=device)
            final = ends & (rank < beams) & (cand_sum > -math.inf)            # (A, 2K)
            place = fin_count[sentence][:, None] + final.cumsum(dim=1) - 1    # (A, 2K)
            final &= place < beams
            a, c = final.nonzero(as_tuple=True)                              # (F,) each
            if a.numel():
                b, p = sentence[a], place[a, c]
                fin_tokens[b, p, : t - 1] = hyps[a, parent[a, c]]
                fin_length[b, p] = t - 1
                fin_sum[b, p] = cand_sum[a, c]
                # score = log P(Y) / lp(Y), |Y| = t counting the end token
                fin_score[b, p] = cand_sum[a, c] / length_penalty(t, alpha)
                fin_finished[b, p] = True
                fin_count.index_add_(0, b, torch.ones_like(b))
        # the new live hypotheses: the first K candidates not ending in end_token   (A, K)
        pick = torch.sort(ends.to(torch.uint8), dim=1, stable=True).indices[:, :beams]
        live = cand_sum.gather(1, pick).masked_fill(ends.gather(1, pick), -math.inf)
        parent, token = parent.gather(1, pick), token.gather(1, pick)
        hyps = torch.cat([hyps.gather(1, parent[:, :, None].expand(-1, -1, t - 1)), token[:, :, None]], dim=2)
        if t == max_len:
            break
        going = (fin_count[sentence] < beams).nonzero().squeeze(1)          # (A',) sentences not done
        if going.numel() == 0:
            break
        if going.numel() < n_live:
            sentence, live, hyps, parent, token = (x[going] for x in (sentence, live, hyps, parent, token))
        # beam k of sentence i continues the state of its parent's row
        state = reorder(state, (going[:, None] * beams + parent).flatten())
        tokens = token.flatten()
    assert fin_score is not None and fin_sum is not None and live is not None
    # after max_len steps: the live hypotheses of the sentences not done fill their free places, best first
    not_done = fin_count[sentence] < beams                                  # (A,)
    if t == max_len and bool(not_done.any()):
        first = torch.arange(beams, device=device) == 0
        usable = (live > -math.inf) | (first & (fin_count[sentence] == 0)[:, None])  # a dead one only for nothing
        place = fin_count[sentence][:, None] + usable.cumsum(dim=1) - 1     # (A, K)
        usable &= (place < beams) & not_done[:, None]
        a, k = usable.nonzero(as_tuple=True)
        b, p = sentence[a], place[a, k]
        fin_tokens[b, p] = hyps[a, k]
        fin_length[b, p] = max_len
        fin_sum[b, p] = live[a, k]
        # score = log P(Y) / lp(Y), |Y| = max_len
        fin_score[b, p] = live[a, k] / length_penalty(max_len, alpha)
        fin_finished[b, p] = False
        fin_count.index_add_(0, b, torch.ones_like(b))
    # rank each sentence's finalised hypotheses by score; ties: the one finalised first.  The unused places
    # (-inf) come after the used ones, as a used -inf one keeps its place before them in the stable sort.
    order = torch.sort(fin_score, dim=1, descending=True, stable=True).indices  # (B, K)
    scores, sums, lengths, finished = (x.gather(1, order).tolist()
                                       for x in (fin_score, fin_sum, fin_length, fin_finished))
    seqs = fin_tokens.gather(1, order[:, :, None].expand(-1, -1, max_len)).tolist()
    nbest = [[(seqs[i][j][: lengths[i][j]], scores[i][j]) for j in range(count)]
             for i, count in enumerate(fin_count.tolist())]
    return Decoded(tokens=[n[0][0] for n in nbest], scores=[row[0] for row in scores],
                   log_probs=[row[0] for row in sums], finished=[bool(row[0]) for row in finished], nbest=nbest)
