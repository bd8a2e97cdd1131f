"""Callbacks against a fake model honouring the contract; expectations computed by hand."""
import csv
import json
import math
import os
import warnings

import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.training.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)
from rnnkit.training.checkpoint import load_file, save_file


class FakeModel(torch.nn.Linear):
    """The model contract: stop_training, optimizer, state_dict/load_state_dict, save, save_weights."""

    def __init__(self, lr=0.1, groups=1):
        super().__init__(2, 1)
        self.stop_training = False
        if groups == 1:
            self.optimizer = torch.optim.SGD(self.parameters(), lr=lr)
        else:
            self.optimizer = torch.optim.SGD([{"params": [self.weight]}, {"params": [self.bias], "lr": lr / 10}], lr=lr)
        self.saved = []

    def save(self, path):
        save_file(path, self.state_dict(), {"kind": "model"})
        self.saved.append(("model", path))

    def save_weights(self, path):
        save_file(path, self.state_dict(), {"kind": "weights"})
        self.saved.append(("weights", path))

    def set_marker(self, value):
        with torch.no_grad():
            self.weight.fill_(value)
            self.bias.fill_(-value)


def run(callbacks, model, epoch_logs, batches=0, batch_loss=None, mark=True, params=None):
    """A tiny fit loop honouring the documented order; epoch e's weights are filled with e."""
    cbs = CallbackList(callbacks, model=model, params=params or {"epochs": len(epoch_logs), "steps": batches})
    model.stop_training = False
    cbs.on_train_begin()
    logs = {}
    ran = []
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        for batch in range(batches):
            cbs.on_train_batch_begin(batch)
            cbs.on_train_batch_end(batch, {"loss": batch_loss(epoch, batch) if batch_loss else 1.0})
        if mark:
            model.set_marker(float(epoch))
        logs = dict(logs)
        cbs.on_epoch_end(epoch, logs)
        ran.append(epoch)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return ran


def losses(*values, key="val_loss"):
    return [{"loss": 1.0, key: v} for v in values]


# ----------------------------------------------------------------------------- base, list, order
HOOKS = [
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
    "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
]


class Recorder(Callback):
    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def set_model(self, model):
        super().set_model(model)
        self.log.append((self.name, "set_model"))

    def set_params(self, params):
        super().set_params(params)
        self.log.append((self.name, "set_params"))


for _hook in HOOKS:
    def _make(hook):
        if hook.endswith(("train_begin", "train_end", "test_begin", "test_end", "predict_begin", "predict_end")):
            return lambda self, logs=None: self.log.append((self.name, hook, dict(logs)))
        return lambda self, n, logs=None: self.log.append((self.name, hook, n, dict(logs)))
    setattr(Recorder, _hook, _make(_hook))


def test_hooks_fire_in_the_documented_order():
    log = []
    model = FakeModel()
    cbs = CallbackList([Recorder("a", log), Recorder("b", log)])
    cbs.set_model(model)
    cbs.set_params({"epochs": 1, "steps": 2})
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for b in range(2):
        cbs.on_train_batch_begin(b)
        cbs.on_train_batch_end(b, {"loss": 0.5})
    cbs.on_test_begin()
    cbs.on_test_batch_begin(0)
    cbs.on_test_batch_end(0, {"loss": 0.7})
    cbs.on_test_end({"loss": 0.7})
    cbs.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7})
    cbs.on_train_end({"loss": 0.5})
    cbs.on_predict_begin()
    cbs.on_predict_batch_begin(0)
    cbs.on_predict_batch_end(0, {"outputs": 1})
    cbs.on_predict_end()
    expected_single = [
        ("set_model",), ("set_params",), ("on_train_begin", {}), ("on_epoch_begin", 0, {}),
        ("on_train_batch_begin", 0, {}), ("on_train_batch_end", 0, {"loss": 0.5}),
        ("on_train_batch_begin", 1, {}), ("on_train_batch_end", 1, {"loss": 0.5}),
        ("on_test_begin", {}), ("on_test_batch_begin", 0, {}), ("on_test_batch_end", 0, {"loss": 0.7}),
        ("on_test_end", {"loss": 0.7}), ("on_epoch_end", 0, {"loss": 0.5, "val_loss": 0.7}),
        ("on_train_end", {"loss": 0.5}), ("on_predict_begin", {}), ("on_predict_batch_begin", 0, {}),
        ("on_predict_batch_end", 0, {"outputs": 1}), ("on_predict_end", {}),
    ]
    expected = [(name, *call) for call in expected_single for name in ("a", "b")]
    assert log == expected
    cb = cbs.callbacks[0]
    assert cb.model is model and cb.params == {"epochs": 1, "steps": 2}


