"""Optimizers: Keras' defaults, and steps against updates computed by hand in NumPy."""
import json

import numpy as np
import pytest
import torch

import rnnkit.optimizers as public
from rnnkit.errors import ConfigError
from rnnkit.training import optimizers

W0 = np.array([1.0, -2.0])
GRADS = [np.array([0.5, 0.25]), np.array([-0.3, 0.8]), np.array([0.1, -0.05])]


def _run(opt_or_spec, steps=len(GRADS), **kw):
    """Apply the gradients in GRADS to a float64 copy of W0 and return the weights."""
    w = torch.nn.Parameter(torch.tensor(W0))
    opt = optimizers.get(opt_or_spec, [w], **kw)
    for g in GRADS[:steps]:
        w.grad = torch.tensor(g)
        opt.step()
    return w.detach().numpy()


@pytest.mark.parametrize("name,want", [
    ("sgd", {"lr": 0.01, "momentum": 0.0, "nesterov": False}),
    ("adam", {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7, "amsgrad": False}),
    ("adamw", {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.004}),
    ("rmsprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-7, "momentum": 0.0, "centered": False}),
    ("adagrad", {"lr": 0.001, "initial_accumulator_value": 0.1, "eps": 1e-7}),
])
def test_keras_defaults(name, want):
    opt = optimizers.get(name, [torch.nn.Parameter(torch.zeros(1))])
    for key, value in want.items():
        assert opt.defaults[key] == value, key


def test_torch_classes():
    p = [torch.nn.Parameter(torch.zeros(1))]
    kinds = {n: type(optimizers.get(n, p)) for n in optimizers.available()}
    assert kinds == {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                     "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}


def test_sgd_plain_and_keras_momentum_forms():
    assert np.allclose(_run("sgd", steps=1), W0 - 0.01 * GRADS[0], rtol=0, atol=1e-15)
    # Keras' momentum form: v <- mu v - lr g ; w <- w + v  (same as PyTorch's for a constant lr)
    w, v = W0.copy(), np.zeros(2)
    for g in GRADS:
        v = 0.9 * v - 0.1 * g
        w = w + v
    assert np.allclose(_run(optimizers.SGD(learning_rate=0.1, momentum=0.9)), w, atol=1e-14)
    # Nesterov: w <- w + mu v - lr g, with v updated first
    w, v = W0.copy(), np.zeros(2)
    for g in GRADS:
        v = 0.9 * v - 0.1 * g
        w = w + 0.9 * v - 0.1 * g
    assert np.allclose(_run("sgd", learning_rate=0.1, momentum=0.9, nesterov=True), w, atol=1e-14)


def _adam(lr, b1, b2, eps, wd=0.0):
    w, m, v = W0.copy(), np.zeros(2), np.zeros(2)
    for t, g in enumerate(GRADS, start=1):
        w = w * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


def test_adam_steps_by_hand():
    assert np.allclose(_run("adam"), _adam(0.001, 0.9, 0.999, 1e-7), atol=1e-14)
    assert np.allclose(_run(optimizers.Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99)),
                       _adam(0.05, 0.8, 0.99, 1e-7), atol=1e-14)


def test_adamw_decoupled_decay_by_hand():
    assert np.allclose(_run("adamw", learning_rate=0.1), _adam(0.1, 0.9, 0.999, 1e-7, wd=0.004), atol=1e-14)
    assert not np.allclose(_run("adamw", learning_rate=0.1), _run("adam", learning_rate=0.1), atol=1e-6)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_steps_by_hand(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, v, avg, buf = W0.copy(), np.zeros(2), np.zeros(2), np.zeros(2)
    for g in GRADS:
        v = rho * v + (1 - rho) * g * g
        avg = rho * avg + (1 - rho) * g
        denom = np.sqrt(v - avg**2 if centered else v) + eps  # epsilon outside the root
        buf = momentum * buf + g / denom
        w = w - lr * buf
    got = _run("rmsprop", learning_rate=lr, momentum=momentum, centered=centered)
    assert np.allclose(got, w, atol=1e-13)


def test_adagrad_steps_by_hand():
    w, s = W0.copy(), np.full(2, 0.1)
    for g in GRADS:
        s = s + g * g
        w = w - 0.001 * g / (np.sqrt(s) + 1e-7)
    assert np.allclose(_run("adagrad"), w, atol=1e-15)


def test_overrides_lr_alias_and_case():
    p = [torch.nn.Parameter(torch.zeros(1))]
    assert optimizers.get("Adam", p, learning_rate=0.01).defaults["lr"] == 0.01
    assert optimizers.get("adam", p, lr=0.02).defaults["lr"] == 0.02
    spec = optimizers.Adam(learning_rate=0.01)
    assert optimizers.get(spec, p, beta_1=0.5).defaults["betas"] == (0.5, 0.999)
    assert spec.beta_1 == 0.9  # overrides give a copy


def test_unknown_name_and_argument_list_valid_ones():
    p = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ConfigError) as info:
        optimizers.get("adamax", p)
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="betas.*learning_rate, beta_1, beta_2, epsilon, amsgrad"):
        optimizers.get("adam", p, betas=(0.9, 0.99))


