"""rnnkit: recurrent neural networks on PyTorch with Keras semantics.

Subpackages: :mod:`rnnkit.cells` (one time step), :mod:`rnnkit.layers` (loops
over time and the other layers), :mod:`rnnkit.activations`,
:mod:`rnnkit.initializers`, :mod:`rnnkit.errors`.
"""
from . import activations, cells, errors, initializers, layers
from .errors import RnnkitError

__version__ = "0.1.0"
__all__ = ["activations", "cells", "errors", "initializers", "layers", "RnnkitError", "__version__"]