def test_logs_dict_is_shared_so_earlier_callbacks_can_add_values():
    seen = []
    adder = LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__("extra", 2.0))
    reader = LambdaCallback(on_epoch_end=lambda e, logs: seen.append(dict(logs)))
    CallbackList([adder, reader]).on_epoch_end(0, {"loss": 1.0})
    assert seen == [{"loss": 1.0, "extra": 2.0}]


def test_callback_list_append_sets_model_and_params_and_rejects_non_callbacks():
    model = FakeModel()
    cbs = CallbackList(model=model, params={"epochs": 3})
    h = History()
    cbs.append(h)
    assert h.model is model and h.params == {"epochs": 3} and len(cbs) == 1 and list(cbs) == [h]
    with pytest.raises(ConfigError, match="LambdaCallback"):
        CallbackList([lambda epoch, logs: None])
    with pytest.raises(ConfigError, match=r"History\(\.\.\.\)"):
        CallbackList([History])
    with pytest.raises(ConfigError, match="Callback"):
        CallbackList(["early"])


def test_old_style_on_batch_end_is_called_by_train_batch_hooks():
    calls = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs["loss"]))

    run([Old()], FakeModel(), losses(1.0), batches=2, batch_loss=lambda e, b: b / 2)
    assert calls == [("begin", 0), ("end", 0, 0.0), ("begin", 1), ("end", 1, 0.5)]


# ----------------------------------------------------------------------------- History
def test_history_records_each_epoch_and_resets_per_training():
    h = History()
    model = FakeModel()
    run([h], model, [{"loss": 3.0, "val_loss": 4.0}, {"loss": 2.0, "val_loss": 3.5}])
    assert h.epoch == [0, 1] and h.history == {"loss": [3.0, 2.0], "val_loss": [4.0, 3.5]}
    run([h], model, [{"loss": 1.0}])
    assert h.epoch == [0] and h.history == {"loss": [1.0]}


# ----------------------------------------------------------------------------- EarlyStopping
@pytest.mark.parametrize(
    "values,kwargs,stop_epoch,best_epoch",
    [
        # best at epoch 1; patience 2 -> epochs 2, 3 fail -> stop at 3
        ([0.5, 0.4, 0.45, 0.41, 0.3, 0.2], {"patience": 2}, 3, 1),
        # patience 0: the first non-improvement (epoch 2) stops
        ([0.5, 0.4, 0.45, 0.3], {"patience": 0}, 2, 1),
        # min_delta 0.05: 0.47 and 0.46 are not improvements over 0.5 -> stop at 2 with patience 2
        ([0.5, 0.47, 0.46, 0.1], {"patience": 2, "min_delta": 0.05}, 2, 0),
        # ... but 0.44 is (by 0.06), which resets the wait
        ([0.5, 0.47, 0.44, 0.1], {"patience": 2, "min_delta": 0.05}, None, 3),
        # mode max, min_delta 0.05: rises of 0.03 and 0.04 over 0.5 do not count -> stop at 2 with patience 2
        ([0.5, 0.53, 0.54, 0.9], {"monitor": "val_accuracy", "mode": "max", "patience": 2, "min_delta": 0.05}, 2, 0),
        # ... but 0.56 (up 0.06) does, which resets the wait; the later fall does not count either
        ([0.5, 0.53, 0.56, 0.1], {"monitor": "val_accuracy", "mode": "max", "patience": 2, "min_delta": 0.05}, None, 2),
        # never stops when it keeps improving
        ([0.5, 0.4, 0.3, 0.2], {"patience": 1}, None, 3),
        # mode max inferred from 'val_accuracy'
        ([0.5, 0.6, 0.55, 0.58, 0.9], {"monitor": "val_accuracy", "patience": 2}, 3, 1),
        # explicit mode max on a loss-named monitor
        ([0.5, 0.6, 0.55, 0.58, 0.9], {"mode": "max", "patience": 2}, 3, 1),
        # baseline 0.3 not beaten: improvements do not reset the wait, so the first
        # non-improving epoch after `patience` epochs stops (Keras checks only then)
        ([0.5, 0.4, 0.45, 0.6, 0.1], {"patience": 3, "baseline": 0.3}, 2, 1),
        # the same values without a baseline do not stop
        ([0.5, 0.4, 0.45, 0.6, 0.1], {"patience": 3}, None, 4),
        # start_from_epoch 2: epochs 0, 1 ignored (their low values do not count)
        ([0.1, 0.1, 0.5, 0.6, 0.7], {"patience": 1, "start_from_epoch": 2}, 3, 2),
    ],
)
def test_early_stopping_stops_at_the_right_epoch(values, kwargs, stop_epoch, best_epoch):
    monitor = kwargs.get("monitor", "val_loss")
    stopper = EarlyStopping(**kwargs)
    ran = run([stopper], FakeModel(), losses(*values, key=monitor))
    if stop_epoch is None:
        assert ran == list(range(len(values))) and stopper.stopped_epoch == 0
    else:
        assert ran == list(range(stop_epoch + 1)) and stopper.stopped_epoch == stop_epoch
    assert stopper.best_epoch == best_epoch and stopper.best == values[best_epoch]


