"""The moving average of the weights (``use_ema``, SwapEMAWeights) against averages computed by hand in NumPy."""
import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import ConfigError
from rnnkit.layers import Dense, Dropout, LSTM
from rnnkit.models import Sequential
from rnnkit.optimizers import SGD, Adam, AdamW, deserialize, serialize
from rnnkit.training.callbacks import Callback, ModelCheckpoint, SwapEMAWeights
from rnnkit.training.ema import moving_average


def _ema(history, momentum):
    """The Keras average of a sequence of weight arrays: the first as is, then mu * avg + (1 - mu) * w."""
    avg = np.array(history[0], dtype=np.float64)
    for w in history[1:]:
        avg = momentum * avg + (1 - momentum) * np.asarray(w, dtype=np.float64)
    return avg


@pytest.mark.parametrize("spec", [SGD(learning_rate=0.1, momentum=0.9, use_ema=True, ema_momentum=0.8),
                                  Adam(learning_rate=0.05, use_ema=True, ema_momentum=0.9)])
def test_the_average_follows_the_weights_after_each_step(spec):
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = spec.build([w])
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(7):
        w.grad = torch.tensor(rng.normal(size=2))
        opt.step()
        seen.append(w.detach().numpy().copy())
    np.testing.assert_allclose(moving_average(opt).average(w).numpy(), _ema(seen, spec.ema_momentum), rtol=1e-12)
    assert moving_average(opt).steps == 7
    # the same steps without the average: the weights are unchanged by keeping it
    v = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    plain = type(spec)(**{k: val for k, val in spec.get_config().items() if "ema" not in k}).build([v])
    rng = np.random.default_rng(0)
    for _ in range(7):
        v.grad = torch.tensor(rng.normal(size=2))
        plain.step()
    assert torch.equal(v, w) and moving_average(plain) is None


def test_overwrite_frequency_copies_the_average_into_the_weights_every_n_steps():
    w = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2).build([w])
    w.grad = torch.tensor([-1.0], dtype=torch.float64); opt.step()  # w 1, avg 1
    assert w.item() == 1.0
    w.grad = torch.tensor([-1.0], dtype=torch.float64); opt.step()  # w 2, avg 1.5, then w <- 1.5
    assert w.item() == 1.5 and moving_average(opt).average(w).item() == 1.5
    w.grad = torch.tensor([-1.0], dtype=torch.float64); opt.step()  # w 2.5, avg 0.5 * 1.5 + 0.5 * 2.5
    assert w.item() == 2.5 and moving_average(opt).average(w).item() == 2.0


class _Recorder(Callback):
    """The weights after every training step, and the EMA of them at each validation."""

    def __init__(self):
        super().__init__()
        self.steps, self.validated = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([p.detach().double().numpy().copy() for p in self.model.parameters()])

    def on_test_begin(self, logs=None):  # runs after SwapEMAWeights in the list: the weights scored
        self.validated.append([p.detach().double().numpy().copy() for p in self.model.parameters()])


def _model(momentum=0.9, **ema):
    rnnkit.set_seed(0)
    model = Sequential([LSTM(4), Dropout(0.2), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.02, use_ema=True, ema_momentum=momentum, **ema), loss="mse",
                  device="cpu")
    return model


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 5, 3, generator=g)
    return x, x.sum(dim=(1, 2))[:, None]


def test_fit_ends_on_the_average_and_swap_validates_with_it():
    x, y = _data()
    model, record = _model(0.9), _Recorder()
    history = model.fit(x, y, batch_size=8, epochs=3, validation_data=(x[:8], y[:8]), verbose=0, shuffle=False,
                        callbacks=[SwapEMAWeights(), record])
    assert len(record.steps) == 12
    per_param = lambda rows, i: [r[i] for r in rows]
    for epoch in range(3):  # validation scored the average of the steps so far
        for i, got in enumerate(record.validated[epoch]):
            np.testing.assert_allclose(got, _ema(per_param(record.steps[: 4 * (epoch + 1)], i), 0.9), rtol=1e-5,
                                       atol=1e-7)
    # ... and its val_loss is the loss of those weights, computed here without rnnkit's fit
    twin = _model(0.9)
    twin(x[:1])
    with torch.no_grad():
        for p, w in zip(twin.parameters(), record.validated[-1]):
            p.copy_(torch.from_numpy(w))
        twin.eval()
        val = torch.nn.functional.mse_loss(twin(x[:8]), y[:8]).item()
    assert history.history["val_loss"][-1] == pytest.approx(val, rel=1e-5)
    # fit ends with the weights set to the average (Keras' finalize_variable_values)
    for i, p in enumerate(model.parameters()):
        np.testing.assert_allclose(p.detach().double().numpy(), _ema(per_param(record.steps, i), 0.9), rtol=1e-5,
                                   atol=1e-7)
    # the comparison can fail: the last step's weights are elsewhere
    assert not np.allclose(record.steps[-1][0], _ema(per_param(record.steps, 0), 0.9))


