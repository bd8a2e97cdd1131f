"""Decoding: greedy and beam search over a step function, and CTC decoding, batched, for every app.

An app gives a step function ``step(tokens (N,), state) -> (log_probs (N, V), new_state)``
and the state of its B sentences; :func:`greedy_search` and :func:`beam_search`
return a :class:`Decoded` (best tokens, scores, n-best lists).  A CTC model's
per-frame scores ``(batch, time, classes)`` go to :func:`ctc_greedy_decode` (best
path), :func:`ctc_beam_decode` (prefix beam search) and :func:`ctc_alignment`
(each label's frames).  The package depends only on torch and the ground of
rnnkit (errors, _validation).
"""
from .ctc import ctc_alignment, ctc_beam_decode, ctc_greedy_decode
from .search import Decoded, StepFn, beam_search, greedy_search, length_penalty, select_state

__all__ = ["StepFn", "Decoded", "greedy_search", "beam_search", "length_penalty", "select_state",
           "ctc_greedy_decode", "ctc_beam_decode", "ctc_alignment"]
