"""``keras.initializers``: not mapped; layers take rnnkit's initializers by their Keras names as strings.

Keras' initializers are objects called with a shape (``GlorotUniform(seed=1)``);
rnnkit's are functions that fill a tensor, chosen by name:
``Dense(8, kernel_initializer="glorot_uniform")``.  Every name here is therefore
a one-line error that says so.

>>> from rnnkit.keras import initializers
>>> hasattr(initializers, "GlorotUniform")
False
"""
from .. import initializers as _initializers
from ._missing import absent

__all__: list[str] = []

_AS_STRING = ("give the initializer's name as a string, e.g. kernel_initializer='{}' "
              f"(rnnkit has {', '.join(_initializers.available())})")

HINTS = {
    "GlorotUniform": _AS_STRING.format("glorot_uniform"), "glorot_uniform": _AS_STRING.format("glorot_uniform"),
    "GlorotNormal": _AS_STRING.format("glorot_normal"), "glorot_normal": _AS_STRING.format("glorot_normal"),
    "HeUniform": _AS_STRING.format("he_uniform"), "he_uniform": _AS_STRING.format("he_uniform"),
    "HeNormal": _AS_STRING.format("he_normal"), "he_normal": _AS_STRING.format("he_normal"),
    "LecunUniform": _AS_STRING.format("lecun_uniform"), "lecun_uniform": _AS_STRING.format("lecun_uniform"),
    "LecunNormal": _AS_STRING.format("lecun_normal"), "lecun_normal": _AS_STRING.format("lecun_normal"),
    "Orthogonal": _AS_STRING.format("orthogonal"), "orthogonal": _AS_STRING.format("orthogonal"),
    "RandomUniform": _AS_STRING.format("random_uniform"), "random_uniform": _AS_STRING.format("random_uniform"),
    "RandomNormal": _AS_STRING.format("random_normal"), "random_normal": _AS_STRING.format("random_normal"),
    "Zeros": _AS_STRING.format("zeros"), "zeros": _AS_STRING.format("zeros"),
    "Ones": _AS_STRING.format("ones"), "ones": _AS_STRING.format("ones"),
}
_OTHER = ("give a known initializer's name as a string or a function that fills a tensor in place "
          f"(rnnkit has {', '.join(_initializers.available())})")

__getattr__ = absent(__name__, __all__, HINTS, default=_OTHER)
