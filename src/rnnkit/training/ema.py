"""The exponential moving average of a model's weights (Polyak averaging): Keras' ``use_ema``.

An optimizer spec built with ``use_ema=True`` (:mod:`rnnkit.training.optimizers`)
attaches a :class:`WeightAverage` to the ``torch.optim`` optimizer it builds.
After every optimizer step it updates, for each parameter :math:`w`,

.. math::
    \\bar w \\leftarrow \\mu\\, \\bar w + (1 - \\mu)\\, w \\qquad (\\mu = \\text{ema\\_momentum};\\ \\bar w = w
    \\text{ after the first step})

so :math:`\\bar w` averages the last :math:`\\approx 1/(1-\\mu)` steps' weights.
The average is smoother than the weights themselves: on a small dataset, where a
model's validation figure peaks within an epoch or two and then falls as it
memorises, the average holds the peak longer.  What uses it:

* ``ema_overwrite_frequency=N`` copies the average into the weights every N steps;
* ``fit`` copies it into the weights when training ends
  (:meth:`WeightAverage.finalize`, Keras' ``finalize_variable_values``);
* :class:`~rnnkit.training.callbacks.SwapEMAWeights` swaps the average in for
  validation (and, with ``swap_on_epoch=True``, for the callbacks after it at each
  epoch's end, such as ``ModelCheckpoint``).

The average is part of the optimizer's ``state_dict`` (``state[i]["ema"]``, with
the steps counted and whether it is swapped in), so a checkpoint written by
``model.save`` holds it and a resumed run goes on with the same average.

>>> import torch
>>> from rnnkit.optimizers import SGD
>>> w = torch.nn.Parameter(torch.tensor([0.0]))
>>> opt = SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5).build([w])
>>> for _ in range(3):
...     w.grad = torch.tensor([-1.0]); opt.step()     # w: 1, 2, 3
>>> moving_average(opt).average(w)                     # 1, then 0.5*1 + 0.5*2, then 0.5*1.5 + 0.5*3
tensor([2.2500])
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["WeightAverage", "moving_average"]

#: the keys a WeightAverage adds to each entry of its optimizer's ``state_dict()["state"]``
_KEYS = ("ema", "ema_steps", "ema_swapped")


class WeightAverage:
    """The moving average of the parameters of ``optimizer``, updated after each of its steps.

    Args:
        optimizer: a ``torch.optim`` optimizer; every parameter of its groups is averaged.
        momentum: :math:`\\mu` in [0, 1).
        overwrite_frequency: copy the average into the weights every this many
            steps (None: only when :meth:`finalize` is called).

    Attributes:
        steps: optimizer steps averaged so far.
        swapped: whether the weights hold the average now (and the average the weights).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, momentum: float, overwrite_frequency: int | None = None):
        self.optimizer, self.momentum, self.overwrite_frequency = optimizer, momentum, overwrite_frequency
        self.steps, self.swapped = 0, False
        self._average: dict[torch.Tensor, torch.Tensor] = {}
        optimizer.register_step_post_hook(lambda opt, args, kwargs: self.update())
        optimizer.register_state_dict_post_hook(self._state_dict)
        optimizer.register_load_state_dict_pre_hook(self._load_state_dict)

    def _params(self) -> list[torch.Tensor]:
        """Every parameter of the optimizer, in its ``state_dict`` order (its index there)."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def average(self, param: torch.Tensor) -> torch.Tensor:
        """The average of ``param`` (the parameter itself before the first step)."""
        return self._average.get(param, param).detach()

    @torch.no_grad()
    def update(self) -> None:
        """Fold the weights after a step into the average (the optimizer calls it after each step)."""
        if self.swapped:
            raise ConfigError("WeightAverage: the optimizer stepped while the averaged weights were swapped in; "
                              "swap them back first (SwapEMAWeights does so when each epoch begins)")
        params = self._params()
        if self.steps == 0:
            self._average = {p: p.detach().clone() for p in params}
        else:
            # w_bar <- mu w_bar + (1 - mu) w
            torch._foreach_lerp_([self._average[p] for p in params], [p.detach() for p in params], 1.0 - self.momentum)
        self.steps += 1
        if self.overwrite_frequency and self.steps % self.overwrite_frequency == 0:
            for p in params:
                p.copy_(self._average[p])

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the weights and their average in place (twice: back as they were)."""
        for p, avg in self._average.items():
            held = p.detach().clone()
            p.copy_(avg)
            avg.copy_(held)
        self.swapped = not self.swapped

    @torch.no_grad()
    def finalize(self) -> None:
        """Make the weights the average (Keras' ``finalize_variable_values``); both then hold it."""
        if self.swapped:  # the weights hold it already; the average held the raw weights
            for p, avg in self._average.items():
                avg.copy_(p.detach())
            self.swapped = False
        else:
            for p, avg in self._average.items():
                p.copy_(avg)

    # ---------------------------------------------------------------- checkpoints
    def _state_dict(self, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
        for index, p in enumerate(self._params()):
            if p in self._average:
                state["state"][index] = {**state["state"].get(index, {}), "ema": self._average[p],
                                         "ema_steps": self.steps, "ema_swapped": self.swapped}
        return state

    def _load_state_dict(self, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
        params, entries, averages = self._params(), {}, {}
        steps, swapped = 0, False
        for index, entry in state["state"].items():
            kept = {k: v for k, v in entry.items() if k not in _KEYS}
            if "ema" in entry:
                p = params[int(index)]
                averages[p] = entry["ema"].detach().to(device=p.device, dtype=p.dtype).clone()
                steps, swapped = int(entry.get("ema_steps", 1)), bool(entry.get("ema_swapped", False))
            if kept:
                entries[index] = kept
        if averages and len(averages) != len(params):
            raise ConfigError(f"WeightAverage: the saved state averages {len(averages)} of the optimizer's "
                              f"{len(params)} parameters; it was saved from another model")
        self._average, self.steps, self.swapped = averages, steps if averages else 0, swapped and bool(averages)
        return {**state, "state": entries}


def moving_average(optimizer: Any) -> WeightAverage | None:
    """The :class:`WeightAverage` of ``optimizer`` (built with ``use_ema=True``), or None."""
    return getattr(optimizer, "rnnkit_ema", None)
