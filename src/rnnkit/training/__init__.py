"""The building blocks behind ``compile`` and ``fit``; this package knows no model.

:mod:`~rnnkit.training.losses` (losses by Keras name, per time step, masked),
:mod:`~rnnkit.training.metrics` (streaming metrics and the ``'accuracy'`` rule),
:mod:`~rnnkit.training.optimizers` (Keras-style optimizer specs building ``torch.optim``
optimizers; discriminative learning rates), :mod:`~rnnkit.training.schedules` (the slanted
triangular learning rate), :mod:`~rnnkit.training.callbacks`, :mod:`~rnnkit.training.checkpoint`
(crash-safe safetensors files) and :mod:`~rnnkit.training.tensorboard` (event files through the
optional ``tensorboard`` package).
"""

# Losses, metrics and optimizers are used as modules (losses.get, metrics.resolve,
# optimizers.get), since losses and metrics share class names such as MeanSquaredError.
from . import callbacks, checkpoint, ema, losses, metrics, optimizers, schedules, tensorboard
from .callbacks import (
    CallbackList,
    Callback,
    CSVLogger,
    EarlyStopping,
    GradualUnfreezing,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    MonitorCallback,
    ProgbarLogger,
    ReduceLROnPlateau,
    SwapEMAWeights,
    TensorBoard,
    TerminateOnNaN,
    TimeBudget,
)
from .checkpoint import load_file, save_file
from .tensorboard import EventFileWriter

__all__ = [
    "losses", "metrics", "optimizers", "callbacks", "checkpoint", "tensorboard",
    "Callback", "CallbackList", "History", "ModelCheckpoint", "EarlyStopping", "ReduceLROnPlateau",
    "LearningRateScheduler", "CSVLogger", "MonitorCallback", "ProgbarLogger", "TensorBoard", "TerminateOnNaN", "TimeBudget", "LambdaCallback",
    "GradualUnfreezing", "SwapEMAWeights", "schedules", "ema",
    "save_file", "load_file", "EventFileWriter",
]
