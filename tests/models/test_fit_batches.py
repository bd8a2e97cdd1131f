"""fit and evaluate on iterables of batches: every batch is used once, generators run out loudly,
and the logged means are over the steps taken — all against hand-written loops."""
import warnings

import pytest
import torch

import rnnkit
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import Dense
from rnnkit.models import Sequential
from rnnkit.training.callbacks import Callback

LR = 0.1


def _batches(sizes=(4, 4, 4, 3), seed=0):
    """Fixed regression batches (x: (n, 3), y: (n, 1)) of the given sizes."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        x = torch.randn(n, 3, generator=g)
        out.append((x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * torch.randn(n, 1, generator=g)))
    return out


def _model(lazy=True):
    """Dense(1) starting from kernel 1, bias 0, so that a hand loop can start from the same weights."""
    rnnkit.set_seed(0)
    kwargs = {} if lazy else {"input_size": 3}
    model = Sequential([Dense(1, kernel_initializer="ones", bias_initializer="zeros", **kwargs)])
    model.compile(optimizer=rnnkit.optimizers.SGD(learning_rate=LR), loss="mse", device="cpu")
    return model


def _hand_loop(batches):
    """Plain SGD on mean squared error from kernel 1, bias 0.

    Returns the final (w, b), the global gradient norm of each step and the epoch loss: the
    example-weighted mean of the batch losses, each taken before its step.
    """
    w = torch.ones(1, 3, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    norms, total, count = [], 0.0, 0
    for x, y in batches:
        loss = ((x @ w.T + b - y) ** 2).mean()
        gw, gb = torch.autograd.grad(loss, [w, b])
        norms.append(float(torch.sqrt((gw**2).sum() + (gb**2).sum())))
        total, count = total + float(loss.detach()) * len(x), count + len(x)
        with torch.no_grad():
            w -= LR * gw
            b -= LR * gb
    return w.detach(), b.detach(), norms, total / count


class Reiterable:
    """Batches that can be read again and again, as a DataLoader can."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


class CountBatches(Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((self.params.get("epochs"), batch))


def _weights(model):
    dense = model.layers[0]
    return dense.weight.detach(), dense.bias.detach()


@pytest.mark.parametrize("lazy", [True, False], ids=["built-from-a-batch", "built-already"])
def test_a_generator_of_four_batches_trains_on_all_four(lazy):
    batches = _batches()
    counter = CountBatches()
    model = _model(lazy)
    history = model.fit((b for b in batches), epochs=1, verbose=0, callbacks=[counter])
    assert len(counter.seen) == 4 and history.epoch == [0]
    w, b, _, loss = _hand_loop(batches)
    got_w, got_b = _weights(model)
    torch.testing.assert_close(got_w, w)
    torch.testing.assert_close(got_b, b)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5)


def test_a_generator_that_runs_out_warns_naming_the_epoch_and_records_only_real_epochs():
    batches = _batches()
    counter = CountBatches()
    model = _model()
    with pytest.warns(RuntimeWarning, match=r"ran out of data at epoch 2 of 3.*steps_per_epoch") as caught:
        history = model.fit(iter(batches), epochs=3, verbose=0, callbacks=[counter])
    assert len([w for w in caught if "ran out" in str(w.message)]) == 1
    assert "\n" not in str(caught[0].message)
    assert history.epoch == [0] and len(history.history["loss"]) == 1 and model.epochs_done == 1
    assert len(counter.seen) == 4
    w, _, _, _ = _hand_loop(batches)
    torch.testing.assert_close(_weights(model)[0], w)


def test_steps_per_epoch_takes_a_generator_on_from_where_the_last_epoch_stopped():
    # 2 epochs of 2 steps read the 4 batches in order, none skipped between the epochs
    batches = _batches()
    counter = CountBatches()
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(iter(batches), epochs=2, steps_per_epoch=2, verbose=0, callbacks=[counter])
    assert history.epoch == [0, 1] and [s for _, s in counter.seen] == [0, 1, 0, 1]
    w, b, norms, _ = _hand_loop(batches)
    torch.testing.assert_close(_weights(model)[0], w)
    torch.testing.assert_close(_weights(model)[1], b)
    assert history.history["grad_norm"] == pytest.approx([sum(norms[:2]) / 2, sum(norms[2:]) / 2], rel=1e-5)


@pytest.mark.parametrize("source", ["arrays", "re-iterable"])
def test_grad_norm_is_the_mean_over_the_steps_taken_with_steps_per_epoch(source):
    # 5 batches of 4, steps_per_epoch 3: the epoch takes batches 0-2 and logs the mean of their 3 norms
    batches = _batches(sizes=(4, 4, 4, 4, 4))
    model = _model()
    if source == "arrays":
        x = torch.cat([x for x, _ in batches])
        y = torch.cat([y for _, y in batches])
        history = model.fit(x, y, batch_size=4, shuffle=False, epochs=1, steps_per_epoch=3, verbose=0)
    else:
        history = model.fit(Reiterable(batches), epochs=1, steps_per_epoch=3, verbose=0)
    w, _, norms, loss = _hand_loop(batches[:3])
    assert len(norms) == 3 and max(norms) > 1.5 * min(norms)  # distinct norms: a wrong divisor shows
    assert history.history["grad_norm"][0] == pytest.approx(sum(norms) / 3, rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(_weights(model)[0], w)


def test_evaluate_on_a_generator_sees_every_batch():
    batches = _batches(sizes=(4, 4, 2))
    for lazy in (True, False):
        model = _model(lazy)
        loss = model.evaluate((b for b in batches), verbose=0)
        # the hand-computed mean squared error over all 10 examples, with kernel 1 and bias 0
        errors = [float(((x.sum(1, keepdim=True) - y) ** 2).sum()) for x, y in batches]
        assert loss == pytest.approx(sum(errors) / 10, rel=1e-6)
        # leaving out the first batch would give a clearly different mean
        assert abs(sum(errors[1:]) / 6 - sum(errors) / 10) > 1e-3


def test_empty_inputs_and_a_one_shot_validation_generator_are_one_line_errors():
    with pytest.raises(ShapeError, match="fit: x yielded no batches"):
        _model().fit(iter([]), epochs=1, verbose=0)
    with pytest.raises(ShapeError, match="fit: x yielded no batches"):
        _model(lazy=False).fit(iter([]), epochs=1, verbose=0)
    with pytest.raises(ShapeError, match="evaluate: x yielded no batches"):
        _model().evaluate(iter([]))
    with pytest.raises(ShapeError, match="evaluate: x yielded no batches"):
        _model(lazy=False).evaluate(iter([]))
    batches = _batches()
    with pytest.raises(ConfigError, match="validation_data is a generator.*re-iterable"):
        _model().fit(Reiterable(batches), epochs=2, verbose=0, validation_data=iter(batches))
    # one epoch reads it once, which is fine
    history = _model().fit(Reiterable(batches), epochs=1, verbose=0, validation_data=iter(batches[:2]))
    assert history.history["val_loss"][0] > 0
