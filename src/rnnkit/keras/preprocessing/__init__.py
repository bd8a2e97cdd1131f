"""``keras.preprocessing``: ``sequence.pad_sequences`` and (Keras 2's) ``text.Tokenizer``.

>>> from rnnkit.keras.preprocessing.text import Tokenizer
>>> from rnnkit.keras.preprocessing.sequence import pad_sequences
>>> tok = Tokenizer(num_words=10)
>>> tok.fit_on_texts(["the cat sat", "the dog"])
>>> pad_sequences(tok.texts_to_sequences(["the cat", "a dog"]), maxlen=3)
array([[0, 1, 2],
       [0, 0, 4]], dtype=int32)
"""
from . import sequence, text
from .._missing import absent

__all__ = ["sequence", "text"]

HINTS = {
    "image": "rnnkit has no image preprocessing; use torchvision or numpy on the arrays",
    "image_dataset_from_directory": "rnnkit has no image loader; use torchvision.datasets.ImageFolder",
    "text_dataset_from_directory": "read the files yourself, or train with `rnnkit classify train --data folder/`",
    "timeseries_dataset_from_array": "rnnkit.data.make_windows(series, ...) gives the (x, y) windows as arrays",
}

__getattr__ = absent(__name__, __all__, HINTS)
