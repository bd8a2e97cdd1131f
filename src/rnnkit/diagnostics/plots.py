"""The diagnostics drawn as PNG files: the gradient's decay back through time, and the states and gates over time.

As :mod:`rnnkit.plots`: matplotlib imported inside the functions, figures built on
the Agg canvas (:class:`matplotlib.figure.Figure`, never pyplot), files written
atomically (:func:`rnnkit.plots.save_figure`).
"""
from __future__ import annotations

import math
import os
import pathlib
from typing import Any

import numpy as np
from torch import nn

from ..errors import ConfigError
from ..plots import save_figure
from .gates import trace_states
from .gradient_flow import GradientFlow

__all__ = ["plot_gradient_flow", "plot_states"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_gradient_flow(result: GradientFlow, path: str | os.PathLike, title: str | None = None) -> pathlib.Path:
    r"""Draw :math:`\|\partial L/\partial h_t\|` against the steps back from the loss, log scale, one line per unit.

    The x axis counts the steps back from each unit's last step (0: the step
    nearest the loss; for a backward unit, input time 1); an LSTM's
    :math:`\|\partial L/\partial c_t\|` is the dashed line of the same colour.
    Returns the path written.

    >>> import os, tempfile, torch
    >>> from rnnkit import Sequential
    >>> from rnnkit.layers import GRU
    >>> from rnnkit.diagnostics import gradient_flow
    >>> model = Sequential([GRU(4, input_size=2)])
    >>> flow = gradient_flow(model, torch.randn(3, 6, 2), torch.zeros(3, 4), loss="mse")
    >>> path = plot_gradient_flow(flow, os.path.join(tempfile.mkdtemp(), "flow.png"))
    >>> os.path.getsize(path) > 0
    True
    """
    if not isinstance(result, GradientFlow):
        raise ConfigError(f"plot_gradient_flow: expected the result of gradient_flow(model, x, y), got {type(result).__name__}")
    fig = _figure(7, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    colors = [f"C{k % 10}" for k in range(len(result.layers))]
    for name, color in zip(result.layers, colors):
        back = result.steps_back(name)
        order = np.argsort(back)
        ax.plot(back[order], _positive(result.dh[name][order]), color=color, label=f"{name}  |dL/dh|")
        if name in result.dc:
            ax.plot(back[order], _positive(result.dc[name][order]), color=color, linestyle="--", label=f"{name}  |dL/dc|")
    ax.set_yscale("log")
    ax.set_xlabel("steps back from the loss (T - t)")
    ax.set_ylabel("gradient norm, mean over the batch")
    ax.set_title(title or f"Gradient flow through time (loss {result.loss:.4g})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _positive(values: np.ndarray) -> np.ndarray:
    """Zeros (no gradient at all) as NaN, which a log axis leaves out instead of failing."""
    out = np.asarray(values, dtype=float).copy()
    out[~(out > 0)] = math.nan
    return out


def plot_states(model: nn.Module, x: Any, path: str | os.PathLike, *, example: int = 0,
                title: str | None = None) -> pathlib.Path:
    """Heat maps over time of the hidden state and of every gate, for one input.

    One row per recurrent unit and quantity (``h``, then its gates: LSTM i, f, g, o;
    GRU r, z, n), units on the vertical axis, input time on the horizontal.  ``x``
    is a batch, of which example ``example`` is drawn, or one sequence: a float
    (T, F) array or a 1-D array of token ids.  Returns the path written.

    >>> import os, tempfile, torch
    >>> from rnnkit import Sequential
    >>> from rnnkit.layers import LSTM
    >>> model = Sequential([LSTM(4, input_size=2)])
    >>> path = plot_states(model, torch.randn(6, 2), os.path.join(tempfile.mkdtemp(), "gates.png"))
    >>> os.path.getsize(path) > 0
    True
    """
    import torch

    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if x.dim() == 1 or (x.dim() == 2 and x.is_floating_point()):
        x = x[None]  # one sequence
    if not 0 <= example < x.shape[0]:
        raise ConfigError(f"plot_states: `example` must be from 0 to {x.shape[0] - 1}, got {example}")
    traces = trace_states(model, x[example : example + 1], "plot_states")
    rows = []
    for trace in traces:
        # each quantity as (T, U), in input order
        quantities = {"h": np.stack([s[0][0].double().cpu().numpy() for s in trace.states])}
        for gate in (trace.gates[0] if trace.gates else {}):
            quantities[gate] = np.stack([step[gate][0].double().cpu().numpy() for step in trace.gates])
        for label, values in quantities.items():
            rows.append((trace.unit.name, label, values[::-1] if trace.unit.backwards else values))
    fig = _figure(8, 1.0 + 1.2 * len(rows))
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, label, values) in zip(axes, rows):
        signed = label in ("h", "g", "n")  # tanh's range; the sigmoid gates lie in [0, 1]
        image = ax.imshow(values.T, aspect="auto", interpolation="nearest", cmap="RdBu_r" if signed else "viridis",
                          vmin=-1 if signed else 0, vmax=1)
        ax.set_ylabel(f"{name}\n{label}", fontsize=8)
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    axes[0].set_title(title or "Hidden state and gates over time (units x steps)")
    axes[-1].set_xlabel("time step t")
    return save_figure(fig, path)
