"""Bags of n-grams: ``HashedNGrams`` (token ids -> the distinct n-grams of each text, hashed to bins) and
``NaiveBayesBag`` (a linear layer over such a bag, its features weighted by naive-Bayes log-count ratios).

Together they are NBSVM's logistic-regression form (Wang & Manning 2012, "Baselines
and Bigrams"), the strong linear baseline of sentiment classification; its errors
differ from a recurrent model's, so the two averaged can beat both (Mesnil et al.
2014; on IMDB by a little, README).  Shapes: ``B`` batch, ``T`` time steps (token ids, 0 =
padding), ``F = T * ngrams`` feature slots, ``K`` bins, ``C`` classes.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .._base_layer import Layer
from .._validation import as_tensor, check_ndim, check_positive_int, check_real
from ..errors import ConfigError, ShapeError
from ..saving import register_serializable

__all__ = ["HashedNGrams", "NaiveBayesBag"]

#: the hash's modulus (a prime below 2^31, so that h * _MULTIPLIER + id stays below 2^62: no int64 overflow)
_PRIME = 2_147_483_629
#: the hash's multiplier (below 2^31)
_MULTIPLIER = 1_000_003


@register_serializable
class HashedNGrams(Layer):
    r"""The distinct n-grams of each row of token ids, each hashed to one of ``num_bins`` bins.

    For every order :math:`n = 1 \ldots` ``ngrams`` and every window of :math:`n`
    real tokens :math:`x_t \ldots x_{t+n-1}` (id 0 is padding; a window holding one
    is skipped) the polynomial hash

    .. math::
        h_0 = n, \qquad h_{i+1} = (h_i \cdot 1000003 + x_{t+i}) \bmod p, \qquad
        \mathrm{bin} = 1 + h_n \bmod (K - 1)

    with :math:`p = 2147483629` (prime), picks the n-gram's bin.  Starting from
    :math:`n` keeps a unigram apart from the bigrams that end with it.  Each bin
    appears once per row (a bag: the text holds the n-gram or not, NBSVM's
    binarized features); the rest of the row is 0, which no bin uses.

    Shape:
        * input: ``(B, T)`` integer token ids, 0 = padding.
        * output: ``(B, T * ngrams)`` int64 bins in ``[0, num_bins)``, 0 = none;
          each row's bins distinct, in ascending order after its zeros.

    Args:
        ngrams: the longest n-gram (1: words alone).
        num_bins: bins, bin 0 included (it stands for no n-gram).
        name: layer name.

    Example:
        >>> import torch
        >>> bins = HashedNGrams(2, num_bins=1000)(torch.tensor([[5, 6, 5, 6, 0]]))
        >>> int((bins > 0).sum())   # 5, 6 and the bigrams (5 6), (6 5): (5 6) counts once
        4
    """

    def __init__(self, ngrams: int = 2, num_bins: int = 2 ** 20, *, name: str | None = None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.ngrams = check_positive_int(owner, "ngrams", ngrams)
        self.num_bins = check_positive_int(owner, "num_bins", num_bins, minimum=2)
        self.built = True

    def forward(self, inputs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The bins of each row's distinct n-grams (see the class notes); an incoming mask is ignored."""
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, 2, "(batch, time) token ids")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ShapeError(f"{owner}: expected integer token ids, got dtype {x.dtype}; convert them with ids.long()")
        x = x.long()
        if x.numel() and int(x.min()) < 0:
            raise ShapeError(f"{owner}: token ids must be >= 0 (0 = padding), found {int(x.min())}")
        steps = x.shape[1]
        padded = F.pad(x, (0, self.ngrams - 1))                         # (B, T + n - 1): windows past the end
        slots = []
        for n in range(1, self.ngrams + 1):
            h = torch.full_like(x, n)                                   # h_0 = n, one per window start t
            whole = torch.ones_like(x, dtype=torch.bool)                # the window holds no padding
            for i in range(n):
                token = padded[:, i:i + steps]                          # x_{t+i} for every t (B, T)
                # h_{i+1} = (h_i * 1000003 + x_{t+i}) mod p
                h = torch.remainder(h * _MULTIPLIER + token, _PRIME)
                whole = whole & (token != 0)
            # bin = 1 + h_n mod (K - 1); 0 where the window is not whole
            slots.append(torch.where(whole, 1 + torch.remainder(h, self.num_bins - 1), torch.zeros_like(h)))
        out = torch.cat(slots, dim=1).sort(dim=1).values                # (B, n T): zeros first, equal bins adjacent
        repeated = torch.cat([torch.zeros_like(out[:, :1], dtype=torch.bool), out[:, 1:] == out[:, :-1]], dim=1)
        return out.masked_fill(repeated, 0)                             # each bin once per row

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ngrams": self.ngrams, "num_bins": self.num_bins}

    def extra_repr(self) -> str:
        return f"ngrams={self.ngrams}, num_bins={self.num_bins}"


