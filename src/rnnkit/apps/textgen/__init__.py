"""Text generation and language modelling: ``rnnkit textgen train|sample`` and ``rnnkit lm train``."""
from ..framework import App, Command
from .generate import filter_logits, generate
from .recipe import LM_DEFAULTS, SampleOptions, TextgenConfig, load_run, sample, sample_command, train

__all__ = ["TextgenConfig", "SampleOptions", "LM_DEFAULTS", "train", "sample", "load_run", "generate",
           "filter_logits", "APP", "LM_APP"]

_TRAIN = dict(options=TextgenConfig, run=train, quiet={"verbose": 0}, resumable=True)

#: the ``rnnkit textgen`` command
APP = App("textgen", "train a character- or word-level language model, generate text", [
    Command("train", "train into a run folder", **_TRAIN),
    Command("sample", "generate text from a trained run", SampleOptions, sample_command),
])

#: the ``rnnkit lm`` command: word-level language modelling, Zaremba et al.'s small PTB model by default
LM_APP = App("lm", "word-level language modelling (PTB by default), with test perplexity", [
    Command("train", "train; defaults are Zaremba et al.'s small PTB model", defaults=LM_DEFAULTS, **_TRAIN),
])
