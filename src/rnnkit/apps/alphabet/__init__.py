"""The next-letter demo: a SimpleRNN(3) learns "abcd" -> "e", then answers letters typed on standard input."""
from .recipe import ALPHABET, AlphabetConfig, run

__all__ = ["ALPHABET", "AlphabetConfig", "run"]
