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
    "mnist": "use rnnkit.datasets.load('mnist', 'train') and load('mnist', 'test'): (images (N, 28, 28), labels) as "
             "uint8 arrays, each split read on its own",
    "fashion_mnist": "use rnnkit.datasets.load('fashion-mnist', 'train') and load('fashion-mnist', 'test'): (images "
                     "(N, 28, 28), labels) as uint8 arrays, each split read on its own",
    "cifar10": _LIST, "cifar100": _LIST, "reuters": _LIST, "boston_housing": _LIST, "california_housing": _LIST,
}

__getattr__ = absent(__name__, __all__, HINTS)
