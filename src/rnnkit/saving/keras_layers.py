"""Keras layer configs to rnnkit's and back, the weights' places in a Keras file, and Keras' order of layers.

This is the dictionary of :mod:`rnnkit.saving.keras_files`: it works on configs
(dicts) only, so that ``saving`` stays below the layers (the layers are built
from the translated configs through the registry).  Each translation is one
function per Keras class; an option rnnkit cannot honour is a one-line
:class:`~rnnkit.errors.ConfigError` naming the layer and the option, and an
option that only shapes training (a regularizer, a constraint) is left out
with a warning, since the loaded model computes the same without it.  Writing,
likewise: rnnkit's ``embeddings_dropout`` and ``recurrent_weight_dropout``,
which Keras lacks, are left out of a ``.keras`` file with a warning.

=====================================  ==============================================
Keras                                  rnnkit
=====================================  ==============================================
InputLayer                             InputLayer
Dense, Dropout, Activation, Flatten    the same
SpatialDropout1D                       the same
Masking, Embedding                     the same
SimpleRNN, LSTM, GRU                   the same (GRU ``reset_after`` either way)
Bidirectional, TimeDistributed         the same
Conv1D, Conv2D                         the same (channels last, no groups)
MaxPooling1D, MaxPooling2D             the same (channels last)
GlobalAverage/MaxPooling1D             the same (channels last)
LayerNormalization                     the same (no ``rms_scaling``)
BatchNormalization                     the same (last axis; no ``renorm``, no virtual batches)
Concatenate, Add, Subtract, Multiply,  the same
Average, Maximum, Minimum
=====================================  ==============================================

>>> layer = to_rnnkit({"class_name": "GRU", "config": {"name": "gru", "units": 8, "reset_after": False}}, "m.keras")
>>> layer["class_name"], layer["config"]["units"], layer["config"]["reset_after"]
('GRU', 8, False)
>>> to_rnnkit({"class_name": "GRU", "config": {"name": "gru", "units": 8, "time_major": True}}, "m.h5")
Traceback (most recent call last):
...
rnnkit.saving.keras_layers.KerasUnsupported: m.h5: layer 'gru' (GRU) has time_major=True; rnnkit reads batch-major sequences (batch, time, features)
>>> snake_case("GlobalAveragePooling1D"), snake_case("SimpleRNN")
('global_average_pooling1d', 'simple_rnn')
"""
from __future__ import annotations

import collections
import re
import warnings
from typing import Any, Callable

from ..errors import ConfigError

__all__ = ["to_rnnkit", "to_keras", "snake_case", "keras_weight_paths", "keras_operation_order", "RECURRENT",
           "TAKES_MASK", "is_operation", "KerasUnsupported"]

#: the recurrent layers whose weights sit in their ``cell``
RECURRENT = ("SimpleRNN", "LSTM", "GRU")
#: Keras layers whose ``call`` takes ``mask=`` (a functional Keras 3 config passes it to them explicitly)
TAKES_MASK = ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "GlobalAveragePooling1D",
              "GlobalMaxPooling1D", "BatchNormalization")

#: options that only shape training: left out, with a warning when they are set
_TRAINING_ONLY = ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "recurrent_regularizer",
                  "embeddings_regularizer", "beta_regularizer", "gamma_regularizer", "kernel_constraint",
                  "bias_constraint", "recurrent_constraint", "embeddings_constraint", "beta_constraint",
                  "gamma_constraint")
#: options without effect on what a loaded layer computes
_HARMLESS = ("name", "trainable", "dtype", "seed", "unroll", "implementation", "input_length", "batch_input_shape",
             "batch_size", "sparse", "ragged", "optional", "build_config", "input_dim_", "autocast")

_ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "softplus",
                "softsign", "hard_sigmoid", "exponential", "softmax", "log_softmax", "leaky_relu")
_INITIALIZERS = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeUniform": "he_uniform",
                 "HeNormal": "he_normal", "LecunUniform": "lecun_uniform", "LecunNormal": "lecun_normal",
                 "Orthogonal": "orthogonal", "RandomUniform": "random_uniform", "RandomNormal": "random_normal",
                 "Zeros": "zeros", "Ones": "ones"}


