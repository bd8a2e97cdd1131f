"""Re-running a model's recurrent layers step by step, keeping every step's state: the core of the diagnostics.

A recurrent layer on a kernel (``fused``, ``compiled``) never shows its per-step
states to autograd.  :func:`traced` re-runs the model with every recurrent layer
temporarily on the reference semantics — :func:`rnnkit.layers.recurrent.reference_loop`
over the cell's own ``recurrence``, with the *same* weights — and records, at each
step ``t`` of each layer (and direction, and cell of a stack):

* the state ``s_t`` after the step, as the next step and the output read it.  With
  ``probe=True`` a zero tensor ``p_t`` requiring grad is added to it,
  ``s_t' = s_t + p_t``, so that :math:`\\partial L / \\partial p_t` is the total
  derivative :math:`\\partial L / \\partial s_t`: through the output at ``t`` *and*
  through every later step;
* the gates the step computed (LSTM i, f, g, o; GRU r, z, n), captured as the
  cell's own activation functions return them — no second copy of the equations;
* the mask (processing order) and the layer's output, to compare with the layer's
  own output on its usual path.

Nothing is changed for good: the layers' ``_run`` is swapped on the instances
inside the context and restored on exit; normal training never goes through here.

Shape glossary: ``B`` batch, ``T`` steps, ``U`` units.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..cells import GRUCell, LSTMCell
from ..errors import ConfigError
from ..layers.bidirectional import Bidirectional
from ..layers.recurrent import RecurrentLayer, input_dropout, reference_loop

__all__ = ["Unit", "Trace", "recurrent_units", "traced", "model_inputs", "first_examples", "take", "state_count",
           "one_trace_per_unit", "measuring"]

#: the gates each built-in cell's ``recurrence`` computes, in the order it calls its two activations
#: (recurrent_activation σ, activation φ); None: a call that is not a gate (LSTM's φ(c_t))
_GATE_CALLS: dict[type, tuple[tuple[str, ...], tuple[str | None, ...]]] = {
    LSTMCell: (("i", "f", "o"), ("g", None)),
    GRUCell: (("r", "z"), ("n",)),
}


@dataclass
class Unit:
    """One recurrent unit of a model: a cell of a recurrent layer, in one direction, under one name."""

    name: str  # 'lstm', 'bidirectional/forward', 'rnn/cell1' ...
    layer: RecurrentLayer
    cell: nn.Module
    index: int  # the cell's place in the layer's stack
    backwards: bool  # the layer reads its input from the last step to the first


@dataclass
class Trace:
    """What one call of a :class:`Unit` recorded (lists over processing steps)."""

    unit: Unit
    states: list[tuple[torch.Tensor, ...]] = field(default_factory=list)  # per step: s_t', each (B, n)
    probes: list[tuple[torch.Tensor, ...]] = field(default_factory=list)  # per step: p_t, each (B, n)
    raw: list[tuple[torch.Tensor, ...]] = field(default_factory=list)  # per step: s_t before the probe (probe=True)
    gates: list[dict[str, torch.Tensor]] = field(default_factory=list)  # per step: name -> (B, U), detached
    mask: torch.Tensor | None = None  # (B, T) bool, processing order; None: every step real
    output: torch.Tensor | None = None  # the layer's re-run output (first element), detached


def state_count(cell: nn.Module) -> int:
    """How many state tensors the cell carries (1 for h, 2 for LSTM's (h, c))."""
    size = cell.state_size
    return 1 if isinstance(size, int) else len(tuple(size))


def _traceable(layer: nn.Module) -> bool:
    return isinstance(layer, RecurrentLayer) and (hasattr(layer, "cells") or hasattr(getattr(layer, "cell", None), "recurrence"))


def recurrent_units(model: nn.Module, owner: str = "diagnostics") -> list[Unit]:
    """Every recurrent unit of ``model`` in module order (Bidirectional: forward, then backward).

    Names are the layers' own (``lstm``, ``gru_1``); a Bidirectional adds
    ``/forward`` and ``/backward``, a stack of cells in one layer ``/cell0``,
    ``/cell1`` ...  Raises a one-line ConfigError when there is none.
    """
    units: list[Unit] = []
    inside: set[int] = set()
    for path, module in model.named_modules():
        if id(module) in inside:
            continue
        if isinstance(module, Bidirectional):
            base = getattr(module, "name", None) or path or "bidirectional"
            for direction, layer in (("forward", module.forward_layer), ("backward", module.backward_layer)):
                inside.add(id(layer))
                units.extend(_layer_units(layer, f"{base}/{direction}"))
        elif _traceable(module):
            units.extend(_layer_units(module, getattr(module, "name", None) or path or type(module).__name__.lower()))
    if not units:
        raise ConfigError(f"{owner}: the model has no recurrent layer (SimpleRNN, LSTM, GRU, RNN, MinGRU, "
                          "Bidirectional ...); the diagnostics measure the flow through time of those")
    seen: dict[str, int] = {}
    for unit in units:  # two layers given the same name: the second becomes name#2
        seen[unit.name] = seen.get(unit.name, 0) + 1
        if seen[unit.name] > 1:
            unit.name = f"{unit.name}#{seen[unit.name]}"
    return units


def _layer_units(layer: RecurrentLayer, name: str) -> list[Unit]:
    cells = list(layer.cells) if hasattr(layer, "cells") else [layer.cell]
    if len(cells) == 1:
        return [Unit(name, layer, cells[0], 0, layer.go_backwards)]
    return [Unit(f"{name}/cell{k}", layer, c, k, layer.go_backwards) for k, c in enumerate(cells)]


class _TracedCell:
    """Stands in for a cell inside :func:`reference_loop`: runs the cell's step, then records it.

    ``project_inputs`` and every other attribute are the cell's own (``__getattr__``),
    so the loop hoists the input projection exactly as for the cell itself.
    """

    def __init__(self, cell: nn.Module, trace: Trace, probe: bool, gate_log: list | None) -> None:
        self._cell, self._trace, self._probe, self._gate_log = cell, trace, probe, gate_log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cell, name)

    def recurrence(self, xp_t: torch.Tensor, state: tuple, recurrent_mask: torch.Tensor | None = None,
                   *weight_hh: torch.Tensor):
        # weight_hh: the recurrent weight after DropConnect, passed only when the cell drops some
        return self._record(*self._cell.recurrence(xp_t, state, recurrent_mask, *weight_hh))

    def __call__(self, x_t: torch.Tensor, state: tuple):
        return self._record(*self._cell(x_t, state))

    def _record(self, out: torch.Tensor, new_state: tuple):
        new_state = tuple(new_state)
        if self._probe:
            # s_t' = s_t + p_t with p_t = 0: ∂L/∂p_t is the total derivative ∂L/∂s_t      each (B, n)
            probes = tuple(torch.zeros_like(s, requires_grad=True) for s in new_state)
            shown = tuple(s + p for s, p in zip(new_state, probes))
            # the built-in cells output h_t itself: the output then reads the probed h_t' too
            out = shown[0] if out is new_state[0] else out
            self._trace.raw.append(new_state)
            new_state = shown
            self._trace.probes.append(probes)
        self._trace.states.append(tuple(s.detach() for s in new_state))
        if self._gate_log is not None:
            self._trace.gates.append(dict(self._gate_log))
            self._gate_log.clear()
        return out, new_state


