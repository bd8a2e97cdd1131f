r"""Gate statistics: how open the gates are, how often they saturate, and how big the hidden state is per step.

A saturated sigmoid gate (:math:`\sigma < 0.05` or :math:`> 0.95`) passes almost no
gradient to its input; a forget gate stuck near 0 forgets at every step, one near 1
remembers.  :func:`gate_stats` reads the gates a model's recurrent layers compute
on an input, step by step (the layers re-run on their reference semantics with the
same weights, as :func:`~rnnkit.diagnostics.gradient_flow` does).

Gates (the cells' own names and order):

* LSTM: the sigmoid gates ``i`` (input), ``f`` (forget), ``o`` (output), and the
  tanh candidate ``g``;
* GRU: the sigmoid gates ``r`` (reset), ``z`` (update), and the tanh candidate ``n``;
* SimpleRNN, MinGRU, MinLSTM and cells of your own: no gates, the state only.

The tanh candidates (``g``, ``n``) are reported too, with their own saturation
rule, :math:`|a| > 0.95` (tanh's flat tails).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ._trace import Trace, measuring, model_inputs, one_trace_per_unit, recurrent_units, traced

__all__ = ["GateStats", "gate_stats", "SIGMOID_GATES", "CANDIDATES", "trace_states"]

#: the sigmoid gates, saturated below 0.05 or above 0.95
SIGMOID_GATES = ("i", "f", "o", "r", "z")
#: the tanh candidates, saturated where |a| > 0.95
CANDIDATES = ("g", "n")
#: where a gate counts as saturated
LOW, HIGH = 0.05, 0.95


@dataclass(repr=False)
class GateStats:
    """What :func:`gate_stats` measured; per-step arrays are indexed by input time ``t``.

    Attributes:
        layers: the recurrent units' names (as :class:`~rnnkit.diagnostics.GradientFlow`'s).
        mean: name -> gate -> the mean activation over real steps, examples and units.
        saturated: name -> gate -> the fraction of those values that are saturated
            (sigmoid gates outside [0.05, 0.95], tanh candidates with |a| > 0.95).
        per_step: name -> gate -> (T,) the mean activation at each step.
        h: name -> (T,) the hidden state's mean :math:`|h_t|` at each step (NaN where
            every example's step is masked).
    """

    layers: list[str]
    mean: dict[str, dict[str, float]]
    saturated: dict[str, dict[str, float]]
    per_step: dict[str, dict[str, np.ndarray]]
    h: dict[str, np.ndarray]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN as None)."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {name: {"gates": {g: {"mean": num(self.mean[name][g]), "saturated": num(self.saturated[name][g]),
                                     "per_step": [num(v) for v in self.per_step[name][g]]} for g in self.mean[name]},
                       "h": [num(v) for v in self.h[name]]} for name in self.layers}

    def __repr__(self) -> str:
        lines = ["GateStats("]
        for name in self.layers:
            gates = ", ".join(f"{g} {self.mean[name][g]:.3f} ({100 * self.saturated[name][g]:.0f}% sat.)"
                              for g in self.mean[name]) or "no gates"
            lines.append(f"  {name}: {gates}; mean |h| {np.nanmean(self.h[name]):.3g}")
        return "\n".join(lines) + ")"


def trace_states(model: nn.Module, x: Any, owner: str) -> list[Trace]:
    """One trace per recurrent unit (states and gates of every step) of ``model`` on ``x``, without gradients."""
    units = recurrent_units(model, owner)
    x, _ = model_inputs(model, x)
    with measuring(model), torch.no_grad(), traced(model, units, probe=False, gates=True) as traces:
        forward_with_mask = getattr(model, "forward_with_mask", None)
        forward_with_mask(x) if callable(forward_with_mask) else model(x)
    return one_trace_per_unit(traces, units, owner)


def _valid(trace: Trace, steps: int, batch: int, device: torch.device) -> torch.Tensor:
    """(T, B, 1) bool, processing order: True at real steps."""
    if trace.mask is None:
        return torch.ones(steps, batch, 1, dtype=torch.bool, device=device)
    return trace.mask.t()[:, :, None]


def _per_step_mean(values: torch.Tensor, valid: torch.Tensor, backwards: bool) -> np.ndarray:
    """(T,) the mean of ``values`` (T, B, U) at each step over the real examples and units; input order."""
    weight = valid.to(values.dtype).expand_as(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = ((values * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2))).double().cpu().numpy()
    return out[::-1].copy() if backwards else out


def gate_stats(model: nn.Module, x: Any) -> GateStats:
    r"""Mean activation and saturated fraction of every gate, and the mean :math:`|h_t|` per step, on input ``x``.

    The model runs in inference mode (no dropout); masked steps count nowhere.

    Example — an LSTM whose forget bias is large keeps its forget gate open:
        >>> import torch
        >>> from rnnkit import Sequential
        >>> from rnnkit.layers import LSTM
        >>> model = Sequential([LSTM(3, input_size=2, name="memory")])
        >>> with torch.no_grad():
        ...     model.layers[0].cell.bias_ih[3:6] = 10.0
        >>> stats = gate_stats(model, torch.randn(4, 5, 2))
        >>> sorted(stats.mean["memory"]), stats.saturated["memory"]["f"], stats.h["memory"].shape
        (['f', 'g', 'i', 'o'], 1.0, (5,))
    """
    traces = trace_states(model, x, "gate_stats")
    layers, mean, saturated, per_step, h = [], {}, {}, {}, {}
    for trace in traces:
        name, backwards = trace.unit.name, trace.unit.backwards
        layers.append(name)
        # h_t of every step                                                           (T, B, U)
        states = torch.stack([s[0] for s in trace.states])
        valid = _valid(trace, states.shape[0], states.shape[1], states.device)
        h[name] = _per_step_mean(states.abs(), valid, backwards)
        mean[name], saturated[name], per_step[name] = {}, {}, {}
        for gate in (trace.gates[0] if trace.gates else {}):
            # the gate's activations at every step                                    (T, B, U)
            values = torch.stack([step[gate] for step in trace.gates]).double()
            weight = valid.expand_as(values)
            real = values[weight]
            if gate in CANDIDATES:
                hit = real.abs() > HIGH
            else:
                hit = (real < LOW) | (real > HIGH)
            count = real.numel()
            mean[name][gate] = float(real.mean()) if count else math.nan
            saturated[name][gate] = float(hit.double().mean()) if count else math.nan
            per_step[name][gate] = _per_step_mean(values, valid, backwards)
    return GateStats(layers, mean, saturated, per_step, h)
