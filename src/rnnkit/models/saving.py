"""Saving and loading models: the functions live in :mod:`rnnkit.saving.model_files`; kept importable here.

>>> from rnnkit.models.saving import load_model
>>> from rnnkit import saving
>>> load_model is saving.load_model
True
"""
from ..saving.model_files import (load_model, load_weights, load_weights_from, restore_training_state, save_model,
                                  save_weights)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "load_weights_from", "restore_training_state"]
