"""AdaptiveSoftmax: log-probabilities over a large vocabulary at a fraction of a full softmax's cost.

Grave et al. (2017), "Efficient softmax approximation for GPUs": the frequent
words (the *shortlist*) and one entry per *cluster* of rarer words share a small
head softmax; each cluster has its own softmax, reached through a projection
to a narrower space (``div_value`` times narrower per cluster).  A word's
log-probability is its head entry for a shortlist word, else its cluster's head
entry plus its log-probability inside the cluster.  The distribution is exact
(it sums to one); only the parameterisation is cheaper.

Where the cost goes, per token with 256 features and a 20,000-word vocabulary
(cut-offs 2,000 and 10,000, ``div_value`` 4): a full softmax is 256 x 20,000 =
5.1M multiply-adds; the head here is 256 x 2,002 = 0.51M, and a token of the
first cluster (about one in eight in English text) adds 256 x 64 + 64 x 8,000
= 0.53M, of the second 256 x 16 + 16 x 10,000 = 0.16M.  Training needs only the
target's log-probability (:meth:`AdaptiveSoftmax.target_log_prob`: the head for
every token, a cluster only for its own tokens), so a training step costs about a
tenth of the full softmax's; the whole distribution (:meth:`forward`, for
sampling) about a quarter.

The layout is ``torch.nn.AdaptiveLogSoftmaxWithLoss``'s: ``head.weight``
``(shortlist + clusters, F)``, per cluster ``i`` a projection ``(F // div^(i+1), F)``
and an output ``(size_i, F // div^(i+1))``, no biases in the tails.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._base_layer import Layer
from .._validation import as_tensor, check_bool, check_positive_int, check_real
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable

__all__ = ["AdaptiveSoftmax", "default_cutoffs"]


def default_cutoffs(vocab_size: int) -> list[int]:
    """Cluster boundaries for ``vocab_size`` words: those of 2,000, 10,000 and 50,000 below it (Grave et al.'s
    shortlist of 2,000), or half the vocabulary for one of 2,000 words or fewer.

    >>> default_cutoffs(20004), default_cutoffs(5000), default_cutoffs(300)
    ([2000, 10000], [2000], [150])
    """
    cuts = [c for c in (2000, 10000, 50000) if c < vocab_size - 1]
    return cuts or [max(1, vocab_size // 2)]


@register_serializable
class AdaptiveSoftmax(Layer):
    r"""Log-probabilities over ``vocab_size`` classes by an adaptive softmax (Grave et al. 2017).

    With cut-offs :math:`c_1 < \dots < c_k` (:math:`c_{k+1} = V`), the head scores the
    shortlist :math:`[0, c_1)` and one entry per cluster :math:`[c_i, c_{i+1})`:

    .. math::
        \log p(w \mid x) = \begin{cases}
          \log\operatorname{softmax}(W_h x + b_h)_w & w < c_1 \\
          \log\operatorname{softmax}(W_h x + b_h)_{c_1 + i - 1}
            + \log\operatorname{softmax}(O_i P_i x)_{w - c_i} & c_i \le w < c_{i+1}
        \end{cases}

    with :math:`P_i` of shape :math:`(\lfloor F / d^i \rfloor, F)` and :math:`O_i` of
    shape :math:`(c_{i+1} - c_i, \lfloor F / d^i \rfloor)`, :math:`d` = ``div_value``.

    The output is a log-probability for every class, so it serves wherever logits do
    (``SparseCategoricalCrossentropy(from_logits=True)`` gives :math:`-\log p(y)`,
    sampling with a temperature divides it).  ``fit`` does not compute it while
    training: with that loss and no metric, :class:`~rnnkit.models.Sequential` asks
    this layer for the targets' log-probabilities alone (:meth:`target_loss`), which
    costs the head and each token's own cluster only.

    Shape:
        * input: ``(*, F)``, at least 2 dims, floating point.
        * output: ``(*, vocab_size)`` log-probabilities.

    A mask passes through unchanged.

    Args:
        vocab_size: the number of classes :math:`V`.
        cutoffs: increasing cluster boundaries in ``(0, V)``; default :func:`default_cutoffs`.
        div_value: :math:`d`, how much narrower each cluster's projection is than the last (default 4).
        head_bias: a bias on the head (default True; the tails have none).
        input_size: :math:`F`; when None the weights are created at the first call.
        name: layer name.

    Example:
        >>> import torch
        >>> layer = AdaptiveSoftmax(100, cutoffs=[10, 40], input_size=16)
        >>> logp = layer(torch.randn(2, 5, 16))
        >>> logp.shape, torch.allclose(logp.exp().sum(-1), torch.ones(2, 5))
        (torch.Size([2, 5, 100]), True)
    """

    supports_masking = True

    def __init__(self, vocab_size: int, cutoffs: Sequence[int] | None = None, div_value: float = 4.0,
                 head_bias: bool = True, input_size: int | None = None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.vocab_size = check_positive_int(owner, "vocab_size", vocab_size, minimum=2)
        cuts = default_cutoffs(self.vocab_size) if cutoffs is None else list(cutoffs)
        if (not cuts or any(isinstance(c, bool) or not isinstance(c, int) for c in cuts)
                or any(b <= a for a, b in zip(cuts, cuts[1:])) or cuts[0] < 1 or cuts[-1] >= self.vocab_size):
            raise ConfigError(f"{owner}: `cutoffs` must be increasing whole numbers between 1 and vocab_size - 1 = "
                              f"{self.vocab_size - 1}, got {cutoffs!r}")
        self.cutoffs = cuts
        self.div_value = check_real(owner, "div_value", div_value, minimum=1.0)
        self.head_bias = check_bool(owner, "head_bias", head_bias)
        self.input_size = self._check_input_size(owner, input_size)
        self.head: nn.Linear | None = None  # created by build, head first (torch's parameter order)
        self.tail: nn.ModuleList | None = None
        if self.input_size is not None:
            self.build((None, self.input_size))

    @property
    def shortlist(self) -> int:
        """The number of classes the head scores directly (:math:`c_1`)."""
        return self.cutoffs[0]

    def _bounds(self) -> list[tuple[int, int]]:
        edges = [*self.cutoffs, self.vocab_size]
        return list(zip(edges[:-1], edges[1:]))

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        features = input_shape[-1]
        self._set_input_size(features)
        kw = {"device": device, "dtype": dtype}
        self.head = nn.Linear(features, self.shortlist + len(self.cutoffs), bias=self.head_bias, **kw)
        tail = []
        for i, (low, high) in enumerate(self._bounds()):
            width = max(1, int(features // self.div_value ** (i + 1)))  # P_i: F -> F / d^(i+1), O_i: -> cluster
            tail.append(nn.Sequential(nn.Linear(features, width, bias=False, **kw),
                                      nn.Linear(width, high - low, bias=False, **kw)))
        self.tail = nn.ModuleList(tail)
        super().build(input_shape)

    def _input_shape_from_state(self, state_dict: dict[str, torch.Tensor], prefix: str) -> tuple[Any, ...] | None:
        weight = state_dict.get(prefix + "head.weight")
        return None if weight is None else (None, weight.shape[1])

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The log-probability of every class, ``(*, vocab_size)``; ``mask`` is accepted and passed on."""
        x = self._checked_features(inputs)
        # log softmax(W_h x + b_h): shortlist words, then one entry per cluster    (*, c_1 + k)
        head = F.log_softmax(self.head(x), dim=-1)
        parts = [head[..., : self.shortlist]]
        for i, tail in enumerate(self.tail):
            # log p(cluster i) + log softmax(O_i P_i x)                            (*, c_{i+1} - c_i)
            parts.append(head[..., self.shortlist + i, None] + F.log_softmax(tail(x), dim=-1))
        return torch.cat(parts, dim=-1)

    def target_log_prob(self, inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """:math:`\\log p(y \\mid x)` of each target alone, ``(*,)``: the head for every row, a cluster for its rows.

        >>> import torch
        >>> layer = AdaptiveSoftmax(50, cutoffs=[5, 20], input_size=4)
        >>> x, y = torch.randn(3, 4), torch.tensor([1, 7, 42])
        >>> torch.allclose(layer.target_log_prob(x, y), layer(x).gather(1, y[:, None])[:, 0])
        True
        """
        owner = type(self).__name__
        x = self._checked_features(inputs)
        y = as_tensor(owner, targets, "targets")
        if y.is_floating_point() or y.dtype == torch.bool or tuple(y.shape) != tuple(x.shape[:-1]):
            raise ShapeError(f"{owner}: targets must be class ids of shape {tuple(x.shape[:-1])} (the inputs' without "
                             f"features), got {y.dtype} {tuple(y.shape)}")
        flat_x, flat_y = x.reshape(-1, x.shape[-1]), y.reshape(-1).to(x.device)
        if flat_y.numel() and (int(flat_y.min()) < 0 or int(flat_y.max()) >= self.vocab_size):
            raise ShapeError(f"{owner}: target ids must lie in [0, {self.vocab_size}), got ids from "
                             f"{int(flat_y.min())} to {int(flat_y.max())}")
        head = F.log_softmax(self.head(flat_x), dim=-1)  # (N, c_1 + k)
        # each target's cluster: 0 for the shortlist, i + 1 for cluster i
        cluster = torch.bucketize(flat_y, torch.tensor(self.cutoffs, device=flat_y.device), right=True)
        column = torch.where(cluster == 0, flat_y, self.shortlist + cluster - 1)
        out = head.gather(1, column[:, None])[:, 0]  # log p(w) or log p(cluster of w)   (N,)
        for i, ((low, _), tail) in enumerate(zip(self._bounds(), self.tail)):
            rows = torch.nonzero(cluster == i + 1)[:, 0]
            if rows.numel():
                # + log softmax(O_i P_i x)_{w - c_i}, on this cluster's rows only
                inner = F.log_softmax(tail(flat_x.index_select(0, rows)), dim=-1)
                out = out.index_add(0, rows, inner.gather(1, (flat_y.index_select(0, rows) - low)[:, None])[:, 0])
        return out.reshape(y.shape)

    def target_loss(self, inputs: torch.Tensor, targets: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The mean of :math:`-\\log p(y \\mid x)` over the targets (the valid steps of ``mask``): the value
        ``SparseCategoricalCrossentropy(from_logits=True)`` gives on this layer's output, without computing it."""
        nll = -self.target_log_prob(inputs, targets)
        if mask is None:
            return nll.mean()
        valid = mask.to(device=nll.device, dtype=nll.dtype)
        return (nll * valid).sum() / valid.sum().clamp_min(1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size, "cutoffs": list(self.cutoffs),
                "div_value": self.div_value, "head_bias": self.head_bias, "input_size": self.input_size}

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, vocab_size={self.vocab_size}, cutoffs={self.cutoffs}, "
                f"div_value={self.div_value:g}")

