"""Keras model files in and out: ``.keras`` (Keras 3) and legacy HDF5 ``.h5`` (Keras 2, or Keras 3's legacy writer).

:func:`load_keras` rebuilds a Keras ``Sequential`` or functional model from
rnnkit layers, copies its weights (Keras' layouts: transposed kernels, the
i, f, c, o and z, r, h gate orders, GRU ``reset_after`` biases) and compiles
it with the file's optimizer, loss and metrics where it has them; it needs
h5py, never TensorFlow or Keras.  :func:`save_keras` (and ``model.save("x.keras")``)
writes a ``.keras`` file that Keras 3 loads with ``keras.models.load_model``.

A file is data, never code: nothing in it is imported, unpickled or run.
Before anything is built the reader refuses

* a ``Lambda`` layer or a serialized Python function (Keras' ``safe_mode``
  refuses them too: their bytecode would run on load);
* zip members with unsafe names (``../``, absolute paths, backslashes) or
  duplicated names, members that declare more bytes than the reader's limits or
  than deflate can expand to (a zip bomb), and a total over the limits or over
  64 times the file's size (16 MiB at least);
* HDF5 datasets that are not plain numbers, live outside the file (external
  storage, virtual datasets, soft or external links) or declare more bytes than
  the file has (a dataset of a huge shape and no data), attributes that declare
  more bytes than the file has, and weights whose shapes differ from the
  layer's — each checked before the data is read;
* a config whose layers would take more memory than its weights file can fill
  (each tensor is checked before it is allocated:
  :func:`~rnnkit.saving._guards.allocation_budget`);

each with a one-line :class:`~rnnkit.errors.CheckpointError`; an unsupported
layer or option is a one-line :class:`~rnnkit.errors.ConfigError` naming it
and the file (:mod:`rnnkit.saving.keras_layers` lists what is read).

>>> import os, tempfile, torch
>>> from rnnkit.layers import Embedding, GRU, Dense
>>> from rnnkit.models import Sequential
>>> model = Sequential([Embedding(30, 4, mask_zero=True), GRU(5), Dense(1)])
>>> x = torch.tensor([[3, 8, 1, 0]])
>>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
>>> save_keras(model, path)      # after a call, the input shape is known
Traceback (most recent call last):
...
rnnkit.errors.ConfigError: save_keras: model.keras: the model's input shape is unknown; call the model once, or start it with Input(shape=...)
>>> y = model(x)
>>> save_keras(model, path)
>>> again = load_keras(path)
>>> torch.allclose(again(x), y, atol=1e-6)
True
"""
from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np

from .._io import atomic_write
from ..errors import CheckpointError, ConfigError
from . import keras_layers
from ._guards import allocation_budget, file_errors
from ._h5_isolated import Dataset, Group, Link, read_tree
from .keras_layers import KerasUnsupported, is_operation, keras_operation_order, snake_case
from .registry import deserialize, serialize

__all__ = ["load_keras", "save_keras", "LIMITS"]

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TENSOR = "__keras_tensor__"

#: the largest uncompressed sizes read from a ``.keras`` zip, per member and in all
LIMITS = {"config.json": 64 << 20, "metadata.json": 1 << 20, "model.weights.h5": 16 << 30, "total": 16 << 30,
          "members": 10_000}
#: deflate cannot expand data more than about 1032 times: a member declaring more is lying
_MAX_RATIO = 1100
#: a whole .keras file expands at most this many times (real ones: 3 to 15 times; a zip bomb: 1000 times) ...
_MAX_EXPANSION = 64
#: ... or to this many bytes, whichever is more
_MIN_EXPANDED = 16 << 20


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is the [keras] extra
        raise ConfigError("load_keras: Keras model files need h5py; pip install 'rnnkit[keras]'") from None
    return h5py


# =========================================================================== the zip
def _check_member_name(name: str, source: str) -> None:
    parts = name.rstrip("/").split("/")
    if (not name or name.startswith("/") or "\\" in name or ":" in name or "\x00" in name
            or any(p in ("", ".", "..") for p in parts)):
        raise CheckpointError(f"load_keras: {source}: the zip member {name!r} has an unsafe name (a path that could "
                              "leave the archive); refused")


def _read_zip(path: str, source: str) -> tuple[dict, dict, bytes]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"load_keras: {source}: not a readable .keras zip ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > LIMITS["members"]:
            raise CheckpointError(f"load_keras: {source}: the zip has {len(infos)} members; refused")
        seen: set[str] = set()
        total = 0
        for info in infos:
            _check_member_name(info.filename, source)
            if info.filename in seen:
                raise CheckpointError(f"load_keras: {source}: the zip holds {info.filename!r} twice; refused")
            seen.add(info.filename)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise CheckpointError(f"load_keras: {source}: {info.filename!r} uses zip compression method "
                                      f"{info.compress_type}; .keras files are stored or deflated")
            limit = LIMITS.get(info.filename, LIMITS["total"])
            ratio_ok = info.file_size <= max(info.compress_size, 1) * _MAX_RATIO
            if info.file_size > limit or not ratio_ok:
                raise CheckpointError(
                    f"load_keras: {source}: {info.filename!r} declares {info.file_size:,} bytes uncompressed from "
                    f"{info.compress_size:,} (a zip bomb); refused")
            total += info.file_size
        archive_size = os.path.getsize(path)
        if total > LIMITS["total"] or total > max(_MIN_EXPANDED, _MAX_EXPANSION * archive_size):
            raise CheckpointError(f"load_keras: {source}: the zip declares {total:,} bytes uncompressed from "
                                  f"{archive_size:,} (a zip bomb?); refused")
        if "model.weights.npz" in seen or "model.weights.json" in seen:
            raise ConfigError(f"load_keras: {source}: the weights are in npz or sharded files; rnnkit reads "
                              "model.weights.h5 (save with keras' default)")
        for needed in ("config.json", "model.weights.h5"):
            if needed not in seen:
                raise CheckpointError(f"load_keras: {source}: no {needed} in the zip; not a Keras 3 .keras file")

        def read(name: str) -> bytes:
            info = archive.getinfo(name)
            try:
                with archive.open(info) as f:
                    data = f.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:  # CRC errors, truncation
                raise CheckpointError(f"load_keras: {source}: {name} is damaged ({exc})") from None
            if len(data) != info.file_size:
                raise CheckpointError(f"load_keras: {source}: {name} holds {len(data):,} bytes, not the "
                                      f"{info.file_size:,} it declares; refused")
            return data

        config = _json(read("config.json"), "config.json", source)
        metadata = _json(read("metadata.json"), "metadata.json", source) if "metadata.json" in seen else {}
        return config, metadata, read("model.weights.h5")


