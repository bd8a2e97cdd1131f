"""Attention (Luong, dot-product) and AdditiveAttention (Bahdanau): a query attends over a sequence, as in Keras.

Both layers take ``[query, value]`` or ``[query, value, key]``, score every
query step against every key step, turn the scores into a softmax distribution
over the value steps and return the weighted sum of the values.  They differ
only in the score function.  Neither has a projection: apply a ``Dense`` layer
to the query, key or value first when you want one (as in Keras).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import initializers
from .._base_layer import Layer
from .._validation import (as_tensor, check_bool, check_choice, check_floating, check_ndim, check_positive_int,
                           check_rate)
from ..errors import ShapeError
from ..saving import register_serializable

__all__ = ["Attention", "AdditiveAttention"]

#: Subtracted from the scores where the mask is False, as in Keras: large enough that
#: exp() of it underflows to 0, small enough to stay finite (65504 is float16's largest).
_MASK_PENALTY = 1.0e9
_MASK_PENALTY_FLOAT16 = 65504.0

_LAYOUTS = {"query": "(batch, Tq, dim)", "value": "(batch, Tv, dim_v)", "key": "(batch, Tv, dim)"}


class _AttentionBase(Layer):
    """What both attention layers share: the input and mask checks, the masks, the softmax,
    dropout and the weighted sum.  Subclasses define the scores in :meth:`_scores`."""

    def __init__(self, use_scale: bool, dropout: float, seed: int | None, *, name: str | None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.use_scale = check_bool(owner, "use_scale", use_scale)
        self.dropout = check_rate(owner, "dropout", dropout)
        self.seed = check_positive_int(owner, "seed", seed, allow_none=True, minimum=0)
        self._calls = 0

    # ------------------------------------------------------------------ checks
    def _split_inputs(self, inputs: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(query, value, key)`` from ``[query, value]`` or ``[query, value, key]``, checked against each other."""
        owner = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ShapeError(
                f"{owner}: `inputs` must be a list [query, value] or [query, value, key], "
                f"got a {type(inputs).__name__}; "
                "call the layer as layer([query, value]) (for self-attention: layer([x, x]))"
            )
        if len(inputs) not in (2, 3):
            raise ShapeError(
                f"{owner}: `inputs` must hold 2 tensors [query, value] or 3 [query, value, key], got {len(inputs)}"
            )
        named = {}
        for name, x in zip(("query", "value", "key"), inputs):
            x = as_tensor(owner, x, name)
            check_ndim(owner, x, 3, _LAYOUTS[name], name)
            check_floating(owner, x, name)
            named[name] = x
        named.setdefault("key", named["value"])
        query, value, key = named["query"], named["value"], named["key"]
        shapes = ", ".join(f"{n} {tuple(x.shape)}" for n, x in named.items())
        if not query.shape[0] == value.shape[0] == key.shape[0]:
            raise ShapeError(f"{owner}: query, value and key must have the same batch size, got {shapes}")
        if key.shape[1] != value.shape[1]:
            raise ShapeError(
                f"{owner}: key and value must have the same number of steps Tv (key j scores value j), "
                f"got key {tuple(key.shape)} with Tv={key.shape[1]} "
                f"and value {tuple(value.shape)} with Tv={value.shape[1]}"
            )
        if query.shape[-1] != key.shape[-1]:
            what = "key" if len(inputs) == 3 else "value (which is also the key)"
            raise ShapeError(
                f"{owner}: query and {what} must have the same last dim, got query {tuple(query.shape)} with "
                f"dim={query.shape[-1]} and {what.split()[0]} {tuple(key.shape)} with dim={key.shape[-1]}; "
                "the layer has no projection, so map them to one size first (e.g. with a Dense layer)"
            )
        dtypes = {n: x.dtype for n, x in named.items()}
        # under autocast a projected input is already in the lower precision and the matmuls cast the others
        if len(set(dtypes.values())) > 1 and not torch.is_autocast_enabled(query.device.type):
            listed = ", ".join(f"{n} {d}" for n, d in dtypes.items())
            raise ShapeError(f"{owner}: query, value and key must have the same dtype, got {listed}; cast them to one")
        return query, value, key

    def _split_mask(
        self, mask: Any, query: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(query_mask, value_mask)`` as bool tensors of shapes (batch, Tq) and (batch, Tv), or None."""
        owner = type(self).__name__
        if mask is None:
            return None, None
        if not isinstance(mask, (list, tuple)):
            raise ShapeError(
                f"{owner}: `mask` must be a list [query_mask, value_mask] (either may be None), got a "
                f"{type(mask).__name__}; for a value mask alone pass mask=[None, value_mask]"
            )
        if len(mask) != 2:
            raise ShapeError(
                f"{owner}: `mask` must hold 2 entries [query_mask, value_mask], got {len(mask)}; "
                "the key has no mask of its own (it shares the value's), so pass only the first two"
            )
        checked = []
        for name, m, x, steps in (("query_mask", mask[0], query, "Tq"), ("value_mask", mask[1], value, "Tv")):
            if m is not None:
                m = as_tensor(owner, m, name)
                expected = tuple(x.shape[:2])
                if tuple(m.shape) != expected:
                    raise ShapeError(
                        f"{owner}: `{name}` must have shape (batch, {steps}) = {expected}, got {tuple(m.shape)}; "
                        f"it holds True at the real steps of the {name.split('_')[0]}"
                    )
                m = m if m.dtype == torch.bool else m != 0
            checked.append(m)
        return checked[0], checked[1]

    # ------------------------------------------------------------------ the call
    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """The scores ``s_ij`` of query step i against key step j, shape (batch, Tq, Tv)."""
        raise NotImplementedError

    def _drop(self, weights: torch.Tensor) -> torch.Tensor:
        """Inverted dropout on the attention weights, with the seed convention of :class:`~rnnkit.layers.Dropout`."""
        generator = None
        if self.seed is not None:
            # One reproducible stream per layer: the n-th call uses a seed derived from (seed, n).
            generator = torch.Generator(device=weights.device)
            generator.manual_seed((self.seed * 0x9E3779B97F4A7C15 + self._calls) % (2**63))
        self._calls += 1
        # m ~ Bernoulli(1 - p)                                         (batch, Tq, Tv)
        m = torch.rand(weights.shape, generator=generator, device=weights.device, dtype=weights.dtype) >= self.dropout
        # a_ij = m_ij a_ij / (1 - p)
        return weights * m.to(weights.dtype) / (1.0 - self.dropout)

    def forward(
        self,
        inputs: Sequence[torch.Tensor],
        mask: Sequence[torch.Tensor | None] | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend; returns the output, or ``(output, weights)`` with ``return_attention_scores=True``.

        Args:
            inputs: ``[query, value]`` or ``[query, value, key]`` (key defaults to value).
            mask: None or ``[query_mask, value_mask]``, bool (batch, Tq) and
                (batch, Tv), True at real steps; either entry may be None.
            return_attention_scores: also return the attention weights (after
                masking, softmax and, in training mode, dropout), (batch, Tq, Tv).
            use_causal_mask: query step i may attend to key steps j <= i only.
        """
        owner = type(self).__name__
        query, value, key = self._split_inputs(inputs)
        query_mask, value_mask = self._split_mask(mask, query, value)
        return_attention_scores = check_bool(owner, "return_attention_scores", return_attention_scores)
        use_causal_mask = check_bool(owner, "use_causal_mask", use_causal_mask)
        self._maybe_build(query)
        scores = self._scores(query, key)  # (batch, Tq, Tv)

        # M_ij = value_mask_j, and i >= j with use_causal_mask           (batch or 1, Tq or 1, Tv)
        allowed = None if value_mask is None else value_mask.unsqueeze(1)
        if use_causal_mask:
            causal = torch.ones(scores.shape[1:], dtype=torch.bool, device=scores.device).tril()  # (Tq, Tv)
            allowed = causal if allowed is None else allowed & causal
        if allowed is not None:
            penalty = _MASK_PENALTY_FLOAT16 if scores.dtype == torch.float16 else _MASK_PENALTY
            # s_ij = s_ij - 1e9 where M_ij is False (65504 in float16), so exp() gives 0 there
            scores = torch.where(allowed, scores, scores - penalty)

        # a_ij = exp(s_ij) / Σ_j' exp(s_ij')                           (batch, Tq, Tv)
        if scores.dtype == torch.float16:
            # in float32 and rounded back, as Keras does on the CPU
            weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(torch.float16)
        else:
            weights = F.softmax(scores, dim=-1)
        if self.training and self.dropout > 0.0:
            weights = self._drop(weights)

        # y_i = Σ_j a_ij v_j                                           (batch, Tq, dim_v)
        output = torch.matmul(weights, value)
        if query_mask is not None:
            # y_i = 0 where query_mask_i is False
            zero = torch.zeros((), dtype=output.dtype, device=output.device)
            output = torch.where(query_mask.unsqueeze(-1), output, zero)
        return (output, weights) if return_attention_scores else output

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """The query mask (the output has the query's steps), or None, as in Keras."""
        query, value, _ = self._split_inputs(inputs)
        query_mask, _ = self._split_mask(mask, query, value)
        return query_mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout, "seed": self.seed}


