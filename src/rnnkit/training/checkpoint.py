"""Where :mod:`rnnkit.saving.checkpoint` used to live: the crash-safe checkpoint file format.

The format belongs to :mod:`rnnkit.saving` (below layers, models and training);
these names stay importable from here for code written before the move.

>>> from rnnkit.training.checkpoint import save_file
>>> from rnnkit.saving import checkpoint
>>> save_file is checkpoint.save_file
True
"""
from ..saving.checkpoint import FORMAT_VERSION, load_file, save_file

__all__ = ["FORMAT_VERSION", "save_file", "load_file"]
