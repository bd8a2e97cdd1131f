"""Data preparation for sequence models: tokens, vocabularies, padding, one-hot labels, windows and batches.

Text, one concept a module: :func:`tokenize` (:mod:`rnnkit.data.tokens`), the
rule that cuts text into words, punctuation marks and CJK characters, shared by
the apps; the Keras preprocessing API that tutorial code uses,
:class:`Tokenizer` (:mod:`rnnkit.data.tokenizer`), :func:`pad_sequences`
(:mod:`rnnkit.data.sequence`) and :func:`to_categorical`
(:mod:`rnnkit.data.labels`); and :class:`Vocab` (:mod:`rnnkit.data.vocab`), a
small vocabulary with special tokens that the apps save in their run folders.
Time series (:mod:`rnnkit.data.series`): :func:`make_windows`, scalers fitted on
the training part only, :func:`chronological_split`.  Batching
(:mod:`rnnkit.data.batching`): a length-bucketing sampler and :class:`LMStream`,
the contiguous (batch, steps) stream for stateful truncated BPTT.
"""
from __future__ import annotations

from .batching import BucketBatchSampler, LMStream, padding_fraction, save_tokens
from .labels import containment_groups, label_sort_key, stratified_split, to_categorical
from .sequence import pad_sequences
from .series import MinMaxScaler, StandardScaler, chronological_split, make_windows
from .tokenizer import Tokenizer, tokenizer_from_json
from .tokens import tokenize
from .vocab import Vocab

__all__ = [
    "stratified_split",
    "containment_groups",
    "label_sort_key",
    "tokenize",
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
