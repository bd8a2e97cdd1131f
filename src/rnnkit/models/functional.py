"""Functional models: layers called on ``Input`` tensors, from inputs to outputs (Keras' functional API).

``Model(inputs, outputs)`` (or :class:`Functional` itself) takes the symbolic
tensors of one or several ``Input`` and the symbolic outputs of layers called
on them, and becomes a model that runs those calls in order on real batches:
several inputs, several outputs, shared layers, ``return_state`` outputs fed to
``initial_state=``, branches joined by ``Concatenate``/``Add``.  Masks flow as
in :class:`~rnnkit.models.Sequential`: an ``Embedding(mask_zero=True)`` or
``Masking`` starts one, each layer's ``compute_mask`` passes it on, and a layer
whose ``forward`` takes ``mask`` gets the mask of its first input.
``compile`` / ``fit`` / ``evaluate`` / ``predict`` / ``summary`` / ``save`` are
:class:`~rnnkit.models.Model`'s; the inputs of a multi-input model are passed as
a list (``model.fit([tokens, numbers], y)``) or a dict keyed by input name.

The config has the shape of Keras 3's: each layer with its ``inbound_nodes``
(the calls, tensors written as ``{"class_name": "__keras_tensor__", "config":
{"keras_history": [layer name, node index, output index]}}``), and
``input_layers`` / ``output_layers``.  The layers are kept in the order Keras
gives a functional model's layers (by depth from the outputs, then in the order
a search from the outputs meets them), so ``model.layers[i]`` is the same layer
in both.
"""
from __future__ import annotations

import collections
from typing import Any

import torch
from torch import nn

from .. import _symbolic
from .._symbolic import SymbolicTensor
from ..errors import ConfigError, ShapeError
from ..layers.input_layer import InputLayer
from ..saving import deserialize, register_serializable, serialize
from ..training import losses as _losses
from .model import Model

__all__ = ["Functional"]

_TENSOR = "__keras_tensor__"


def _normalize(value: Any, what: str) -> tuple[Any, list[SymbolicTensor]]:
    """(the structure: 'single', 'list', 'tuple' or a list of dict keys, the tensors in order)."""
    if isinstance(value, SymbolicTensor):
        return "single", [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(t, SymbolicTensor) for t in value):
        return ("list" if isinstance(value, list) else "tuple"), list(value)
    if isinstance(value, dict) and value and all(isinstance(t, SymbolicTensor) for t in value.values()):
        return list(value.keys()), list(value.values())
    raise ConfigError(
        f"Model: `{what}` must be a symbolic tensor (from Input or a layer called on one), or a non-empty list or "
        f"dict of them, got {type(value).__name__}"
    )


def _restructure(structure: Any, items: list) -> Any:
    if structure == "single":
        return items[0]
    if structure == "list":
        return list(items)
    if structure == "tuple":
        return tuple(items)
    return dict(zip(structure, items))


def keras_order(outputs: list[SymbolicTensor]) -> tuple[list, list]:
    """The nodes from inputs to outputs, and the layers in Keras' order (``keras.src.ops.function.map_graph``).

    Keras orders a functional model's operations by depth (the longest path to
    an output), deepest first, and within a depth by the order a depth-first
    search from the outputs first meets them; the weights in a ``.keras`` file
    are addressed by that order, so it is kept here too.
    """
    finished: set[int] = set()
    in_progress: set[int] = set()
    ordered: list = []  # nodes from inputs to outputs
    layer_index: dict[int, int] = {}
    layers_by_id: dict[int, Any] = {}

    def visit(tensor: SymbolicTensor) -> None:
        node = tensor.node
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ConfigError(f"Model: the graph has a cycle through layer {node.layer.name!r}")
        layer = node.layer
        if id(layer) not in layer_index:
            layer_index[id(layer)] = len(layer_index)
            layers_by_id[id(layer)] = layer
        in_progress.add(id(node))
        for parent in node.inputs:
            visit(parent)
        in_progress.discard(id(node))
        finished.add(id(node))
        ordered.append(node)

    for out in outputs:
        visit(out)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    in_graph = {id(n) for n in ordered}
    for node in reversed(ordered):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.inputs:
            if id(parent.node) in in_graph:
                node_depth[id(parent.node)] = max(depth + 1, node_depth.get(id(parent.node), 0))
    by_depth: dict[int, list] = collections.defaultdict(list)
    for lid, depth in layer_depth.items():
        by_depth[depth].append(lid)
    layers = []
    for depth in sorted(by_depth, reverse=True):
        layers.extend(layers_by_id[lid] for lid in sorted(by_depth[depth], key=lambda i: layer_index[i]))
    return ordered, layers


