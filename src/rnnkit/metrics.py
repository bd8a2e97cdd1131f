"""Public home of the Keras-style metrics and the error rates: ``rnnkit.metrics.word_error_rate(refs, hyps)``.

Everything is defined in :mod:`rnnkit.training.metrics` (streaming metrics and the
``'accuracy'`` rule) and :mod:`rnnkit.training.error_rates` (edit distance, token,
word and character error rates); this module re-exports it under the name Keras
users expect.

>>> from rnnkit import metrics
>>> metrics.get("rmse")
RootMeanSquaredError(name='rmse')
>>> metrics.word_error_rate(["a b c"], ["a x c"])
0.3333333333333333
"""
from .training.metrics import (
    BinaryAccuracy,
    CategoricalAccuracy,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    Perplexity,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    available,
    binary_accuracy,
    categorical_accuracy,
    character_error_rate,
    classification_report,
    confusion_matrix,
    deserialize,
    edit_distance,
    get,
    resolve,
    serialize,
    sparse_categorical_accuracy,
    token_error_rate,
    word_error_rate,
)

__all__ = [
    "Metric", "MeanMetricWrapper", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "Perplexity",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "classification_report", "confusion_matrix", "edit_distance", "token_error_rate", "word_error_rate", "character_error_rate",
    "get", "resolve", "serialize", "deserialize", "available",
]