class KerasUnsupported(ConfigError):
    """A Keras layer, option or operation that rnnkit cannot rebuild (the message names it and the file)."""


def snake_case(name: str) -> str:
    """Keras' ``naming.to_snake_case``: the name a ``.keras`` weights file files a layer under."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def is_operation(entry: dict[str, Any]) -> bool:
    """Whether a functional config's entry is a Keras 3 operation (``keras.ops``: not a layer, no weights).

    A ``.keras`` file gives its module (``keras.src.ops.numpy``); Keras 3's legacy
    ``.h5`` writer leaves modules out, and there an operation is the entry whose
    config lacks the ``trainable`` every layer has.
    """
    module = entry.get("module")
    if isinstance(module, str):
        return module.startswith("keras.src.ops")
    config = entry.get("config")
    return entry.get("class_name") != "InputLayer" and isinstance(config, dict) and "trainable" not in config


# =========================================================================== Keras -> rnnkit
class _Reading:
    """One layer's translation: its config, where it comes from (for messages), the keys it used."""

    def __init__(self, entry: dict[str, Any], source: str, keras2: bool) -> None:
        self.class_name = entry["class_name"]
        self.config = entry.get("config") or {}
        if not isinstance(self.config, dict):
            raise KerasUnsupported(f"{source}: layer {self.class_name} has a config that is not a dict")
        self.name = self.config.get("name", "?")
        self.source = source
        self.keras2 = keras2
        self.used: set[str] = set()

    def fail(self, what: str) -> KerasUnsupported:
        return KerasUnsupported(f"{self.source}: layer {self.name!r} ({self.class_name}) {what}")

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.config.get(key, default)

    def require(self, key: str, allowed: tuple, default: Any) -> Any:
        value = self.get(key, default)
        if value not in allowed:
            raise self.fail(f"has {key}={value!r}, which rnnkit does not support (it supports {', '.join(map(repr, allowed))})")
        return value

    def activation(self, key: str, default: str) -> str:
        value = self.get(key, default)
        if isinstance(value, dict):  # Keras 3 may write {"module": "keras.activations", "class_name": "relu", ...}
            inner = value.get("config")
            value = value.get("class_name") if not isinstance(inner, str) else inner
            if value in ("function", "__lambda__", None):
                raise self.fail(f"has a custom {key} (Python code), which rnnkit does not run")
        if value is None:
            value = "linear"
        if value == "hard_sigmoid" and self.keras2:
            return "hard_sigmoid_keras2"  # Keras 2's hard sigmoid, clip(0.2 x + 0.5)
        if value not in _ACTIVATIONS:
            raise self.fail(f"has {key}={value!r}, an activation rnnkit does not have")
        return value

    def initializer(self, key: str, default: str) -> str:
        value = self.get(key)
        if isinstance(value, dict):
            value = _INITIALIZERS.get(value.get("class_name"), default)
        elif isinstance(value, str):
            value = value if value in _INITIALIZERS.values() else default
        else:
            value = default
        return value

    def int_tuple(self, key: str, n: int, default: Any) -> list[int]:
        value = self.get(key, default)
        value = [value] * n if isinstance(value, int) else list(value)
        if len(value) != n or not all(isinstance(v, int) for v in value):
            raise self.fail(f"has {key}={value!r}; expected {n} integers")
        return value

    def check_rest(self) -> None:
        """Every option not used: harmless, training-only (warned), or a value that changes nothing."""
        dropped = []
        for key, value in self.config.items():
            if key in self.used or key in _HARMLESS:
                continue
            if key in _TRAINING_ONLY:
                if value is not None:
                    dropped.append(key)
                continue
            if key == "data_format":
                if value not in (None, "channels_last"):
                    raise self.fail(f"has data_format={value!r}; rnnkit layers are channels last")
                continue
            if value in (None, False, 0, 0.0, "", [], {}):
                continue
            raise self.fail(f"has the option {key}={value!r}, which rnnkit does not support")
        if dropped:
            warnings.warn(f"{self.source}: layer {self.name!r} ({self.class_name}): {', '.join(dropped)} left out "
                          "(they shape training only; the loaded model computes the same)", UserWarning, stacklevel=4)
        dtype = self.config.get("dtype")
        policy = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
        if self.class_name != "InputLayer" and policy not in (None, "float32"):
            raise self.fail(f"computes in dtype policy {policy!r}; rnnkit loads float32 models")