class _OutputsLoss(_losses.Loss):
    """The loss of a model with several outputs: the weighted sum of one loss per output (Keras' rule)."""

    def __init__(self, losses: list, weights: list[float], names: list[str], name: str = "loss") -> None:
        super().__init__(name=name)
        self.losses, self.weights, self.names = losses, weights, names

    def __call__(self, y_true: Any, y_pred: Any, mask: Any = None) -> torch.Tensor:
        if isinstance(y_true, dict):
            missing = [k for k in self.names if k not in y_true]
            if missing:
                raise ShapeError(f"the targets dict has no {missing[0]!r}; its keys must be the output names {self.names}")
            y_true = [y_true[k] for k in self.names]
        if not isinstance(y_true, (list, tuple)) or len(y_true) != len(self.losses):
            raise ShapeError(f"the model has {len(self.losses)} outputs; pass y as a list of {len(self.losses)} "
                             f"targets, got {type(y_true).__name__}")
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(self.losses)
        total = None
        for loss, weight, yt, yp, m in zip(self.losses, self.weights, y_true, y_pred, masks):
            value = loss(yt, yp, mask=m) * weight
            total = value if total is None else total + value
        return total


@register_serializable
class Functional(Model):
    """A model built from ``Input`` tensors and the layers called on them (Keras' functional ``Model``).

    ``rnnkit.models.Model(inputs, outputs)`` returns one, as ``keras.Model`` does.

    Args:
        inputs: the symbolic tensor of an ``Input``, or a list (or dict) of them.
        outputs: a symbolic tensor computed from the inputs by rnnkit layers, or a list (or dict) of them.
        name: the model's name.

    Call it with a tensor (one input), a list or tuple of tensors in the order
    of ``inputs``, or a dict keyed by the inputs' names; it returns its outputs
    in the structure given (a tensor, a list, ...).

    Example:
        >>> import torch
        >>> from rnnkit.layers import Input, Embedding, LSTM, Dense, Concatenate
        >>> from rnnkit.models import Model
        >>> tokens, extra = Input(shape=(None,), dtype="int64"), Input(shape=(3,))
        >>> h = LSTM(8)(Embedding(50, 4, mask_zero=True)(tokens))
        >>> out = Dense(1, activation="sigmoid")(Concatenate()([h, extra]))
        >>> model = Model([tokens, extra], out)
        >>> type(model).__name__, [type(l).__name__ for l in model.layers]
        ('Functional', ['InputLayer', 'Embedding', 'LSTM', 'InputLayer', 'Concatenate', 'Dense'])
        >>> model([torch.tensor([[4, 2, 0]]), torch.ones(1, 3)]).shape
        torch.Size([1, 1])
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", device="cpu")
        >>> history = model.fit([torch.randint(1, 50, (8, 5)), torch.randn(8, 3)], torch.ones(8, 1), epochs=1, verbose=0)
    """

    def __init__(self, inputs: Any, outputs: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._input_structure, input_list = _normalize(inputs, "inputs")
        self._output_structure, output_list = _normalize(outputs, "outputs")
        for t in input_list:
            if not isinstance(t.node.layer, InputLayer):
                raise ConfigError(f"Model: the inputs must come straight from Input(...); {t!r} is the output of "
                                  f"layer {t.name!r}")
        nodes, layers = keras_order(output_list)
        given = {id(t) for t in input_list}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and id(node.outputs[0]) not in given:
                raise ConfigError(
                    f"Model: the outputs depend on Input {node.layer.name!r}, which is not among `inputs`; add it to inputs"
                )
        for t in input_list:  # inputs no output depends on are kept, first (as Keras keeps them)
            if t.node.layer not in layers:
                layers.insert(0, t.node.layer)
        names = collections.Counter(getattr(layer, "name", None) for layer in layers)
        twice = sorted(n for n, c in names.items() if c > 1)
        if twice:
            raise ConfigError(f"Model: the layer name {twice[0]!r} is used by {names[twice[0]]} layers; give each layer "
                              "its own name (a config refers to layers by name)")
        for layer in layers:
            if not isinstance(layer, nn.Module):
                raise ConfigError(f"Model: {type(layer).__name__} is not a layer (a torch.nn.Module)")
        self.layers = nn.ModuleList(layers)
        self._inputs = input_list
        self._outputs = output_list
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        slots: dict[int, int] = {id(t): i for i, t in enumerate(input_list)}
        for node in self._nodes:
            for t in node.outputs:
                slots[id(t)] = len(slots)
        self._slots = slots
        self.built = True

    # ------------------------------------------------------------------ properties
    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The symbolic input tensors, in order."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The symbolic output tensors, in order."""
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        return [t.node.layer.name for t in self._inputs]

    @property
    def output_names(self) -> list[str]:
        if isinstance(self._output_structure, list):
            return list(self._output_structure)
        return [t.node.layer.name for t in self._outputs]

    def get_layer(self, name: str | None = None, index: int | None = None) -> nn.Module:
        """The layer called ``name`` (or at ``index`` of :attr:`layers`), as Keras' ``model.get_layer``."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if getattr(layer, "name", None) == name:
                return layer
        raise ConfigError(f"{type(self).__name__}.get_layer: no layer named {name!r}; the layers are "
                          f"{', '.join(getattr(l, 'name', '?') for l in self.layers)}")

    def _input_masks(self) -> dict[tuple[str, int], bool]:
        """For each call (layer name, call index): whether a mask reaches the layer with its first input."""
        calls: dict[int, int] = collections.defaultdict(int)
        out = {}
        for node in self._nodes:
            k = calls[id(node.layer)]
            calls[id(node.layer)] += 1
            first = node.args[0] if node.args else None
            if "mask" in node.kwargs:
                has = node.kwargs["mask"] is not None
            elif isinstance(first, SymbolicTensor):
                has = first.has_mask
            else:
                has = isinstance(first, (list, tuple)) and any(getattr(t, "has_mask", False) for t in first)
            out[(node.layer.name, k)] = bool(has) and _symbolic.accepts_mask(node.layer)
        return out

    # ------------------------------------------------------------------ running
    def _input_list(self, args: tuple) -> list:
        n = len(self._inputs)
        if len(args) == 1:
            x = args[0]
            if isinstance(x, dict):
                missing = [k for k in self.input_names if k not in x]
                if missing:
                    raise ShapeError(f"{type(self).__name__}: the inputs dict has no {missing[0]!r}; its keys must be "
                                     f"the input names {self.input_names}")
                return [x[k] for k in self.input_names]
            if isinstance(x, (list, tuple)) and (n > 1 or len(x) == 1):
                args = tuple(x)  # a list of the inputs (Keras' model([a, b]), and model([x]) for one input)
        if len(args) != n:
            raise ShapeError(f"{type(self).__name__}: expected {n} input{'s' if n > 1 else ''} "
                             f"({', '.join(self.input_names)}), got {len(args)}")
        return list(args)

    def _run(self, args: tuple) -> tuple[list, list]:
        xs = self._input_list(args)
        values: list = [None] * len(self._slots)
        masks: list = [None] * len(self._slots)
        for t, x in zip(self._inputs, xs):
            values[self._slots[id(t)]] = t.node.layer(x)

        def lookup(t: SymbolicTensor) -> tuple:
            i = self._slots[id(t)]
            return values[i], masks[i]

        for node in self._nodes:
            _, outputs, out_masks = _symbolic.run_node(node.layer, node.args, node.kwargs, lookup)
            for t, value, mask in zip(node.outputs, outputs, out_masks):
                values[self._slots[id(t)]], masks[self._slots[id(t)]] = value, mask
        outs = [values[self._slots[id(t)]] for t in self._outputs]
        out_masks = [masks[self._slots[id(t)]] for t in self._outputs]
        return outs, out_masks

    def forward(self, *args: Any) -> Any:
        outs, _ = self._run(args)
        return _restructure(self._output_structure, outs)

    def forward_with_mask(self, *args: Any) -> tuple[Any, Any]:
        """The outputs and their masks (None where an output has none); several outputs as lists, in order."""
        outs, masks = self._run(args)
        if len(outs) == 1 and self._output_structure == "single":
            return outs[0], masks[0]
        return outs, masks

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None, loss_weights: Any = None,
                **kwargs: Any) -> None:
        """As :meth:`Model.compile`; with several outputs ``loss`` is one loss for all, a list or a dict by output name.

        ``loss_weights`` (a list or dict, several outputs only) weights each output's
        loss in the sum that is minimised, as in Keras.
        """
        n = len(self._outputs)
        if n == 1:
            if loss_weights is not None:
                raise ConfigError(f"{type(self).__name__}.compile: loss_weights is for models with several outputs")
            return super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        if metrics:
            raise ConfigError(f"{type(self).__name__}.compile: metrics for a model with {n} outputs are not supported; "
                              "compile without metrics and evaluate each output with model.predict")
        if loss is None:
            raise ConfigError(f"{type(self).__name__}.compile: `loss` is required")
        names = self.output_names
        if isinstance(loss, dict):
            unknown = sorted(set(loss) - set(names))
            if unknown:
                raise ConfigError(f"{type(self).__name__}.compile: no output named {unknown[0]!r}; the outputs are {names}")
            loss = [loss.get(k) for k in names]
        elif not isinstance(loss, (list, tuple)):
            loss = [loss] * n
        if len(loss) != n or any(item is None for item in loss):
            raise ConfigError(f"{type(self).__name__}.compile: give one loss per output ({n}), got {len(loss)}")
        if isinstance(loss_weights, dict):
            loss_weights = [float(loss_weights.get(k, 1.0)) for k in names]
        weights = [1.0] * n if loss_weights is None else [float(w) for w in loss_weights]
        if len(weights) != n:
            raise ConfigError(f"{type(self).__name__}.compile: give one loss weight per output ({n}), got {len(weights)}")
        combined = _OutputsLoss([_losses.get(item) for item in loss], weights, names)
        super().compile(optimizer=optimizer, loss=combined, metrics=None, **kwargs)
        self._compiled["loss"] = [item if isinstance(item, str) else None for item in loss]
        if None in self._compiled["loss"]:
            self._compiled["loss"] = None
        self._compiled["loss_weights"] = None if loss_weights is None else weights

    def _update_metrics(self, y: Any, y_pred: Any, mask: Any) -> None:
        if len(self._outputs) == 1:
            super()._update_metrics(y, y_pred, mask)

    # ------------------------------------------------------------------ summary
    def _summary_layers(self):
        for layer in self.layers:
            node = next((n for n in self._nodes if n.layer is layer), None)
            if node is not None and len(node.outputs) == 1:
                layer._summary_shape = node.outputs[0].shape
            elif isinstance(layer, InputLayer):
                layer._summary_shape = layer.batch_shape
        return [(getattr(layer, "name", str(i)), layer) for i, layer in enumerate(self.layers)]

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Keras 3's functional config: each layer with its calls (``inbound_nodes``), then inputs and outputs."""
        node_index: dict[int, tuple[str, int]] = {}  # id(node) -> (layer name, index among the layer's calls)
        calls: dict[int, list] = collections.defaultdict(list)
        for t in self._inputs:
            node_index[id(t.node)] = (t.node.layer.name, 0)
        for node in self._nodes:
            node_index[id(node)] = (node.layer.name, len(calls[id(node.layer)]))
            calls[id(node.layer)].append(node)

        def ref(t: SymbolicTensor) -> dict[str, Any]:
            layer_name, k = node_index[id(t.node)]
            return {"class_name": _TENSOR, "config": {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                                                      "keras_history": [layer_name, k, t.index]}}

        def encode(value: Any) -> Any:
            return _symbolic.map_structure(lambda v: ref(v) if isinstance(v, SymbolicTensor) else v, value)

        layers = []
        for layer in self.layers:
            entry = serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [{"args": encode(list(n.args)), "kwargs": encode(dict(n.kwargs))}
                                      for n in calls.get(id(layer), [])]
            layers.append(entry)

        def heads(structure: Any, tensors: list) -> Any:
            items = [[node_index[id(t.node)][0], node_index[id(t.node)][1], t.index] for t in tensors]
            if structure == "single":
                return items[0]
            if isinstance(structure, list):  # the keys of a dict
                return dict(zip(structure, items))
            return items

        return {"name": self.name, "layers": layers,
                "input_layers": heads(self._input_structure, self._inputs),
                "output_layers": heads(self._output_structure, self._outputs)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, type] | None = None) -> "Functional":
        """Rebuild the model from :meth:`get_config`'s output: the layers, then their calls in order."""
        return functional_from_config(cls, config, custom_objects)


