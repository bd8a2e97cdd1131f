"""See inside training: the gradient's flow back through time, the gates, and their plots.

:func:`gradient_flow` measures :math:`\\|\\partial L/\\partial h_t\\|` (and
:math:`\\|\\partial L/\\partial c_t\\|` for an LSTM) at every step of every recurrent
layer of a model — the vanishing or exploding gradient made visible, on any path
(fused, compiled, reference).  :func:`gate_stats` summarises the gates (mean,
saturation) and the hidden state's size per step.  :func:`plot_gradient_flow` and
:func:`plot_states` draw them.  :class:`GradientMonitor` records gradient norms
and the gradient reach while training (``fit(..., diagnostics=N)``, ``--diagnostics N``
on every app).
"""
from .gates import GateStats, gate_stats
from .gradient_flow import GradientFlow, gradient_flow
from .monitor import GradientMonitor, read_diagnostics
from .plots import plot_gradient_flow, plot_states

__all__ = ["gradient_flow", "GradientFlow", "gate_stats", "GateStats", "plot_gradient_flow", "plot_states",
           "GradientMonitor", "read_diagnostics"]
