"""Text generation and language modelling: ``rnnkit textgen train|sample`` and ``rnnkit lm train``."""
from .generate import filter_logits, generate
from .recipe import TextgenConfig, load_run, sample, train

__all__ = ["TextgenConfig", "train", "sample", "load_run", "generate", "filter_logits"]
