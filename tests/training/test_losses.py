"""Losses against independent references: NumPy formulas, torch.nn.functional, hand values."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.training import losses

EPS = 1e-7


def _rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ regression
def test_mse_mae_match_numpy_and_torch():
    r = _rng()
    yt, yp = r.normal(size=(3, 4, 2)), r.normal(size=(3, 4, 2))
    t, p = torch.tensor(yt), torch.tensor(yp)
    assert losses.get("mse")(t, p).item() == pytest.approx(np.mean((yt - yp) ** 2), rel=1e-12)
    assert losses.get("mean_absolute_error")(t, p).item() == pytest.approx(np.mean(np.abs(yt - yp)), rel=1e-12)
    assert torch.allclose(losses.get("MSE")(t, p), F.mse_loss(p, t))
    assert torch.allclose(losses.get("mae")(t, p), F.l1_loss(p, t))


@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_huber_matches_numpy_formula(delta):
    r = _rng(1)
    yt, yp = r.normal(size=(5, 3)) * 2, r.normal(size=(5, 3)) * 2
    e = np.abs(yt - yp)
    want = np.mean(np.where(e <= delta, 0.5 * e**2, delta * (e - 0.5 * delta)))
    got = losses.Huber(delta=delta)(torch.tensor(yt), torch.tensor(yp)).item()
    assert got == pytest.approx(want, rel=1e-12)
    assert got == pytest.approx(F.huber_loss(torch.tensor(yp), torch.tensor(yt), delta=delta).item(), rel=1e-12)


def test_huber_hand_value():
    # errors 0.5 (quadratic: 0.125) and 3 (linear: 1 * (3 - 0.5) = 2.5)
    assert losses.get("huber")(torch.zeros(2), torch.tensor([0.5, -3.0])).item() == pytest.approx(1.3125)


def test_target_without_unit_axis_is_accepted_and_not_broadcast():
    yt = torch.tensor([0.0, 1.0, 2.0])
    yp = torch.tensor([[1.0], [1.0], [1.0]])
    assert losses.get("mse")(yt, yp).item() == pytest.approx((1 + 0 + 1) / 3)  # broadcasting would give 6/9
    with pytest.raises(ShapeError, match=r"shape of y_pred \(3, 2\)"):
        losses.get("mse")(yt, torch.zeros(3, 2))


def test_numpy_inputs_and_integer_prediction_refused():
    assert losses.get("mae")(np.zeros(2), np.array([1.0, -3.0])).item() == pytest.approx(2.0)
    with pytest.raises(ShapeError, match="floating-point y_pred"):
        losses.get("mse")(torch.zeros(2), torch.tensor([1, 2]))


# --------------------------------------------------------------- binary CE
def test_bce_probabilities_match_numpy_with_keras_clipping():
    yt = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    yp = np.array([[0.8], [0.3], [0.0], [1.0], [1.0]])  # 0 and 1 get clipped to [eps, 1 - eps]
    p = np.clip(yp, EPS, 1 - EPS)
    want = np.mean(-(yt * np.log(p) + (1 - yt) * np.log(1 - p)))
    got = losses.get("binary_crossentropy")(torch.tensor(yt), torch.tensor(yp)).item()
    assert got == pytest.approx(want, rel=1e-9)
    assert math.isfinite(got)


def test_bce_from_logits_matches_torch_and_is_stable():
    r = _rng(2)
    z = torch.tensor(r.normal(size=(4, 6, 1)) * 3)
    y = torch.tensor((r.random(size=(4, 6, 1)) > 0.5).astype(float))
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert torch.allclose(loss(y, z), F.binary_cross_entropy_with_logits(z, y))
    big = loss(torch.tensor([0.0, 1.0]), torch.tensor([100.0, -100.0], dtype=torch.float32))
    assert big.item() == pytest.approx(100.0)  # log(1 + e^100) ~ 100, no inf


def test_bce_logit_gradient_is_sigmoid_minus_target():
    z = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0])
    losses.BinaryCrossentropy(from_logits=True)(y, z).backward()
    assert torch.allclose(z.grad, (torch.sigmoid(z.detach()) - y) / 3)


def test_bce_label_smoothing():
    yt, yp = np.array([1.0, 0.0]), np.array([0.9, 0.2])
    ys = yt * 0.8 + 0.1
    want = np.mean(-(ys * np.log(yp) + (1 - ys) * np.log(1 - yp)))
    got = losses.BinaryCrossentropy(label_smoothing=0.2)(torch.tensor(yt), torch.tensor(yp)).item()
    assert got == pytest.approx(want, rel=1e-9)


# ---------------------------------------------------------- categorical CE
def test_categorical_from_logits_matches_torch_soft_targets_and_smoothing():
    r = _rng(3)
    z = torch.tensor(r.normal(size=(5, 4)))
    y = F.one_hot(torch.tensor([0, 3, 1, 1, 2]), 4).double()
    assert torch.allclose(losses.CategoricalCrossentropy(from_logits=True)(y, z), F.cross_entropy(z, y))
    smoothed = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y, z)
    assert torch.allclose(smoothed, F.cross_entropy(z, y.argmax(-1), label_smoothing=0.1))


def test_categorical_probabilities_renormalised_and_clipped():
    yt = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    yp = np.array([[0.2, 0.6, 0.2], [0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])  # rows that sum to 2 and hold zeros
    p = np.clip(yp / yp.sum(-1, keepdims=True), EPS, 1 - EPS)
    want = np.mean(-(yt * np.log(p)).sum(-1))
    assert losses.get("categorical_crossentropy")(torch.tensor(yt), torch.tensor(yp)).item() == pytest.approx(want)


def test_categorical_with_ids_points_to_sparse():
    with pytest.raises(ShapeError, match="sparse_categorical_crossentropy"):
        losses.get("categorical_crossentropy")(torch.tensor([0, 1]), torch.rand(2, 3))


# ---------------------------------------------------- sparse categorical CE
def test_sparse_from_logits_matches_torch_per_time_step():
    r = _rng(4)
    z = torch.tensor(r.normal(size=(3, 5, 7)))
    ids = torch.tensor(r.integers(0, 7, size=(3, 5)))
    got = losses.SparseCategoricalCrossentropy(from_logits=True)(ids, z)
    assert torch.allclose(got, F.cross_entropy(z.reshape(-1, 7), ids.reshape(-1)))
    # a trailing axis of 1 on the ids is accepted
    assert torch.allclose(losses.SparseCategoricalCrossentropy(from_logits=True)(ids[..., None], z), got)


def test_sparse_from_logits_is_stable_for_huge_logits():
    z = torch.tensor([[1000.0, 0.0, -1000.0]])
    got = losses.SparseCategoricalCrossentropy(from_logits=True)(torch.tensor([1]), z)
    assert got.item() == pytest.approx(1000.0)


def test_sparse_probabilities_match_numpy():
    yp = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    ids = np.array([0, 0])
    want = np.mean(-np.log(np.clip(yp[np.arange(2), ids], EPS, 1 - EPS)))
    got = losses.get("sparse_categorical_crossentropy")(torch.tensor(ids), torch.tensor(yp)).item()
    assert got == pytest.approx(want, rel=1e-9)


def test_sparse_ids_out_of_range_and_wrong_shape():
    loss = losses.get("sparse_categorical_crossentropy")
    with pytest.raises(ShapeError, match=r"\[0, 3\).*from 0 to 3"):
        loss(torch.tensor([0, 3]), torch.rand(2, 3))
    with pytest.raises(ShapeError, match="categorical_crossentropy"):
        loss(torch.zeros(2, 3), torch.rand(2, 3))


# ------------------------------------------------------------------- masks
def test_masked_sparse_ce_is_mean_over_valid_steps():
    r = _rng(5)
    z = torch.tensor(r.normal(size=(2, 4, 3)))
    ids = torch.tensor(r.integers(0, 3, size=(2, 4)))
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    per_step = F.cross_entropy(z.reshape(-1, 3), ids.reshape(-1), reduction="none").reshape(2, 4)
    want = per_step[mask].mean()  # 4 valid steps, not 8
    got = losses.SparseCategoricalCrossentropy(from_logits=True)(ids, z, mask=mask)
    assert torch.allclose(got, want)
    assert not torch.allclose(got, per_step.mean())


def test_masked_mse_ignores_garbage_in_padding_and_gets_no_gradient_there():
    yt = torch.zeros(2, 3, 2)
    yp = torch.tensor([[[1.0, 3.0], [2.0, 2.0], [1e6, 1e6]], [[0.0, 1.0], [1e6, -1e6], [1e6, 1e6]]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    got = losses.get("mse")(yt, yp, mask=mask)
    # valid steps: (1 + 9)/2 = 5, (4 + 4)/2 = 4, (0 + 1)/2 = 0.5 -> mean 9.5 / 3
    assert got.item() == pytest.approx(9.5 / 3)
    got.backward()
    assert torch.all(yp.grad[~mask] == 0)


def test_masked_binary_ce_per_step_unit_axis():
    z = torch.tensor([[[0.5], [-1.0], [9.0]]])
    y = torch.tensor([[1.0, 0.0, 1.0]])
    mask = torch.tensor([[True, False, True]])
    want = (F.softplus(torch.tensor(-0.5)) + F.softplus(torch.tensor(-9.0))) / 2
    assert torch.allclose(losses.BinaryCrossentropy(from_logits=True)(y, z, mask=mask), want)


def test_all_padding_gives_zero_and_bad_mask_shape_raises():
    loss = losses.get("mse")
    assert loss(torch.zeros(2, 3), torch.ones(2, 3), mask=torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ShapeError, match=r"prefix of the per-step values \(2, 3\).*got \(3, 2\)"):
        loss(torch.zeros(2, 3), torch.ones(2, 3), mask=torch.ones(3, 2, dtype=torch.bool))


# ---------------------------------------------------------- get and config
def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        losses.get("cross_entropy")
    for name in ("mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"):
        assert name in str(info.value)


def test_get_resolves_names_objects_and_classes():
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("Huber"), losses.Huber)
    obj = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert losses.get(obj) is obj
    assert isinstance(losses.get(losses.MeanAbsoluteError), losses.MeanAbsoluteError)


@pytest.mark.parametrize(
    "loss",
    [losses.Huber(delta=0.5), losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     losses.CategoricalCrossentropy(label_smoothing=0.2), losses.SparseCategoricalCrossentropy(from_logits=True),
     losses.MeanSquaredError(name="my_mse")],
)
def test_config_round_trips_through_json(loss):
    data = json.loads(json.dumps(losses.serialize(loss)))
    back = losses.deserialize(data)
    assert type(back) is type(loss) and back.get_config() == loss.get_config()


def test_callable_is_wrapped_and_honours_mask():
    def abs_err(y_true, y_pred):
        return (y_true - y_pred).abs()

    loss = losses.get(abs_err)
    yt, yp = torch.zeros(1, 3), torch.tensor([[1.0, 2.0, 30.0]])
    assert loss.name == "abs_err"
    assert loss(yt, yp, mask=torch.tensor([[True, True, False]])).item() == pytest.approx(1.5)
    with pytest.raises(ConfigError, match="register"):
        loss.get_config()
    scalar = losses.get(lambda t, p: (t - p).abs().mean())
    with pytest.raises(ConfigError, match="returned a scalar"):
        scalar(yt, yp, mask=torch.ones(1, 3, dtype=torch.bool))


def test_registered_function_round_trips():
    def cube_err(y_true, y_pred):
        return (y_true - y_pred).abs() ** 3

    losses.register("test_cube_err", cube_err)
    back = losses.deserialize(json.loads(json.dumps(losses.serialize(losses.get("test_cube_err")))))
    assert back(torch.zeros(2), torch.tensor([1.0, 2.0])).item() == pytest.approx(4.5)


def test_torch_loss_module_called_in_torch_order():
    z = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    ids = torch.tensor([0, 2])
    assert torch.allclose(losses.get(torch.nn.CrossEntropyLoss())(ids, z), F.cross_entropy(z, ids))
    with pytest.raises(ConfigError, match="reduction='none'"):
        losses.get(torch.nn.MSELoss())(torch.zeros(2, 3), torch.ones(2, 3), mask=torch.ones(2, dtype=torch.bool))
    masked = losses.get(torch.nn.MSELoss(reduction="none"))(
        torch.zeros(2, 3), torch.tensor([[1.0, 1.0, 1.0], [5.0, 5.0, 5.0]]), mask=torch.tensor([True, False])
    )
    assert masked.item() == pytest.approx(1.0)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="delta"):
        losses.Huber(delta=0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ConfigError, match="from_logits"):
        losses.BinaryCrossentropy(from_logits="yes")


def test_half_precision_predictions_are_computed_in_float32():
    z = torch.tensor([[3.0, -2.0, 0.5], [1.0, 1.0, 8.0]])
    ids = torch.tensor([1, 0])
    got = losses.SparseCategoricalCrossentropy(from_logits=True)(ids, z.bfloat16())
    want = F.cross_entropy(z.bfloat16().float(), ids)  # same rounded inputs, float32 math
    assert got.dtype == torch.float32 and torch.allclose(got, want, rtol=1e-6)