def _json(data: bytes | str, what: str, source: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"load_keras: {source}: {what} is not valid JSON ({str(exc)[:80]})") from None


# =========================================================================== HDF5, read with care
class _H5:
    """An HDF5 file read in a child process (:mod:`rnnkit.saving._h5_isolated`): its objects are reached
    through hard links only, its datasets' data after checks, its attributes as text where they are bytes."""

    def __init__(self, target: Any, size: int, source: str) -> None:
        _h5py()
        self.size, self.source = size, source
        self.file = read_tree(target, size, source)

    def get(self, parent: Any, path: str) -> Any:
        """The object at ``path`` under ``parent`` (None if absent), refusing soft and external links."""
        if path.startswith("/"):
            raise CheckpointError(f"load_keras: {self.source}: the HDF5 path {path!r} is absolute; refused")
        node = parent
        for part in [p for p in path.split("/") if p]:
            if not isinstance(node, Group) or part not in node:
                return None
            node = node[part]
            if isinstance(node, Link):
                raise CheckpointError(f"load_keras: {self.source}: {node.name} is a {node.kind} to data elsewhere; "
                                      "refused")
        return node

    def attr(self, obj: Any, name: str) -> Any:
        """An attribute, joined from Keras' chunks (``name0``, ``name1``, ...) when it was split; str for bytes."""
        def text(v: Any) -> Any:
            try:
                return v.decode("utf8") if isinstance(v, bytes) else v
            except UnicodeDecodeError:
                raise CheckpointError(f"load_keras: {self.source}: the attribute {name!r} of {obj.name} is not UTF-8 "
                                      "text; refused") from None

        def items(value: Any) -> list:
            return value.tolist() if isinstance(value, np.ndarray) else [value]

        if name in obj.attrs:
            value = obj.attrs[name]
            if isinstance(value, np.ndarray):
                return [text(v) for v in value.tolist()]
            return text(value)
        chunks, k = [], 0
        while f"{name}{k}" in obj.attrs:
            chunks.extend(text(v) for v in items(obj.attrs[f"{name}{k}"]))
            k += 1
        return chunks if k else None

    def array(self, obj: Any, where: str, shape: tuple | None) -> np.ndarray:
        """The data of dataset ``obj``; ``shape``: what the layer expects (None: any)."""
        if not isinstance(obj, Dataset):
            raise CheckpointError(f"load_keras: {self.source}: {where} is not a dataset")
        if obj.problem is not None:
            raise CheckpointError(f"load_keras: {self.source}: {where} {obj.problem}; refused")
        if shape is not None and tuple(obj.shape) != tuple(shape):
            raise CheckpointError(f"load_keras: {self.source}: {where} has shape {tuple(obj.shape)}, but the layer "
                                  f"needs {tuple(shape)}")
        return obj.data


# =========================================================================== code in a config: refused
def _refuse_code(config: Any, source: str) -> None:
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            cls = item.get("class_name")
            if cls == "Lambda":
                name = (item.get("config") or {}).get("name", "?") if isinstance(item.get("config"), dict) else "?"
                raise ConfigError(f"load_keras: {source}: layer {name!r} is a Lambda layer, whose Python code would run "
                                  "on load; refused, as Keras' safe_mode refuses it (rewrite it as a layer)")
            if cls == "__lambda__" or item.get("function_type") == "lambda":
                raise ConfigError(f"load_keras: {source}: the config holds a Python lambda (bytecode), which would run "
                                  "on load; refused, as Keras' safe_mode refuses it")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# =========================================================================== building the model