class _GateRecorder:
    """Wraps one activation of a cell: returns what it returns, logging each call's value under its gate's name."""

    def __init__(self, function: Callable, names: tuple[str | None, ...], log: list) -> None:
        self.function, self.names, self.log, self.calls = function, names, log, 0

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        value = self.function(z)
        # the k-th call of a step is gate names[k] (None: not a gate)
        name = self.names[self.calls % len(self.names)]
        self.calls += 1
        if name is not None:
            self.log.append((name, value.detach()))
        return value


def _gate_recorders(cell: nn.Module, log: list) -> list[tuple[str, _GateRecorder]]:
    """(attribute, recorder) for the cell's two activations, or [] for a cell whose gates are not known.

    The built-in LSTM and GRU cells (with their own ``recurrence``) call σ and φ in a
    fixed order each step (:data:`_GATE_CALLS`); a subclass with its own
    ``recurrence``, or activations that are modules, get no gate statistics.
    """
    kind = next((k for k in _GATE_CALLS if isinstance(cell, k) and type(cell).recurrence is k.recurrence), None)
    if kind is None or not all(a in cell.__dict__ for a in ("recurrent_activation", "activation")):
        return []
    return [(attribute, _GateRecorder(cell.__dict__[attribute], names, log))
            for attribute, names in zip(("recurrent_activation", "activation"), _GATE_CALLS[kind])]


def _traced_run(layer: RecurrentLayer, units: list[Unit], traces: list[Trace], probe: bool, gates: bool):
    """A replacement for ``layer._run``: the reference loop over each cell, recording every step."""

    def run(x: torch.Tensor, mask: torch.Tensor | None, state: tuple):
        cells = list(layer.cells) if hasattr(layer, "cells") else [layer.cell]
        if not hasattr(layer, "cells"):  # MinGRU/MinLSTM drop input features at the layer
            x = input_dropout(layer, x, layer.training)
        offset, finals, seq, last = 0, [], x, None
        for k, cell in enumerate(cells):
            n = state_count(cell)
            trace = Trace(units[k], mask=mask)
            traces.append(trace)
            log: list | None = [] if gates else None
            swapped = _gate_recorders(cell, log) if gates else []
            saved = [(a, cell.__dict__[a]) for a, _ in swapped]
            try:
                for attribute, wrapper in swapped:
                    cell.__dict__[attribute] = wrapper
                seq, last, cell_final = reference_loop(_TracedCell(cell, trace, probe, log), seq, mask,
                                                       tuple(state[offset:offset + n]), layer.zero_output_for_mask,
                                                       layer.training)
            finally:
                for attribute, value in saved:
                    cell.__dict__[attribute] = value
            offset += n
            finals.extend(cell_final)
        return seq, last, tuple(finals)

    return run


