"""Text classification (sentiment analysis and more): ``rnnkit classify train|predict|evaluate``."""
from ..framework import App, Command
from .recipe import (ClassifyConfig, EvaluateOptions, Prediction, PredictOptions, evaluate, evaluate_command, load_run,
                     predict, predict_command, train)

__all__ = ["ClassifyConfig", "PredictOptions", "EvaluateOptions", "Prediction", "train", "predict", "evaluate",
           "load_run", "APP"]

#: the ``rnnkit classify`` command
APP = App("classify", "text classification: sentiment analysis and more", [
    Command("train", "train a classifier on labelled texts", ClassifyConfig, train, quiet={"verbose": 0}),
    Command("predict", "label and probability of texts, with a trained run", PredictOptions, predict_command),
    Command("evaluate", "accuracy, macro F1 and per-class figures on labelled data", EvaluateOptions, evaluate_command),
])