def _base(r: _Reading) -> dict[str, Any]:
    return {"name": r.name}


def _input_layer(r: _Reading) -> dict[str, Any]:
    shape = r.get("batch_shape", r.get("batch_input_shape"))
    if shape is None and r.get("shape") is not None:
        shape = [r.get("batch_size")] + list(r.get("shape"))
    if not isinstance(shape, (list, tuple)):
        raise r.fail("has no batch_shape")
    dtype = r.get("dtype") or "float32"
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    for flag in ("sparse", "ragged", "optional"):
        if r.get(flag):
            raise r.fail(f"is {flag}; rnnkit inputs are dense tensors")
    return {**_base(r), "batch_shape": list(shape), "dtype": dtype}


def _dense(r: _Reading) -> dict[str, Any]:
    if r.get("lora_rank"):
        raise r.fail("has LoRA weights (lora_rank), which rnnkit does not support")
    return {**_base(r), "units": r.get("units"), "activation": r.activation("activation", "linear"),
            "use_bias": r.get("use_bias", True), "kernel_initializer": r.initializer("kernel_initializer", "glorot_uniform"),
            "bias_initializer": r.initializer("bias_initializer", "zeros")}


def _dropout(r: _Reading) -> dict[str, Any]:
    noise = r.get("noise_shape")
    return {**_base(r), "rate": r.get("rate"), **({"noise_shape": list(noise)} if noise else {})}


def _spatial_dropout(r: _Reading) -> dict[str, Any]:
    return {**_base(r), "rate": r.get("rate")}


def _activation(r: _Reading) -> dict[str, Any]:
    return {**_base(r), "activation": r.activation("activation", "linear")}


def _flatten(r: _Reading) -> dict[str, Any]:
    return _base(r)


def _masking(r: _Reading) -> dict[str, Any]:
    return {**_base(r), "mask_value": float(r.get("mask_value", 0.0))}


def _embedding(r: _Reading) -> dict[str, Any]:
    if r.get("lora_rank"):
        raise r.fail("has LoRA weights (lora_rank), which rnnkit does not support")
    r.get("embeddings_initializer")
    return {**_base(r), "input_dim": r.get("input_dim"), "output_dim": r.get("output_dim"),
            "mask_zero": bool(r.get("mask_zero", False))}


def _recurrent(r: _Reading) -> dict[str, Any]:
    if r.get("time_major"):
        raise r.fail("has time_major=True; rnnkit reads batch-major sequences (batch, time, features)")
    config = {**_base(r), "units": r.get("units"), "activation": r.activation("activation", "tanh"),
              "use_bias": r.get("use_bias", True),
              "kernel_initializer": r.initializer("kernel_initializer", "glorot_uniform"),
              "recurrent_initializer": r.initializer("recurrent_initializer", "orthogonal"),
              "bias_initializer": r.initializer("bias_initializer", "zeros"),
              "dropout": float(r.get("dropout", 0.0)), "recurrent_dropout": float(r.get("recurrent_dropout", 0.0))}
    for flag in ("return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask"):
        config[flag] = bool(r.get(flag, False))
    if r.class_name in ("LSTM", "GRU"):
        config["recurrent_activation"] = r.activation("recurrent_activation", "sigmoid")
    if r.class_name == "LSTM":
        config["unit_forget_bias"] = bool(r.get("unit_forget_bias", True))
    if r.class_name == "GRU":
        config["reset_after"] = bool(r.get("reset_after", True))
    return config


