r"""Gradient flow through time: :math:`\|\partial L / \partial h_t\|` at every step of every recurrent layer.

A plain RNN forgets because the gradient of the loss with respect to an early
state is a product of one Jacobian per later step,

.. math::
    \frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial y_t}\frac{\partial y_t}{\partial h_t}
      + \frac{\partial L}{\partial h_{t+1}} \frac{\partial h_{t+1}}{\partial h_t},

which shrinks (or grows) geometrically as it flows back.  :func:`gradient_flow`
measures it on the user's own model: the total derivative with respect to each
step's state as the recurrence sees it (through the output at ``t`` *and* through
every later step), averaged over the batch.  The layers' kernels hide their
per-step states, so each recurrent layer is re-run on its reference semantics with
the same weights (:mod:`rnnkit.diagnostics._trace`); the numbers are the same
whichever path — fused, compiled, reference — the layer normally runs, and
:attr:`GradientFlow.deviation` says how far the re-run's output was from the
layer's own (rounding only).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cells import LSTMCell
from ..errors import ConfigError
from ..training import losses as _losses
from ._trace import Trace, measuring, model_inputs, one_trace_per_unit, recurrent_units, traced

__all__ = ["GradientFlow", "gradient_flow", "measure_flow", "compute_loss"]


@dataclass(repr=False)
class GradientFlow:
    r"""What :func:`gradient_flow` measured; arrays are indexed by input time ``t`` (0 = the first step).

    Attributes:
        loss: the loss the gradients are of.
        layers: the recurrent units' names, in module order (``'lstm'``,
            ``'bidirectional/forward'``, ``'bidirectional/backward'``, ``'rnn/cell1'``).
        dh: name -> (T,) :math:`\|\partial L/\partial h_t\|_2`, the mean over the batch's
            examples whose step ``t`` is real; NaN where none is (masked steps).
        dc: name -> (T,) the same for an LSTM's cell state :math:`c_t` (LSTM units only).
        paths: name -> the path the layer ran for this input ('fused', 'compiled', 'reference').
        deviation: name -> the largest absolute difference between the re-run's output
            and the layer's own output on its path (rounding: ~1e-6 in float32).
        backwards: name -> True for a unit that reads the input from the end (the backward
            direction of a Bidirectional, ``go_backwards=True``).
    """

    loss: float
    layers: list[str]
    dh: dict[str, np.ndarray]
    dc: dict[str, np.ndarray]
    paths: dict[str, str | None]
    deviation: dict[str, float]
    backwards: dict[str, bool]

    def _name(self, name: str | None) -> str:
        if name is None:
            if len(self.layers) != 1:
                raise ConfigError(f"GradientFlow.reach: the model has {len(self.layers)} recurrent units; name one of "
                                  f"{', '.join(self.layers)}")
            return self.layers[0]
        if name not in self.dh:
            raise ConfigError(f"GradientFlow: no recurrent unit named {name!r}; the units are {', '.join(self.layers)}")
        return name

    def reach(self, name: str | None = None) -> float:
        r"""The gradient reach of unit ``name``: :math:`\|\partial L/\partial h_1\| / \|\partial L/\partial h_T\|`.

        ``1`` and ``T`` are the first and the last real step *in the order the unit
        reads them* (for a backward unit: input time T, then 1).  Near 0: the
        gradient vanishes before it reaches the start; far above 1: it explodes.
        """
        values = self.dh[self._name(name)]
        real = np.flatnonzero(np.isfinite(values))
        if real.size == 0:
            return math.nan
        first, last = (real[-1], real[0]) if self.backwards[self._name(name)] else (real[0], real[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(values[first] / values[last])

    def steps_back(self, name: str) -> np.ndarray:
        """(T,) how many steps before the unit's last step each step is (0 at the last one it reads)."""
        n = len(self.dh[self._name(name)])
        return np.arange(n) if self.backwards[name] else np.arange(n)[::-1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN as None)."""

        def listed(a: np.ndarray) -> list:
            return [None if not math.isfinite(v) else float(v) for v in a]

        return {
            "loss": self.loss,
            "layers": {name: {"dh": listed(self.dh[name]), **({"dc": listed(self.dc[name])} if name in self.dc else {}),
                              "reach": _json(self.reach(name)), "path": self.paths[name],
                              "deviation": self.deviation[name], "backwards": self.backwards[name]}
                       for name in self.layers},
        }

    def __repr__(self) -> str:
        lines = [f"GradientFlow(loss={self.loss:.4g}"]
        for name in self.layers:
            dh = self.dh[name]
            lines.append(f"  {name} [{self.paths[name]}]: T={len(dh)}, |dL/dh_t| from {_fmt(dh[0])} (t=1) "
                         f"to {_fmt(dh[-1])} (t=T), reach {_fmt(self.reach(name))}"
                         + (f", |dL/dc_t| from {_fmt(self.dc[name][0])} to {_fmt(self.dc[name][-1])}" if name in self.dc else ""))
        return "\n".join(lines) + ")"


def _fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.3g}"


def _json(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def compute_loss(model: nn.Module, x: torch.Tensor, y: Any, loss: Any, owner: str) -> torch.Tensor:
    """The scalar loss of ``model`` on (x, y): the model's mask reaches an rnnkit loss, as in ``fit``."""
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ConfigError(f"{owner}: the model has no compiled loss; compile it (model.compile(loss=...)) or pass "
                              "loss=, a name such as 'mse' or a function (y_true, y_pred) -> scalar")
    elif isinstance(loss, str):
        loss = _losses.get(loss)
    forward_with_mask = getattr(model, "forward_with_mask", None)
    y_pred, mask = forward_with_mask(x) if callable(forward_with_mask) else (model(x), None)
    value = loss(y, y_pred, mask=mask) if isinstance(loss, _losses.Loss) else loss(y, y_pred)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ConfigError(f"{owner}: the loss must return a scalar tensor, got {type(value).__name__}"
                          f"{'' if not isinstance(value, torch.Tensor) else ' of shape ' + str(tuple(value.shape))}")
    return value.reshape(())