@register_serializable
class NaiveBayesBag(Layer):
    r"""A linear layer over a bag of feature bins, each weight scaled by the bin's naive-Bayes log-count ratio.

    For a row's set of bins :math:`S_b` (the output of :class:`HashedNGrams`; bin 0
    is no feature):

    .. math::
        z_{b,c} = \sum_{k \in S_b} r_{k,c}\, w_{k,c} + \mathrm{bias}_c

    which is ``Dense`` applied to the multi-hot vector of :math:`S_b` scaled by
    :math:`r`, computed without building that vector.  :meth:`adapt` sets the
    ratios from labelled training bags, one class against the rest (for two
    classes the two columns are opposite):

    .. math::
        r_{k,c} = \log \frac{(\alpha + P_{k,c}) / \sum_j (\alpha + P_{j,c})}
                            {(\alpha + Q_{k,c}) / \sum_j (\alpha + Q_{j,c})}

    with :math:`P_{k,c}` the training rows of class :math:`c` holding bin :math:`k`
    and :math:`Q_{k,c}` the rows of the other classes holding it; a bin held by
    fewer than ``min_count`` rows gets :math:`r = 0` (a feature seen once is more
    often noise than evidence).  Before
    :meth:`adapt`, :math:`r = 1`: plain logistic regression on the bag.  ``ratios``
    is a buffer, saved with the weights; ``weight`` starts at 0 (every class
    equally likely), as logistic regression does.

    Shape:
        * input: ``(B, F)`` int64 bins in ``[0, num_bins)``, 0 = none (a bin given
          twice in a row counts twice).
        * output: ``(B, units)`` logits.

    Args:
        num_bins: bins, as the :class:`HashedNGrams` before it.
        units: outputs (classes).
        alpha: the counts' smoothing :math:`\alpha` (> 0).
        min_count: the training rows that must hold a bin for it to count.
        name: layer name.

    Example:
        >>> import torch
        >>> bag = NaiveBayesBag(8, 2)
        >>> bag.adapt((torch.tensor([[1, 2], [1, 3]]), torch.tensor([0, 1])))
        >>> bag.ratios[1].tolist()   # bin 1 is in both classes' rows: no evidence
        [0.0, 0.0]
    """

    def __init__(self, num_bins: int, units: int, alpha: float = 1.0, min_count: int = 1, *,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.num_bins = check_positive_int(owner, "num_bins", num_bins, minimum=2)
        self.units = check_positive_int(owner, "units", units)
        self.alpha = check_real(owner, "alpha", alpha, minimum=0.0)
        if self.alpha <= 0:
            raise ConfigError(f"{owner}: `alpha` must be > 0 (the counts' smoothing), got {alpha}")
        self.min_count = check_positive_int(owner, "min_count", min_count)
        self.weight = nn.Parameter(torch.zeros(self.num_bins, self.units))   # (K, C)
        self.bias = nn.Parameter(torch.zeros(self.units))                     # (C,)
        self.register_buffer("ratios", torch.ones(self.num_bins, self.units))  # r (K, C)
        self.built = True

    def _bins(self, inputs: Any) -> torch.Tensor:
        owner = type(self).__name__
        x = as_tensor(owner, inputs)
        check_ndim(owner, x, 2, "(batch, features) bins")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ShapeError(f"{owner}: expected integer bins (a HashedNGrams output), got dtype {x.dtype}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.num_bins):
            raise ShapeError(f"{owner}: bins must lie in [0, num_bins={self.num_bins}), found {int(x.min())} .. "
                             f"{int(x.max())}; give the HashedNGrams before it the same num_bins")
        return x.long()

    def forward(self, inputs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The logits of each row's bag (see the class notes)."""
        x = self._bins(inputs)                                          # (B, F)
        # z_{b,c} = sum_{k in S_b} r_{k,c} w_{k,c} + bias_c   (bin 0 adds nothing); only the rows of x are read
        return (self.ratios[x] * self.weight[x] * (x != 0).unsqueeze(-1)).sum(dim=1) + self.bias

    @torch.no_grad()
    def adapt(self, data: Any) -> None:
        """Set ``ratios`` from labelled bags: a tuple ``(bins (B, F), labels (B,))``, or an iterable of such
        batches (each row's bins distinct, as :class:`HashedNGrams` gives them; labels are class ids)."""
        owner = type(self).__name__
        batches: Iterable[Any] = [data] if isinstance(data, tuple) else data
        holding = torch.zeros(self.num_bins, self.units, dtype=torch.float64, device=self.weight.device)  # P (K, C)
        rows = 0
        for batch in batches:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ConfigError(f"{owner}.adapt: expected (bins, labels) batches, got {type(batch).__name__}")
            x, y = self._bins(batch[0]), as_tensor(owner, batch[1], "labels").long().reshape(-1)
            if y.shape[0] != x.shape[0]:
                raise ShapeError(f"{owner}.adapt: {x.shape[0]} rows of bins but {y.shape[0]} labels")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.units):
                raise ShapeError(f"{owner}.adapt: labels must lie in [0, units={self.units}), found "
                                 f"{int(y.min())} .. {int(y.max())}")
            classes = y.unsqueeze(1).expand_as(x)                       # (B, F): the row's class per slot
            holding.index_put_((x.reshape(-1), classes.reshape(-1)), torch.ones(x.numel(), dtype=torch.float64,
                               device=x.device), accumulate=True)
            rows += y.numel()
        if not rows:
            raise ConfigError(f"{owner}.adapt: no labelled rows were given")
        holding[0] = 0                                                   # bin 0 is no feature
        others = holding.sum(dim=1, keepdim=True) - holding              # Q (K, C)
        p, q = self.alpha + holding, self.alpha + others
        p[0], q[0] = 1.0, 1.0                                            # r_0 = log 1 / 1 (unused)
        ratios = torch.log(p / p[1:].sum(0)) - torch.log(q / q[1:].sum(0))
        ratios[0] = 0.0
        ratios[holding.sum(dim=1) < self.min_count] = 0.0                # too rare to tell
        self.ratios.copy_(ratios.to(self.ratios.dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_bins": self.num_bins, "units": self.units, "alpha": self.alpha,
                "min_count": self.min_count}

    def extra_repr(self) -> str:
        return f"num_bins={self.num_bins}, units={self.units}, alpha={self.alpha}, min_count={self.min_count}"