def test_early_stopping_restores_the_best_weights():
    model = FakeModel()
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    ran = run([stopper], model, losses(0.5, 0.3, 0.4, 0.35, 0.1))
    assert ran == [0, 1, 2, 3]
    # the loop filled the weights with the epoch number: epoch 1 was best
    assert torch.all(model.weight == 1.0) and torch.all(model.bias == -1.0)
    # the copy was a real copy, not a view of the live weights
    assert stopper.best_weights["weight"].data_ptr() != model.weight.data_ptr()


def test_early_stopping_without_restore_keeps_the_last_weights():
    model = FakeModel()
    run([EarlyStopping(patience=2)], model, losses(0.5, 0.3, 0.4, 0.35, 0.1))
    assert torch.all(model.weight == 3.0)


def test_early_stopping_restores_at_the_end_even_without_stopping():
    model = FakeModel()
    run([EarlyStopping(patience=10, restore_best_weights=True)], model, losses(0.5, 0.2, 0.4))
    assert torch.all(model.weight == 1.0)


def test_early_stopping_with_baseline_restores_the_best_of_the_patience_window():
    model = FakeModel()
    stopper = EarlyStopping(patience=2, baseline=0.1, restore_best_weights=True)
    ran = run([stopper], model, losses(0.5, 0.3, 0.4, 0.2))
    assert ran == [0, 1, 2]  # the wait is never reset since nothing beats the baseline
    assert torch.all(model.weight == 1.0)


def test_early_stopping_missing_monitor_warns_once_per_epoch_and_does_not_stop():
    stopper = EarlyStopping(patience=0)
    with pytest.warns(RuntimeWarning, match=r"'val_loss' is not in the logs \(available: loss\).*validation"):
        ran = run([stopper], FakeModel(), [{"loss": 1.0}] * 3)
    assert ran == [0, 1, 2] and stopper.stopped_epoch == 0


def test_early_stopping_verbose_messages(capsys):
    run([EarlyStopping(patience=1, verbose=1, restore_best_weights=True)], FakeModel(), losses(0.5, 0.6, 0.7))
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out and "Restoring the weights of epoch 1" in out


# ----------------------------------------------------------------------------- ReduceLROnPlateau
def lrs_over(callback, values, model=None, key="val_loss"):
    model = model or FakeModel(lr=1.0)
    seen = []
    rec = LambdaCallback(on_epoch_end=lambda e, logs: seen.append(model.optimizer.param_groups[0]["lr"]))
    run([callback, rec], model, losses(*values, key=key), mark=False)
    return seen


