"""``keras.preprocessing.sequence``: :func:`pad_sequences` (Keras' padding and truncation rules).

>>> from rnnkit.keras.preprocessing.sequence import pad_sequences
>>> pad_sequences([[1, 2, 3]], maxlen=2, truncating="post")
array([[1, 2]], dtype=int32)
"""
from ...data import pad_sequences
from .._missing import absent

__all__ = ["pad_sequences"]

HINTS = {
    "TimeseriesGenerator": "rnnkit.data.make_windows(series, ...) gives the (x, y) windows as arrays",
    "skipgrams": "no word2vec helpers in rnnkit",
    "make_sampling_table": "no word2vec helpers in rnnkit",
}

__getattr__ = absent(__name__, __all__, HINTS)
