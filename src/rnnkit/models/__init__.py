"""Models: the Keras-familiar API (compile / fit / evaluate / predict / summary / save) on nn.Module.

:class:`Sequential` stacks layers; ``Model(inputs, outputs)`` (a :class:`Functional`) joins layers called
on :func:`Input` tensors; a subclass of :class:`Model` writes its own ``forward``; :class:`Ensemble` averages
trained models.
"""
from ..layers.input_layer import Input
from .ensemble import Ensemble
from .functional import Functional
from .model import Model
from .saving import load_model, load_weights, save_model, save_weights
from .seq2seq import Seq2Seq
from .sequential import Sequential

__all__ = ["Model", "Sequential", "Functional", "Input", "Seq2Seq", "Ensemble", "load_model", "save_model",
           "load_weights", "save_weights"]