def test_reduce_lr_at_the_right_epoch():
    # patience 2: epochs 1 and 2 do not improve on 1.0 -> reduce at epoch 2; 3, 4 -> reduce at 4
    seen = lrs_over(ReduceLROnPlateau(factor=0.5, patience=2), [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6])
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_reduce_lr_respects_cooldown():
    # patience 1, cooldown 2 (Keras' counting): reduce at 1; the counter goes 2 -> 1 at epoch 2
    # (held), 1 -> 0 at epoch 3, where counting resumes -> reduce at 3, then again at 5
    seen = lrs_over(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2), [1.0] * 7)
    assert seen == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    # cooldown 3 holds two epochs: reduce at 1, then 4
    seen = lrs_over(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=3), [1.0] * 6)
    assert seen == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    # without cooldown it reduces every epoch
    assert lrs_over(ReduceLROnPlateau(factor=0.5, patience=1), [1.0] * 4) == [1.0, 0.5, 0.25, 0.125]


def test_reduce_lr_respects_min_lr():
    seen = lrs_over(ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05), [1.0] * 4)
    assert seen == [1.0, pytest.approx(0.1), 0.05, 0.05]


def test_reduce_lr_min_delta_and_mode_max():
    # min_delta 0.1: 0.95 and 0.91 are no improvement over 1.0 -> reduce at 2
    seen = lrs_over(ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.1), [1.0, 0.95, 0.91, 0.5])
    assert seen == [1.0, 1.0, 0.5, 0.5]
    seen = lrs_over(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1), [0.5, 0.6, 0.55, 0.7],
                    key="val_accuracy")
    assert seen == [1.0, 1.0, 0.5, 0.5]


@pytest.mark.parametrize(
    "mode,values,expected",
    [
        # max, min_delta 0.1: 0.58 and 0.59 are no improvement over 0.5 (they must pass 0.6) -> reduce at 2
        ("max", [0.5, 0.58, 0.59, 0.7], [1.0, 1.0, 0.5, 0.5]),
        # max: 0.65 is (up 0.15), so the wait restarts there; 0.66 and 0.67 are not (they must pass 0.75) -> reduce at 3
        ("max", [0.5, 0.65, 0.66, 0.67, 0.8], [1.0, 1.0, 1.0, 0.5, 0.5]),
        # min, the mirror images: 0.92 and 0.91 do not beat 1.0 by 0.1 -> reduce at 2 ...
        ("min", [1.0, 0.92, 0.91, 0.5], [1.0, 1.0, 0.5, 0.5]),
        # ... 0.85 does, 0.84 and 0.83 do not beat it by 0.1 -> reduce at 3
        ("min", [1.0, 0.85, 0.84, 0.83, 0.5], [1.0, 1.0, 1.0, 0.5, 0.5]),
    ],
)
def test_reduce_lr_counts_only_changes_beyond_min_delta_in_either_mode(mode, values, expected):
    seen = lrs_over(ReduceLROnPlateau(monitor="val_score", mode=mode, factor=0.5, patience=2, min_delta=0.1), values,
                    key="val_score")
    assert seen == expected


def test_reduce_lr_on_every_param_group(capsys):
    model = FakeModel(lr=1.0, groups=2)
    lrs_over(ReduceLROnPlateau(factor=0.5, patience=1, verbose=1), [1.0, 1.0], model=model)
    assert [g["lr"] for g in model.optimizer.param_groups] == [0.5, 0.05]
    assert "Epoch 2: ReduceLROnPlateau" in capsys.readouterr().out


def test_reduce_lr_needs_an_optimizer():
    model = FakeModel()
    model.optimizer = None
    with pytest.raises(ConfigError, match="optimizer"):
        run([ReduceLROnPlateau(patience=0)], model, losses(1.0, 1.0))


# ----------------------------------------------------------------------------- LearningRateScheduler
def test_scheduler_gets_epoch_and_current_lr_and_sets_all_groups():
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return lr * 0.5 if epoch >= 1 else lr

    model = FakeModel(lr=0.8, groups=2)
    run([LearningRateScheduler(schedule)], model, losses(1.0, 1.0, 1.0), mark=False)
    assert calls == [(0, 0.8), (1, 0.8), (2, 0.4)]
    assert [g["lr"] for g in model.optimizer.param_groups] == [0.2, 0.2]