@register_serializable
class Attention(_AttentionBase):
    r"""Dot-product (Luong-style) attention: each query step takes a softmax-weighted mean of the values.

    .. math::
        s_{ij} = \gamma \, q_i \cdot k_j \quad \text{(score_mode='dot')}, \qquad
        s_{ij} = c \sum_{d} \tanh\big(\gamma (q_{id} + k_{jd})\big) \quad \text{(score_mode='concat')},

    .. math::
        a_{ij} = \frac{\exp(s_{ij})}{\sum_{j'} \exp(s_{ij'})}, \qquad
        y_i = \sum_j a_{ij} v_j

    where :math:`\gamma` is ``scale`` (1 without ``use_scale``) and :math:`c` is
    ``concat_score_weight``.  Where the mask forbids key step j (a False in
    ``value_mask``, or j > i with ``use_causal_mask``) Keras' trick is used:
    :math:`s_{ij}` is lowered by :math:`10^9` (65504 in float16) before the
    softmax, so :math:`a_{ij}` is exactly 0 there and the other weights of the
    row sum to 1.  A row with no allowed step is not special-cased, as in
    Keras: its weights are the softmax of the lowered scores, which in float32
    (where :math:`10^9` swallows differences below ~64) is nearly uniform over
    all steps, in float64 nearly the softmax of the unlowered scores, and in
    float16 NaN when every score of the row is below about -16 (the shift
    overflows to -inf).  Keras' torch backend lowers float16 scores by
    :math:`10^9` too (its float16 test compares a torch dtype with a string),
    which makes every such row NaN; rows with an allowed step agree either way.
    Output rows where ``query_mask`` is False are set to 0; the weights
    returned for them are left as computed.  In training mode (``module.training``)
    dropout with rate ``dropout`` is applied to :math:`a` (and the returned
    weights are the dropped ones, as in Keras).

    There is no projection: the query, key and value are used as given.  Apply
    a ``Dense`` layer to them first for learned projections, as in Keras.

    Shape:
        * inputs: ``[query, value]`` or ``[query, value, key]``, floating point,
          one dtype; the key defaults to the value.
        * query: ``(batch, Tq, dim)``; value: ``(batch, Tv, dim_v)``;
          key: ``(batch, Tv, dim)``.
        * mask: None or ``[query_mask, value_mask]``, bool ``(batch, Tq)`` and
          ``(batch, Tv)`` (True = a real step); either may be None.
        * output: ``(batch, Tq, dim_v)``; with ``return_attention_scores=True``
          also the weights :math:`a`, ``(batch, Tq, Tv)``.
        * ``scale``: ``()``, only with ``use_scale``, initialised to 1;
          ``concat_score_weight``: ``()``, only with ``score_mode='concat'``,
          initialised to 1.  Keras names them the same.  They do not depend on
          the input, so they are created with the layer (float32, Keras' default
          dtype; move them with ``.to()``) and ``build`` only marks it built.

    :meth:`compute_mask` passes the query mask on.

    Args:
        use_scale: learn the scalar :math:`\gamma` (default False).
        score_mode: ``'dot'`` (default) or ``'concat'``.
        dropout: fraction of attention weights to drop in training mode, in [0, 1)
            (default 0.0).
        seed: optional non-negative integer seed for the dropout masks.
        name: layer name.

    Example:
        >>> import torch
        >>> layer = Attention()
        >>> query = torch.tensor([[[1.0, 0.0]]])                # (batch=1, Tq=1, dim=2)
        >>> value = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])    # (1, Tv=2, 2)
        >>> output, weights = layer([query, value], return_attention_scores=True)
        >>> weights  # softmax of the scores [1, 0]
        tensor([[[0.7311, 0.2689]]])
        >>> output
        tensor([[[0.7311, 0.2689]]])
        >>> layer([query, value], mask=[None, torch.tensor([[False, True]])])
        tensor([[[0., 1.]]])
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(use_scale, dropout, seed, name=name)
        self.score_mode = check_choice(type(self).__name__, "score_mode", score_mode, ("dot", "concat"))
        self.register_parameter("scale", None)
        self.register_parameter("concat_score_weight", None)
        if self.use_scale:
            self.scale = nn.Parameter(torch.ones(()))
        if self.score_mode == "concat":
            self.concat_score_weight = nn.Parameter(torch.ones(()))
        self.build(())

    def build(self, input_shape: Any, *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        """Nothing to create: the weights exist from the start (they do not depend on the input)."""
        super().build(input_shape)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Reset ``scale`` and ``concat_score_weight`` to 1."""
        for weight in (self.scale, self.concat_score_weight):
            if weight is not None:
                weight.fill_(1.0)

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        scale = None if self.scale is None else self.scale.to(query.dtype)
        if self.score_mode == "dot":
            # s_ij = q_i · k_j                                          (batch, Tq, Tv)
            scores = torch.matmul(query, key.transpose(-2, -1))
            if scale is not None:
                # s_ij = γ q_i · k_j
                scores = scores * scale
            return scores
        # q_id + k_jd for every pair of steps                          (batch, Tq, Tv, dim)
        pairs = query.unsqueeze(2) + key.unsqueeze(1)
        if scale is not None:
            pairs = scale * pairs
        # s_ij = c Σ_d tanh(γ (q_id + k_jd))                           (batch, Tq, Tv)
        return self.concat_score_weight.to(query.dtype) * torch.tanh(pairs).sum(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "score_mode": self.score_mode}

    def extra_repr(self) -> str:
        return f"use_scale={self.use_scale}, score_mode={self.score_mode!r}, dropout={self.dropout}"


