"""Models: the Keras-familiar API (compile / fit / evaluate / predict / summary / save) on nn.Module."""
from .model import Model
from .saving import load_model, load_weights, save_model, save_weights
from .seq2seq import Seq2Seq
from .sequential import Sequential

__all__ = ["Model", "Sequential", "Seq2Seq", "load_model", "save_model", "load_weights", "save_weights"]