def _conv(r: _Reading) -> dict[str, Any]:
    rank = 1 if r.class_name == "Conv1D" else 2
    if r.get("groups", 1) != 1:
        raise r.fail(f"has groups={r.get('groups')}; rnnkit convolutions have one group")
    if r.get("lora_rank"):
        raise r.fail("has LoRA weights (lora_rank), which rnnkit does not support")
    paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    return {**_base(r), "filters": r.get("filters"), "kernel_size": r.int_tuple("kernel_size", rank, 1),
            "strides": r.int_tuple("strides", rank, 1), "padding": r.require("padding", paddings, "valid"),
            "dilation_rate": r.int_tuple("dilation_rate", rank, 1), "activation": r.activation("activation", "linear"),
            "use_bias": r.get("use_bias", True), "kernel_initializer": r.initializer("kernel_initializer", "glorot_uniform"),
            "bias_initializer": r.initializer("bias_initializer", "zeros")}


def _max_pooling(r: _Reading) -> dict[str, Any]:
    rank = 1 if r.class_name == "MaxPooling1D" else 2
    pool = r.int_tuple("pool_size", rank, 2)
    strides = r.get("strides")
    return {**_base(r), "pool_size": pool, "strides": pool if strides is None else r.int_tuple("strides", rank, 1),
            "padding": r.require("padding", ("valid", "same"), "valid")}


def _global_pooling(r: _Reading) -> dict[str, Any]:
    return {**_base(r), "keepdims": bool(r.get("keepdims", False))}


def _layer_normalization(r: _Reading) -> dict[str, Any]:
    if r.get("rms_scaling"):
        raise r.fail("has rms_scaling=True, which rnnkit does not support")
    axis = r.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    r.get("beta_initializer"), r.get("gamma_initializer")
    return {**_base(r), "axis": axis, "epsilon": float(r.get("epsilon", 1e-3)), "center": bool(r.get("center", True)),
            "scale": bool(r.get("scale", True))}


def _batch_normalization(r: _Reading) -> dict[str, Any]:
    axis = r.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    if axis not in (-1,):
        raise r.fail(f"normalises axis={axis!r}; rnnkit's BatchNormalization normalises the last axis (-1) only")
    for key in ("renorm", "virtual_batch_size"):  # Keras 2 options that change what is computed
        if r.get(key):
            raise r.fail(f"has {key}={r.config[key]!r}, which rnnkit does not support")
    for key in ("synchronized", "fused", "renorm_clipping", "renorm_momentum", "adjustment", "beta_initializer",
                "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer"):
        r.get(key)  # how training syncs, which kernel, where the weights start: the loaded weights are what count
    return {**_base(r), "axis": -1, "momentum": float(r.get("momentum", 0.99)), "epsilon": float(r.get("epsilon", 1e-3)),
            "center": bool(r.get("center", True)), "scale": bool(r.get("scale", True))}


def _concatenate(r: _Reading) -> dict[str, Any]:
    return {**_base(r), "axis": r.get("axis", -1)}


def _merge(r: _Reading) -> dict[str, Any]:
    return _base(r)


def _wrapped(r: _Reading, key: str, keras2: bool) -> dict[str, Any]:
    inner = r.get(key)
    if not isinstance(inner, dict) or "class_name" not in inner:
        raise r.fail(f"has no {key} config")
    return to_rnnkit(inner, r.source, keras2=keras2)


def _bidirectional(r: _Reading) -> dict[str, Any]:
    layer = _wrapped(r, "layer", r.keras2)
    if layer["class_name"] not in RECURRENT:
        raise r.fail(f"wraps {layer['class_name']}; rnnkit's Bidirectional wraps SimpleRNN, LSTM or GRU")
    config = {**_base(r), "layer": layer, "merge_mode": r.get("merge_mode", "concat")}
    if r.config.get("backward_layer") is not None:
        config["backward_layer"] = _wrapped(r, "backward_layer", r.keras2)
    r.get("backward_layer")
    return config


def _time_distributed(r: _Reading) -> dict[str, Any]:
    return {**_base(r), "layer": _wrapped(r, "layer", r.keras2)}


