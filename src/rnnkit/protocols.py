"""Protocols: what the training loop asks of layers, written down so neither imports the other.

:class:`CarriesState` is the state-carrying protocol of recurrent layers.  The
trainer (``fit(tbptt_steps=k)``) and the stateful apps find the layers that take
part by duck typing (:func:`state_carriers`), so ``rnnkit.training`` and
``rnnkit.models`` import no layer class, and a layer of your own takes part by
defining the three methods.

- ``carry_states()``: a context manager; inside it, the final state of one call is
  the initial state of the next (what ``stateful=True`` does).  On exit the layer is
  as it was: a layer that was not stateful drops the carried state, a stateful one
  keeps its own.  A layer that cannot carry state raises
  :class:`~rnnkit.errors.ConfigError` saying why (``Bidirectional``: its backward
  direction needs the whole sequence).
- ``detach_states()``: cut the carried state from the autograd graph (truncated
  backpropagation through time between chunks).
- ``reset_states(states=None)``: forget the carried state (or set it).

A module that implements the protocol speaks for its children: :func:`state_carriers`
does not look inside it.

:class:`ScoresTargets` is the protocol of an output layer of log-probabilities that
can score the targets alone (:class:`~rnnkit.layers.AdaptiveSoftmax`):
``target_loss(inputs, targets, mask=None)`` is the mean of :math:`-\\log p(y)` over
the targets, the value ``SparseCategoricalCrossentropy(from_logits=True)`` gives on
the layer's output, computed without the whole output.  ``Sequential.fit`` and
``evaluate`` call it instead of the layer when that is the loss and no metric needs
the outputs.

>>> import torch
>>> from rnnkit.layers import Dense, GRU
>>> model = torch.nn.Sequential(GRU(4, return_sequences=True, input_size=2), Dense(1, input_size=4))
>>> [type(m).__name__ for m in state_carriers(model)]
['GRU']
>>> isinstance(model[0], CarriesState), isinstance(model[1], CarriesState)
(True, False)
"""
from __future__ import annotations

from typing import Any, ContextManager, Iterator, Protocol, runtime_checkable

from torch import nn

__all__ = ["CarriesState", "state_carriers", "ScoresTargets"]


@runtime_checkable
class CarriesState(Protocol):
    """A layer whose recurrent state can be carried from one call to the next (see the module docstring)."""

    def carry_states(self) -> ContextManager[Any]:
        """Inside the context, each call starts from the previous call's final state."""
        ...

    def detach_states(self) -> None:
        """Cut the carried state from the autograd graph."""
        ...

    def reset_states(self, states: Any = None) -> None:
        """Forget the carried state (or set it to ``states``)."""
        ...


def state_carriers(module: nn.Module) -> Iterator[nn.Module]:
    """The outermost modules in ``module`` (itself included) that implement :class:`CarriesState`."""
    if isinstance(module, CarriesState):
        yield module
        return
    for child in module.children():
        yield from state_carriers(child)


@runtime_checkable
class ScoresTargets(Protocol):
    """An output layer whose loss against class ids can be computed without its whole output (see above)."""

    def target_loss(self, inputs: Any, targets: Any, mask: Any = None) -> Any:
        """The mean of -log p(target) over the targets (the valid steps of ``mask``)."""
        ...
