"""The former home of rnnkit's text tools, kept so that ``from rnnkit.data.text import ...`` still works.

Each concept now has a module of its own (import them from :mod:`rnnkit.data`):
:mod:`~rnnkit.data.tokens` (:func:`tokenize`), :mod:`~rnnkit.data.tokenizer`
(Keras' :class:`Tokenizer`, :func:`tokenizer_from_json`),
:mod:`~rnnkit.data.sequence` (:func:`pad_sequences`), :mod:`~rnnkit.data.labels`
(:func:`to_categorical`) and :mod:`~rnnkit.data.vocab` (:class:`Vocab`).

>>> from rnnkit.data.text import Tokenizer, pad_sequences
>>> tok = Tokenizer()
>>> tok.fit_on_texts(["the cat sat", "the dog"])
>>> pad_sequences(tok.texts_to_sequences(["the dog sat"]), maxlen=4).tolist()
[[0, 1, 4, 3]]
"""
from __future__ import annotations

from .labels import to_categorical
from .sequence import pad_sequences
from .tokenizer import Tokenizer, tokenizer_from_json
from .tokens import tokenize
from .vocab import Vocab

__all__ = ["Tokenizer", "tokenizer_from_json", "pad_sequences", "to_categorical", "Vocab", "tokenize"]
