"""Model builders of text classification: recurrent encoders with masked pooling, a CNN-LSTM, and a bag.

Every model maps token ids ``(batch, time)`` (0 = padding) to class logits
``(batch, classes)`` and is a plain :class:`rnnkit.Sequential` of core layers:

* ``bilstm`` (default), ``lstm``, ``gru``, ``mingru``:
  ``Embedding(mask_zero, embeddings_dropout) -> SpatialDropout1D -> [recurrent layer,
  return_sequences, recurrent_weight_dropout] x layers (SpatialDropout1D between)
  -> pooling -> Dropout -> Dense``.  The padding mask reaches the recurrent layers
  (the backward direction of ``bilstm`` starts at each text's last real token) and
  the pooling (padded steps never count).  ``pooling``: ``max`` over all steps
  (a strong word anywhere reaches the output through one step of the graph),
  ``mean``, ``max-mean`` (both side by side), or ``concat`` (max, mean and the last
  real step, ULMFiT's; for one-directional layers).
  The regularisation is AWD-LSTM's (Merity et al. 2018): embedding dropout drops
  whole words, locked dropout one mask per text for all its steps, DropConnect
  drops recurrent weights (PyTorch's fused kernel still runs).
* ``cnn-lstm``: ``Embedding(mask_zero) -> Dropout -> MaskedConv1D(relu, 5) -> MaskedMaxPooling1D(4) -> LSTM
  -> Dropout -> Dense``, the shape of Keras' IMDB CNN-LSTM example with the padding masked throughout: the
  convolution sees padded words as zeros (as past a text's ends), the pooling's windows start at each text's first
  word, and the LSTM's last state is at its last window.  So a text's prediction does not depend on the longer
  texts it is batched with (with Keras' layers, which drop the mask, it does).  A text of 1-4 words pools to one step.
* ``bag``: ``Embedding(mask_zero) -> GlobalAveragePooling1D -> Dropout -> Dense``, the
  tutorials' non-recurrent baseline (word order ignored).
* ``nbsvm``: ``HashedNGrams(ngrams) -> NaiveBayesBag``, logistic regression on the set of a
  text's words and n-grams, each weighted by its naive-Bayes log-count ratio over the
  training texts (NBSVM's logistic form, Wang & Manning 2012; :func:`adapt_nbsvm` sets the
  ratios before training).  The strong linear baseline of sentiment, and a member whose
  errors differ from a recurrent model's (``--ensemble-with nbsvm``).

>>> import torch
>>> model = build_model("bilstm", vocab_size=50, num_classes=3, embed_dim=8, units=4)
>>> model(torch.tensor([[5, 9, 2, 0], [7, 1, 0, 0]])).shape
torch.Size([2, 3])
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from rnnkit import Sequential
from rnnkit.errors import ConfigError
from rnnkit.layers import (GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, GlobalAveragePooling1D,
                           GlobalConcatPooling1D, GlobalMaxPooling1D, HashedNGrams, MaskedConv1D, MaskedMaxPooling1D,
                           MinGRU, NaiveBayesBag, SpatialDropout1D)

__all__ = ["MODELS", "NGRAM_BINS", "POOLINGS", "build_model", "adapt_nbsvm"]

MODELS = ("bilstm", "lstm", "gru", "mingru", "cnn-lstm", "bag", "nbsvm")
#: the hash bins of ``nbsvm``'s n-grams (IMDB's 25,000 reviews hold about 1.5 million distinct words and bigrams)
NGRAM_BINS = 2 ** 21
#: ``pooling`` of the recurrent models, and the reductions each concatenates
POOLINGS = {"max": ("max",), "mean": ("mean",), "max-mean": ("max", "mean"), "concat": ("max", "mean", "last")}


def _recurrent(kind: str, units: int, weight_dropout: float) -> nn.Module:
    if kind == "bilstm":
        return Bidirectional(LSTM(units, return_sequences=True, recurrent_weight_dropout=weight_dropout))
    if kind == "lstm":
        return LSTM(units, return_sequences=True, recurrent_weight_dropout=weight_dropout)
    if kind == "gru":
        return GRU(units, return_sequences=True, recurrent_weight_dropout=weight_dropout)
    return MinGRU(units, return_sequences=True)


def build_model(kind: str, vocab_size: int, num_classes: int, *, embed_dim: int = 128, units: int = 64,
                layers: int = 1, dropout: float = 0.3, pooling: str = "max", embed_dropout: float = 0.0,
                locked_dropout: float = 0.0, weight_dropout: float = 0.0, ngrams: int = 2) -> Sequential:
    """A classifier of ``kind`` (one of :data:`MODELS`) giving ``num_classes`` logits.

    ``dropout`` is before the output layer (and after the embedding of ``cnn-lstm``
    and ``bag``); the recurrent models' other rates are ``embed_dropout`` (whole
    words), ``locked_dropout`` (before each recurrent layer, one mask per text for
    all its steps) and ``weight_dropout`` (DropConnect on the recurrent weights;
    ``mingru`` has none).
    """
    if kind not in MODELS:
        raise ConfigError(f"--model must be one of {', '.join(MODELS)}, got {kind!r}")
    for name, value in (("--embed-dim", embed_dim), ("--units", units), ("--layers", layers)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    for name, value in (("--dropout", dropout), ("--embed-dropout", embed_dropout),
                        ("--locked-dropout", locked_dropout), ("--weight-dropout", weight_dropout)):
        if not 0 <= value < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    if pooling not in POOLINGS:
        raise ConfigError(f"--pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if kind == "nbsvm":
        return Sequential([
            HashedNGrams(ngrams, NGRAM_BINS),  # the bins of each text's distinct 1..n-grams (B, n T), 0 = none
            NaiveBayesBag(NGRAM_BINS, num_classes),  # logits (B, C)
        ])
    if kind == "bag":
        return Sequential([
            Embedding(vocab_size, embed_dim, mask_zero=True),  # (B, T, E), mask (B, T)
            GlobalAveragePooling1D(),  # mean over the real tokens: (B, E)
            Dropout(dropout),
            Dense(num_classes),  # logits (B, C)
        ])
    if kind == "cnn-lstm":
        return Sequential([
            Embedding(vocab_size, embed_dim, mask_zero=True),  # (B, T, E), mask (B, T)
            Dropout(dropout),
            MaskedConv1D(units, 5, activation="relu"),  # (B, T, U), 0 at padded steps
            MaskedMaxPooling1D(4),  # (B, ceil(T/4), U), mask (B, ceil(T/4)): windows of each text's words
            LSTM(units),  # the state at each text's last window (B, U)
            Dropout(dropout),
            Dense(num_classes),
        ])
    # ids (B, T) -> (B, T, E), mask (B, T)
    stack: list[nn.Module] = [Embedding(vocab_size, embed_dim, mask_zero=True, embeddings_dropout=embed_dropout)]
    for _ in range(layers):
        stack.append(SpatialDropout1D(locked_dropout))  # one mask per text and feature, every step
        stack.append(_recurrent(kind, units, weight_dropout))  # (B, T, U) or (B, T, 2U) for bilstm
    pools = POOLINGS[pooling]
    stack += [GlobalMaxPooling1D() if pools == ("max",) else GlobalConcatPooling1D(pools),  # (B, k U')
              Dropout(dropout), Dense(num_classes)]  # logits (B, C)
    return Sequential(stack)


def adapt_nbsvm(model: Sequential, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Set the naive-Bayes ratios of an ``nbsvm`` model from ``(ids (B, T), labels (B,))`` training batches."""
    ngrams, bag = model.layers
    bag.adapt((ngrams(x), y) for x, y in batches)