@register_serializable
class AdditiveAttention(_AttentionBase):
    r"""Additive (Bahdanau-style) attention: scores from ``tanh(q + k)``, then a softmax-weighted mean of the values.

    .. math::
        s_{ij} = \sum_{d} w_d \tanh(q_{id} + k_{jd}), \qquad
        a_{ij} = \frac{\exp(s_{ij})}{\sum_{j'} \exp(s_{ij'})}, \qquad
        y_i = \sum_j a_{ij} v_j

    where :math:`w` is ``scale`` (all ones without ``use_scale``).  Masks,
    dropout and the causal mask work as in :class:`Attention`: forbidden scores
    are lowered by :math:`10^9` (65504 in float16) before the softmax, output
    rows where ``query_mask`` is False are 0.

    There is no projection (Bahdanau's :math:`W_1 q + W_2 k` is up to you):
    apply a ``Dense`` layer to the query and key first, as in Keras.

    Shape:
        * inputs: ``[query, value]`` or ``[query, value, key]``, floating point,
          one dtype; the key defaults to the value.
        * query: ``(batch, Tq, dim)``; value: ``(batch, Tv, dim_v)``;
          key: ``(batch, Tv, dim)``.
        * mask: None or ``[query_mask, value_mask]``, bool ``(batch, Tq)`` and
          ``(batch, Tv)`` (True = a real step); either may be None.
        * output: ``(batch, Tq, dim_v)``; with ``return_attention_scores=True``
          also the weights :math:`a`, ``(batch, Tq, Tv)``.
        * ``scale``: ``(dim,)``, only with ``use_scale``, created at the first
          call (on the query's device, in its dtype), initialised
          ``glorot_uniform`` as in Keras, which takes fan_in = fan_out = dim for
          a 1-D weight: :math:`U(-\sqrt{3/\mathrm{dim}}, \sqrt{3/\mathrm{dim}})`.
          Keras names it ``scale`` too.

    :meth:`compute_mask` passes the query mask on.

    Args:
        use_scale: learn the per-feature weights :math:`w` (default True).
        dropout: fraction of attention weights to drop in training mode, in [0, 1)
            (default 0.0).
        seed: optional non-negative integer seed for the dropout masks.
        name: layer name.

    Example:
        >>> import torch
        >>> layer = AdditiveAttention(use_scale=False)
        >>> query = torch.zeros(1, 1, 2)                         # (batch=1, Tq=1, dim=2)
        >>> value = torch.tensor([[[10.0, 10.0], [0.0, 0.0]]])  # (1, Tv=2, 2); scores ≈ [2, 0]
        >>> output, weights = layer([query, value], return_attention_scores=True)
        >>> weights
        tensor([[[0.8808, 0.1192]]])
        >>> AdditiveAttention()([torch.zeros(2, 3, 4), torch.zeros(2, 5, 4)]).shape
        torch.Size([2, 3, 4])
    """

    def __init__(
        self,
        use_scale: bool = True,
        dropout: float = 0.0,
        seed: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(use_scale, dropout, seed, name=name)
        self.register_parameter("scale", None)

    def build(self, input_shape: Any, *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        """Create ``scale`` (dim,) for a query of shape ``input_shape`` (or Keras' ``[query_shape, value_shape]``)."""
        shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list, torch.Size)) else input_shape
        if self.use_scale:
            dim = check_positive_int(type(self).__name__, "dim (the query's last axis)", shape[-1])
            self.scale = nn.Parameter(torch.empty(dim, device=device, dtype=dtype))
            self.reset_parameters()
        super().build(input_shape)

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        scale = state_dict.get(prefix + "scale")
        # scale (dim,) <- query (batch, Tq, dim)
        return None if scale is None else (None, None, scale.shape[0])

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """(Re)initialise ``scale`` with ``glorot_uniform`` (fans as Keras computes them)."""
        if self.scale is not None:
            initializers.glorot_uniform(self.scale)

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        if self.scale is not None and self.scale.shape[0] != query.shape[-1]:
            raise ShapeError(
                f"{type(self).__name__}: built for dim={self.scale.shape[0]} (the size of `scale`), got a query "
                f"with dim={query.shape[-1]} (shape {tuple(query.shape)}); use one layer per feature size"
            )
        # tanh(q_id + k_jd) for every pair of steps                    (batch, Tq, Tv, dim)
        t = torch.tanh(query.unsqueeze(2) + key.unsqueeze(1))
        if self.scale is None:
            # s_ij = Σ_d tanh(q_id + k_jd)                             (batch, Tq, Tv)
            return t.sum(dim=-1)
        # s_ij = Σ_d w_d tanh(q_id + k_jd)                             (batch, Tq, Tv)
        return (self.scale.to(query.dtype) * t).sum(dim=-1)

    def extra_repr(self) -> str:
        dim = None if self.scale is None else self.scale.shape[0]
        return f"use_scale={self.use_scale}, dim={dim}, dropout={self.dropout}"
