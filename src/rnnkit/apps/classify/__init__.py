"""Text classification (sentiment analysis and more): ``rnnkit classify train|predict|evaluate``."""
from .recipe import ClassifyConfig, Prediction, evaluate, load_run, predict, train

__all__ = ["ClassifyConfig", "Prediction", "train", "predict", "evaluate", "load_run"]
