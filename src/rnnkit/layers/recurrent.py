"""Recurrent layers: the loop over time for any cell, and SimpleRNN, LSTM, GRU.

:class:`RecurrentLayer` holds what every recurrent layer shares with Keras:
``return_sequences``, ``return_state``, ``go_backwards``, ``stateful``, masks and
``initial_state``.  :class:`RNN` runs one cell (or a stack of cells) over time
in one of three ways, one meaning each:

* ``fused``: PyTorch's fused RNN kernel (oneDNN on the CPU, cuDNN on a GPU), for
  the configurations it computes (:mod:`rnnkit.layers._fused`);
* ``compiled``: rnnkit's loop over time in C (:mod:`rnnkit.layers._compiled`),
  for the built-in cells on the CPU;
* ``reference``: autograd over the cell's own annotated
  :meth:`~rnnkit.cells.RecurrentCell.recurrence`, step by step
  (:func:`reference_loop`).  It runs every configuration, and wherever neither
  kernel applies (a GPU with recurrent dropout, custom activations or cells, no
  C compiler).  The two kernels are optimisations, tested equal to it.

``last_path`` says which one ran and ``last_path_reason`` why it was not a kernel.

Shape glossary: ``B`` batch, ``T`` time steps, ``F`` input features, ``U`` units.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .._base_layer import Layer
from .._validation import as_step_mask, as_tensor, check_bool, check_choice, check_floating, check_ndim
from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..cells._base import State
from ..errors import ConfigError, ShapeError
from ..saving import deserialize, register_serializable, serialize
from ._fused import fused_blocker, mask_segments, run_fused
from ._compiled import compiled_blocker, compiled_preferred, run_compiled
from ._keras_layout import cells_keras_weights, set_cells_keras_weights

__all__ = ["RecurrentLayer", "RNN", "SimpleRNN", "LSTM", "GRU", "make_cell", "reference_loop"]

StateArg = torch.Tensor | Sequence[torch.Tensor] | None


@register_serializable
class RecurrentLayer(Layer):
    """Base of every layer that loops over time (:class:`RNN`, MinGRU, ...).

    Subclasses provide :attr:`state_size` (a flat tuple of state widths) and
    :meth:`_run`; this class validates inputs, resolves the initial state
    (``initial_state=``, the stored state of a stateful layer, or zeros),
    reverses time for ``go_backwards``, and assembles the return value.

    Call: ``layer(x, mask=None, initial_state=None)`` with ``x`` (B, T, F) and
    ``mask`` (B, T) bool, True at real steps.  Masked steps leave the state
    unchanged; the outputs there repeat the last valid output (zeros before the
    first one), or are zeros with ``zero_output_for_mask=True``.

    Returns ``output`` — (B, T, U) if ``return_sequences`` else (B, U), the last
    valid output — followed by the final states if ``return_state``
    (``out, h, c = LSTM(8, return_state=True)(x)``, as in Keras).

    Example — Keras' rule for masked steps:
        >>> import torch
        >>> from rnnkit.layers import SimpleRNN
        >>> layer = SimpleRNN(2, return_sequences=True)
        >>> x = torch.randn(1, 4, 3)
        >>> mask = torch.tensor([[True, True, False, False]])
        >>> out = layer(x, mask=mask)
        >>> torch.equal(out[0, 2], out[0, 1]), torch.equal(out[0, 3], out[0, 1])
        (True, True)
    """

    supports_masking = True

    def __init__(
        self,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        zero_output_for_mask: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.return_sequences = check_bool(owner, "return_sequences", return_sequences)
        self.return_state = check_bool(owner, "return_state", return_state)
        self.go_backwards = check_bool(owner, "go_backwards", go_backwards)
        self.stateful = check_bool(owner, "stateful", stateful)
        self.zero_output_for_mask = check_bool(owner, "zero_output_for_mask", zero_output_for_mask)
        self._states: tuple[torch.Tensor, ...] | None = None
        #: which implementation the last call used: 'fused', 'compiled' or 'reference' (RNN; a stack of
        #: cells on different paths joins them in order, 'fused+compiled'); MinGRU/MinLSTM name their
        #: scan.  None before any call.
        self.last_path: str | None = None
        #: why the last call did not run the fused kernel, or neither kernel (None when it did, or before any call)
        self.last_path_reason: str | None = None

    # ------------------------------------------------------------- for subclasses
    @property
    def state_size(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def units(self) -> int:
        raise NotImplementedError

    def _run(
        self, x: torch.Tensor, mask: torch.Tensor | None, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Return (outputs (B, T, U), last valid output (B, U), final flat state)."""
        raise NotImplementedError

    def _param_like(self) -> torch.Tensor:
        return next(self.parameters())

    # ------------------------------------------------------------- states
    def reset_states(self, states: StateArg = None) -> None:
        """Forget the state a stateful layer carries between calls (or set it to ``states``)."""
        if not self.stateful:
            raise ConfigError(f"{type(self).__name__}: reset_states() is for layers created with stateful=True")
        if states is None:
            self._states = None
            return
        states = self._as_state_tuple(states, "states")
        self._check_states(states, states[0].shape[0], "states")
        self._states = tuple(s.detach() for s in states)

    @property
    def states(self) -> tuple[torch.Tensor, ...] | None:
        """The state a stateful layer will start its next call from (None: zeros)."""
        return self._states

    @contextlib.contextmanager
    def carry_states(self) -> Iterator["RecurrentLayer"]:
        """Inside this context each call starts from the previous call's final state (as ``stateful=True``).

        On exit a layer created without ``stateful`` drops the carried state; a
        stateful layer keeps its own.  ``fit(tbptt_steps=k)`` uses it (see
        :mod:`rnnkit.protocols`).

        >>> import torch
        >>> from rnnkit.layers import GRU
        >>> layer = GRU(3, input_size=2)
        >>> x = torch.randn(4, 6, 2)
        >>> with layer.carry_states():
        ...     first, second = layer(x[:, :3]), layer(x[:, 3:])
        >>> torch.allclose(second, layer(x)), layer.stateful, layer.states
        (True, False, None)
        """
        borrowed = not self.stateful
        if borrowed:
            self.stateful, self._states = True, None
        try:
            yield self
        finally:
            if borrowed:
                self.stateful, self._states = False, None

    def detach_states(self) -> None:
        """Cut the carried state from the autograd graph (truncated backpropagation through time)."""
        if self._states is not None:
            self._states = tuple(s.detach() for s in self._states)

    def _as_state_tuple(self, value: StateArg, what: str) -> tuple[torch.Tensor, ...]:
        if isinstance(value, (torch.Tensor, np.ndarray)):
            value = (value,)
        if not isinstance(value, (list, tuple)):
            raise ShapeError(f"{type(self).__name__}: `{what}` must be a tensor or a list of tensors, got {type(value).__name__}")
        return tuple(as_tensor(type(self).__name__, v, what) for v in value)

    def _check_states(self, states: tuple[torch.Tensor, ...], batch: int, what: str) -> None:
        owner = type(self).__name__
        if len(states) != len(self.state_size):
            raise ShapeError(
                f"{owner}: `{what}` needs {len(self.state_size)} tensor(s) of sizes {self.state_size}, got {len(states)}"
            )
        for i, (s, n) in enumerate(zip(states, self.state_size)):
            if tuple(s.shape) != (batch, n):
                raise ShapeError(f"{owner}: `{what}`[{i}] expected shape ({batch}, {n}), got {tuple(s.shape)}")

    def _start_state(self, batch: int, x: torch.Tensor, initial_state: StateArg) -> tuple[torch.Tensor, ...]:
        if initial_state is not None:
            states = self._as_state_tuple(initial_state, "initial_state")
            self._check_states(states, batch, "initial_state")
            return tuple(s.to(device=x.device, dtype=x.dtype) for s in states)
        if self.stateful and self._states is not None:
            if self._states[0].shape[0] != batch:
                raise ShapeError(
                    f"{type(self).__name__}: stateful layer holds states for batch size {self._states[0].shape[0]}, "
                    f"got a batch of {batch}; keep the batch size fixed or call reset_states() first"
                )
            return self._states
        return tuple(torch.zeros(batch, n, device=x.device, dtype=x.dtype) for n in self.state_size)

    # ------------------------------------------------------------- call
    def _check_mask(self, mask: Any, x: torch.Tensor) -> torch.Tensor | None:
        return None if mask is None else as_step_mask(type(self).__name__, mask, x)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, initial_state: StateArg = None) -> Any:
        owner = type(self).__name__
        x = as_tensor(owner, x)
        check_ndim(owner, x, 3, "(batch, time, features)")
        check_floating(owner, x)
        if x.shape[1] == 0:
            raise ShapeError(f"{owner}: expected at least one time step, got input of shape {tuple(x.shape)}")
        self._maybe_build(x)
        cell = getattr(self, "cell", None)
        if getattr(cell, "input_size", None) is not None and x.shape[-1] != cell.input_size:
            raise ShapeError(
                f"{owner}: built for input_size={cell.input_size}, got inputs with {x.shape[-1]} features "
                f"(shape {tuple(x.shape)})"
            )
        mask = self._check_mask(mask, x)
        state = self._start_state(x.shape[0], x, initial_state)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if mask is not None and bool(mask.all()):
            mask = None  # nothing masked: the plain path is exact and faster
        outputs, last, final = self._run(x, mask, state)
        if self.stateful:
            self._states = tuple(s.detach() for s in final)
        result = outputs if self.return_sequences else last
        return (result, *final) if self.return_state else result

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


def input_dropout(cell, x: torch.Tensor, training: bool) -> torch.Tensor:
    """Drop input features with one mask per sequence, shared by every time step (as Keras)."""
    rate = getattr(cell, "dropout", 0.0)
    if not training or rate <= 0:
        return x
    keep = 1.0 - rate
    mask = torch.empty(x.shape[0], 1, x.shape[2], device=x.device, dtype=x.dtype).bernoulli_(keep).div_(keep)
    return x * mask  # (B, T, F)


def recurrent_dropout_mask(cell, x: torch.Tensor, training: bool) -> torch.Tensor | None:
    """The cell's (B, U) recurrent-dropout mask for this call, shared by every step; None when not dropping."""
    if not training or getattr(cell, "recurrent_dropout", 0.0) <= 0:
        return None
    return cell.recurrent_dropout_mask(x.shape[0], x.device, x.dtype)


def call_randomness(cell, x: torch.Tensor, training: bool):
    """What one call of a layer draws for ``cell``, in this order, on every path.

    Returns ``(x after input dropout, the recurrent-dropout mask (B, U) or None,
    the recurrent weight after DropConnect or None)``.  Nothing is drawn for a
    rate of 0, so such a layer consumes the generator exactly as before the
    option existed.
    """
    x = input_dropout(cell, x, training)
    rmask = recurrent_dropout_mask(cell, x, training)  # (B, U) or None
    drop_connect = getattr(cell, "dropped_recurrent_weight", None)  # a user's cell may have none
    return x, rmask, None if drop_connect is None else drop_connect(training)


def reference_loop(cell, x: torch.Tensor, mask: torch.Tensor | None, state: State, zero_output_for_mask: bool,
                   training: bool):
    """The reference path: autograd over the cell's own step, one time step after another.

    A cell with :meth:`~rnnkit.cells.RecurrentCell.project_inputs` and
    :meth:`~rnnkit.cells.RecurrentCell.recurrence` (every built-in one) has its
    input projection computed for all steps in one product and then runs
    ``recurrence`` — the annotated equations — at each step; any other cell runs
    its ``forward(x_t, state)``.  Keras' rule for masks is applied here.  ``x``
    (B, T, F), ``mask`` (B, T) bool or None; returns (outputs (B, T, U), last
    output (B, U), final state).
    """
    x, rmask, w_hh = call_randomness(cell, x, training)
    # the recurrent weight goes to recurrence() only when dropped, so cells written before it existed still run
    extra = () if w_hh is None else (w_hh,)
    hoisted = hasattr(cell, "project_inputs") and hasattr(cell, "recurrence")
    if hoisted:
        # x_t W_ih^T + b for all steps in one matrix product, time-major for contiguous steps  (T, B, G*U)
        inputs = cell.project_inputs(x.transpose(0, 1))
    else:
        inputs = x.transpose(0, 1)  # (T, B, F)
    masks = None if mask is None else mask.transpose(0, 1)[:, :, None]  # (T, B, 1)
    outputs = []
    prev = None
    for t in range(inputs.shape[0]):
        # (y_t, s_t) = step(x_t, s_{t-1}): the cell's equations
        out, new_state = cell.recurrence(inputs[t], state, rmask, *extra) if hoisted else cell(inputs[t], state)
        if masks is not None:
            m = masks[t]
            # a masked step keeps the previous state ...
            new_state = tuple(torch.where(m, n, s) for n, s in zip(new_state, state))
            # ... and repeats the previous output (zeros before the first valid step), or shows zeros
            prev = torch.where(m, out, torch.zeros_like(out) if prev is None else prev)
            out = torch.where(m, out, torch.zeros_like(out)) if zero_output_for_mask else prev
        else:
            prev = out
        state = tuple(new_state)
        outputs.append(out)
    return torch.stack(outputs, dim=1), prev, state


def compiled_loop(cell, x: torch.Tensor, mask: torch.Tensor | None, state: State, zero_output_for_mask: bool,
                  training: bool):
    """The compiled path: as :func:`reference_loop`, with the loop over time in C (:mod:`._compiled`)."""
    x, rmask, w_hh = call_randomness(cell, x, training)  # drawn as the reference path draws them
    return run_compiled(cell, x, mask, state, zero_output_for_mask, rmask, w_hh)


@register_serializable
class RNN(RecurrentLayer):
    """The loop over time for any cell, or a stack of cells (Keras ``RNN``).

    ``RNN(cell)`` runs ``cell`` at each step; ``RNN([cell_1, cell_2])`` feeds
    each step's output of one cell to the next (stacked cells), which is the
    same as two layers with ``return_sequences=True`` in a row.  Cells may be
    the built-in ones or any module with ``forward(x_t, state) -> (output,
    new_state)``, ``state_size`` (tuple of ints) and ``output_size``, where
    ``state`` is a tuple of (batch, n) tensors.

    The flat state of a stack lists each cell's state in order, so
    ``RNN([LSTMCell(8), GRUCell(4)], return_state=True)`` returns
    ``out, h1, c1, h2``.

    Paths (see :mod:`rnnkit.layers.recurrent`): ``fused`` runs a built-in cell on
    PyTorch's kernel where it computes the configuration (default activations, no
    recurrent dropout while training, GRU ``reset_after=True``, masks whose valid
    steps are contiguous); ``compiled`` runs the built-in cells with any of the
    activations linear, tanh, sigmoid, hard_sigmoid, relu, any mask and recurrent
    dropout on the CPU in float32/float64 (``rnn_loop.c``, where a C compiler
    built it); ``reference`` runs everything else by autograd over the cell's
    ``recurrence`` — user cells, other activations, a GPU with recurrent dropout.

    ``use_fused`` chooses among them:

    * ``'auto'`` (default): the faster exact one for the cell on this CPU — the
      fused kernel for LSTM, the compiled loop for GRU and SimpleRNN, which it
      trains 1.2-3x faster than PyTorch's kernels on AVX-512 and AVX2 alike (the
      rule and its measurements: :func:`rnnkit.layers._compiled.compiled_preferred`);
      where the fused kernel cannot run, the compiled loop, else the reference.
    * ``True``: the fused kernel, or a :class:`~rnnkit.errors.ConfigError` saying
      why it cannot run.
    * ``False``: not PyTorch's kernel — the compiled loop where it runs, else the
      reference.
    * ``'reference'``: the reference path always (no kernel), e.g. to check a
      kernel against it or to step through the equations in a debugger.  A
      per-layer option rather than an environment switch, so it is saved in the
      layer's config and one layer can be compared with another in one process.

    ``last_path`` says what ran: ``'fused'``, ``'compiled'`` or ``'reference'``; a
    stack of cells that ran on different paths joins them in order
    (``'fused+compiled'``).  ``last_path_reason`` says why a cell did not run on
    the fused kernel (and, on the reference path, why not on the compiled one).

    Example:
        >>> import torch
        >>> from rnnkit.cells import LSTMCell, GRUCell
        >>> layer = RNN([LSTMCell(8), GRUCell(4)], return_sequences=True, return_state=True)
        >>> out, h1, c1, h2 = layer(torch.randn(2, 5, 3))
        >>> out.shape, h1.shape, h2.shape
        (torch.Size([2, 5, 4]), torch.Size([2, 8]), torch.Size([2, 4]))
        >>> lstm = RNN(LSTMCell(8))
        >>> lstm(torch.randn(2, 5, 3)).shape, lstm.last_path
        (torch.Size([2, 8]), 'fused')
    """

    def __init__(
        self,
        cell: nn.Module | Sequence[nn.Module],
        *,
        use_fused: bool | str = "auto",
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        zero_output_for_mask: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            zero_output_for_mask=zero_output_for_mask,
            name=name,
        )
        cells = list(cell) if isinstance(cell, (list, tuple)) else [cell]
        if not cells:
            raise ConfigError(f"{type(self).__name__}: expected a cell or a non-empty list of cells, got an empty list")
        for c in cells:
            if not isinstance(c, nn.Module) or not hasattr(c, "state_size"):
                raise ConfigError(
                    f"{type(self).__name__}: expected cells with forward(x_t, state) and state_size, got {type(c).__name__}"
                )
        self.cells = nn.ModuleList(cells)
        self.use_fused = check_choice(type(self).__name__, "use_fused", use_fused, _USE_FUSED)
        if all(getattr(c, "built", True) for c in self.cells):
            self.built = True

    @property
    def cell(self) -> nn.Module:
        """The cell (the first one of a stack)."""
        return self.cells[0]

    @property
    def units(self) -> int:
        return self.cells[-1].output_size

    @property
    def state_size(self) -> tuple[int, ...]:
        return tuple(n for c in self.cells for n in _state_sizes(c))

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        features = input_shape[-1]
        for c in self.cells:
            if not getattr(c, "built", True):
                c.build((None, features), device=device, dtype=dtype)
            features = c.output_size
        super().build(input_shape)

    def _choose_path(self, cell: nn.Module, x: torch.Tensor, mask: torch.Tensor | None, segments) -> tuple[str, str | None]:
        """(path, reason) for ``cell`` on its input ``x`` (B, T, F): 'fused', 'compiled' or 'reference', and why not fused."""
        if self.use_fused == "reference":
            return "reference", "use_fused='reference'"
        not_fused = fused_blocker(cell, self.training)
        if not_fused is None and mask is not None and segments is None:
            not_fused = "a mask whose valid steps are not contiguous"
        if self.use_fused is True:
            if not_fused is not None:
                raise ConfigError(f"{type(self).__name__}: use_fused=True, but the fused kernel cannot run it: {not_fused}")
            return "fused", None
        if self.use_fused is False:
            not_fused = "use_fused=False"
        elif not_fused is None:
            preferred = compiled_preferred(cell, x)
            return ("fused", None) if preferred is None else ("compiled", preferred)
        not_compiled = compiled_blocker(cell, x)
        if not_compiled is None:
            return "compiled", not_fused
        return "reference", "; ".join(dict.fromkeys((not_fused, not_compiled)))

    def _run(self, x, mask, state):
        segments = None
        if mask is not None and self.use_fused in ("auto", True):
            segments = mask_segments(mask)
        paths, reasons = [], []
        offset = 0
        finals: list[torch.Tensor] = []
        seq = x
        for cell in self.cells:
            n = len(_state_sizes(cell))
            cell_state = tuple(state[offset : offset + n])
            offset += n
            path, reason = self._choose_path(cell, seq, mask, segments)
            if path == "fused":
                seq, _, w_hh = call_randomness(cell, seq, self.training)  # no recurrent dropout on this path
                seq, last, cell_final = run_fused(cell, seq, cell_state, segments, self.zero_output_for_mask, self.training,
                                                  need_final=self.stateful or self.return_state, weight_hh=w_hh)
            elif path == "compiled":
                seq, last, cell_final = compiled_loop(cell, seq, mask, cell_state, self.zero_output_for_mask, self.training)
            else:
                seq, last, cell_final = reference_loop(cell, seq, mask, cell_state, self.zero_output_for_mask, self.training)
            paths.append(path)
            reasons.append(reason)
            finals.extend(cell_final)
        self.last_path = "+".join(paths) if len(set(paths)) > 1 else paths[0]
        self.last_path_reason = "; ".join(dict.fromkeys(r for r in reasons if r)) or None
        return seq, last, tuple(finals)

    def get_weights(self) -> list[np.ndarray]:
        """Keras-layout weights: ``[kernel, recurrent_kernel, bias]`` per cell (see :mod:`rnnkit.layers.convert`)."""
        return cells_keras_weights(self.cells)

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load Keras-layout weights, e.g. copied from a Keras model's ``layer.get_weights()``."""
        set_cells_keras_weights(self.cells, weights, type(self).__name__)

    def fast_path_blocker(self) -> str | None:
        """Why the fused kernel cannot run this layer (in its training mode, without a mask); None if it can.

        None does not mean it will: ``use_fused='auto'`` runs GRU and SimpleRNN on the
        compiled loop where that is faster, and says so in ``last_path_reason``.
        """
        for cell in self.cells:
            blocker = fused_blocker(cell, self.training)
            if blocker is not None:
                return blocker
        return f"use_fused={self.use_fused!r}" if self.use_fused in (False, "reference") else None

    def get_config(self) -> dict[str, Any]:
        cells = [serialize(c) for c in self.cells]
        return {**super().get_config(), "cell": cells if len(cells) > 1 else cells[0], "use_fused": self.use_fused}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RNN":
        config = dict(config)
        cell = config.pop("cell")
        cells = [deserialize(c) for c in cell] if isinstance(cell, list) else deserialize(cell)
        return cls(cells, **config)