def test_torch_optimizer_instance_and_class_pass_through():
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=0.3)
    assert optimizers.get(opt, p) is opt
    assert optimizers.resolve(opt) is opt
    with pytest.raises(ConfigError, match="ready-made SGD"):
        optimizers.get(opt, p, learning_rate=0.1)
    built = optimizers.get(torch.optim.Adamax, p, lr=0.5)
    assert isinstance(built, torch.optim.Adamax) and built.defaults["lr"] == 0.5


def test_spec_build_accepts_module_and_refuses_empty():
    layer = torch.nn.Linear(2, 3)
    opt = public.Adam(learning_rate=0.01).build(layer)
    assert sum(len(g["params"]) for g in opt.param_groups) == 2
    with pytest.raises(ConfigError, match="empty list of parameters"):
        optimizers.get("adam", [])


@pytest.mark.parametrize("spec", [optimizers.SGD(momentum=0.9, nesterov=True), optimizers.Adam(amsgrad=True),
                                  optimizers.AdamW(weight_decay=0.1), optimizers.RMSprop(centered=True),
                                  optimizers.Adagrad(initial_accumulator_value=0.0)])
def test_config_round_trips_through_json(spec):
    back = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(spec))))
    assert type(back) is type(spec) and back.get_config() == spec.get_config()


@pytest.mark.parametrize("cls,kwargs,match", [
    (optimizers.Adam, {"learning_rate": -0.1}, "learning_rate"),
    (optimizers.Adam, {"beta_1": 1.0}, "beta_1"),
    (optimizers.SGD, {"nesterov": True}, "momentum > 0"),
    (optimizers.RMSprop, {"rho": "0.9"}, "rho"),
    (optimizers.Adagrad, {"epsilon": float("nan")}, "epsilon"),
])
def test_bad_hyper_parameters(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_public_alias_module():
    assert public.Adam is optimizers.Adam and public.get is optimizers.get
    assert set(public.__all__) == set(optimizers.__all__)


# ----------------------------------------------------------------------------- discriminative learning rates
def test_discriminative_groups_step_each_group_at_its_own_rate_by_hand():
    top, middle, bottom = (torch.nn.Linear(2, 1, bias=False) for _ in range(3))
    opt = optimizers.SGD(learning_rate=0.26).build(optimizers.discriminative_groups([top, middle, bottom], 2.6))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.26, 0.1, 0.1 / 2.6])  # lr / 2.6^k, top first
    before = [m.weight.detach().clone() for m in (top, middle, bottom)]
    for m in (top, middle, bottom):
        m.weight.grad = torch.tensor([[1.0, -2.0]])
    opt.step()
    for m, w0, lr in zip((top, middle, bottom), before, (0.26, 0.1, 0.1 / 2.6)):  # w <- w - lr g
        torch.testing.assert_close(m.weight.detach(), w0 - lr * torch.tensor([[1.0, -2.0]]))


def test_schedules_keep_the_ratios_of_discriminative_groups():
    from rnnkit.apps.framework import RunClock
    from rnnkit.training.callbacks import LearningRateScheduler

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    net.optimizer = optimizers.Adam(learning_rate=1.0).build(optimizers.discriminative_groups([net[1], net[0]], 4.0))
    net.stop_training = False
    scheduler = LearningRateScheduler(lambda epoch: 0.5)
    scheduler.set_model(net)
    scheduler.on_epoch_begin(0)
    assert [g["lr"] for g in net.optimizer.param_groups] == [0.5, 0.125]
    clock = RunClock(None, 1, schedule=lambda fraction, epoch: 0.2)
    clock.set_model(net)
    clock.set_params({"steps": 1})
    clock.on_train_begin()
    clock.on_train_batch_begin(0)
    assert [g["lr"] for g in net.optimizer.param_groups] == pytest.approx([0.2, 0.05])


def test_discriminative_groups_refuse_an_empty_group():
    with pytest.raises(ConfigError, match="group 1 holds no parameters"):
        optimizers.discriminative_groups([torch.nn.Linear(1, 1), torch.nn.Dropout()])