def functional_from_config(cls: type, config: dict[str, Any], custom_objects: dict[str, type] | None = None,
                           make_layer: Any = None) -> Any:
    """Rebuild a functional model: create each layer, then replay the calls as their inputs become available.

    ``make_layer(entry)`` creates a layer from one entry of ``config["layers"]``
    (default: :func:`~rnnkit.saving.deserialize`).
    """
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("Functional.from_config: expected a dict with a 'layers' list")
    make = make_layer or (lambda entry: deserialize(entry, custom_objects))
    created: dict[str, Any] = {}
    produced: dict[tuple[str, int], list] = {}  # (layer name, call index) -> its outputs
    pending: collections.deque = collections.deque()
    for entry in config["layers"]:
        name = entry.get("name") or entry.get("config", {}).get("name")
        if not isinstance(name, str) or name in created:
            raise ConfigError(f"Functional.from_config: layer names must be unique strings, got {name!r}")
        layer = make(entry)
        created[name] = layer
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = [layer.output]
            continue
        for k, node in enumerate(entry.get("inbound_nodes", [])):
            pending.append((name, k, node))

    def tensor(history: Any) -> SymbolicTensor:
        layer_name, k, index = history[:3]
        return produced[(layer_name, k)][index]

    def ready(value: Any) -> bool:
        if isinstance(value, dict) and value.get("class_name") == _TENSOR:
            history = value["config"]["keras_history"]
            return (history[0], history[1]) in produced
        if isinstance(value, dict):
            return all(ready(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return all(ready(v) for v in value)
        return True

    def decode(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == _TENSOR:
            return tensor(value["config"]["keras_history"])
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    stalled = 0
    next_call: dict[str, int] = collections.defaultdict(int)
    while pending:
        name, k, node = pending.popleft()
        if next_call[name] != k or not ready(node):
            pending.append((name, k, node))
            stalled += 1
            if stalled > len(pending):
                raise ConfigError(f"Functional.from_config: the call {k} of layer {name!r} needs tensors no layer makes")
            continue
        stalled = 0
        args = decode(node.get("args", []))
        kwargs = decode(node.get("kwargs", {}))
        out = created[name](*args, **kwargs)
        produced[(name, k)] = _symbolic.flatten(out)
        next_call[name] += 1

    def heads(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: tensor(v) for k, v in value.items()}
        if value and not isinstance(value[0], (list, tuple)):
            return tensor(value)
        items = [tensor(v) for v in value]
        return items

    try:
        inputs, outputs = heads(config["input_layers"]), heads(config["output_layers"])
    except (KeyError, IndexError, TypeError) as exc:
        raise ConfigError(f"Functional.from_config: input_layers/output_layers name no call of a layer ({exc})") from None
    return cls(inputs, outputs, name=config.get("name"))