def _layer_name(entry: dict) -> str:
    name = entry.get("name") or (entry.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise CheckpointError("load_keras: a layer entry without a name")
    return name


def _input_entry(batch_shape: Any, dtype: Any, name: str) -> dict:
    return {"class_name": "InputLayer", "config": {"name": name, "batch_shape": list(batch_shape),
                                                    "dtype": dtype or "float32"}}


def _build_sequential(config: Any, source: str, keras2: bool) -> tuple[Any, list[dict]]:
    layers = config if isinstance(config, list) else config.get("layers")
    if not isinstance(layers, list) or not layers:
        raise CheckpointError(f"load_keras: {source}: the Sequential config has no layers")
    first = layers[0]
    body = layers
    input_layer = None
    if first.get("class_name") == "InputLayer":
        input_layer = keras_layers.to_rnnkit(first, source, keras2)
        body = layers[1:]
    else:
        fc = first.get("config") or {}
        shape = fc.get("batch_input_shape") or fc.get("batch_shape")
        if shape is None and isinstance(config, dict):
            shape = config.get("build_input_shape")
        if shape is not None:
            dtype = "int32" if first.get("class_name") == "Embedding" else fc.get("dtype")
            dtype = dtype if isinstance(dtype, str) else "float32"
            input_layer = _input_entry(shape, dtype, f"{_layer_name(first)}_input")
    if input_layer is None:
        raise ConfigError(f"load_keras: {source}: the Sequential model has no input shape (it was never built, so "
                          "it holds no weights)")
    rnnkit_layers = [keras_layers.to_rnnkit(entry, source, keras2) for entry in body]
    name = config.get("name", "sequential") if isinstance(config, dict) else "sequential"
    model = deserialize({"class_name": "Sequential", "config": {"name": name, "layers": rnnkit_layers,
                                                                "input_layer": input_layer}})
    return model, body


def _keras2_nodes(entry: dict, source: str) -> list[dict]:
    """Keras 2's ``[[[name, node, tensor, kwargs], ...], ...]`` calls as Keras 3's ``{"args", "kwargs"}``."""
    calls = []
    for call in entry.get("inbound_nodes") or []:
        if isinstance(call, dict):  # already Keras 3's shape (tf.keras 2.13+ .keras files)
            calls.append(call)
            continue
        tensors, kwargs = [], {}
        for item in call:
            tensors.append({"class_name": _TENSOR, "config": {"keras_history": list(item[:3])}})
            if len(item) > 3 and isinstance(item[3], dict):
                kwargs.update(item[3])
        kwargs = {k: _keras2_kwarg(v) for k, v in kwargs.items()}
        calls.append({"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs})
    return calls


def _keras2_kwarg(value: Any) -> Any:
    """A Keras 2 call argument: ``[name, node, tensor]`` lists are tensor references."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and all(isinstance(v, int) for v in value[1:]):
        return {"class_name": _TENSOR, "config": {"keras_history": value}}
    if isinstance(value, list):
        return [_keras2_kwarg(v) for v in value]
    return value


def _heads(value: Any, single_if_one: bool) -> Any:
    """``input_layers``/``output_layers`` as Functional takes them: one ref, a list, or a dict."""
    if isinstance(value, dict):
        return {k: list(v[:3]) for k, v in value.items()}
    if value and isinstance(value[0], str):
        return list(value[:3])
    refs = [list(v[:3]) for v in value]
    return refs[0] if single_if_one and len(refs) == 1 else refs


def _build_functional(config: dict, source: str, keras2: bool) -> tuple[Any, list[dict], dict]:
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise CheckpointError(f"load_keras: {source}: the functional config has no layers")
    operations: dict[str, dict] = {}
    for entry in entries:
        if is_operation(entry):
            operations[_layer_name(entry)] = entry
    layers, keras_masks = [], {}

    def check(value: Any, where: str) -> None:
        for ref in keras_layers._refs(value):
            if ref[0] in operations:
                op = operations[ref[0]]
                raise KerasUnsupported(f"{source}: {where} comes from the operation {op['class_name']} "
                                       f"({op.get('module', 'keras.ops')}), which rnnkit does not rebuild; write it "
                                       "as a layer")

    for entry in entries:
        name = _layer_name(entry)
        if name in operations:
            continue
        calls = []
        for k, node in enumerate(_keras2_nodes(entry, source)):
            kwargs = dict(node.get("kwargs") or {})
            kwargs.pop("training", None)
            mask = kwargs.pop("mask", None)
            keras_masks[(name, k)] = mask is not None and any(r for r in keras_layers._refs(mask))
            check([node.get("args", []), kwargs], f"the input of layer {name!r}")
            calls.append({"args": node.get("args", []), "kwargs": kwargs})
        layers.append({**keras_layers.to_rnnkit(entry, source, keras2), "name": name, "inbound_nodes": calls})
    heads_in = _heads(config.get("input_layers") or [], single_if_one=keras2)
    heads_out = _heads(config.get("output_layers") or [], single_if_one=keras2)
    check([heads_out], "an output")
    model = deserialize({"class_name": "Functional", "config": {"name": config.get("name", "functional"),
                                                                "layers": layers, "input_layers": heads_in,
                                                                "output_layers": heads_out}})
    # the masks: rnnkit's flow (Sequential's rule) must give a mask exactly where Keras 3 passed one (Keras 2
    # files record no masks: they flowed there as they flow in rnnkit)
    ours = model._input_masks()
    for entry in [] if keras2 else entries:
        name = _layer_name(entry)
        if name in operations or keras_layers._ALIASES.get(entry["class_name"], entry["class_name"]) not in keras_layers.TAKES_MASK:
            continue
        for k in range(len(entry.get("inbound_nodes") or [])):
            if keras_masks.get((name, k), False) != ours.get((name, k), False):
                had = "passes" if keras_masks.get((name, k)) else "passes no"
                raise KerasUnsupported(f"{source}: Keras {had} mask to layer {name!r}, where rnnkit's mask flow "
                                       "differs; rnnkit cannot rebuild this model exactly")
    return model, [e for e in entries if _layer_name(e) not in operations], operations


def _model_from_config(config: dict, source: str, keras2: bool) -> tuple[Any, list[dict], dict]:
    if not isinstance(config, dict) or "class_name" not in config:
        raise CheckpointError(f"load_keras: {source}: the model config has no class_name")
    cls = config["class_name"]
    inner = config.get("config")
    if cls == "Sequential":
        model, entries = _build_sequential(inner if inner is not None else {}, source, keras2)
        return model, entries, {}
    if cls in ("Functional", "Model"):
        return _build_functional(inner or {}, source, keras2)
    raise KerasUnsupported(f"{source}: the model is a {cls} (a subclassed Keras model, whose code is not in the file); "
                           "rnnkit rebuilds Sequential and functional models")


# =========================================================================== weights
def _layers_by_name(model: Any) -> dict[str, Any]:
    return {layer.name: layer for layer in model.layers}


def _expected_shapes(layer: Any) -> list[tuple]:
    return [tuple(w.shape) for w in layer.get_weights()]


def _set(layer: Any, arrays: list[np.ndarray], source: str) -> None:
    try:
        layer.set_weights(arrays)
    except (ConfigError, ValueError) as exc:
        raise CheckpointError(f"load_keras: {source}: the weights of layer {layer.name!r} do not fit it "
                              f"({str(exc).splitlines()[0]})") from None


def _load_keras3_weights(model: Any, h5: _H5, entries: list[dict], config: dict, sequential: bool) -> None:
    source = h5.source
    root = h5.get(h5.file, "layers")
    by_name: dict[str, str] = {}
    if root is not None:
        for key in root:
            group = h5.get(root, key)
            own = h5.get(group, "vars") if isinstance(group, Group) else None
            if own is not None and "name" in own.attrs:
                by_name[str(h5.attr(own, "name"))] = key
    by_order = keras_weight_keys(config, sequential)
    layers = _layers_by_name(model)
    for entry in entries:
        name = _layer_name(entry)
        layer = layers.get(name)
        if layer is None:
            continue
        shapes = _expected_shapes(layer)
        if not shapes:
            continue
        key = by_name.get(name) or by_order.get(name)
        group = h5.get(root, key) if (root is not None and key) else None
        if group is None:
            raise CheckpointError(f"load_keras: {source}: the weights file has no weights for layer {name!r}")
        arrays: list[np.ndarray] = []
        for path in keras_layers.keras_weight_paths(entry):
            g = h5.get(group, path)
            if g is None:
                raise CheckpointError(f"load_keras: {source}: no {path} for layer {name!r} in the weights file")
            for k in range(len(g)):
                if str(k) not in g:
                    raise CheckpointError(f"load_keras: {source}: {g.name} lacks dataset {k}")
                expected = shapes[len(arrays)] if len(arrays) < len(shapes) else None
                if expected is None:
                    raise CheckpointError(f"load_keras: {source}: layer {name!r} has {len(shapes)} weights, the file "
                                          f"holds more")
                arrays.append(h5.array(h5.get(g, str(k)), f"{g.name}/{k}", expected))
        if len(arrays) != len(shapes):
            raise CheckpointError(f"load_keras: {source}: layer {name!r} has {len(shapes)} weights, the file holds "
                                  f"{len(arrays)}")
        _set(layer, arrays, source)


def keras_weight_keys(config: dict, sequential: bool) -> dict[str, str]:
    """Layer name -> its group under ``layers/`` in a ``.keras`` weights file, as Keras addresses it.

    Keras files each layer by its class in snake case, numbered in the order of
    the model's layers (``lstm``, ``lstm_1``): a Sequential's list without its
    InputLayer, a functional model's operations in Keras' order less the
    ``keras.ops`` operations.
    """
    inner = config.get("config") or {}
    entries = inner if isinstance(inner, list) else inner.get("layers") or []
    if sequential:
        ordered = [e for e in entries if e.get("class_name") != "InputLayer"]
    else:
        names = keras_operation_order(entries, _flat_refs(inner.get("output_layers")),
                                      _flat_refs(inner.get("input_layers")))
        table = {_layer_name(e): e for e in entries if not is_operation(e)}
        ordered = [table[n] for n in names if n in table]
    used: dict[str, int] = {}
    keys: dict[str, str] = {}
    for entry in ordered:
        key = snake_case(entry["class_name"])
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        keys[_layer_name(entry)] = key
    return keys


def _flat_refs(value: Any) -> list[list]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [list(v) for v in value.values()]
    if value and isinstance(value[0], str):
        return [list(value)]
    return [list(v) for v in value]


def _load_legacy_weights(model: Any, h5: _H5, group: Any) -> None:
    source = h5.source
    names = h5.attr(group, "layer_names") or []
    layers = _layers_by_name(model)
    loaded = set()
    for name in names:
        g = h5.get(group, name)
        weight_names = (h5.attr(g, "weight_names") or []) if g is not None else []
        if not weight_names:
            continue
        layer = layers.get(name)
        if layer is None:
            raise CheckpointError(f"load_keras: {source}: the weights name a layer {name!r} the model does not have")
        shapes = _expected_shapes(layer)
        if len(shapes) != len(weight_names):
            raise CheckpointError(f"load_keras: {source}: layer {name!r} has {len(shapes)} weights, the file holds "
                                  f"{len(weight_names)}")
        arrays = []
        for weight_name, shape in zip(weight_names, shapes):
            ds = h5.get(g, str(weight_name))
            if ds is None:
                raise CheckpointError(f"load_keras: {source}: no dataset {weight_name!r} for layer {name!r}")
            arrays.append(h5.array(ds, f"{g.name}/{weight_name}", shape))
        _set(layer, arrays, source)
        loaded.add(name)
    missing = [n for n, layer in layers.items() if n not in loaded and _expected_shapes(layer)]
    if missing:
        raise CheckpointError(f"load_keras: {source}: the file has no weights for layer {missing[0]!r}")


# =========================================================================== compile settings
_LOSSES = {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "mean_squared_error",
           "mean_absolute_error", "mse", "mae", "huber", "huber_loss"}
_LOSS_CLASSES = {"BinaryCrossentropy": ("from_logits", "label_smoothing"),
                 "CategoricalCrossentropy": ("from_logits", "label_smoothing"),
                 "SparseCategoricalCrossentropy": ("from_logits",), "MeanSquaredError": (), "MeanAbsoluteError": (),
                 "Huber": ("delta",)}
_METRICS = {"accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "mae", "mse",
            "mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "rmse"}
_OPTIMIZERS = {"SGD": ("learning_rate", "momentum", "nesterov"),
               "Adam": ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"),
               "AdamW": ("learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad"),
               "RMSprop": ("learning_rate", "rho", "momentum", "epsilon", "centered"),
               "Adagrad": ("learning_rate", "initial_accumulator_value", "epsilon")}
_OPTIMIZER_IGNORED = ("name", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
                      "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps", "decay", "is_legacy_optimizer",
                      "jit_compile")


def _loss(value: Any, notes: list[str]) -> Any:
    if isinstance(value, str):
        if value in _LOSSES:
            return value
        notes.append(f"loss {value!r}")
        return None
    if isinstance(value, dict) and value.get("class_name") in _LOSS_CLASSES:
        cfg = value.get("config") or {}
        keep = {k: cfg[k] for k in _LOSS_CLASSES[value["class_name"]] if k in cfg and cfg[k] not in (None, 0, 0.0, False)}
        return {"class_name": value["class_name"], "config": keep}
    if isinstance(value, dict) and value.get("class_name") == "function" and cfg_str(value) in _LOSSES:
        return cfg_str(value)
    notes.append(f"loss {value.get('class_name') if isinstance(value, dict) else value!r}")
    return None


def cfg_str(value: dict) -> Any:
    return value.get("config") if isinstance(value.get("config"), str) else None


def _metric(value: Any, notes: list[str]) -> Any:
    if isinstance(value, dict):
        cfg = value.get("config") or {}
        value = (cfg.get("fn") or cfg.get("name")) if isinstance(cfg, dict) else cfg
        if isinstance(value, dict):
            value = value.get("config")
    if isinstance(value, str) and value in _METRICS:
        return value
    notes.append(f"metric {value!r}")
    return None


def _compile_args(cc: dict, keras2: bool) -> tuple[dict | None, list[str]]:
    """rnnkit's compile() arguments for a Keras compile/training config, and what had to be left out."""
    notes: list[str] = []
    opt = cc.get("optimizer_config") if keras2 or "optimizer_config" in cc else cc.get("optimizer")
    args: dict[str, Any] = {}
    if isinstance(opt, str):
        opt = {"class_name": opt, "config": {}}
    if isinstance(opt, dict):
        cls = opt.get("class_name")
        cls = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}.get(
            str(cls).lower(), cls)
        cfg = dict(opt.get("config") or {})
        if "lr" in cfg and "learning_rate" not in cfg:
            cfg["learning_rate"] = cfg.pop("lr")
        if cls not in _OPTIMIZERS:
            return None, [f"optimizer {cls!r}"]
        lr = cfg.get("learning_rate")
        if isinstance(lr, dict):  # a schedule
            notes.append(f"learning-rate schedule {lr.get('class_name')!r} (its initial rate is used)")
            lr = (lr.get("config") or {}).get("initial_learning_rate", 0.001)
            cfg["learning_rate"] = lr
        kept = {k: cfg[k] for k in _OPTIMIZERS[cls] if k in cfg and cfg[k] is not None}
        if "learning_rate" in kept:  # Keras writes the float32 value (0.004999999888): the shortest decimal of it
            kept["learning_rate"] = float(str(np.float32(kept["learning_rate"])))
        if cfg.get("use_ema") is True:  # the moving average of the weights (rnnkit.training.ema)
            kept.update({k: cfg[k] for k in ("use_ema", "ema_momentum", "ema_overwrite_frequency") if k in cfg})
        for key in ("gradient_accumulation_steps", "loss_scale_factor", "decay", "clipnorm"):
            if cfg.get(key) not in (None, False, 0, 0.0):
                notes.append(f"optimizer option {key}={cfg[key]!r}")
        if cls != "AdamW" and cfg.get("weight_decay") not in (None, 0, 0.0):
            notes.append(f"optimizer option weight_decay={cfg['weight_decay']!r}")
        args["optimizer"] = {"class_name": cls, "config": kept}
        if cfg.get("global_clipnorm"):
            args["clipnorm"] = float(cfg["global_clipnorm"])
        if cfg.get("clipvalue"):
            args["clipvalue"] = float(cfg["clipvalue"])
    else:
        return None, ["no optimizer"]
    loss = cc.get("loss")
    if loss is None:
        return None, ["no loss"]
    if isinstance(loss, list):
        args["loss"] = [_loss(item, notes) for item in loss]
        if None in args["loss"]:
            return None, notes
        if len(args["loss"]) == 1:
            args["loss"] = args["loss"][0]
    elif isinstance(loss, dict) and "class_name" not in loss:
        args["loss"] = {k: _loss(v, notes) for k, v in loss.items()}
        if None in args["loss"].values():
            return None, notes
    else:
        args["loss"] = _loss(loss, notes)
        if args["loss"] is None:
            return None, notes
    metrics = cc.get("metrics") or []
    if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], list):
        metrics = metrics[0]  # Keras 2: one list per output
    if isinstance(metrics, list):
        args["metrics"] = [m for m in (_metric(item, notes) for item in metrics) if m is not None]
    elif metrics:
        notes.append("metrics per output")
    if cc.get("loss_weights"):
        args["loss_weights"] = cc["loss_weights"]
    return args, notes