_READERS: dict[str, Callable[[_Reading], dict[str, Any]]] = {
    "InputLayer": _input_layer, "Dense": _dense, "Dropout": _dropout, "SpatialDropout1D": _spatial_dropout,
    "Activation": _activation, "Flatten": _flatten,
    "Masking": _masking, "Embedding": _embedding, "SimpleRNN": _recurrent, "LSTM": _recurrent, "GRU": _recurrent,
    "Bidirectional": _bidirectional, "TimeDistributed": _time_distributed, "Conv1D": _conv, "Conv2D": _conv,
    "MaxPooling1D": _max_pooling, "MaxPooling2D": _max_pooling, "GlobalAveragePooling1D": _global_pooling,
    "GlobalMaxPooling1D": _global_pooling, "LayerNormalization": _layer_normalization, "Concatenate": _concatenate,
    "BatchNormalization": _batch_normalization,
    "Add": _merge, "Subtract": _merge, "Multiply": _merge, "Average": _merge, "Maximum": _merge, "Minimum": _merge,
}
_ALIASES = {"Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D",
            "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalMaxPool1D": "GlobalMaxPooling1D"}


def to_rnnkit(entry: dict[str, Any], source: str, keras2: bool = False) -> dict[str, Any]:
    """The rnnkit ``{"class_name", "config"}`` of one Keras layer entry (``source`` names the file in errors).

    ``keras2``: the file was written by Keras 2, whose ``'hard_sigmoid'`` is
    ``clip(0.2 x + 0.5, 0, 1)``.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise KerasUnsupported(f"{source}: a layer entry without a class_name")
    class_name = _ALIASES.get(entry["class_name"], entry["class_name"])
    reader = _READERS.get(class_name)
    if reader is None:
        name = (entry.get("config") or {}).get("name", "?") if isinstance(entry.get("config"), dict) else "?"
        if class_name in ("Sequential", "Functional", "Model"):
            raise KerasUnsupported(f"{source}: layer {name!r} is a nested {class_name} model, which rnnkit does not "
                                   "read; save the inner model's layers in the outer model")
        raise KerasUnsupported(f"{source}: layer {name!r} is a {class_name}, which rnnkit cannot rebuild; the layers "
                               f"it reads are {', '.join(sorted(_READERS))}")
    r = _Reading({**entry, "class_name": class_name}, source, keras2)
    config = reader(r)
    r.check_rest()
    return {"class_name": class_name, "config": config}


# =========================================================================== rnnkit -> Keras
def _keras_entry(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}


def _out_tuple(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def to_keras(serialized: dict[str, Any], where: str) -> dict[str, Any]:
    """The Keras 3 layer entry of one rnnkit layer's :func:`~rnnkit.saving.serialize` output (``where``: for errors)."""
    cls, config = serialized["class_name"], dict(serialized["config"])
    name = config.get("name")

    def fail(what: str) -> KerasUnsupported:
        return KerasUnsupported(f"{where}: layer {name!r} ({cls}) {what}")

    def activation(key: str) -> str:
        value = config.get(key, "linear")
        if value not in _ACTIVATIONS:
            raise fail(f"uses the activation {value!r}, which Keras 3 does not have")
        return value

    def training_only(key: str) -> None:
        # rnnkit's regularisers that Keras lacks change training only: the Keras model predicts the same
        if config.get(key):
            warnings.warn(f"{where}: layer {name!r} ({cls}): {key}={config[key]} left out (Keras has no such option; "
                          "it shapes training only, so the Keras model predicts the same)", UserWarning, stacklevel=3)

    base = {"name": name, "trainable": True, "dtype": "float32"}
    if cls == "InputLayer":
        return _keras_entry(cls, {"batch_shape": config["batch_shape"], "dtype": config["dtype"], "sparse": False,
                                  "ragged": False, "name": name, "optional": False})
    if cls == "Dense":
        return _keras_entry(cls, {**base, "units": config["units"], "activation": activation("activation"),
                                  "use_bias": config["use_bias"], "kernel_initializer": config["kernel_initializer"],
                                  "bias_initializer": config["bias_initializer"]})
    if cls == "Dropout":
        return _keras_entry(cls, {**base, "rate": config["rate"], "noise_shape": config.get("noise_shape"),
                                  "seed": config.get("seed")})
    if cls == "SpatialDropout1D":
        # Keras' SpatialDropout1D config has no `trainable` (its constructor refuses one)
        return _keras_entry(cls, {"name": name, "dtype": "float32", "rate": config["rate"], "seed": config.get("seed")})
    if cls == "Activation":
        return _keras_entry(cls, {**base, "activation": activation("activation")})
    if cls == "Flatten":
        return _keras_entry(cls, {**base, "data_format": "channels_last"})
    if cls == "Masking":
        return _keras_entry(cls, {**base, "mask_value": config["mask_value"]})
    if cls == "Embedding":
        training_only("embeddings_dropout")
        init = config.get("embeddings_initializer", "random_uniform")
        return _keras_entry(cls, {**base, "input_dim": config["input_dim"], "output_dim": config["output_dim"],
                                  "mask_zero": config["mask_zero"],
                                  "embeddings_initializer": "uniform" if init == "random_uniform" else init})
    if cls in RECURRENT:
        if config.get("use_fused") not in (None, "auto", True, False, "reference"):
            raise fail("has an unknown use_fused")
        training_only("recurrent_weight_dropout")
        out = {**base, "units": config["units"], "activation": activation("activation"), "use_bias": config["use_bias"],
               "kernel_initializer": config["kernel_initializer"], "recurrent_initializer": config["recurrent_initializer"],
               "bias_initializer": config["bias_initializer"], "dropout": config["dropout"],
               "recurrent_dropout": config["recurrent_dropout"]}
        for flag in ("return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask"):
            out[flag] = config[flag]
        if cls in ("LSTM", "GRU"):
            out["recurrent_activation"] = activation("recurrent_activation")
        if cls == "LSTM":
            out["unit_forget_bias"] = config["unit_forget_bias"]
        if cls == "GRU":
            out["reset_after"] = config["reset_after"]
        return _keras_entry(cls, out)
    if cls == "Bidirectional":
        layer = to_keras(config["layer"], where)
        backward = to_keras(config["backward_layer"], where) if config.get("backward_layer") else None
        return _keras_entry(cls, {**base, "layer": layer, "merge_mode": config["merge_mode"], "backward_layer": backward})
    if cls == "TimeDistributed":
        return _keras_entry(cls, {**base, "layer": to_keras(config["layer"], where)})
    if cls in ("Conv1D", "Conv2D"):
        return _keras_entry(cls, {**base, "filters": config["filters"], "kernel_size": _out_tuple(config["kernel_size"]),
                                  "strides": _out_tuple(config["strides"]), "padding": config["padding"],
                                  "data_format": "channels_last", "dilation_rate": _out_tuple(config["dilation_rate"]),
                                  "groups": 1, "activation": activation("activation"), "use_bias": config["use_bias"],
                                  "kernel_initializer": config["kernel_initializer"],
                                  "bias_initializer": config["bias_initializer"]})
    if cls in ("MaxPooling1D", "MaxPooling2D"):
        return _keras_entry(cls, {**base, "pool_size": _out_tuple(config["pool_size"]),
                                  "strides": _out_tuple(config["strides"]), "padding": config["padding"],
                                  "data_format": "channels_last"})
    if cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return _keras_entry(cls, {**base, "data_format": "channels_last", "keepdims": config.get("keepdims", False)})
    if cls == "LayerNormalization":
        return _keras_entry(cls, {**base, "axis": config["axis"], "epsilon": config["epsilon"], "center": config["center"],
                                  "scale": config["scale"], "rms_scaling": False})
    if cls == "BatchNormalization":
        return _keras_entry(cls, {**base, "axis": -1, "momentum": config["momentum"], "epsilon": config["epsilon"],
                                  "center": config["center"], "scale": config["scale"], "synchronized": False})
    if cls == "Concatenate":
        return _keras_entry(cls, {**base, "axis": config["axis"]})
    if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return _keras_entry(cls, base)
    if cls in ("RNN", "MinGRU", "MinLSTM", "Attention", "AdditiveAttention", "HashedNGrams", "NaiveBayesBag"):
        raise fail("has no Keras 3 counterpart that this writer knows; keep the model in rnnkit's format")
    if cls in ("MaskedConv1D", "MaskedMaxPooling1D"):
        raise fail("keeps the padding mask, which Keras' convolutions and pooling drop, so a Keras model would predict "
                   "otherwise on padded input; keep the model in rnnkit's format")
    raise fail("is not a layer the Keras writer knows (a custom or non-rnnkit layer); keep the model in rnnkit's format")


