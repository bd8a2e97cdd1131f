"""``keras.callbacks``: rnnkit's callbacks with Keras' names and arguments (and rnnkit's TimeBudget).

``ModelCheckpoint(filepath, save_weights_only=True, save_best_only=True,
monitor='loss')`` writes at ``filepath`` itself, in rnnkit's format whatever the
name (see :class:`rnnkit.training.callbacks.ModelCheckpoint`).

>>> from rnnkit.keras import callbacks
>>> callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True).patience
3
"""
from ..training.callbacks import (CSVLogger, Callback, CallbackList, EarlyStopping, History, LambdaCallback,
                                  LearningRateScheduler, ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau,
                                  SwapEMAWeights, TensorBoard, TerminateOnNaN, TimeBudget)
from ._missing import absent

__all__ = [
    "Callback", "CallbackList", "History", "ModelCheckpoint", "EarlyStopping", "ReduceLROnPlateau",
    "LearningRateScheduler", "CSVLogger", "TensorBoard", "TerminateOnNaN", "LambdaCallback", "ProgbarLogger",
    "SwapEMAWeights", "TimeBudget",
]

HINTS = {
    "BackupAndRestore": "write ModelCheckpoint(path, save_weights_only=False) and go on with "
                        "model.fit(..., resume_from=path)",
    "OrbaxCheckpoint": "use keras.callbacks.ModelCheckpoint",
}

__getattr__ = absent(__name__, __all__, HINTS)
