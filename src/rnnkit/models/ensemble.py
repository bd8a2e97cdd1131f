r"""Ensemble: several trained models of one input, their outputs averaged into one model.

Models trained from different seeds make different mistakes; the average of their
predictions is more accurate than a typical one of them (on SST-2, three CNN-LSTMs
averaged scored 0.1 to 1.2 points above their members' mean: README, classify).  An :class:`Ensemble` is a
:class:`~rnnkit.models.Model` like any other: ``predict``, ``evaluate``, ``save`` and
:func:`~rnnkit.load_model` treat it as one model, so an app's run folder, ``rnnkit
serve`` and ``rnnkit export`` need nothing of their own for it.

Shapes: ``B`` batch, ``K`` members, ``C`` outputs (classes); every member maps the
same input to outputs of one shape, e.g. ``(B, C)``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from .._validation import check_choice
from ..errors import ConfigError, ShapeError
from ..saving import deserialize, register_serializable, serialize
from .model import Model

__all__ = ["Ensemble", "AVERAGES", "average_outputs"]

#: how :class:`Ensemble` combines its members' outputs
AVERAGES = ("outputs", "probabilities")


def average_outputs(outputs: Sequence[torch.Tensor], average: str) -> torch.Tensor:
    r"""The members' ``outputs`` (each of one shape, e.g. ``(B, C)``) combined as ``average`` says.

    ``'outputs'``: their mean, :math:`\bar y = \frac1K \sum_k y_k` (Keras' ``Average`` layer).

    ``'probabilities'``: each output holds logits :math:`z_k` over the last axis; the result
    is the log of the mean of their softmax probabilities,

    .. math::
        \log \bar p = \log \frac1K \sum_k \mathrm{softmax}(z_k)
                    = \mathrm{logsumexp}_k\, \log\mathrm{softmax}(z_k) - \log K,

    which is itself a vector of logits with :math:`\mathrm{softmax}(\log \bar p) = \bar p`: a loss
    ``from_logits=True``, ``argmax`` and ``softmax`` read it as the averaged probabilities.

    >>> z = [torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, math.log(3.0)]])]  # p = (.5, .5) and (.25, .75)
    >>> average_outputs(z, "probabilities").softmax(-1)
    tensor([[0.3750, 0.6250]])
    """
    stacked = torch.stack(list(outputs))  # (K, B, ..., C)
    if average == "outputs":
        return stacked.mean(dim=0)
    # log p̄ = logsumexp_k log softmax(z_k) − log K
    return torch.logsumexp(torch.log_softmax(stacked.float(), dim=-1), dim=0) - math.log(len(outputs))


@register_serializable
class Ensemble(Model):
    r"""Models of one input whose outputs are averaged: :math:`\bar y = \frac1K \sum_k f_k(x)`.

    Args:
        members: two or more models (or layers) that map the same input to outputs of one
            shape; each keeps its own weights (``members.0.*``, ``members.1.*`` ... in the
            state dict).
        average: ``'outputs'`` (the mean of the outputs, for probabilities or regression
            values) or ``'probabilities'`` (members that output logits: the log of their
            averaged softmax probabilities, see :func:`average_outputs`).
        name: the model's name.

    A mask passed in goes to every member whose ``forward`` takes one; the members'
    masks of their outputs must agree, and the first member's is passed on.

    ``fit`` on an ensemble trains its members jointly, through the loss of the average,
    which makes them co-adapt; ensembles are usually trained member by member (as
    ``rnnkit classify train --ensemble N`` does) and joined afterwards.

    Example:
        >>> from rnnkit.layers import Embedding, LSTM, Dense
        >>> from rnnkit.models import Sequential
        >>> members = [Sequential([Embedding(20, 4, mask_zero=True), LSTM(3), Dense(2)]) for _ in range(3)]
        >>> model = Ensemble(members, average="probabilities")
        >>> x = torch.tensor([[5, 7, 0], [3, 1, 2]])
        >>> mean = torch.stack([m(x).softmax(-1) for m in members]).mean(0)
        >>> torch.allclose(model(x).softmax(-1), mean)
        True
    """

    def __init__(self, members: Iterable[nn.Module], *, average: str = "outputs", name: str | None = None) -> None:
        super().__init__(name=name)
        members = list(members) if not isinstance(members, nn.Module) else [members]
        if len(members) < 2:
            raise ConfigError(f"Ensemble: needs two or more members, got {len(members)}; use the model itself")
        for i, member in enumerate(members):
            if not isinstance(member, nn.Module):
                raise ConfigError(f"Ensemble: member {i} must be a model (a torch.nn.Module), got "
                                  f"{type(member).__name__}")
        self.members = nn.ModuleList(members)
        self.average = check_choice("Ensemble", "average", average, AVERAGES)

    def _outputs(self, x: Any, mask: torch.Tensor | None) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Each member's output on ``x`` and the first member's output mask."""
        outputs, masks = [], []
        for member in self.members:
            if hasattr(member, "forward_with_mask"):
                out, out_mask = member.forward_with_mask(x, mask) if mask is not None else member.forward_with_mask(x)
            else:
                out, out_mask = member(x), None
            outputs.append(out)
            masks.append(out_mask)
            member._summary_shape = (None, *out.shape[1:])
        shapes = {tuple(o.shape) for o in outputs}
        if len(shapes) > 1:
            raise ShapeError(f"Ensemble: the members' outputs differ in shape ({', '.join(map(str, sorted(shapes)))}); "
                             "every member must give outputs of one shape")
        return outputs, masks[0]

    def forward(self, x: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        outputs, _ = self._outputs(x, mask)
        return average_outputs(outputs, self.average)

    def forward_with_mask(self, x: Any, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs, out_mask = self._outputs(x, mask)
        return average_outputs(outputs, self.average), out_mask

    def _summary_layers(self):
        return [(getattr(m, "name", str(i)), m) for i, m in enumerate(self.members)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "members": [serialize(m) for m in self.members], "average": self.average}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Ensemble":
        config = dict(config)
        return cls([deserialize(c) for c in config.pop("members")], **config)