def _compile(model: Any, cc: Any, keras2: bool, source: str) -> None:
    if not isinstance(cc, dict) or not cc:
        return
    args, notes = _compile_args(cc, keras2)
    several = len(getattr(model, "_outputs", [None])) > 1
    if args is not None and not several:
        args.pop("loss_weights", None)  # one output: its weight scales the loss only
    if args is not None and several and args.get("metrics"):
        notes.append("metrics of a model with several outputs")
        args["metrics"] = None
    if args is not None:
        try:
            model.compile(**args)
        except (ConfigError, ValueError, TypeError) as exc:
            notes.append(f"compile settings ({str(exc).splitlines()[0]})")
            args = None
    if notes:
        left = "the model is not compiled" if args is None else "the rest is compiled"
        warnings.warn(f"load_keras: {source}: left out {', '.join(notes)}; {left}", UserWarning, stacklevel=3)


# =========================================================================== load_keras
def load_keras(path: str | os.PathLike, compile: bool = True) -> Any:
    """Rebuild a Keras model file (``.keras`` or legacy ``.h5``, Sequential or functional) from rnnkit layers.

    The weights are copied in Keras' layouts, so the model predicts what Keras
    predicts; with ``compile=True`` (default) it is compiled with the file's
    optimizer, loss and metrics where it has them (what rnnkit cannot take is
    named in a warning).  Layers Keras marked ``trainable=False`` are frozen.

    Raises:
        ConfigError: a layer, option or operation rnnkit cannot rebuild (named, with the file).
        CheckpointError: a damaged, malformed or hostile file (see the module docstring).
    """
    path = os.fspath(path)
    source = os.path.basename(path) or path
    if os.path.isdir(path):
        raise ConfigError(f"load_keras: {source} is a folder (a TensorFlow SavedModel?); rnnkit reads .keras and .h5 "
                          "model files")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        size = os.path.getsize(path)
    except OSError as exc:
        raise CheckpointError(f"load_keras: cannot read {path!r} ({exc.strerror or exc})") from None
    # what the checks below do not foresee (a config of the wrong types, HDF5 internals h5py cannot read)
    # comes out as one line naming the file
    with file_errors("load_keras", source):
        return _load_keras(path, source, head, size, compile)


