"""Figures of a classifier on labelled examples: accuracy, macro F1, per-class precision/recall, confusion.

All of it is computed from two integer arrays (true and predicted class ids) with
NumPy; the definitions are the usual ones (scikit-learn's ``classification_report``
gives the same numbers, with ``zero_division=0``; the tests check both against
hand-computed figures, and against scikit-learn where it is installed): for class
``c``, precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R),
each 0 where its denominator is 0; macro F1 is the unweighted mean of the
per-class F1 over all classes, also those absent from the data.

Why not scikit-learn itself: these are a confusion matrix (one ``bincount``) and
three divisions, while scikit-learn would add scikit-learn, SciPy, joblib and
threadpoolctl (about 200 MB installed) to every install of rnnkit for them.

>>> r = classification_report([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["neg", "pos"])
>>> r["accuracy"], round(r["macro_f1"], 4)
(0.6, 0.5833)
>>> r["per_class"]["pos"]
{'precision': 0.6666666666666666, 'recall': 0.6666666666666666, 'f1': 0.6666666666666666, 'support': 3}
>>> r["confusion"]
[[1, 1], [1, 2]]
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ShapeError

__all__ = ["confusion_matrix", "classification_report"]


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts ``(num_classes, num_classes)``: row = true class, column = predicted class.

    >>> confusion_matrix([0, 1, 1], [1, 1, 0], 3).tolist()
    [[0, 1, 0], [1, 1, 0], [0, 0, 0]]
    """
    t, p = np.asarray(y_true, dtype=np.int64).ravel(), np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ShapeError(f"confusion_matrix: {t.size} true labels but {p.size} predictions; give one prediction per text")
    for name, ids in (("true", t), ("predicted", p)):
        bad = ids[(ids < 0) | (ids >= num_classes)]
        if bad.size:
            raise ShapeError(f"confusion_matrix: {name} class id {int(bad[0])} is outside [0, {num_classes}); "
                             f"ids must index the {num_classes} class names")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix (JSON-safe)."""
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0).astype(float), cm.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    total = cm.sum()
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()) if k else 0.0,
        "per_class": {str(c): {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                               "support": int(actual[i])} for i, c in enumerate(classes)},
        "confusion": cm.tolist(),
    }
