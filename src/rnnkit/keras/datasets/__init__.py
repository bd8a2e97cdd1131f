"""``keras.datasets``: ``imdb`` (reviews as word ids, Keras' format) through rnnkit's verified dataset cache.

Other data sets rnnkit has are in :mod:`rnnkit.datasets` (``rnnkit.datasets.available()``).

>>> from rnnkit.keras import datasets
>>> datasets.imdb.load_data.__module__
'rnnkit.datasets.imdb_sequences'
"""
from . import imdb
from .._missing import absent

__all__ = ["imdb"]

_LIST = "rnnkit.keras.datasets has imdb; rnnkit.datasets.available() lists rnnkit's other data sets (rnnkit.datasets.load)"

HINTS = {
    "mnist": "not yet: MNIST comes with rnnkit.datasets' image data (issue 19); " + _LIST,
    "fashion_mnist": "not yet: Fashion-MNIST comes with rnnkit.datasets' image data (issue 19); " + _LIST,
    "cifar10": _LIST, "cifar100": _LIST, "reuters": _LIST, "boston_housing": _LIST, "california_housing": _LIST,
}

__getattr__ = absent(__name__, __all__, HINTS)