def test_swap_on_epoch_lets_the_checkpoint_save_the_average_and_training_go_on_from_the_raw_weights(tmp_path):
    x, y = _data()
    best = tmp_path / "best.safetensors"
    model, record = _model(0.5), _Recorder()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
              callbacks=[SwapEMAWeights(swap_on_epoch=True), ModelCheckpoint(best, monitor="loss", save_weights_only=True),
                         record])
    # the checkpoint of epoch 2 holds the average of its 8 steps
    saved = _model(0.5)
    saved(x[:1])
    saved.load_weights(best)
    for i, p in enumerate(saved.parameters()):
        np.testing.assert_allclose(p.detach().double().numpy(), _ema([r[i] for r in record.steps], 0.5), rtol=1e-5,
                                   atol=1e-7)
    # epoch 2 trained from epoch 1's last raw weights, not from the average swapped in at its end: the same steps
    # as a run without the swap
    plain, plain_record = _model(0.5), _Recorder()
    plain.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[plain_record])
    for a, b in zip(record.steps, plain_record.steps):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def test_a_run_resumed_from_a_checkpoint_written_while_swapped_ends_as_the_uninterrupted_one(tmp_path):
    x, y = _data()

    def run(epochs, resume_from=None, path=None):
        model = _model(0.8)
        callbacks = [SwapEMAWeights(swap_on_epoch=True)]
        if path is not None:
            callbacks.append(ModelCheckpoint(path, monitor="loss", save_weights_only=False))
        model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks, resume_from=resume_from)
        return model

    full = run(4)
    path = tmp_path / "ckpt.safetensors"
    run(2, path=path)
    resumed = run(4, resume_from=path)
    assert resumed.epochs_done == 4
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(moving_average(full.optimizer).average(next(full.parameters())),
                       moving_average(resumed.optimizer).average(next(resumed.parameters())))
    assert not torch.equal(run(5).layers[2].weight, full.layers[2].weight)  # the comparison can fail


def test_the_saved_model_keeps_the_average_and_its_settings(tmp_path):
    x, y = _data()
    model = _model(0.7, ema_overwrite_frequency=3)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.safetensors")
    loaded = rnnkit.models.load_model(tmp_path / "m.safetensors")
    spec = loaded._optimizer_spec
    assert (spec.use_ema, spec.ema_momentum, spec.ema_overwrite_frequency) == (True, 0.7, 3)
    a, b = moving_average(model.optimizer), moving_average(loaded.optimizer)
    assert b.steps == a.steps == 4 and not b.swapped
    for p, q in zip(model.parameters(), loaded.parameters()):
        assert torch.equal(a.average(p), b.average(q))


def test_config_names_the_ema_arguments_only_when_on_and_round_trips():
    assert "use_ema" not in AdamW().get_config()
    spec = AdamW(learning_rate=0.01, use_ema=True, ema_momentum=0.995, ema_overwrite_frequency=10)
    config = spec.get_config()
    assert config["use_ema"] is True and config["ema_momentum"] == 0.995 and config["ema_overwrite_frequency"] == 10
    again = deserialize(serialize(spec))
    assert again.get_config() == config


@pytest.mark.parametrize("kwargs,message", [
    (dict(use_ema=1), "`use_ema` must be True or False"),
    (dict(ema_momentum=1.0), r"`ema_momentum` must be a float in \[0.0, 1.0\)"),
    (dict(ema_overwrite_frequency=0), "`ema_overwrite_frequency` must be a whole number >= 1 or None"),
    (dict(ema_decay=0.9), "unknown argument"),
])
def test_bad_ema_arguments_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        rnnkit.optimizers.resolve("adam", **kwargs)


def test_swap_without_an_average_names_the_fix():
    model = Sequential([Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    with pytest.raises(ConfigError, match=r"use_ema=True"):
        model.fit(np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32), verbose=0, callbacks=[SwapEMAWeights()])