# =========================================================================== where the weights are
def keras_weight_paths(entry: dict[str, Any]) -> list[str]:
    """The ``vars`` groups, under a layer's own group of a ``.keras`` weights file, that hold its weights in order.

    A recurrent layer keeps them in its ``cell``, a Bidirectional in its two
    layers, a TimeDistributed in its ``layer``; every other layer in ``vars``.

    >>> keras_weight_paths({"class_name": "Bidirectional", "config": {"layer": {"class_name": "GRU", "config": {}}}})
    ['forward_layer/cell/vars', 'backward_layer/cell/vars']
    """
    cls, config = entry["class_name"], entry.get("config") or {}
    if cls in RECURRENT:
        return ["cell/vars"]
    if cls == "Bidirectional":
        forward = config.get("layer") or {}
        backward = config.get("backward_layer") or forward
        return ([f"forward_layer/{p}" for p in keras_weight_paths(forward)]
                + [f"backward_layer/{p}" for p in keras_weight_paths(backward)])
    if cls == "TimeDistributed":
        return [f"layer/{p}" for p in keras_weight_paths(config.get("layer") or {"class_name": "?"})]
    return ["vars"]


def keras_operation_order(entries: list[dict[str, Any]], outputs: list[list], inputs: list[list]) -> list[str]:
    """The names of a functional config's operations in Keras' order (``keras.src.ops.function.map_graph``).

    ``entries`` are Keras 3 functional entries (``name``, ``inbound_nodes`` of
    ``{"args", "kwargs"}`` with ``__keras_tensor__`` references); a ``.keras``
    weights file names each layer by its class in snake case, numbered in this
    order (``lstm``, ``lstm_1``), which is: deepest first (the longest path to an
    output), then in the order a depth-first search from the outputs meets them.
    """
    parents: dict[tuple, list[tuple]] = {}
    for entry in entries:
        for k, node in enumerate(entry.get("inbound_nodes") or []):
            refs = _refs([node.get("args", []), node.get("kwargs", {})])
            parents[(entry["name"], k)] = [(h[0], h[1]) for h in refs]
        if not entry.get("inbound_nodes"):
            parents[(entry["name"], 0)] = []
    finished: set = set()
    in_progress: set = set()
    ordered: list[tuple] = []
    op_index: dict[str, int] = {}

    def visit(key: tuple) -> None:
        stack = [(key, iter(parents.get(key, [])))]
        if key in finished:
            return
        op_index.setdefault(key[0], len(op_index))
        in_progress.add(key)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                in_progress.discard(node)
                finished.add(node)
                ordered.append(node)
                continue
            if child in finished:
                continue
            if child in in_progress:
                raise ConfigError(f"the functional graph has a cycle through {child[0]!r}")
            op_index.setdefault(child[0], len(op_index))
            in_progress.add(child)
            stack.append((child, iter(parents.get(child, []))))

    for ref in outputs:
        visit((ref[0], ref[1]))
    in_graph = set(ordered)
    node_depth: dict[tuple, int] = {}
    op_depth: dict[str, int] = {}
    for node in reversed(ordered):
        depth = node_depth.setdefault(node, 0)
        depth = max(depth, op_depth.get(node[0], 0))
        op_depth[node[0]] = depth
        node_depth[node] = depth
        for parent in parents.get(node, []):
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for ref in inputs:
        if ref[0] not in op_depth:
            op_depth[ref[0]] = 0
            op_index[ref[0]] = -1
    by_depth: dict[int, list[str]] = collections.defaultdict(list)
    for op, depth in op_depth.items():
        by_depth[depth].append(op)
    order = []
    for depth in sorted(by_depth, reverse=True):
        order.extend(sorted(by_depth[depth], key=lambda op: op_index[op]))
    return order


def _refs(value: Any) -> list[list]:
    """The ``keras_history`` of every tensor reference in a node's arguments, in order (args, then kwargs)."""
    out = []
    stack = [value]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            out.append(item["config"]["keras_history"])
        elif isinstance(item, dict):
            stack[0:0] = list(item.values())
        elif isinstance(item, (list, tuple)):
            stack[0:0] = list(item)
    return out
