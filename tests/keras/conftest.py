"""Fixtures of the rnnkit.keras tests: real Keras as the reference, Keras weights copied in, tutorial programs run.

``programs/`` holds whole tutorial programs, which run when imported: pytest's
doctest collection must not import them.
"""
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

collect_ignore = ["programs"]

PROGRAMS = Path(__file__).parent / "programs"

#: the import lines that make a program of programs/ the same program for real Keras
KERAS_IMPORTS = (("from rnnkit import keras\n", "import keras\n"),
                 ("from rnnkit.keras.layers import", "from keras.layers import"))


@pytest.fixture
def real_keras(keras):
    """Keras 3 on the torch backend (the ``keras`` fixture of tests/conftest.py), under a name that leaves
    ``keras`` to ``from rnnkit import keras`` in these tests."""
    return keras


@pytest.fixture
def run_program(tmp_path, monkeypatch, capsys):
    """``run_program(name, keras_module=None)`` runs ``programs/<name>.py`` as a script in ``tmp_path`` and returns
    ``(its globals, what it printed)``; with real Keras given, its import lines are first swapped for Keras' own."""

    def run(name, keras_module=None):
        path = PROGRAMS / f"{name}.py"
        monkeypatch.chdir(tmp_path)
        if keras_module is None:
            result = runpy.run_path(str(path), run_name="__main__")
        else:
            source = path.read_text()
            for ours, theirs in KERAS_IMPORTS:
                assert ours in source, f"{name}: no line {ours!r} to swap"
                source = source.replace(ours, theirs)
            result = {"__name__": "__main__", "__file__": str(path)}
            exec(compile(source, str(path), "exec"), result)
        return result, capsys.readouterr().out

    return run


def copy_keras_weights(theirs, ours):
    """Give each rnnkit layer of ``ours`` the weights of the same-position Keras layer of ``theirs`` (Sequential
    models): recurrent layers through their Keras-layout ``set_weights``, Dense and Embedding by hand."""
    their_layers = [layer for layer in theirs.layers if layer.weights]
    our_layers = [layer for layer in ours.layers if any(True for _ in layer.parameters())]
    assert len(their_layers) == len(our_layers), (their_layers, our_layers)
    for k, r in zip(their_layers, our_layers):
        weights = [np.asarray(w) for w in k.get_weights()]
        kind = type(r).__name__
        if kind == "Dense":
            with torch.no_grad():
                r.weight.copy_(torch.from_numpy(weights[0].T))
                r.bias.copy_(torch.from_numpy(weights[1]))
        elif kind == "Embedding":
            with torch.no_grad():
                r.weight.copy_(torch.from_numpy(weights[0]))
        else:
            r.set_weights(weights)


def keras_outputs(model, x):
    """A Keras model's outputs for ``x`` as a NumPy array (torch backend)."""
    out = model(x)
    return out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