def test_scheduler_accepts_one_argument_and_rejects_bad_results(capsys):
    model = FakeModel()
    run([LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1), verbose=1)], model, losses(1.0, 1.0), mark=False)
    assert model.optimizer.param_groups[0]["lr"] == 0.02
    assert "setting learning rate to 0.02" in capsys.readouterr().out
    for bad in (lambda e, lr: "fast", lambda e, lr: -1.0, lambda e, lr: float("nan"), lambda e, lr: None):
        with pytest.raises(ConfigError, match="must return a finite number"):
            run([LearningRateScheduler(bad)], FakeModel(), losses(1.0))


# ----------------------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_every_epoch_with_formatted_names(tmp_path):
    model = FakeModel()
    ckpt = ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.safetensors"))
    run([ckpt], model, losses(0.5, 0.25, 0.125))
    assert sorted(os.listdir(tmp_path)) == [
        "m-01-0.500.safetensors", "m-02-0.250.safetensors", "m-03-0.125.safetensors"]
    assert [kind for kind, _ in model.saved] == ["model"] * 3
    tensors, meta = load_file(tmp_path / "m-02-0.250.safetensors")
    assert meta == {"kind": "model"} and torch.all(tensors["weight"] == 1.0)
    assert ckpt.last_saved == str(tmp_path / "m-03-0.125.safetensors")


def test_checkpoint_save_best_only_keeps_only_improvements(tmp_path):
    model = FakeModel()
    ckpt = ModelCheckpoint(tmp_path / "w-{epoch}.safetensors", save_best_only=True, save_weights_only=True)
    run([ckpt], model, losses(0.5, 0.6, 0.4, 0.4, 0.45, 0.3))
    assert sorted(os.listdir(tmp_path)) == ["w-1.safetensors", "w-3.safetensors", "w-6.safetensors"]
    assert [kind for kind, _ in model.saved] == ["weights"] * 3 and ckpt.best == 0.3


def test_checkpoint_single_file_holds_the_best_weights(tmp_path):
    model = FakeModel()
    path = tmp_path / "best.safetensors"
    run([ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)], model,
        losses(0.5, 0.7, 0.6, 0.65, key="val_accuracy"))
    tensors, _ = load_file(path)
    assert torch.all(tensors["weight"] == 1.0)  # epoch 1 had the highest accuracy (mode auto -> max)
    assert os.listdir(tmp_path) == ["best.safetensors"]


def test_checkpoint_initial_value_threshold_must_be_beaten_first(tmp_path):
    """Keras' initial_value_threshold: with save_best_only, nothing is written until a value beats it."""
    model = FakeModel()
    ckpt = ModelCheckpoint(tmp_path / "w-{epoch}.safetensors", save_best_only=True, initial_value_threshold=0.45)
    run([ckpt], model, losses(0.5, 0.6, 0.4, 0.42, 0.3))
    assert sorted(os.listdir(tmp_path)) == ["w-3.safetensors", "w-5.safetensors"]
    with pytest.raises(ConfigError, match="initial_value_threshold"):
        ModelCheckpoint("x", initial_value_threshold="low")


def test_checkpoint_missing_monitor_warns_and_saves_nothing(tmp_path, capsys):
    model = FakeModel()
    with pytest.warns(RuntimeWarning, match="ModelCheckpoint: monitored value 'val_loss' is not in the logs"):
        run([ModelCheckpoint(tmp_path / "x.safetensors", save_best_only=True, verbose=1)], model, [{"loss": 1.0}])
    assert os.listdir(tmp_path) == [] and model.saved == []


def test_checkpoint_unknown_format_field_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"names \{val_acc\}.*available: epoch, loss, val_loss"):
        run([ModelCheckpoint(tmp_path / "m-{val_acc:.2f}.safetensors")], FakeModel(), losses(0.5))


