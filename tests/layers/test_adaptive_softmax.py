"""AdaptiveSoftmax against torch.nn.AdaptiveLogSoftmaxWithLoss with the same weights, and fit's target-only loss."""
from __future__ import annotations

import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import LSTM, AdaptiveSoftmax, Embedding
from rnnkit.models import Sequential, load_model
from rnnkit.training.losses import SparseCategoricalCrossentropy

V, F, CUTS = 60, 16, [6, 25]


def _pair(seed=0):
    """Our layer and torch's module holding the same weights (the same layout: the state dict loads as is)."""
    torch.manual_seed(seed)
    ours = AdaptiveSoftmax(V, CUTS, input_size=F)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(F, V, CUTS, div_value=4.0, head_bias=True)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def test_log_probabilities_equal_torch_and_sum_to_one():
    ours, ref = _pair()
    x = torch.randn(3, 5, F)
    out = ours(x)
    assert out.shape == (3, 5, V)
    torch.testing.assert_close(out, ref.log_prob(x.reshape(-1, F)).reshape(3, 5, V), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3, 5))


def test_target_log_prob_and_its_gradients_equal_torch():
    ours, ref = _pair(1)
    x = torch.randn(40, F)
    y = torch.cat([torch.tensor([0, 5, 6, 24, 25, V - 1]), torch.randint(0, V, (34,))])  # every cluster's edges
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    logp = ours.target_log_prob(x1, y)
    expected = ref(x2, y)
    torch.testing.assert_close(logp, expected.output, atol=1e-6, rtol=1e-6)
    (-logp.mean()).backward()
    expected.loss.backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=1e-5)
    theirs = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, theirs[name].grad, atol=1e-6, rtol=1e-5, msg=name)


def test_target_loss_honours_a_mask():
    ours, _ = _pair(2)
    x, y = torch.randn(2, 4, F), torch.randint(0, V, (2, 4))
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    nll = -ours(x).gather(-1, y[..., None])[..., 0]
    torch.testing.assert_close(ours.target_loss(x, y, mask), nll[mask].mean())


def _lm(seed=0):
    torch.manual_seed(seed)
    model = Sequential([Embedding(V, F), LSTM(F, return_sequences=True), AdaptiveSoftmax(V, CUTS)])
    model(torch.zeros(1, 1, dtype=torch.long))
    return model


def test_fit_scores_the_targets_alone_with_the_value_of_the_full_cross_entropy():
    model = _lm()
    model.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy(from_logits=True))
    x, y = torch.randint(0, V, (4, 7)), torch.randint(0, V, (4, 7))
    outputs, _, loss = model._outputs_and_loss(x, y)
    assert outputs is None  # the (4, 7, V) log-probabilities were never made
    with torch.no_grad():  # independent: torch's cross-entropy on the whole output
        full = torch.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
    torch.testing.assert_close(loss, full)
    assert model.evaluate(x, y, batch_size=4) == pytest.approx(float(full), rel=1e-5)
    model.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    outputs, _, loss_with_metrics = model._outputs_and_loss(x, y)  # a metric needs the outputs: the full path
    assert outputs.shape == (4, 7, V)
    torch.testing.assert_close(loss_with_metrics, full)


def test_a_saved_model_reloads_with_the_same_log_probabilities(tmp_path):
    model = _lm(3)
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    x = torch.randint(0, V, (2, 6))
    model.fit(x, x, epochs=1, batch_size=2, verbose=0)
    model.save(str(tmp_path / "lm.safetensors"))
    again = load_model(str(tmp_path / "lm.safetensors"), compile=False)
    model.eval()
    torch.testing.assert_close(again(x), model(x))
    assert again.layers[-1].get_config()["cutoffs"] == CUTS


@pytest.mark.parametrize("cutoffs", [[0, 5], [5, 5], [30, 10], [5, V]])
def test_bad_cutoffs_are_one_line_errors(cutoffs):
    with pytest.raises(ConfigError, match="cutoffs"):
        AdaptiveSoftmax(V, cutoffs)


def test_targets_outside_the_vocabulary_are_refused():
    ours, _ = _pair()
    with pytest.raises(ShapeError, match=r"\[0, 60\)"):
        ours.target_log_prob(torch.randn(2, F), torch.tensor([3, V]))
