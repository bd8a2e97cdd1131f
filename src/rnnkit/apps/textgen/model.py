"""The language model of text generation: Embedding, stacked stateful recurrent layers, Dense.

Every recurrent layer is ``stateful``: consecutive calls continue the text, so
training walks a contiguous stream chunk by chunk (truncated BPTT with the
state carried over) and generation feeds one token per call without re-running
the prefix.  LSTM, GRU and SimpleRNN run on PyTorch's fused kernels.

.. code-block:: text

    ids (B, T) -> Embedding -> [Dropout] -> (RNN(units) -> [Dropout]) x layers -> Dense(vocab) -> logits (B, T, V)

``softmax="adaptive"`` ends in :class:`rnnkit.layers.AdaptiveSoftmax` instead of the
``Dense``: log-probabilities ``(B, T, V)`` that serve as the logits (sampling and the
cross-entropy give the same results on them), from a head over the frequent words
and narrower clusters for the rare ones.  Training then scores each target alone.
Training speed of a 2 x 256 LSTM (embeddings 256, 64 rows of 70 steps, Adam) in
tokens per CPU second, one thread, AMD EPYC with AVX-512: a full softmax over 20,000
words 1.3k (over 8,000 words 2.9k), the adaptive one 5.3k with cut-offs 2,000 and
10,000, 7.1k with 1,000 and 5,000 (a one-layer LSTM with the former: 7.6k).
"""
from __future__ import annotations

import torch

from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, AdaptiveSoftmax, Dense, Dropout, Embedding, MinGRU, MinLSTM, SimpleRNN
from rnnkit.models import Sequential

__all__ = ["CELLS", "SOFTMAX", "build_model"]

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN, "mingru": MinGRU, "minlstm": MinLSTM}
#: the output layers: a full softmax (Dense logits) or an adaptive one (AdaptiveSoftmax log-probabilities)
SOFTMAX = ("full", "adaptive")


def build_model(vocab_size: int, *, cell: str = "lstm", layers: int = 2, units: int = 512, embed_dim: int = 64,
                dropout: float = 0.0, tie_weights: bool = False, init_scale: float | None = None,
                softmax: str = "full", cutoffs: list[int] | None = None) -> Sequential:
    """A built (not lazy) ``Sequential`` language model; see the module docstring.

    ``tie_weights`` shares the embedding matrix with the output layer (Press &
    Wolf 2017), which needs ``embed_dim == units`` and the full softmax.
    ``softmax="adaptive"`` ends in an ``AdaptiveSoftmax`` with ``cutoffs`` (default
    :func:`rnnkit.layers.adaptive_softmax.default_cutoffs`).  ``init_scale=s`` starts every
    weight from U(-s, s), as Zaremba et al. (2014) do (0.1 for their small model);
    by default the embeddings start from N(0, 1) and the recurrent weights from
    U(-1/sqrt(units), 1/sqrt(units)).

    >>> m = build_model(30, layers=1, units=16, embed_dim=8)
    >>> m(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 30])
    """
    if cell not in CELLS:
        raise ConfigError(f"--cell must be one of {', '.join(CELLS)}, got {cell!r}")
    for name, value in (("layers", layers), ("units", units), ("embed-dim", embed_dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"--{name} must be a whole number >= 1, got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"--dropout must be in [0, 1), got {dropout!r}")
    if softmax not in SOFTMAX:
        raise ConfigError(f"--softmax must be one of {', '.join(SOFTMAX)}, got {softmax!r}")
    if tie_weights and softmax != "full":
        raise ConfigError("--tie shares the embedding with a full softmax's output layer; drop --tie or use --softmax full")
    if cutoffs and softmax != "adaptive":
        raise ConfigError("--cutoffs are the clusters of the adaptive softmax; pass --softmax adaptive or drop --cutoffs")
    if cutoffs and (sorted(set(cutoffs)) != list(cutoffs) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size):
        raise ConfigError(f"--cutoffs must increase and lie between 1 and {vocab_size - 1} (the vocabulary has "
                          f"{vocab_size} tokens), got {','.join(map(str, cutoffs))}")
    if tie_weights and embed_dim != units:
        raise ConfigError(f"--tie needs --embed-dim equal to --units (the output layer reuses the embedding), got {embed_dim} and {units}")
    parts: list[torch.nn.Module] = [Embedding(vocab_size, embed_dim)]
    if dropout:
        parts.append(Dropout(dropout))
    size = embed_dim
    for _ in range(layers):
        parts.append(CELLS[cell](units, return_sequences=True, stateful=True, input_size=size))
        if dropout:
            parts.append(Dropout(dropout))
        size = units
    if softmax == "adaptive":
        head = AdaptiveSoftmax(vocab_size, cutoffs or None, input_size=units)  # log-probabilities (B, T, V)
    else:
        head = Dense(vocab_size, input_size=units)  # logits (B, T, V)
    parts.append(head)
    model = Sequential(parts)
    if init_scale is not None:
        if not init_scale > 0:
            raise ConfigError(f"--init-scale must be positive, got {init_scale!r}")
        for p in model.parameters():
            torch.nn.init.uniform_(p, -init_scale, init_scale)
    else:
        _init_for_language_modelling(model, units)
    if tie_weights:
        head.weight = parts[0].weight  # (V, E) serves both as lookup table and as output matrix
    return model


def _init_for_language_modelling(model: Sequential, units: int) -> None:
    """Start from N(0, 1) embeddings and U(-1/sqrt(units), 1/sqrt(units)) recurrent weights (PyTorch's defaults).

    Keras' small uniform embedding (+-0.05) makes a character model sit on the
    unigram plateau for a hundred steps or so; these starting points leave it
    at once (measured on tinyshakespeare: 2.00 against 2.45 nats after 120 steps).
    """
    bound = units ** -0.5
    for module in model.modules():
        if isinstance(module, Embedding):
            torch.nn.init.normal_(module.weight, 0.0, 1.0)
        elif isinstance(module, (LSTM, GRU, SimpleRNN)):
            for p in module.parameters():
                torch.nn.init.uniform_(p, -bound, bound)

