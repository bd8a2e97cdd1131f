"""Ensemble: the members' outputs averaged, checked against NumPy on the members' own outputs; masks, saving,
evaluate's loss, and the errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import GRU, LSTM, Bidirectional, Dense, Embedding, GlobalMaxPooling1D
from rnnkit.models import Ensemble, Sequential, load_model


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _members(classes: int = 3, seed: int = 0) -> list[Sequential]:
    torch.manual_seed(seed)
    members = [Sequential([Embedding(30, 5, mask_zero=True), LSTM(4), Dense(classes)]),
               Sequential([Embedding(30, 6, mask_zero=True), Bidirectional(GRU(3, return_sequences=True)),
                           GlobalMaxPooling1D(), Dense(classes)]),
               Sequential([Embedding(30, 4, mask_zero=True), GRU(5), Dense(classes)])]
    for m in members:
        m.eval()
    return members


IDS = torch.tensor([[3, 9, 4, 0, 0], [7, 1, 2, 5, 8], [6, 0, 0, 0, 0]])


def _each(members, x=IDS) -> np.ndarray:
    with torch.no_grad():
        return np.stack([m(x).double().numpy() for m in members])  # (K, B, C)


def test_probabilities_are_the_mean_of_the_members_softmax():
    members = _members()
    model = Ensemble(members, average="probabilities").eval()
    with torch.no_grad():
        out = model(IDS).double().numpy()
    want = _softmax(_each(members)).mean(axis=0)  # (B, C)
    np.testing.assert_allclose(_softmax(out), want, atol=1e-6)
    np.testing.assert_allclose(out, np.log(want), atol=1e-5)  # the output is log p̄ itself, not p̄ up to a constant


def test_outputs_are_the_plain_mean():
    members = _members()
    model = Ensemble(members).eval()
    with torch.no_grad():
        out = model(IDS).double().numpy()
    np.testing.assert_allclose(out, _each(members).mean(axis=0), atol=1e-6)


def test_padding_changes_no_output():
    model = Ensemble(_members(), average="probabilities").eval()
    with torch.no_grad():
        batched = model(IDS)
        alone = [model(IDS[i:i + 1, :n]) for i, n in enumerate((3, 5, 1))]
    for i, row in enumerate(alone):
        torch.testing.assert_close(batched[i:i + 1], row, atol=1e-6, rtol=0)


def test_evaluate_loss_is_minus_the_log_of_the_averaged_probability():
    members = _members()
    model = Ensemble(members, average="probabilities")
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.loss.from_logits = True
    y = torch.tensor([0, 2, 1])
    logs = model.evaluate(IDS, y, return_dict=True)
    p = _softmax(_each(members)).mean(axis=0)
    assert logs["loss"] == pytest.approx(-np.log(p[np.arange(3), y.numpy()]).mean(), abs=1e-5)
    assert logs["accuracy"] == pytest.approx(np.mean(p.argmax(axis=1) == y.numpy()))


def test_save_and_load_rebuild_the_members_and_their_weights(tmp_path):
    model = Ensemble(_members(), average="probabilities", name="three").eval()
    model(IDS)  # the recurrent layers size their weights at the first call
    model.save(str(tmp_path / "ensemble.safetensors"))
    loaded = load_model(str(tmp_path / "ensemble.safetensors"), compile=False).eval()
    assert isinstance(loaded, Ensemble) and loaded.average == "probabilities" and loaded.name == "three"
    assert [type(m.layers[1]).__name__ for m in loaded.members] == ["LSTM", "Bidirectional", "GRU"]
    assert {k.split(".")[1] for k in loaded.state_dict()} == {"0", "1", "2"}  # members.K.*
    with torch.no_grad():
        torch.testing.assert_close(loaded(IDS), model(IDS), atol=0, rtol=0)


def test_summary_lists_each_member_with_its_parameters():
    members = _members()
    model = Ensemble(members)
    model(IDS)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for m in members:
        assert f"{sum(p.numel() for p in m.parameters()):,}" in text
    assert f"Total params: {sum(p.numel() for m in members for p in m.parameters()):,}" in text


@pytest.mark.parametrize("members, average, error, fragment", [
    ("one", "outputs", ConfigError, "Ensemble: needs two or more members, got 1"),
    ("not-a-model", "outputs", ConfigError, "Ensemble: member 1 must be a model (a torch.nn.Module), got str"),
    ("two", "median", ConfigError, "Ensemble: `average` must be one of 'outputs', 'probabilities', got 'median'"),
])
def test_bad_members_and_settings_are_refused(members, average, error, fragment):
    built = {"one": _members()[:1], "not-a-model": [_members()[0], "lstm"], "two": _members()[:2]}[members]
    with pytest.raises(error) as info:
        Ensemble(built, average=average)
    assert fragment in str(info.value)


def test_members_with_outputs_of_different_shapes_are_named():
    members = _members(classes=3)[:1] + _members(classes=2)[:1]
    with pytest.raises(ShapeError, match=r"Ensemble: the members' outputs differ in shape \(\(3, 2\), \(3, 3\)\)"):
        Ensemble(members)(IDS)
