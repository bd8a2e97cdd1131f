"""Machine translation with an RNN encoder–decoder and attention: ``rnnkit translate train|run``."""
from ..framework import App, Command
from .recipe import RunOptions, TranslateConfig, load_run, run_command, train, translate
from .translator import Translation, Translator, corpus_scores

__all__ = ["TranslateConfig", "RunOptions", "Translation", "Translator", "train", "translate", "load_run",
           "corpus_scores", "APP"]

#: the ``rnnkit translate`` command
APP = App("translate", "machine translation: encoder-decoder with attention, BLEU, beam search", [
    Command("train", "train a translation model on sentence pairs", TranslateConfig, train, quiet={"verbose": 0}),
    Command("run", "translate sentences with a trained run", RunOptions, run_command),
])
