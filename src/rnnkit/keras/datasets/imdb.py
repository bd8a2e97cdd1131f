"""``keras.datasets.imdb``: ``load_data`` and ``get_word_index`` (see :mod:`rnnkit.datasets.imdb_sequences`).

>>> from rnnkit.keras.datasets import imdb
>>> imdb.load_data(maxlen=-1)
Traceback (most recent call last):
...
rnnkit.errors.ConfigError: imdb.load_data: `maxlen` must be a positive integer or None, got -1
"""
from ...datasets.imdb_sequences import get_word_index, load_data
from .._missing import absent

__all__ = ["load_data", "get_word_index"]

__getattr__ = absent(__name__, __all__, {})
