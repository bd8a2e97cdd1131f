"""Training callbacks with Keras semantics: the hooks, History, checkpoints, early stopping, LR control, logs.

One module per callback: :mod:`.base` (:class:`Callback`, :class:`CallbackList`,
whose dispatch is written once), :mod:`.monitor` (:class:`MonitorCallback`, the
monitor / mode / min_delta / best logic of the callbacks that watch a value),
:mod:`.history`, :mod:`.progbar_logger` (fit's progress display, added by ``fit``
for ``verbose`` 1 and 2), :mod:`.model_checkpoint`, :mod:`.early_stopping`,
:mod:`.reduce_lr_on_plateau`, :mod:`.learning_rate_scheduler`, :mod:`.csv_logger`,
:mod:`.tensorboard`, :mod:`.terminate_on_nan`, :mod:`.time_budget`,
:mod:`.lambda_callback`, :mod:`.gradual_unfreezing`, :mod:`.swap_ema_weights`.

The model contract
------------------
Callbacks know no ``Model`` class; the training loop hands them (via
:meth:`Callback.set_model`) any object with:

- ``model.stop_training``: a bool attribute.  The loop sets it to ``False`` when
  training starts and checks it after each epoch (a loop that also checks it after
  each batch lets :class:`TerminateOnNaN` stop in the middle of an epoch);
- ``model.optimizer``: a :class:`torch.optim.Optimizer`; the learning rates are its
  ``param_groups[i]['lr']``;
- ``model.state_dict()`` / ``model.load_state_dict(state)``, as a
  :class:`torch.nn.Module` has them;
- ``model.save(path)`` (the whole model) and ``model.save_weights(path)`` (weights
  only), each writing one file.

The loop's side of the contract
-------------------------------
``logs`` are dicts of floats named as Keras names them: ``'loss'``, the metric
names (``'accuracy'`` ...), ``'val_loss'``, ``'val_<metric>'``, plus ``'lr'`` and
``'grad_norm'`` when the loop adds them.  Epoch and batch numbers passed to the
hooks count from 0 (``ModelCheckpoint`` shows epochs from 1 in file names, as
Keras does).  ``fit`` calls the hooks, through a :class:`CallbackList`, in this
order::

    set_model(model); set_params({'epochs': E, 'steps': S, 'verbose': V, ...})
    on_train_begin()
    for each epoch:
        on_epoch_begin(epoch)
        for each batch: on_train_batch_begin(batch); ...; on_train_batch_end(batch, {'loss': ...})
        if validating:
            on_test_begin()
            for each batch: on_test_batch_begin(batch); on_test_batch_end(batch, {...})
            on_test_end({'loss': ...})
        on_epoch_end(epoch, {'loss': ..., 'val_loss': ...})
        stop if model.stop_training
    on_train_end(last epoch's logs)

``evaluate`` runs the ``on_test_*`` hooks alone and ``predict`` the
``on_predict_*`` ones.  Every callback of a list gets each hook in the list's
order, all sharing the same ``logs`` dict.

>>> import torch
>>> from rnnkit.training.callbacks import CallbackList, EarlyStopping, History
>>> net = torch.nn.Linear(2, 1)                 # a stand-in honouring the contract
>>> net.stop_training = False
>>> net.optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
>>> history, stopper = History(), EarlyStopping(monitor="loss", patience=2)
>>> callbacks = CallbackList([stopper, history], model=net)
>>> callbacks.on_train_begin()
>>> for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7, 0.4]):
...     callbacks.on_epoch_begin(epoch)
...     callbacks.on_epoch_end(epoch, {"loss": loss})
...     if net.stop_training:
...         break
>>> callbacks.on_train_end()
>>> history.epoch, history.history["loss"]
([0, 1, 2, 3], [1.0, 0.5, 0.6, 0.7])
"""
from .base import HOOKS, Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .gradual_unfreezing import GradualUnfreezing
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .monitor import MonitorCallback
from .progbar_logger import ProgbarLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .swap_ema_weights import SwapEMAWeights
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN
from .time_budget import TimeBudget

__all__ = [
    "Callback",
    "CallbackList",
    "HOOKS",
    "MonitorCallback",
    "History",
    "ProgbarLogger",
    "ModelCheckpoint",
    "EarlyStopping",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "CSVLogger",
    "TensorBoard",
    "SwapEMAWeights",
    "TerminateOnNaN",
    "TimeBudget",
    "LambdaCallback",
    "GradualUnfreezing",
]