def _norms(grads: list[torch.Tensor], mask: torch.Tensor | None) -> np.ndarray:
    """(T,) the batch mean of ‖g_t‖₂ over the examples whose step t is real (NaN where none is), processing order."""
    # ‖∂L/∂s_t‖₂ per example                                                        (T, B)
    norms = torch.stack([g.double().norm(dim=-1) for g in grads])
    if mask is not None:
        norms = torch.where(mask.t(), norms, torch.full_like(norms, math.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step masked in every example: NaN
        return np.nanmean(norms.cpu().numpy(), axis=1)


def gradient_flow(model: nn.Module, x: Any, y: Any, loss: Any = None) -> GradientFlow:
    r"""Measure :math:`\|\partial L/\partial h_t\|` (and :math:`\|\partial L/\partial c_t\|`) at every step of every recurrent layer.

    Args:
        model: any module holding rnnkit recurrent layers (Sequential, a subclassed
            Model, a layer); found by walking its modules.  Masks work as in ``fit``
            (``forward_with_mask``, ``Embedding(mask_zero=True)``).
        x: the inputs (B, T, ...), arrays or tensors.
        y: the targets the loss compares with.
        loss: None (the model's compiled loss), a loss name, or a function
            ``(y_true, y_pred) -> scalar``.

    The model runs in inference mode (no dropout; stateful layers start from
    zeros and keep their carried state); its weights and gradients are untouched.

    Returns:
        a :class:`GradientFlow`.

    Example — a linear RNN with :math:`W_{hh} = aI` decays as :math:`a^{T-t}`:
        >>> import torch
        >>> from rnnkit import Sequential
        >>> from rnnkit.layers import SimpleRNN
        >>> model = Sequential([SimpleRNN(2, activation="linear", use_bias=False, input_size=1, name="rnn")])
        >>> with torch.no_grad():
        ...     _ = model.layers[0].cell.weight_hh.copy_(0.5 * torch.eye(2))
        >>> flow = gradient_flow(model, torch.ones(3, 4, 1), None, loss=lambda y, y_pred: y_pred.sum())
        >>> (flow.dh["rnn"] / flow.dh["rnn"][-1]).round(4).tolist(), flow.reach()
        ([0.125, 0.25, 0.5, 1.0], 0.125)
    """
    return measure_flow(model, x, y, loss)


def measure_flow(model: nn.Module, x: Any, y: Any, loss: Any = None, *, cell_state: bool = True,
                 compare: bool = True, owner: str = "gradient_flow") -> GradientFlow:
    """:func:`gradient_flow`, with the parts a caller may skip: the LSTMs' ``dc`` (``cell_state``) and the
    comparison with each layer's own path (``compare``: ``deviation`` NaN, ``paths`` as last set)."""
    units = recurrent_units(model, owner)
    x, y = model_inputs(model, x, y)
    with measuring(model):
        own = _own_outputs(model, x, units) if compare else {}
        with torch.enable_grad(), traced(model, units, probe=True, gates=False) as traces:
            value = compute_loss(model, x, y, loss, owner)
            if not value.requires_grad:
                raise ConfigError(f"{owner}: the loss does not depend on the model's recurrent layers' states; "
                                  "check that the loss reads the model's output")
            probes = [p for trace in traces for step in trace.probes for p in step]
            # retained for the LSTMs' same-step path to c_t (_cell_state_grads)
            grads = torch.autograd.grad(value, probes, allow_unused=True, retain_graph=cell_state)
            dh, dc, deviation = {}, {}, {}
            _per_unit(traces, units, iter(grads), own, dh, dc if cell_state else None, deviation, owner)
    return GradientFlow(
        loss=float(value.detach()),
        layers=[u.name for u in units],
        dh=dh,
        dc=dc,
        paths={u.name: getattr(u.layer, "last_path", None) for u in units},
        deviation=deviation,
        backwards={u.name: u.backwards for u in units},
    )


def _per_unit(traces: list[Trace], units: list, grads_iter: Any, own: dict, dh: dict, dc: dict | None,
              deviation: dict, owner: str) -> None:
    """Fill ``dh``, ``dc`` (unless None) and ``deviation`` per unit from the probes' gradients (in the traces' order)."""
    for trace in one_trace_per_unit(traces, units, owner):
        # per step, ∂L/∂s_t for each state tensor (zeros where the loss does not reach), regrouped per state
        steps = [[_or_zeros(next(grads_iter), p) for p in step] for step in trace.probes]
        per_state = list(zip(*steps))  # [state][t] -> (B, n)
        name = trace.unit.name
        dh[name] = _input_order(_norms(per_state[0], trace.mask), trace.unit.backwards)
        if dc is not None and isinstance(trace.unit.cell, LSTMCell) and len(per_state) == 2:
            dc[name] = _input_order(_norms(_cell_state_grads(trace, per_state), trace.mask), trace.unit.backwards)
        mine = own.get(id(trace.unit.layer))
        deviation[name] = (float((trace.output - mine).abs().max()) if mine is not None and trace.output is not None
                           and mine.shape == trace.output.shape else math.nan)


def _cell_state_grads(trace: Trace, per_state: list) -> list[torch.Tensor]:
    r"""The total :math:`\partial L/\partial c_t` of an LSTM at each step.

    The probe on :math:`c_t` sees the paths through the later steps only, since the
    step computed :math:`h_t = o_t \odot \phi(c_t)` before it; the same step's path
    is added by autograd (a vector-Jacobian product through the cell's own graph):

    .. math::
        \frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial p^c_t}
            + \Big(\frac{\partial h_t}{\partial c_t}\Big)^{\!T} \frac{\partial L}{\partial h_t}
    """
    grads = []
    for (h, c), g_h, g_c in zip(trace.raw, per_state[0], per_state[1]):
        (local,) = torch.autograd.grad(h, c, grad_outputs=g_h, retain_graph=True, allow_unused=True)
        grads.append(g_c if local is None else g_c + local)
    return grads


def _or_zeros(grad: torch.Tensor | None, probe: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(probe) if grad is None else grad


def _input_order(values: np.ndarray, backwards: bool) -> np.ndarray:
    return values[::-1].copy() if backwards else values


def _own_outputs(model: nn.Module, x: torch.Tensor, units: list) -> dict[int, torch.Tensor]:
    """Each recurrent layer's output on its own path (no gradient), which also sets its ``last_path``."""
    outputs: dict[int, torch.Tensor] = {}
    hooks = []

    def keep(module: nn.Module, args: Any, output: Any) -> None:
        outputs[id(module)] = (output[0] if isinstance(output, (tuple, list)) else output).detach()

    for layer in {id(u.layer): u.layer for u in units}.values():
        hooks.append(layer.register_forward_hook(keep))
    try:
        with torch.no_grad():
            forward_with_mask = getattr(model, "forward_with_mask", None)
            forward_with_mask(x) if callable(forward_with_mask) else model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs
