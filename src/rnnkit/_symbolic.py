"""Symbolic tensors of the functional API: what ``Input`` returns, and what a layer returns when called on one.

A :class:`SymbolicTensor` stands for a batch that does not exist yet: it knows
its shape (``None`` where any size goes: the batch, often the time axis), its
dtype, whether a mask comes with it, and the :class:`Node` (a layer called on
some symbolic tensors) that makes it.  :class:`~rnnkit.models.Functional`
collects the nodes between its inputs and outputs and runs them in order.

How a call on symbolic tensors works (:func:`call_layer`): every symbolic
tensor carries one or two small *example batches* of its shape (two when some
axis other than the batch is ``None``, with different sizes there); the layer
runs on them, in eval mode without gradients, which builds its lazy weights
(as a Keras layer is built when called on an ``Input``), and the axes whose
sizes differ between the two examples are the ``None`` axes of the result.
The masks follow the rule :class:`~rnnkit.models.Sequential` follows (see
:func:`run_node`), so a functional model masks exactly as the same stack in a
Sequential does.

This module is below the layers (``rnnkit._base_layer`` hands it the calls) and
knows no layer class.

>>> import torch
>>> t = SymbolicTensor((None, 5, 3), torch.float32)
>>> t
<SymbolicTensor shape=(None, 5, 3) dtype=float32>
>>> t.ndim
3
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator

import torch

from .errors import ConfigError

__all__ = ["SymbolicTensor", "Node", "in_use", "contains_symbolic", "call_layer", "run_node", "map_structure",
           "flatten", "example_batches", "PROBE_BATCH", "PROBE_SIZES"]

#: True once a symbolic tensor was made in this process: until then a layer call checks nothing more
in_use = False

#: the example batches' rows, and the sizes they give a ``None`` axis (two very different sizes,
#: so that a convolution's or a pooling's output size differs between them too)
PROBE_BATCH = 2
PROBE_SIZES = (16, 37)


class SymbolicTensor:
    """A placeholder for a batch: shape (``None`` = any size), dtype, mask flag, and the node that makes it."""

    __slots__ = ("shape", "dtype", "node", "index", "_values", "_masks")

    def __init__(self, shape: tuple, dtype: torch.dtype, node: "Node | None" = None, index: int = 0,
                 values: tuple = (), masks: tuple | None = None) -> None:
        global in_use
        in_use = True
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self._values = tuple(values)  # the example batches
        self._masks = masks  # their masks (None: no mask comes with this tensor)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def has_mask(self) -> bool:
        """Whether a mask comes with this tensor (an ``Embedding(mask_zero=True)`` or ``Masking`` upstream)."""
        return self._masks is not None

    @property
    def name(self) -> str | None:
        """The name of the layer that makes this tensor (the ``Input``'s name for an input)."""
        return None if self.node is None else getattr(self.node.layer, "name", None)

    def __repr__(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        where = f" from {self.name!r}" if self.node is not None else ""
        masked = ", masked" if self.has_mask else ""
        return f"<SymbolicTensor shape={self.shape} dtype={dtype}{masked}{where}>"

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", str(func))
        raise ConfigError(
            f"{name} was given a symbolic tensor (the output of Input or of a layer called on one); the functional "
            "API builds a model from rnnkit layers only: wrap the computation in a Layer, or call it on real tensors"
        )

    def __iter__(self) -> Iterator:
        raise ConfigError(f"{self!r} cannot be iterated or unpacked; a layer returning several tensors returns a tuple")


class Node:
    """One call of ``layer`` on symbolic tensors: its arguments (symbolic tensors in place) and its outputs."""

    __slots__ = ("layer", "args", "kwargs", "outputs", "inputs", "structure")

    def __init__(self, layer: Any, args: tuple, kwargs: dict) -> None:
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.inputs = [t for t in flatten((args, kwargs)) if isinstance(t, SymbolicTensor)]
        self.outputs: list[SymbolicTensor] = []
        self.structure: Any = None  # the call's return value with each tensor replaced by its output index


def flatten(structure: Any) -> list:
    """The leaves of nested tuples, lists and dicts (dict values in their order)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """``structure`` with every leaf replaced by ``fn(leaf)`` (tuples stay tuples, lists lists, dicts dicts)."""
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def contains_symbolic(args: tuple, kwargs: dict) -> bool:
    """Whether any argument (nested in lists, tuples or dicts) is a :class:`SymbolicTensor`."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, SymbolicTensor):
            return True
        if isinstance(value, (list, tuple, dict)) and any(isinstance(leaf, SymbolicTensor) for leaf in flatten(value)):
            return True
    return False


_ACCEPTS_MASK: dict[type, bool] = {}


def accepts_mask(layer: Any) -> bool:
    """Whether ``layer.forward`` takes a ``mask`` argument."""
    cls = type(layer)
    if cls not in _ACCEPTS_MASK:
        try:
            _ACCEPTS_MASK[cls] = "mask" in inspect.signature(layer.forward).parameters
        except (TypeError, ValueError):
            _ACCEPTS_MASK[cls] = False
    return _ACCEPTS_MASK[cls]


def run_node(layer: Any, args: Any, kwargs: dict, lookup: Callable[[SymbolicTensor], tuple]) -> tuple[Any, list, list]:
    """Run one call of ``layer`` with each symbolic tensor replaced by ``lookup(t) = (value, mask)``.

    The mask rule, Sequential's: unless ``mask=`` is given, a layer whose
    ``forward`` takes a mask gets the mask of its first argument (a list of
    masks for a list of tensors, as merge layers take them); the first output's
    mask is ``layer.compute_mask(first argument, that mask)``, the other outputs
    (states) have none.  Returns (what the layer returned, its tensors as a flat
    list, their masks).
    """
    def value(t: Any) -> Any:
        return lookup(t)[0] if isinstance(t, SymbolicTensor) else t

    values = map_structure(value, args)
    call_kwargs = map_structure(value, kwargs)
    first = args[0] if args else None
    mask: Any = call_kwargs.get("mask")
    if "mask" not in kwargs:
        if isinstance(first, SymbolicTensor):
            mask = lookup(first)[1]
        elif isinstance(first, (list, tuple)) and first and all(isinstance(t, SymbolicTensor) for t in first):
            masks = [lookup(t)[1] for t in first]
            mask = masks if any(m is not None for m in masks) else None
        if mask is not None and accepts_mask(layer):
            call_kwargs["mask"] = mask
    out = layer(*values, **call_kwargs)
    outputs = flatten(out)
    out_mask = layer.compute_mask(values[0], mask) if values and hasattr(layer, "compute_mask") else None
    return out, outputs, [out_mask] + [None] * (len(outputs) - 1)


def example_batches(shape: tuple, dtype: torch.dtype, device: Any = None) -> tuple[torch.Tensor, ...]:
    """One example batch of ``shape`` (two, of different sizes, when an axis past the batch is ``None``).

    Floating examples hold ones, integer ones zeros (a valid token id everywhere).
    """
    fill = 1 if (dtype.is_floating_point or dtype.is_complex) else 0
    free = any(d is None for d in shape[1:])
    sizes = PROBE_SIZES if free else PROBE_SIZES[:1]
    out = []
    for k, size in enumerate(sizes):
        batch = shape[0] if shape and shape[0] is not None else PROBE_BATCH
        dims = [batch] + [size if d is None else d for d in shape[1:]]
        out.append(torch.full(dims, fill, dtype=dtype, device=device))
    return tuple(out)


def _layer_device(layer: Any) -> Any:
    param = next(iter(layer.parameters()), None) if hasattr(layer, "parameters") else None
    return None if param is None else param.device


def _reset_stateful(layer: Any) -> None:
    for module in (layer.modules() if hasattr(layer, "modules") else []):
        if getattr(module, "stateful", False) is True and hasattr(module, "reset_states"):
            module.reset_states()


def call_layer(layer: Any, args: tuple, kwargs: dict) -> Any:
    """``layer(*args, **kwargs)`` on symbolic tensors: records the node, returns its symbolic outputs.

    The outputs come back in the structure the layer returns (a tensor, or a
    tuple such as ``(output, h, c)``).  The layer runs on the inputs' example
    batches in eval mode (dropout off) without gradients; a stateful layer's
    state is reset after each.
    """
    node = Node(layer, args, kwargs)
    probes = max(len(t._values) for t in node.inputs)
    device = _layer_device(layer)
    modes = [(m, m.training) for m in layer.modules()] if hasattr(layer, "modules") else []
    results = []
    try:
        if hasattr(layer, "eval"):
            layer.eval()
        with torch.no_grad():
            for k in range(probes):
                def lookup(t: SymbolicTensor, k: int = k) -> tuple:
                    i = min(k, len(t._values) - 1)
                    value, mask = t._values[i], None if t._masks is None else t._masks[i]
                    if device is not None:
                        value, mask = value.to(device), None if mask is None else mask.to(device)
                    return value, mask
                results.append(run_node(layer, args, kwargs, lookup))
                _reset_stateful(layer)  # the examples leave no state behind
    finally:
        for module, mode in modes:
            module.training = mode
    structure, outputs, masks = results[0]
    batch_fixed = bool(node.inputs) and all(t.shape and t.shape[0] is not None for t in node.inputs)
    for index, (value, mask) in enumerate(zip(outputs, masks)):
        if not isinstance(value, torch.Tensor):
            raise ConfigError(f"{type(layer).__name__} returned {type(value).__name__} on a symbolic tensor; "
                              "the functional API needs layers that return tensors")
        shape: list = list(value.shape)
        for other in results[1:]:
            shape = [None if (d is None or d != o) else d for d, o in zip(shape, other[1][index].shape)]
        if shape and not batch_fixed:
            shape[0] = None
        values = tuple(r[1][index].detach().cpu() for r in results)
        mask_values = None if mask is None else tuple(r[2][index].detach().cpu() for r in results)
        node.outputs.append(SymbolicTensor(tuple(shape), value.dtype, node, index, values, mask_values))
    counter = iter(range(len(node.outputs)))
    node.structure = map_structure(lambda leaf: next(counter), structure)
    return map_structure(lambda i: node.outputs[i], node.structure)