@contextlib.contextmanager
def traced(model: nn.Module, units: list[Unit], *, probe: bool, gates: bool) -> Iterator[list[Trace]]:
    """Within it, every call of ``model`` re-runs the layers of ``units`` step by step and records into the list.

    Also yields each trace's layer output (for comparison with the layer's own
    path).  On exit the layers run as before.
    """
    traces: list[Trace] = []
    layers: dict[int, tuple[RecurrentLayer, list[Unit]]] = {}
    for unit in units:
        layers.setdefault(id(unit.layer), (unit.layer, []))[1].append(unit)
    hooks = []
    try:
        for layer, layer_units in layers.values():
            layer._run = _traced_run(layer, layer_units, traces, probe, gates)
            hooks.append(layer.register_forward_hook(_keep_output(layer, traces)))
        yield traces
    finally:
        for hook in hooks:
            hook.remove()
        for layer, _ in layers.values():
            layer.__dict__.pop("_run", None)


def _keep_output(layer: RecurrentLayer, traces: list[Trace]) -> Callable:
    def hook(module: nn.Module, args: Any, output: Any) -> None:
        first = output[0] if isinstance(output, (tuple, list)) else output
        for trace in reversed(traces):  # the traces this call just made (one per cell; the last cell's output)
            if trace.unit.layer is not layer or trace.output is not None:
                break
            trace.output = first.detach()

    return hook


@contextlib.contextmanager
def measuring(model: nn.Module) -> Iterator[None]:
    """The model in inference mode (no dropout), stateful layers from zeros; both restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    carried = []
    for m in model.modules():
        if isinstance(m, RecurrentLayer) and m.stateful:
            carried.append((m, m.states))
            m.reset_states()
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for m, states in carried:
            m.reset_states() if states is None else m.reset_states(states)


def model_inputs(model: nn.Module, x: Any, y: Any = None) -> tuple[Any, Any]:
    """``x`` (and ``y``) as tensors on the model's device; floating data in the weights' dtype.

    A tuple, list or dict of arrays (a model with several inputs) is converted item by item.
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32

    def convert(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, dict):
            return {k: convert(item) for k, item in v.items()}
        if isinstance(v, (tuple, list)) and v and all(isinstance(item, (torch.Tensor, np.ndarray)) for item in v):
            return type(v)(convert(item) for item in v)
        t = torch.as_tensor(v, device=device)
        return t.to(dtype) if t.is_floating_point() else t

    return convert(x), convert(y)


def take(v: Any, n: int) -> Any:
    """The first ``n`` examples of a batch: of a tensor or array, or of each one in a tuple, list or dict of them."""
    if v is None:
        return None
    if isinstance(v, dict):
        return {k: take(item, n) for k, item in v.items()}
    if isinstance(v, (tuple, list)) and v and all(isinstance(item, (torch.Tensor, np.ndarray)) for item in v):
        return type(v)(take(item, n) for item in v)
    return v[:n]


def first_examples(data: Any, n: int) -> tuple[Any, Any]:
    """The first ``n`` examples (x, y) of ``(x, y)`` arrays or of an iterable of ``(x, y)`` batches."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        return take(x, n), take(y, n)
    batch = next(iter(data), None)
    if batch is None:
        raise ConfigError("diagnostics: the data yielded no batch to measure on; pass arrays (x, y) or non-empty batches")
    return take(batch[0], n), take(batch[1] if len(batch) > 1 else None, n)


def one_trace_per_unit(traces: list[Trace], units: list[Unit], owner: str) -> list[Trace]:
    """``traces`` unchanged, after checking that each unit ran exactly once (else a one-line error with the fix)."""
    calls: dict[int, int] = {}
    for trace in traces:
        calls[id(trace.unit)] = calls.get(id(trace.unit), 0) + 1
    for unit in units:
        if calls.get(id(unit), 0) != 1:
            raise ConfigError(f"{owner}: the layer {unit.name!r} ran {calls.get(id(unit), 0)} times in one forward pass; "
                              "the diagnostics follow a layer that reads its whole sequence once per forward")
    return traces