def test_checkpoint_save_freq_in_batches(tmp_path, capsys):
    model = FakeModel()
    ckpt = ModelCheckpoint(tmp_path / "b-{epoch}-{batch}-{loss:.1f}.safetensors", save_freq=3, verbose=1)
    run([ckpt], model, losses(0.5, 0.5), batches=4, batch_loss=lambda e, b: e + b / 10)
    # batches seen 1..8, saved after the 3rd (epoch 1, batch 3) and the 6th (epoch 2, batch 2)
    assert sorted(os.listdir(tmp_path)) == ["b-1-3-0.2.safetensors", "b-2-2-1.1.safetensors"]
    assert "Epoch 1, batch 3: saving model to" in capsys.readouterr().out


def test_checkpoint_verbose_messages(tmp_path, capsys):
    run([ModelCheckpoint(tmp_path / "x.safetensors", save_best_only=True, verbose=1)], FakeModel(), losses(0.5, 0.6))
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to 0.50000" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out


# ----------------------------------------------------------------------------- CSVLogger
def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_rows_header_and_flush(tmp_path):
    path = tmp_path / "sub" / "log.csv"
    seen_during = []
    peek = LambdaCallback(on_epoch_end=lambda e, logs: seen_during.append(read_csv(path)))
    run([CSVLogger(path), peek], FakeModel(), [{"val_loss": 0.5, "loss": 0.75, "accuracy": 0.1},
                                               {"val_loss": 0.25, "loss": 0.5, "accuracy": 0.3}])
    rows = read_csv(path)
    assert rows == [["epoch", "accuracy", "loss", "val_loss"], ["0", "0.1", "0.75", "0.5"], ["1", "0.3", "0.5", "0.25"]]
    assert seen_during[0] == rows[:2]  # the first row was on disk before the epoch's end finished


def test_csv_logger_append_missing_and_separator(tmp_path):
    path = tmp_path / "log.tsv"
    run([CSVLogger(path, separator="\t")], FakeModel(), [{"loss": 1.0, "val_loss": 2.0}])
    with pytest.warns(RuntimeWarning, match="'extra' first appeared"):
        run([CSVLogger(path, separator="\t", append=True)], FakeModel(),
            [{"loss": 0.5}, {"loss": 0.25, "val_loss": 1.5, "extra": 9.0}])
    assert read_csv(path, "\t") == [
        ["epoch", "loss", "val_loss"], ["0", "1.0", "2.0"], ["0", "0.5", "NA"], ["1", "0.25", "1.5"]]
    # without append the file starts over
    run([CSVLogger(path, separator="\t")], FakeModel(), [{"loss": 3.0}])
    assert read_csv(path, "\t") == [["epoch", "loss"], ["0", "3.0"]]


# ----------------------------------------------------------------------------- TerminateOnNaN, LambdaCallback
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_terminate_on_nan_stops_and_names_the_step(bad, capsys):
    guard = TerminateOnNaN()
    ran = run([guard], FakeModel(), losses(1.0, 1.0, 1.0), batches=3,
              batch_loss=lambda e, b: bad if (e, b) == (1, 2) else 0.5)
    assert ran == [0, 1] and guard.stopped_at == (1, 2)
    assert f"Epoch 2, batch 3: loss is {bad}, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_leaves_finite_losses_alone_and_checks_epoch_loss():
    guard = TerminateOnNaN()
    assert run([guard], FakeModel(), losses(1.0, 1.0), batches=2) == [0, 1] and guard.stopped_at is None
    ran = run([guard], FakeModel(), [{"loss": 1.0}, {"loss": float("nan")}, {"loss": 1.0}])
    assert ran == [0, 1] and guard.stopped_at == (1, None)


def test_lambda_callback_calls_each_given_hook():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda e, logs: calls.append(("epoch_begin", e)),
        on_batch_end=lambda b, logs: calls.append(("batch_end", b, logs["loss"])),
        on_train_end=lambda logs: calls.append(("train_end", logs["loss"])),
        on_test_end=lambda logs: calls.append("test_end"),
    )
    run([cb], FakeModel(), [{"loss": 0.5}], batches=1, batch_loss=lambda e, b: 0.25)
    assert calls == ["train_begin", ("epoch_begin", 0), ("batch_end", 0, 0.25), ("train_end", 0.5)]
    with pytest.raises(ConfigError, match="on_epoch_end"):
        LambdaCallback(on_epoch_end="print")
    with pytest.raises(ConfigError, match="only one of"):
        LambdaCallback(on_batch_end=print, on_train_batch_end=print)


