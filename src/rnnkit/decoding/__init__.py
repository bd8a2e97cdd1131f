"""Decoding: greedy and beam search over a step function, batched over sentences, for every app.

An app gives a step function ``step(tokens (N,), state) -> (log_probs (N, V), new_state)``
and the state of its B sentences; :func:`greedy_search` and :func:`beam_search`
return a :class:`Decoded` (best tokens, scores, n-best lists).  The package
depends only on torch and the ground of rnnkit (errors, _validation).
"""
from .search import Decoded, StepFn, beam_search, greedy_search, length_penalty, select_state

__all__ = ["StepFn", "Decoded", "greedy_search", "beam_search", "length_penalty", "select_state"]
