r"""Seq2Seq: a recurrent encoder–decoder with attention (translation, and any sequence to sequence).

The model reads a source sequence of token ids and scores each next token of a
target sequence.  Training uses teacher forcing (the decoder reads the true
previous token); decoding runs one step at a time through :meth:`Seq2Seq.step`,
a step function ``(tokens, state) -> (log_probs, state)`` that
:mod:`rnnkit.decoding` searches (greedy or beam).

Shapes:
    * ``B`` batch, ``S`` source steps, ``T`` target steps, ``E`` embedding size,
      ``U`` units, ``D`` encoder output size (``U``, or ``2U`` bidirectional),
      ``V_s``/``V_t`` source/target vocabulary sizes.  Id 0 is padding on both
      sides (right-padded), masked everywhere.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._validation import check_bool, check_choice, check_positive_int, check_real
from ..errors import ShapeError
from ..layers import GRU, LSTM, AdditiveAttention, Attention, Bidirectional, Dense, Dropout, Embedding
from ..saving import register_serializable
from .model import Model

__all__ = ["Seq2Seq", "ATTENTIONS", "CELLS"]

ATTENTIONS = ("additive", "dot", "none")
CELLS = ("gru", "lstm")


@register_serializable
class Seq2Seq(Model):
    r"""An RNN encoder–decoder with Bahdanau (additive) or Luong (dot) attention, or none.

    Encoder and decoder:

    .. math::
        m_{1..S},\ s^{enc} = \mathrm{Encoder}(\mathrm{Emb}_s(x_{1..S}))
        \qquad h_t, s_t = \mathrm{Decoder}(\mathrm{Emb}_t(y_{t-1}), s_{t-1}),\ s_0 = \mathrm{bridge}(s^{enc})

    where each of ``layers`` decoder layers starts from the final state of the
    matching encoder layer (bidirectional: ``tanh(W [s^{fw}; s^{bw}] + b)``).

    Attention over the valid source steps (:class:`~rnnkit.layers.AdditiveAttention`
    or :class:`~rnnkit.layers.Attention`, Keras semantics):

    .. math::
        e_{ts} = v^\top \tanh(W_q h_t + W_k m_s + b_k)\ \text{(additive)}, \qquad
        e_{ts} = h_t^\top W_k m_s\ \text{(dot: Luong's 'general')}

        a_t = \mathrm{softmax}_s(e_t), \qquad c_t = \textstyle\sum_s a_{ts} m_s

    Output (Luong's attentional hidden state; with ``attention='none'`` :math:`c_t` is left out):

    .. math::
        \tilde h_t = \tanh(W_c [h_t; c_t] + b_c), \qquad
        p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o\, \mathrm{dropout}(\tilde h_t) + b_o)

    The decoder's input is not fed the previous context (no input feeding), so in
    training the decoder and the attention run over all target steps at once on
    the fused kernels.

    Call: ``model(pairs)`` with ``pairs`` a long tensor ``(B, 2, L)`` (row 0 the
    source ids, row 1 the decoder's input ids: start token then the target, both
    right-padded with 0 to ``L``), or a tuple ``(source (B, S), target_in (B, T))``;
    returns logits ``(B, T, V_t)``.  :meth:`forward_with_mask` also returns the
    target mask, so ``fit`` averages the loss over real target tokens only.

    Args:
        source_vocab, target_vocab: vocabulary sizes (id 0 = padding).
        cell: ``'gru'`` or ``'lstm'``.
        attention: ``'additive'``, ``'dot'`` or ``'none'``.
        units: units of every recurrent layer (and of the attention).
        layers: recurrent layers of the encoder and of the decoder.
        embed_dim: embedding size of both sides.
        bidirectional_encoder: a bidirectional encoder (its states bridged to ``units``).
        dropout: on the embeddings, between layers and before the output layer.

    Example:
        >>> import torch
        >>> model = Seq2Seq(20, 30, units=8, embed_dim=6)
        >>> src, tgt_in = torch.tensor([[4, 5, 6, 0]]), torch.tensor([[2, 7, 8]])
        >>> model((src, tgt_in)).shape
        torch.Size([1, 3, 30])
        >>> with torch.inference_mode():
        ...     state = model.encode(src)
        ...     log_probs, state = model.step(torch.tensor([2]), state)
        >>> log_probs.shape, round(float(log_probs.exp().sum()), 4)
        (torch.Size([1, 30]), 1.0)
    """

    def __init__(self, source_vocab: int, target_vocab: int, cell: str = "gru", attention: str = "additive",
                 units: int = 256, layers: int = 1, embed_dim: int = 256, bidirectional_encoder: bool = False,
                 dropout: float = 0.2, *, name: str | None = None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.source_vocab = check_positive_int(owner, "source_vocab", source_vocab)
        self.target_vocab = check_positive_int(owner, "target_vocab", target_vocab)
        self.cell = check_choice(owner, "cell", cell, CELLS)
        self.attention = check_choice(owner, "attention", attention, ATTENTIONS)
        self.units = check_positive_int(owner, "units", units)
        self.layers = check_positive_int(owner, "layers", layers)
        self.embed_dim = check_positive_int(owner, "embed_dim", embed_dim)
        self.bidirectional_encoder = check_bool(owner, "bidirectional_encoder", bidirectional_encoder)
        self.dropout = check_real(owner, "dropout", dropout, minimum=0.0, maximum=0.99)
        rnn = GRU if cell == "gru" else LSTM
        self.n_states = 1 if cell == "gru" else 2  # per layer: h (GRU), h and c (LSTM)

        def recurrent(input_size: int) -> nn.Module:
            return rnn(units, return_sequences=True, return_state=True, input_size=input_size)

        self.source_embedding = Embedding(source_vocab, embed_dim, mask_zero=True)
        self.target_embedding = Embedding(target_vocab, embed_dim, mask_zero=True)
        memory = 2 * units if bidirectional_encoder else units  # D
        self.encoder = nn.ModuleList(
            Bidirectional(recurrent(embed_dim if i == 0 else memory)) if bidirectional_encoder
            else recurrent(embed_dim if i == 0 else memory) for i in range(layers))
        self.decoder = nn.ModuleList(recurrent(embed_dim if i == 0 else units) for i in range(layers))
        # one bridge per state kind and layer: [s_fw; s_bw] (2U) -> U
        self.bridge = nn.ModuleList(Dense(units, activation="tanh", input_size=2 * units)
                                    for _ in range(layers * self.n_states)) if bidirectional_encoder else None
        self.drop = Dropout(dropout)
        if attention == "additive":
            self.query_projection = Dense(units, use_bias=False, input_size=units)  # W_q
            self.key_projection = Dense(units, input_size=memory)  # W_k, b_k
            self.attend = AdditiveAttention(use_scale=True)  # v = its scale
        elif attention == "dot":
            self.query_projection = None
            self.key_projection = Dense(units, use_bias=False, input_size=memory)  # W_k
            self.attend = Attention(score_mode="dot")
        else:
            self.query_projection = self.key_projection = self.attend = None
        combined = units + (memory if attention != "none" else 0)
        self.combine = Dense(units, activation="tanh", input_size=combined)  # W_c, b_c
        self.output_layer = Dense(target_vocab, input_size=units)  # W_o, b_o
        if self.attend is not None:  # build its weights (sized by the first input) now, for load_state_dict
            with torch.no_grad():
                self.attend([torch.zeros(1, 1, units), torch.zeros(1, 1, memory), torch.zeros(1, 1, units)])

    # ------------------------------------------------------------------ the two halves
    def encode(self, source: torch.Tensor) -> tuple:
        """The decoder's starting state for ``source`` ids ``(B, S)``: a tuple whose tensors all have the batch first.

        ``(decoder states (one tuple per layer), memory (B, S, D), keys (B, S, U) or None, source mask (B, S))``.
        """
        source = self._ids(source, "source")
        mask = self.source_embedding.compute_mask(source)  # (B, S)
        x = self.drop(self.source_embedding(source))  # (B, S, E)
        finals = []
        for i, layer in enumerate(self.encoder):
            x, *states = layer(x, mask=mask)  # (B, S, D), final states of each direction (B, U)
            finals.append(states)
            if i < self.layers - 1:
                x = self.drop(x)
        memory = x
        keys = self.key_projection(memory) if self.key_projection is not None else None  # (B, S, U)
        return self._bridged(finals), memory, keys, mask

    def _bridged(self, finals: list[list[torch.Tensor]]) -> tuple:
        if self.bridge is None:
            return tuple(tuple(states) for states in finals)
        n = self.n_states
        out = []
        for i, states in enumerate(finals):  # states: forward h[, c], then backward h[, c]
            # s_0 = tanh(W [s_fw; s_bw] + b), per state kind
            out.append(tuple(self.bridge[i * n + k](torch.cat([states[k], states[n + k]], dim=-1)) for k in range(n)))
        return tuple(out)

    def _decode(self, target_in: torch.Tensor, states: tuple, memory: torch.Tensor, keys: torch.Tensor | None,
                source_mask: torch.Tensor, target_mask: torch.Tensor | None, with_weights: bool = False) -> tuple:
        """(logits (B, T, V_t), new decoder states, attention weights (B, T, S) or None)."""
        y = self.drop(self.target_embedding(target_in))  # (B, T, E)
        new_states = []
        for i, layer in enumerate(self.decoder):
            # right-padded targets: a forward layer's outputs at real steps never read the padding after them,
            # so no mask is needed here (the fused kernel runs); the loss and the attention mask the padding
            y, *s = layer(y, initial_state=list(states[i]))  # (B, T, U)
            new_states.append(tuple(s))
            if i < self.layers - 1:
                y = self.drop(y)
        weights = None
        if self.attend is not None:
            query = self.query_projection(y) if self.query_projection is not None else y  # (B, T, U)
            context, weights = self.attend([query, memory, keys], mask=[target_mask, source_mask],
                                           return_attention_scores=True)  # (B, T, D), (B, T, S)
            y = torch.cat([y, context], dim=-1)  # [h_t; c_t]
        # \tilde h_t = tanh(W_c [h_t; c_t] + b_c); logits = W_o dropout(\tilde h_t) + b_o
        logits = self.output_layer(self.drop(self.combine(y)))  # (B, T, V_t)
        return logits, tuple(new_states), (weights if with_weights else None)

    def step(self, tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One decoding step: ``tokens`` ``(N,)`` -> (log-probabilities ``(N, V_t)``, the next state).

        ``state`` comes from :meth:`encode` (or a previous step); every tensor in it
        has the batch first, so a beam search reorders it with ``index_select(0, ...)``.
        """
        states, memory, keys, mask = state
        logits, states, _ = self._decode(tokens[:, None], states, memory, keys, mask, None)
        return torch.log_softmax(logits[:, 0].float(), dim=-1), (states, memory, keys, mask)

    # ------------------------------------------------------------------ teacher forcing
    def _split(self, pairs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(pairs, (tuple, list)) and len(pairs) == 2:
            return self._ids(pairs[0], "source"), self._ids(pairs[1], "target_in")
        if not isinstance(pairs, torch.Tensor) or pairs.dim() != 3 or pairs.shape[1] != 2:
            got = tuple(pairs.shape) if isinstance(pairs, torch.Tensor) else type(pairs).__name__
            raise ShapeError(f"Seq2Seq: expected pairs of ids shaped (batch, 2, length) or a tuple (source, target_in), "
                             f"got {got}")
        # each side trimmed to its longest row: (B, S) and (B, T)
        return tuple(self._trim(pairs[:, k]) for k in (0, 1))

    @staticmethod
    def _trim(ids: torch.Tensor) -> torch.Tensor:
        width = int((ids != 0).sum(dim=1).max()) if ids.numel() else 0
        return ids[:, : max(width, 1)]

    @staticmethod
    def _ids(ids: Any, what: str) -> torch.Tensor:
        ids = torch.as_tensor(ids)
        if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise ShapeError(f"Seq2Seq: `{what}` must be integer ids shaped (batch, steps), got {ids.dtype} "
                             f"{tuple(ids.shape)}")
        return ids.long()

    def forward_with_mask(self, pairs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits ``(B, T, V_t)``, the target mask ``(B, T)``): fit's loss counts real target tokens only."""
        source, target_in = self._split(pairs)
        target_mask = target_in != 0  # (B, T)
        states, memory, keys, source_mask = self.encode(source)
        logits, _, _ = self._decode(target_in, states, memory, keys, source_mask, target_mask)
        return logits, target_mask

    def forward(self, pairs: Any) -> torch.Tensor:
        return self.forward_with_mask(pairs)[0]

    def attention_weights(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor | None:
        """The attention weights ``(B, T, S)`` of the decoder reading ``target_in`` (None without attention)."""
        if self.attend is None:
            return None
        source, target_in = self._ids(source, "source"), self._ids(target_in, "target_in")
        states, memory, keys, source_mask = self.encode(source)
        return self._decode(target_in, states, memory, keys, source_mask, target_in != 0, with_weights=True)[2]

    def get_config(self) -> dict[str, Any]:
        return {"source_vocab": self.source_vocab, "target_vocab": self.target_vocab, "cell": self.cell,
                "attention": self.attention, "units": self.units, "layers": self.layers, "embed_dim": self.embed_dim,
                "bidirectional_encoder": self.bidirectional_encoder, "dropout": self.dropout, "name": self.name}