# ----------------------------------------------------------------------------- configs and validation
def named_schedule(epoch, lr):
    return lr


@pytest.mark.parametrize(
    "cb",
    [
        Callback(), History(), TerminateOnNaN(),
        ModelCheckpoint("m-{epoch}.safetensors", monitor="val_accuracy", save_best_only=True, save_freq=5),
        EarlyStopping(monitor="loss", min_delta=0.01, patience=3, baseline=0.5, restore_best_weights=True,
                      start_from_epoch=2),
        ReduceLROnPlateau(factor=0.2, patience=2, cooldown=1, min_lr=1e-5),
        CSVLogger("log.csv", separator=";", append=True),
        TensorBoard("tb", update_freq="batch"),
    ],
)
def test_configs_are_json_safe_and_rebuild(cb):
    config = cb.get_config()
    assert json.loads(json.dumps(config)) == config
    again = type(cb).from_config(json.loads(json.dumps(config)))
    assert type(again) is type(cb) and again.get_config() == config


def test_callables_are_stored_by_name_and_not_restorable():
    sched = LearningRateScheduler(named_schedule)
    config = sched.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["schedule"] == {"callable": f"{__name__}.named_schedule", "restorable": False}
    with pytest.raises(ConfigError, match="cannot be restored"):
        LearningRateScheduler.from_config(config)
    lam = LambdaCallback(on_epoch_end=named_schedule)
    assert lam.get_config() == {"on_epoch_end": {"callable": f"{__name__}.named_schedule", "restorable": False}}
    with pytest.raises(ConfigError, match="cannot be restored"):
        LambdaCallback.from_config(lam.get_config())


@pytest.mark.parametrize(
    "monitor,expected",
    [("val_loss", "min"), ("loss", "min"), ("accuracy", "max"), ("val_acc", "max"), ("val_auc", "max"),
     ("sparse_categorical_accuracy", "max"), ("mae", "min"), ("val_perplexity", "min"), ("val_precision", "max")],
)
def test_mode_auto_inference(monitor, expected):
    stopper = EarlyStopping(monitor=monitor)
    assert stopper.best == (math.inf if expected == "min" else -math.inf)


