"""``keras.preprocessing.text``: Keras 2's :class:`Tokenizer` and ``tokenizer_from_json`` (Keras 3 dropped them).

>>> from rnnkit.keras.preprocessing.text import Tokenizer, tokenizer_from_json
>>> tok = Tokenizer(oov_token="<unk>")
>>> tok.fit_on_texts(["Hello, world!"])
>>> tokenizer_from_json(tok.to_json()).word_index
{'<unk>': 1, 'hello': 2, 'world': 3}
"""
from ...data import Tokenizer, tokenizer_from_json
from .._missing import absent

__all__ = ["Tokenizer", "tokenizer_from_json"]

HINTS = {
    "text_to_word_sequence": "Tokenizer().fit_on_texts / texts_to_sequences cut text the same way "
                             "(lower-cased, punctuation but the apostrophe removed, split on spaces)",
    "one_hot": "use Tokenizer(num_words=n).texts_to_sequences (ids of a fixed vocabulary, not hashes)",
    "hashing_trick": "use Tokenizer(num_words=n).texts_to_sequences (ids of a fixed vocabulary, not hashes)",
}

__getattr__ = absent(__name__, __all__, HINTS)