def _load_keras(path: str, source: str, head: bytes, size: int, compile: bool) -> Any:
    if head.startswith(_ZIP_MAGIC):
        config, metadata, weights = _read_zip(path, source)
        keras2 = str(metadata.get("keras_version", "3") if isinstance(metadata, dict) else "3").startswith("2")
        _refuse_code(config, source)
        with allocation_budget(len(weights), f"load_keras: {source}"):
            model, entries, _ = _model_from_config(config, source, keras2)
        h5 = _H5(weights, len(weights), f"{source}: model.weights.h5")
        _load_keras3_weights(model, h5, entries, config, config.get("class_name") == "Sequential")
        compile_config = config.get("compile_config")
    elif head.startswith(_HDF5_MAGIC):
        h5 = _H5(path, size, source)
        raw = h5.attr(h5.file, "model_config")
        if raw is None:
            raise ConfigError(f"load_keras: {source} holds weights only (no model_config); rnnkit needs a whole "
                              "model file (model.save in Keras)")
        config = _json(raw, "model_config", source)
        version = str(h5.attr(h5.file, "keras_version") or "2")
        keras2 = not version.startswith("3")
        _refuse_code(config, source)
        with allocation_budget(size, f"load_keras: {source}"):
            model, entries, _ = _model_from_config(config, source, keras2)
        weights = h5.get(h5.file, "model_weights")
        if weights is None:
            raise CheckpointError(f"load_keras: {source}: no model_weights group")
        _load_legacy_weights(model, h5, weights)
        training = h5.attr(h5.file, "training_config")
        compile_config = _json(training, "training_config", source) if training else None
    else:
        raise CheckpointError(f"load_keras: {source} is neither a .keras zip nor an HDF5 .h5 file")
    for entry in entries:
        if (entry.get("config") or {}).get("trainable") is False:
            for p in _layers_by_name(model)[_layer_name(entry)].parameters():
                p.requires_grad_(False)
    if compile and compile_config:
        _compile(model, compile_config, keras2, source)
    model.eval()
    return model