#: the values of ``use_fused`` (see :class:`RNN`)
_USE_FUSED = ("auto", True, False, "reference")


def _state_sizes(cell: nn.Module) -> tuple[int, ...]:
    size = cell.state_size
    return (int(size),) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)


def make_cell(owner: str, cell_class: type, *args: Any, **kwargs: Any) -> nn.Module:
    """``cell_class(*args, **kwargs)``, with errors naming the layer the user created (LSTM, not LSTMCell)."""
    try:
        return cell_class(*args, **kwargs)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"{cell_class.__name__}:", f"{owner}:", 1)) from None
    except TypeError as exc:
        reason = re.sub(r"^[\w.]+\(\) ", "", str(exc))  # drop "RecurrentCell.__init__() "
        raise ConfigError(f"{owner}: {reason}") from None


_LAYER_ARGS = ("use_fused", "return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask", "name")


class _SingleCellRNN(RNN):
    """An RNN over one built-in cell whose constructor takes the cell's arguments too."""

    _cell_class: type

    def __init__(self, units: int, **kwargs: Any) -> None:
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_ARGS if k in kwargs}
        cell = make_cell(type(self).__name__, self._cell_class, units, **kwargs)
        super().__init__(cell, **layer_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        cell_config = dict(config.pop("cell")["config"])
        cell_config.pop("name", None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RNN":
        return cls(**config)

    def extra_repr(self) -> str:
        flags = [f for f in ("return_sequences", "return_state", "go_backwards", "stateful") if getattr(self, f)]
        return ", ".join(flags)


_COMMON_ARGS_DOC = """
    Args:
        units: size of the hidden state and of the output.
        activation, recurrent_activation: names (see :mod:`rnnkit.activations`) or callables.
        use_bias, kernel_initializer ('glorot_uniform'), recurrent_initializer
            ('orthogonal'), bias_initializer ('zeros'): as in Keras.
        dropout: fraction of input features dropped while training (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state dropped while training
            (one mask per sequence; the compiled or reference path).
        recurrent_weight_dropout: fraction of the entries of ``weight_hh`` dropped
            while training (DropConnect, AWD-LSTM's weight drop): one mask per call,
            shared by every step and sequence, kept entries scaled by 1/(1-p); every
            path runs it, the fused kernel included (see
            :meth:`rnnkit.cells.RecurrentCell.dropped_recurrent_weight`).
        return_sequences: return the output at every step (B, T, U) instead of the last (B, U).
        return_state: also return the final state(s).
        go_backwards: process the sequence in reverse and return the reversed outputs.
        stateful: carry the final state of each call into the next (detached);
            :meth:`reset_states` forgets it.
        zero_output_for_mask: zeros at masked steps instead of the last valid output.
        input_size: features per step; inferred at the first call when None.
        use_fused: 'auto' (the fastest exact path), True (require PyTorch's fused
            kernel), False (not PyTorch's kernel: compiled, else reference) or
            'reference' (autograd over the cell's ``recurrence``); see :class:`RNN`.

    Call: ``layer(x, mask=None, initial_state=None)``; see :class:`RecurrentLayer`.
"""


@register_serializable
class SimpleRNN(_SingleCellRNN):
    __doc__ = (
        r"""Fully connected recurrent layer (Elman network) over a sequence.

    .. math::
        h_t = \phi(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    The cell is :class:`rnnkit.cells.SimpleRNNCell`; ``layer.cell.weight_ih`` etc.
    follow ``torch.nn.RNN``'s layout.  Fast path: ``activation`` 'tanh' or 'relu'.
    """
        + _COMMON_ARGS_DOC
        + """
    Example:
        >>> import torch
        >>> layer = SimpleRNN(3)
        >>> layer(torch.randn(4, 10, 2)).shape
        torch.Size([4, 3])
    """
    )
    _cell_class = SimpleRNNCell


@register_serializable
class LSTM(_SingleCellRNN):
    __doc__ = (
        r"""Long short-term memory layer over a sequence.

    .. math::
        \begin{aligned}
        i_t &= \sigma(x_t W_{ii}^T + b_{ii} + h_{t-1} W_{hi}^T + b_{hi}), \quad
        f_t = \sigma(x_t W_{if}^T + b_{if} + h_{t-1} W_{hf}^T + b_{hf}) \\
        g_t &= \phi(x_t W_{ig}^T + b_{ig} + h_{t-1} W_{hg}^T + b_{hg}), \quad
        o_t = \sigma(x_t W_{io}^T + b_{io} + h_{t-1} W_{ho}^T + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \phi(c_t)
        \end{aligned}

    The cell is :class:`rnnkit.cells.LSTMCell` (gates stacked i, f, g, o as in
    ``torch.nn.LSTM``).  ``unit_forget_bias=True`` starts the forget bias at 1.
    """
        + _COMMON_ARGS_DOC
        + """
    Example:
        >>> import torch
        >>> layer = LSTM(8, return_sequences=True, return_state=True)
        >>> out, h, c = layer(torch.randn(2, 6, 3))
        >>> out.shape, h.shape, c.shape, layer.last_path
        (torch.Size([2, 6, 8]), torch.Size([2, 8]), torch.Size([2, 8]), 'fused')
    """
    )
    _cell_class = LSTMCell


@register_serializable
class GRU(_SingleCellRNN):
    __doc__ = (
        r"""Gated recurrent unit layer over a sequence.

    .. math::
        \begin{aligned}
        r_t &= \sigma(x_t W_{ir}^T + b_{ir} + h_{t-1} W_{hr}^T + b_{hr}), \quad
        z_t = \sigma(x_t W_{iz}^T + b_{iz} + h_{t-1} W_{hz}^T + b_{hz}) \\
        n_t &= \phi(x_t W_{in}^T + b_{in} + r_t \odot (h_{t-1} W_{hn}^T + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    ``reset_after=True`` (default, as PyTorch and cuDNN) is shown; with
    ``reset_after=False`` the reset gate multiplies :math:`h_{t-1}` before the
    product (compiled or reference path).  The cell is :class:`rnnkit.cells.GRUCell` (gates
    stacked r, z, n as in ``torch.nn.GRU``).
    """
        + _COMMON_ARGS_DOC
        + """        reset_after: where the reset gate applies (see above).

    Example:
        >>> import torch
        >>> layer = GRU(4, reset_after=False, use_fused="reference")
        >>> layer(torch.randn(2, 5, 3)).shape, layer.last_path, layer.last_path_reason
        (torch.Size([2, 4]), 'reference', "use_fused='reference'")
    """
    )
    _cell_class = GRUCell
