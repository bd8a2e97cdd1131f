"""Fixtures of the rnnkit.keras tests: real Keras as the reference, and tutorial programs run as scripts.

``programs/`` holds whole tutorial programs, which run when imported: pytest's
doctest collection must not import them.
"""
import runpy
from pathlib import Path

import pytest

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