# =========================================================================== save_keras
def _fail(source: str, what: str) -> ConfigError:
    return ConfigError(f"save_keras: {source}: {what}")


def _sequential_input(model: Any, source: str) -> dict:
    if getattr(model, "input_layer", None) is not None:
        return keras_layers.to_keras(serialize(model.input_layer), source)
    seen = getattr(model, "_seen_input", None)
    if seen is None:
        raise _fail(source, "the model's input shape is unknown; call the model once, or start it with Input(shape=...)")
    shape, dtype = seen
    batch_shape: list = [None] + list(shape[1:])
    first = model.layers[0]
    sequence_first = type(first).__name__ in ("Embedding", "Masking", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
                                              "Conv1D", "TimeDistributed")
    if sequence_first and len(batch_shape) >= 2 and not any(type(l).__name__ == "Flatten" for l in model.layers):
        batch_shape[1] = None  # sequences of any length
    if any(getattr(l, "stateful", False) or getattr(getattr(l, "forward_layer", None), "stateful", False)
           for l in model.layers):
        batch_shape[0] = shape[0]  # Keras' stateful layers need the batch size
    return keras_layers.to_keras({"class_name": "InputLayer", "config": {"name": f"{model.name}_input",
                                  "batch_shape": batch_shape, "dtype": str(dtype).replace("torch.", "")}}, source)


