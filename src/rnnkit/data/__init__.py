"""Data preparation for sequence models: tokenizers, padding, one-hot labels, windows and batches.

Text tools (:mod:`rnnkit.data.text`) follow the Keras preprocessing API that
tutorial code uses: :class:`Tokenizer`, :func:`pad_sequences`,
:func:`to_categorical`, plus a small :class:`Vocab` with special tokens.
Time series (:mod:`rnnkit.data.series`): :func:`make_windows`, scalers fitted on
the training part only, :func:`chronological_split`.  Batching
(:mod:`rnnkit.data.batching`): a length-bucketing sampler and :class:`LMStream`,
the contiguous (batch, steps) stream for stateful truncated BPTT.
"""
from __future__ import annotations

from .batching import BucketBatchSampler, LMStream, padding_fraction, save_tokens
from .series import MinMaxScaler, StandardScaler, chronological_split, make_windows
from .text import Tokenizer, Vocab, pad_sequences, to_categorical, tokenizer_from_json

__all__ = [
    "Tokenizer",
    "Vocab",
    "pad_sequences",
    "to_categorical",
    "tokenizer_from_json",
    "make_windows",
    "MinMaxScaler",
    "StandardScaler",
    "chronological_split",
    "BucketBatchSampler",
    "padding_fraction",
    "LMStream",
    "save_tokens",
]
