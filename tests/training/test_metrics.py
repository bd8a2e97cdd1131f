"""Streaming metrics against NumPy computed on all examples at once, and the 'accuracy' rule."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.training import losses, metrics


def _batches(seed, sizes=(3, 1, 4), time=5, classes=4):
    """Batches of (ids, logits, mask) with different sizes and amounts of padding."""
    r = np.random.default_rng(seed)
    out = []
    for n in sizes:
        lengths = r.integers(1, time + 1, size=n)
        mask = np.arange(time)[None, :] < lengths[:, None]
        out.append((r.integers(0, classes, size=(n, time)), r.normal(size=(n, time, classes)), mask))
    return out


def _stream(metric, batches, transform=lambda x: x):
    for ids, logits, mask in batches:
        metric.update_state(torch.tensor(ids), torch.tensor(transform(logits)), mask=torch.tensor(mask))
    return metric.result()


def test_streaming_sparse_accuracy_equals_all_at_once_with_masks():
    batches = _batches(0)
    hits = np.concatenate([(lg.argmax(-1) == ids)[m] for ids, lg, m in batches])
    got = _stream(metrics.get("sparse_categorical_accuracy"), batches)
    assert got == pytest.approx(hits.mean(), rel=1e-12)
    batch_means = np.mean([(lg.argmax(-1) == ids)[m].mean() for ids, lg, m in batches])
    assert got != pytest.approx(batch_means)  # the data are chosen so the two differ


def test_not_an_average_of_batch_averages_hand_case():
    m = metrics.get("mae")
    m.update_state(torch.tensor([0.0]), torch.tensor([4.0]))  # batch mean 4
    m.update_state(torch.zeros(3), torch.zeros(3))  # batch mean 0
    assert m.result() == pytest.approx(1.0)  # 4 / 4, not (4 + 0) / 2


def test_streaming_perplexity_from_logits_and_probabilities():
    batches = _batches(1)
    nll = np.concatenate([
        F.cross_entropy(torch.tensor(lg).reshape(-1, 4), torch.tensor(ids).reshape(-1), reduction="none").numpy()[m.reshape(-1)]
        for ids, lg, m in batches
    ])
    want = math.exp(nll.mean())
    assert _stream(metrics.Perplexity(from_logits=True), batches) == pytest.approx(want, rel=1e-10)

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    assert _stream(metrics.Perplexity(), batches, softmax) == pytest.approx(want, rel=1e-6)


def test_perplexity_one_hot_targets_and_uniform_case():
    m = metrics.Perplexity(from_logits=True)
    m.update_state(F.one_hot(torch.tensor([1, 2]), 5).double(), torch.zeros(2, 5, dtype=torch.float64))
    m.update_state(F.one_hot(torch.tensor([4]), 5), torch.zeros(1, 5))  # integer one-hot too
    assert m.result() == pytest.approx(5.0)


@pytest.mark.parametrize("name,fn", [
    ("mse", lambda e: np.mean(e**2)),
    ("mae", lambda e: np.mean(np.abs(e))),
    ("rmse", lambda e: np.sqrt(np.mean(e**2))),
])
def test_streaming_regression_metrics_with_masks(name, fn):
    r = np.random.default_rng(2)
    m = metrics.get(name)
    errors = []
    for n in (2, 5, 1):
        yt, yp = r.normal(size=(n, 4, 3)), r.normal(size=(n, 4, 3))
        mask = r.random(size=(n, 4)) > 0.3
        mask[0, 0] = True
        m.update_state(torch.tensor(yt), torch.tensor(yp), mask=torch.tensor(mask))
        errors.append((yp - yt)[mask])
    assert m.name == name
    assert m.result() == pytest.approx(fn(np.concatenate(errors)), rel=1e-12)


def test_rmse_is_root_of_epoch_mean_not_mean_of_roots():
    m = metrics.get("rmse")
    m.update_state(torch.zeros(1), torch.tensor([3.0]))
    m.update_state(torch.zeros(1), torch.tensor([4.0]))
    assert m.result() == pytest.approx(math.sqrt(12.5))  # mean of roots would be 3.5


def test_binary_and_categorical_accuracy_vs_numpy():
    r = np.random.default_rng(3)
    p = r.random(size=(20, 1))
    y = (r.random(size=(20, 1)) > 0.5).astype(float)
    b = metrics.get("binary_accuracy")
    b.update_state(torch.tensor(y[:7]), torch.tensor(p[:7]))
    b.update_state(torch.tensor(y[7:, 0]), torch.tensor(p[7:]))  # targets without the unit axis
    assert b.result() == pytest.approx(np.mean((p > 0.5) == (y > 0.5)))

    logits = r.normal(size=(9, 3, 6))
    onehot = np.eye(6)[r.integers(0, 6, size=(9, 3))]
    c = metrics.get("categorical_accuracy")
    c.update_state(torch.tensor(onehot), torch.tensor(logits))
    assert c.result() == pytest.approx(np.mean(logits.argmax(-1) == onehot.argmax(-1)))


def test_reset_state_and_empty_result():
    m = metrics.get("sparse_categorical_accuracy")
    assert m.result() == 0.0
    m.update_state(torch.tensor([0]), torch.tensor([[0.9, 0.1]]))
    assert m.result() == 1.0
    m.reset_state()
    m.update_state(torch.tensor([1]), torch.tensor([[0.9, 0.1]]))
    assert m.result() == 0.0


def test_update_builds_no_graph():
    z = torch.randn(3, 4, requires_grad=True)
    m = metrics.get("perplexity", from_logits=True)
    m.update_state(torch.tensor([0, 1, 2]), z)
    assert m._total is not None and not m._total.requires_grad


# ------------------------------------------------------------- accuracy rule
@pytest.mark.parametrize("loss,true_shape,pred_shape,cls", [
    ("binary_crossentropy", None, None, metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", None, None, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", None, None, metrics.CategoricalAccuracy),
    ("binary_crossentropy", (8, 5), (8, 5), metrics.BinaryAccuracy),  # multi-label: the loss decides
    ("mse", (8, 1), (8, 1), metrics.BinaryAccuracy),  # one unit per example
    ("mse", (8,), (8,), metrics.BinaryAccuracy),
    (None, (8,), (8, 5), metrics.SparseCategoricalAccuracy),  # ids, one fewer dim
    (None, (8, 1), (8, 5), metrics.SparseCategoricalAccuracy),  # ids with a unit axis
    (None, (4, 7), (4, 7, 10), metrics.SparseCategoricalAccuracy),  # per time step
    (None, (8, 5), (8, 5), metrics.CategoricalAccuracy),  # one-hot
    (lambda t, p: (t - p).abs(), (8, 5), (8, 5), metrics.CategoricalAccuracy),
])
def test_accuracy_resolution(loss, true_shape, pred_shape, cls):
    m = metrics.resolve("accuracy", loss, true_shape, pred_shape)
    assert type(m) is cls and m.name == "accuracy"


def test_accuracy_resolution_from_tensors_and_acc_alias():
    m = metrics.resolve("acc", None, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, 9))
    assert type(m) is metrics.SparseCategoricalAccuracy and m.name == "acc"


def test_accuracy_with_logit_losses_thresholds_at_zero():
    r = np.random.default_rng(4)
    z = torch.tensor(r.normal(size=(30, 1)))
    y = torch.tensor((r.random(size=(30, 1)) > 0.5).astype(float))
    on_logits = metrics.resolve("accuracy", losses.BinaryCrossentropy(from_logits=True))
    on_probs = metrics.resolve("accuracy", "binary_crossentropy")
    assert (on_logits.threshold, on_probs.threshold) == (0.0, 0.5)
    on_logits.update_state(y, z)
    on_probs.update_state(y, torch.sigmoid(z))
    assert on_logits.result() == on_probs.result() == pytest.approx(np.mean((z.numpy() > 0) == (y.numpy() > 0.5)))
    named = metrics.resolve("binary_accuracy", losses.BinaryCrossentropy(from_logits=True))
    assert named.threshold == 0.0 and named.name == "binary_accuracy"


def test_argmax_accuracy_on_logits_equals_on_probabilities():
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([0, 1, 2, 3, 0, 1])
    a = metrics.resolve("accuracy", losses.SparseCategoricalCrossentropy(from_logits=True))
    b = metrics.resolve("accuracy", "sparse_categorical_crossentropy")
    a.update_state(ids, z)
    b.update_state(ids, torch.softmax(z, -1))
    assert a.result() == b.result() == pytest.approx((z.argmax(-1) == ids).double().mean().item())


def test_perplexity_resolution_reads_from_logits_from_loss():
    assert metrics.resolve("perplexity", losses.SparseCategoricalCrossentropy(from_logits=True)).from_logits is True
    assert metrics.resolve("perplexity", "sparse_categorical_crossentropy").from_logits is False


def test_accuracy_without_information_raises():
    with pytest.raises(ConfigError, match="y_true and y_pred"):
        metrics.resolve("accuracy", "mse")
    with pytest.raises(ConfigError, match="resolve"):
        metrics.get("accuracy")


# ------------------------------------------------------------ get / config
def test_unknown_metric_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        metrics.get("f1")
    for name in ("accuracy", "sparse_categorical_accuracy", "binary_accuracy", "mae", "mse", "rmse", "perplexity"):
        assert name in str(info.value)


def test_get_passes_objects_and_wraps_functions():
    m = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(m) is m

    def exact(y_true, y_pred):
        return (y_true == y_pred).double()

    w = metrics.get(exact)
    w.update_state(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
                   mask=torch.tensor([True, False]))
    assert w.name == "exact" and w.result() == pytest.approx(0.5)


@pytest.mark.parametrize("metric", [
    metrics.BinaryAccuracy(threshold=0.2), metrics.Perplexity(from_logits=True), metrics.get("rmse"),
    metrics.SparseCategoricalAccuracy(name="acc"),
])
def test_config_round_trips_through_json(metric):
    back = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
    assert type(back) is type(metric) and back.get_config() == metric.get_config()


def test_shape_errors_name_the_metric():
    with pytest.raises(ShapeError, match="CategoricalAccuracy.*sparse_categorical_accuracy"):
        metrics.get("categorical_accuracy").update_state(torch.tensor([0, 1]), torch.rand(2, 3))
    with pytest.raises(ShapeError, match="SparseCategoricalAccuracy"):
        metrics.get("sparse_categorical_accuracy").update_state(torch.tensor([0, 5]), torch.rand(2, 3))
