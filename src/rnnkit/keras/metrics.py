"""``keras.metrics``: rnnkit's streaming metrics as classes, and Keras' metric functions (one value per example).

``metrics=['accuracy']`` in ``compile`` picks the binary, categorical or sparse
accuracy from the loss and the shapes, as Keras does for the string.

>>> import torch
>>> from rnnkit.keras import metrics
>>> m = metrics.SparseCategoricalAccuracy()
>>> m.update_state(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
>>> m.result()
0.5
>>> metrics.sparse_categorical_accuracy(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
tensor([1., 0.])
"""
from ..training.losses import (binary_crossentropy, categorical_crossentropy, huber, mean_absolute_error,
                               mean_squared_error, sparse_categorical_crossentropy)
from ..training.metrics import (BinaryAccuracy, CategoricalAccuracy, MeanAbsoluteError, MeanMetricWrapper,
                                MeanSquaredError, Metric, Perplexity, RootMeanSquaredError,
                                SparseCategoricalAccuracy, binary_accuracy, categorical_accuracy, deserialize, get,
                                serialize, sparse_categorical_accuracy)
from ._missing import absent

__all__ = [
    "Metric", "MeanMetricWrapper", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "Perplexity",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get", "serialize", "deserialize",
]

_REPORT = ("after predict, rnnkit.metrics.classification_report(y_true, y_pred) gives precision, recall and F1 "
           "per class (and confusion_matrix the counts)")

HINTS = {
    "Accuracy": "use metrics=['accuracy'] (the variant is picked from the loss) or BinaryAccuracy, "
                "CategoricalAccuracy, SparseCategoricalAccuracy",
    **{name: _REPORT for name in ("Precision", "Recall", "F1Score", "FBetaScore", "AUC", "TruePositives",
                                  "TrueNegatives", "FalsePositives", "FalseNegatives", "PrecisionAtRecall",
                                  "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity")},
    "BinaryCrossentropy": "log the loss (it is in history.history['loss']) or use keras.metrics.binary_crossentropy",
    "CategoricalCrossentropy": "log the loss or use keras.metrics.categorical_crossentropy",
    "SparseCategoricalCrossentropy": "log the loss or use keras.metrics.sparse_categorical_crossentropy",
    "TopKCategoricalAccuracy": "no top-k accuracy in rnnkit; use SparseCategoricalAccuracy, or a function "
                               "fn(y_true, y_pred) in metrics=[...]",
    "SparseTopKCategoricalAccuracy": "no top-k accuracy in rnnkit; use SparseCategoricalAccuracy, or a function "
                                     "fn(y_true, y_pred) in metrics=[...]",
}

__getattr__ = absent(__name__, __all__, HINTS)
