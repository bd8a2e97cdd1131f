"""rnnkit: recurrent neural networks on PyTorch with Keras semantics.

Subpackages: :mod:`rnnkit.cells` (one time step), :mod:`rnnkit.layers` (loops
over time and the other layers), :mod:`rnnkit.training` (losses, metrics,
optimizers, callbacks), :mod:`rnnkit.losses`, :mod:`rnnkit.metrics` (with the
error rates) and :mod:`rnnkit.optimizers` (their public homes, as in Keras),
:mod:`rnnkit.decoding` (greedy and beam search over a step function, CTC
decoding), :mod:`rnnkit.data` (tokenizers, padding, windows, batching),
:mod:`rnnkit.audio` (audio files, log-mel / MFCC features, SpecAugment),
:mod:`rnnkit.datasets` (real datasets with a verified cache),
:mod:`rnnkit.diagnostics` (the gradient's flow through time, gate statistics, their plots),
:mod:`rnnkit.activations`, :mod:`rnnkit.initializers`, :mod:`rnnkit.random`
(:func:`set_seed`), :mod:`rnnkit.saving` (the registry of serializable classes,
checkpoint and model files, Keras' ``.keras``/``.h5`` files: :func:`load_keras`, :func:`save_keras`), :mod:`rnnkit.apps`
(the app framework and the apps; not imported here), :mod:`rnnkit.keras` (Keras 3's public names mapped onto
rnnkit, ``from rnnkit import keras``; not imported here), :mod:`rnnkit.errors`.
"""
from . import (activations, audio, cells, data, datasets, decoding, diagnostics, errors, initializers, layers, losses,
               metrics, models, optimizers, random, saving, training)
from .errors import RnnkitError
from .models import Input, Model, Sequential, load_model
from .saving import load_keras, save_keras
from .random import set_seed
from ._version import __version__

__all__ = [
    "activations",
    "audio",
    "cells",
    "data",
    "datasets",
    "decoding",
    "diagnostics",
    "errors",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "Model",
    "Sequential",
    "Input",
    "load_model",
    "load_keras",
    "save_keras",
    "optimizers",
    "random",
    "saving",
    "training",
    "RnnkitError",
    "set_seed",
    "__version__",
]