def _keras_ref(name: str, k: int, index: int, shape: Any, dtype: str) -> dict:
    return {"class_name": _TENSOR, "config": {"shape": list(shape) if shape is not None else None, "dtype": dtype,
                                               "keras_history": [name, k, index]}}


def _functional_keras_config(model: Any, source: str) -> dict:
    """Keras 3's functional config of ``model``: its layers in Keras' terms, and the masks as Keras' operations.

    rnnkit's masks flow implicitly; in the file each one is computed by the
    operations Keras itself writes (NotEqual for an Embedding's padding, Any of
    NotEqual for Masking, LogicalOr for a merge, ...) and passed as ``mask=`` to
    the layers whose call takes one, so that Keras runs the same graph.
    """
    config = model.get_config()
    taken = {entry["name"] for entry in config["layers"]}
    ops: list[dict] = []
    counters: dict[str, int] = {}

    def op(cls: str, args: list, extra: dict | None = None, shape: Any = None) -> dict:
        base = snake_case(cls)
        while True:
            k = counters.get(base, 0)
            counters[base] = k + 1
            name = base if k == 0 else f"{base}_{k}"
            if name not in taken:
                break
        taken.add(name)
        ops.append({"module": "keras.src.ops.numpy", "class_name": cls, "config": {"name": name, **(extra or {})},
                    "registered_name": cls, "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]})
        return _keras_ref(name, 0, 0, shape, "bool")

    calls: dict[int, int] = {}
    where: dict[int, tuple] = {}  # id(tensor) -> (layer name, call index)
    for t in model._inputs:
        where[id(t)] = (t.node.layer.name, 0)
    for node in model._nodes:
        k = calls.get(id(node.layer), 0)
        calls[id(node.layer)] = k + 1
        for t in node.outputs:
            where[id(t)] = (node.layer.name, k)

    def ref(t: Any) -> dict:
        name, k = where[id(t)]
        return _keras_ref(name, k, t.index, t.shape, str(t.dtype).replace("torch.", ""))

    mask_of: dict[int, dict | None] = {id(t): None for t in model._inputs}
    mask_kwargs: dict[tuple, dict] = {}
    for node in model._nodes:
        layer, cls = node.layer, type(node.layer).__name__
        first = node.args[0] if node.args else None
        first_mask = mask_of.get(id(first)) if not isinstance(first, (list, tuple)) else None
        name, k = where[id(node.outputs[0])]
        if cls in keras_layers.TAKES_MASK and first_mask is not None and "mask" not in node.kwargs:
            mask_kwargs[(name, k)] = first_mask
        out = node.outputs[0]
        produced = None
        if out.has_mask:
            shape = list(out.shape[:-1]) if out.shape else None
            if cls == "Embedding":
                produced = op("NotEqual", [ref(first), 0], shape=list(first.shape))
            elif cls == "Masking":
                ne = op("NotEqual", [ref(first), float(layer.mask_value)], shape=list(first.shape))
                produced = op("Any", [ne], {"axis": -1, "keepdims": False}, shape=shape)
            elif cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
                masks = [mask_of.get(id(t)) for t in first]
                produced = masks[0]
                for m in masks[1:]:
                    produced = op("LogicalOr", [produced, m], shape=shape)
            elif cls == "Concatenate":
                parts = []
                for t in first:
                    m = mask_of.get(id(t))
                    if m is None:
                        parts.append(op("OnesLike", [ref(t)], {"dtype": "bool"}, shape=list(t.shape)))
                    else:
                        expanded = op("ExpandDims", [m], {"axis": -1}, shape=list(m["config"]["shape"]) + [1])
                        zeros = op("ZerosLike", [ref(t)], {"dtype": "bool"}, shape=list(t.shape))
                        parts.append(op("LogicalOr", [expanded, zeros], shape=list(t.shape)))
                joined = op("Concatenate", [parts], {"axis": layer.axis}, shape=list(out.shape))
                produced = op("Any", [joined], {"axis": -1, "keepdims": False}, shape=shape)
            elif cls == "TimeDistributed" and type(layer.layer).__name__ in ("Embedding", "Masking"):
                raise _fail(source, f"layer {layer.name!r}: a TimeDistributed {type(layer.layer).__name__} makes a mask "
                                    "this writer cannot express; keep the model in rnnkit's format")
            else:
                produced = first_mask  # the layer passes its input's mask on
        mask_of[id(out)] = produced
        for t in node.outputs[1:]:
            mask_of[id(t)] = None
    layers = []
    for entry in config["layers"]:
        keras_entry = keras_layers.to_keras({"class_name": entry["class_name"], "config": entry["config"]}, source)
        nodes = []
        for k, node in enumerate(entry["inbound_nodes"]):
            kwargs = dict(node["kwargs"])
            if (entry["name"], k) in mask_kwargs:
                kwargs["mask"] = mask_kwargs[(entry["name"], k)]
            nodes.append({"args": node["args"], "kwargs": kwargs})
        layers.append({**keras_entry, "name": entry["name"], "inbound_nodes": nodes})
    inner = {"name": config["name"], "trainable": True, "layers": layers + ops,
             "input_layers": config["input_layers"], "output_layers": config["output_layers"]}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": inner,
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def _keras_compile_config(model: Any, source: str) -> dict | None:
    compiled = getattr(model, "_compiled", None)
    if not compiled:
        return None
    spec = getattr(model, "_optimizer_spec", None)
    if spec is None or not hasattr(spec, "get_config") or type(spec).__name__ not in _OPTIMIZERS:
        warnings.warn(f"save_keras: {source}: the optimizer has no Keras counterpart; the file is saved uncompiled",
                      UserWarning, stacklevel=3)
        return None
    opt = {"module": "keras.optimizers", "class_name": type(spec).__name__,
           "config": {"name": type(spec).__name__.lower(), **spec.get_config(),
                      "clipnorm": None, "global_clipnorm": compiled.get("clipnorm"), "clipvalue": compiled.get("clipvalue")},
           "registered_name": None}
    loss = compiled.get("loss")
    if loss is None:
        obj = getattr(model, "loss", None)
        name = type(obj).__name__
        if name in _LOSS_CLASSES:
            cfg = obj.get_config()
            loss = {"module": "keras.losses", "class_name": name,
                    "config": {k: v for k, v in cfg.items() if k in _LOSS_CLASSES[name] + ("name",)},
                    "registered_name": None}
        else:
            warnings.warn(f"save_keras: {source}: the loss {name} has no Keras counterpart; the file is saved uncompiled",
                          UserWarning, stacklevel=3)
            return None
    return {"optimizer": opt, "loss": loss, "loss_weights": compiled.get("loss_weights"),
            "metrics": list(compiled.get("metrics") or []) or None, "weighted_metrics": None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


def _weight_groups(layer: Any, entry: dict) -> list[tuple[str, str, list]]:
    """(vars group path, its name attribute, arrays) of a layer, as Keras files them."""
    cls = entry["class_name"]
    if cls in keras_layers.RECURRENT:
        return [("cell/vars", f"{snake_case(cls)}_cell", layer.get_weights())]
    if cls == "Bidirectional":
        inner = entry["config"]
        out = []
        for side, sub, sub_entry in (("forward_layer", layer.forward_layer, inner["layer"]),
                                     ("backward_layer", layer.backward_layer, inner.get("backward_layer") or inner["layer"])):
            out.append((f"{side}/vars", sub.name, []))
            out.extend((f"{side}/{p}", n, a) for p, n, a in _weight_groups(sub, sub_entry))
        return out
    if cls == "TimeDistributed":
        sub, sub_entry = layer.layer, entry["config"]["layer"]
        groups = _weight_groups(sub, sub_entry)
        if not any(p == "vars" for p, _, _ in groups):
            groups = [("vars", sub.name, [])] + groups
        return [(f"layer/{p}", n, a) for p, n, a in groups]
    return [("vars", layer.name, layer.get_weights())]


def save_keras(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` (Sequential or functional, rnnkit layers with Keras counterparts) as a Keras 3 ``.keras`` file.

    ``keras.models.load_model(path)`` then rebuilds it in Keras (any backend) and
    predicts what rnnkit predicts; the compile settings go too where Keras has
    them.  The file is written to a temporary name, synced and renamed
    (:func:`rnnkit._io.atomic_write`), so a crash leaves no half-written model;
    a full disk raises :class:`~rnnkit.errors.WriteError` and leaves the old file.
    """
    path = os.fspath(path)
    source = os.path.basename(path) or path
    if not path.endswith(".keras"):
        raise _fail(source, "a Keras 3 model file's name ends in .keras")
    kind = type(model).__name__
    if kind == "Sequential":
        entries = [keras_layers.to_keras(serialize(layer), source) for layer in model.layers]
        if not entries:
            raise _fail(source, "the model has no layers")
        input_entry = _sequential_input(model, source)
        batch_shape = input_entry["config"]["batch_shape"]
        config = {"module": "keras", "class_name": "Sequential",
                  "config": {"name": model.name, "trainable": True, "dtype": "float32",
                             "layers": [input_entry] + entries, "build_input_shape": batch_shape},
                  "registered_name": None, "build_config": {"input_shape": batch_shape}}
    elif hasattr(model, "_nodes") and hasattr(model, "_inputs"):
        config = _functional_keras_config(model, source)
    else:
        raise _fail(source, f"a {kind} (a subclassed model) has no Keras config; build it as a Sequential or with "
                            "Model(inputs, outputs), or keep it in rnnkit's format")
    compile_config = _keras_compile_config(model, source)
    if compile_config is not None:
        config["compile_config"] = compile_config
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        layers = _layers_by_name(model)
        table = {_layer_name(e): e for e in config["config"]["layers"]}
        for name, key in keras_weight_keys(config, kind == "Sequential").items():
            layer, entry = layers[name], table[name]
            group = f.create_group(f"layers/{key}")
            group.create_group("vars").attrs["name"] = layer.name
            for sub, name, arrays in _weight_groups(layer, entry):
                if sub == "vars":
                    target = group["vars"]
                else:
                    target = group.require_group(sub)
                    target.attrs["name"] = name
                for i, value in enumerate(arrays):
                    target.create_dataset(str(i), data=np.asarray(value, dtype=np.float32))
        if compile_config is not None:
            opt = f.create_group("optimizer/vars")
            opt.attrs["name"] = compile_config["optimizer"]["config"]["name"]
            opt.create_dataset("0", data=np.int64(0))
            opt.create_dataset("1", data=np.float32(compile_config["optimizer"]["config"]["learning_rate"]))
    metadata = {"keras_version": "3.0.0", "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "written_by": "rnnkit"}
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buffer.getvalue())