@pytest.mark.parametrize(
    "factory,match",
    [
        (lambda: EarlyStopping(patience=-1), "patience"),
        (lambda: EarlyStopping(patience=1.5), "patience"),
        (lambda: EarlyStopping(mode="minimum"), "mode"),
        (lambda: EarlyStopping(min_delta=-0.1), "min_delta"),
        (lambda: EarlyStopping(baseline="low"), "baseline"),
        (lambda: EarlyStopping(monitor=""), "monitor"),
        (lambda: EarlyStopping(restore_best_weights="yes"), "restore_best_weights"),
        (lambda: EarlyStopping(start_from_epoch=-1), "start_from_epoch"),
        (lambda: ReduceLROnPlateau(factor=1.0), "factor"),
        (lambda: ReduceLROnPlateau(factor=0.0), "factor"),
        (lambda: ReduceLROnPlateau(min_lr=-1), "min_lr"),
        (lambda: ReduceLROnPlateau(cooldown=-2), "cooldown"),
        (lambda: ModelCheckpoint(""), "filepath"),
        (lambda: ModelCheckpoint("x", save_freq="batch"), "save_freq"),
        (lambda: ModelCheckpoint("x", save_freq=0), "save_freq"),
        (lambda: ModelCheckpoint("x", verbose=-1), "verbose"),
        (lambda: LearningRateScheduler(0.1), "schedule"),
        (lambda: CSVLogger("x.csv", separator=", "), "separator"),
        (lambda: CSVLogger(None), "filename"),
        (lambda: TensorBoard(log_dir=""), "log_dir"),
    ],
)
def test_bad_arguments_are_clear_errors(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


def test_warnings_are_one_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run([ReduceLROnPlateau()], FakeModel(), [{"loss": 1.0}])
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert "ReduceLROnPlateau: monitored value 'val_loss'" in str(caught[0].message)


def test_time_budget_stops_after_the_batch_that_spends_it_and_logs_seconds():
    import torch

    from rnnkit import Sequential
    from rnnkit.layers import Dense
    from rnnkit.training import TimeBudget

    model = Sequential([Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    steps, epochs = [], []
    clock = TimeBudget(seconds=1e-9)
    later = LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch),
                           on_epoch_end=lambda epoch, logs: epochs.append(dict(logs)))  # sees the logs after the clock
    model.fit(torch.randn(40, 3), torch.randn(40, 1), batch_size=4, epochs=5, verbose=0, callbacks=[clock, later])
    assert steps == [0]  # 10 batches per epoch, stopped after the first
    assert len(epochs) == 1 and epochs[0]["seconds"] == round(clock.elapsed, 2) and clock.elapsed > 0
    with pytest.raises(ConfigError, match="positive"):
        TimeBudget(seconds=0)


# ----------------------------------------------------------------------------- GradualUnfreezing
def test_gradual_unfreezing_leaves_frozen_groups_unchanged_over_each_epoch():
    from rnnkit.layers import LSTM, Dense, Embedding
    from rnnkit.models import Sequential
    from rnnkit.training.callbacks import GradualUnfreezing

    torch.manual_seed(0)
    embed, rnn, head = Embedding(20, 4), LSTM(5), Dense(2)
    model = Sequential([embed, rnn, head])
    model(torch.zeros(1, 3, dtype=torch.long))
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")  # decay would move a stepped weight
    groups = [head, rnn, embed]  # top first
    snapshots, trainable = [], []

    def snap(epoch, logs):
        snapshots.append([[p.detach().clone() for p in g.parameters()] for g in groups])
        if logs is not None:
            trainable.append(logs["trainable_groups"])  # put there by GradualUnfreezing, before this callback

    snap(-1, None)
    x, y = torch.randint(0, 20, (16, 3)), torch.randint(0, 2, (16,))
    model.fit(x, y, epochs=3, batch_size=4, verbose=0,
                        callbacks=[GradualUnfreezing(groups), LambdaCallback(on_epoch_end=snap)])
    changed = [[any(not torch.equal(a, b) for a, b in zip(before[k], after[k])) for k in range(3)]
               for before, after in zip(snapshots, snapshots[1:])]
    # epoch 1: the head only; epoch 2: and the LSTM; epoch 3: everything
    assert changed == [[True, False, False], [True, True, False], [True, True, True]]
    assert trainable == [1, 2, 3]
    assert all(p.requires_grad for p in model.parameters())  # given back when training ends


def test_gradual_unfreezing_every_n_epochs_and_keeps_what_was_frozen_before():
    from rnnkit.training.callbacks import GradualUnfreezing

    top, bottom, fixed = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    fixed.weight.requires_grad_(False)  # frozen by its user: stays so
    unfreeze = GradualUnfreezing(lambda model: [top, [*bottom.parameters(), *fixed.parameters()]], every=2)
    unfreeze.set_model(top)
    unfreeze.on_train_begin()
    seen = []
    for epoch in range(4):
        unfreeze.on_epoch_begin(epoch)
        seen.append((bottom.weight.requires_grad, fixed.bias.requires_grad, fixed.weight.requires_grad))
    unfreeze.on_train_end()
    assert seen == [(False, False, False), (False, False, False), (True, True, False), (True, True, False)]
    assert not fixed.weight.requires_grad and fixed.bias.requires_grad
    with pytest.raises(ConfigError, match="GradualUnfreezing: got no layer groups"):
        GradualUnfreezing([])


def test_history_records_what_callbacks_add_to_an_epoch_s_logs():
    """History runs after the other callbacks (as in Keras): a figure a callback computes (a translation's val_bleu)
    is in model.history, where the apps look up the epoch their checkpoint kept."""
    from rnnkit import Sequential
    from rnnkit.layers import Dense

    model = Sequential([Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    scorer = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_score=10.0 * epoch))
    model.fit(torch.randn(8, 3), torch.randn(8, 1), batch_size=4, epochs=3, verbose=0, callbacks=[scorer])
    assert model.history.history["val_score"] == [0.0, 10.0, 20.0]
