"""Tests of the Embedding layer: lookup, mask_zero, initialisation, errors and config."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.embedding import Embedding
from rnnkit.random import set_seed


def test_lookup_matches_numpy_indexing():
    torch.manual_seed(0)
    emb = Embedding(12, 5)
    ids = np.array([[3, 0, 11, 3], [7, 7, 1, 0]])
    expected = emb.weight.detach().numpy()[ids]
    out = emb(torch.from_numpy(ids))
    assert out.shape == (2, 4, 5)
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    # int32 tensors, NumPy arrays and uint8 ids give the same vectors
    np.testing.assert_array_equal(emb(torch.from_numpy(ids).int()).detach().numpy(), expected)
    np.testing.assert_array_equal(emb(ids).detach().numpy(), expected)
    np.testing.assert_array_equal(emb(torch.from_numpy(ids).to(torch.uint8)).detach().numpy(), expected)


def test_weight_layout_and_gradient_rows():
    emb = Embedding(6, 3)
    assert emb.weight.shape == (6, 3) and emb.built
    emb(torch.tensor([[1, 4, 4]])).sum().backward()
    counts = np.zeros((6, 3))
    counts[1] = 1
    counts[4] = 2
    np.testing.assert_array_equal(emb.weight.grad.numpy(), counts)


def test_mask_zero():
    ids = torch.tensor([[5, 2, 0, 0], [1, 0, 3, 0]])
    emb = Embedding(6, 2, mask_zero=True)
    np.testing.assert_array_equal(emb.compute_mask(ids).numpy(), ids.numpy() != 0)
    assert emb.compute_mask(ids).dtype == torch.bool
    assert Embedding(6, 2).compute_mask(ids) is None
    # the mask of the ids replaces any incoming one
    np.testing.assert_array_equal(emb.compute_mask(ids, torch.ones(2, 4, dtype=torch.bool)).numpy(), ids.numpy() != 0)


def test_default_initializer_is_keras_uniform():
    torch.manual_seed(0)
    w = Embedding(500, 40).weight.detach()
    assert w.abs().max() <= 0.05 and w.abs().max() > 0.049
    assert abs(w.mean().item()) < 0.002
    assert Embedding(3, 2).get_config()["embeddings_initializer"] == "random_uniform"


def test_fan_based_initializer_uses_input_dim_as_fan_in():
    torch.manual_seed(0)
    # Keras: he_uniform limit sqrt(6 / fan_in) with fan_in = input_dim = 1000 (not output_dim = 2)
    w = Embedding(1000, 2, embeddings_initializer="he_uniform").weight.detach()
    limit = math.sqrt(6.0 / 1000)
    assert w.abs().max() <= limit and w.abs().max() > 0.9 * limit


def test_float_ids_are_taken_when_whole_and_refused_with_a_hint_otherwise():
    emb = Embedding(10, 3)
    # whole-number floats are ids, as Keras casts them (keras.Input(shape=(None,)) is float32 by default)
    assert torch.equal(emb(torch.tensor([[1.0, 2.0]])), emb(torch.tensor([[1, 2]])))
    with pytest.raises(ShapeError, match=r"Embedding: expected integer token ids, got dtype torch.float32 .*holding "
                                         r"fractions; .*ids.long\(\)"):
        emb(torch.tensor([[1.0, 2.5]]))
    with pytest.raises(ShapeError, match="got dtype torch.bool"):
        emb(torch.tensor([True]))


def test_out_of_range_ids_report_max_and_fix():
    emb = Embedding(10, 3)
    with pytest.raises(ShapeError) as info:
        emb(torch.tensor([[1, 12, 10]]))
    message = str(info.value)
    assert "input_dim=10" in message and "max id 12" in message and "input_dim >= 13" in message
    with pytest.raises(ShapeError, match=r"Embedding: token ids must be >= 0, found -1 \(input_dim=10\)"):
        emb(torch.tensor([[3, -1]]))
    assert emb(torch.tensor([[9, 0]])).shape == (1, 2, 3)  # the edges are valid
    assert emb(torch.zeros(0, 4, dtype=torch.long)).shape == (0, 4, 3)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="Embedding: `input_dim` must be a positive integer, got 0"):
        Embedding(0, 4)
    with pytest.raises(ConfigError, match="Embedding: `output_dim` must be a positive integer"):
        Embedding(4, 2.0)
    with pytest.raises(ConfigError, match="Embedding: `mask_zero` must be True or False"):
        Embedding(4, 2, mask_zero="yes")
    with pytest.raises(ConfigError, match="unknown initializer 'bogus'"):
        Embedding(4, 2, embeddings_initializer="bogus")
    with pytest.raises(ConfigError, match="Embedding: `input_length`"):
        Embedding(4, 2, input_length=-3)
    for bad in (1.0, -0.2, 1.5):
        with pytest.raises(ConfigError, match=rf"^Embedding: `embeddings_dropout` must be a float in \[0, 1\), got {bad}"):
            Embedding(4, 2, embeddings_dropout=bad)


def test_input_length_is_accepted_and_config_roundtrip():
    emb = Embedding(20, 4, mask_zero=True, input_length=7, name="tokens")
    config = emb.get_config()
    assert config == {
        "name": "tokens", "input_dim": 20, "output_dim": 4, "mask_zero": True,
        "embeddings_initializer": "random_uniform", "embeddings_dropout": 0.0,
    }
    clone = Embedding.from_config(json.loads(json.dumps(config)))
    clone.load_state_dict(emb.state_dict())
    ids = torch.tensor([[0, 19, 3]])
    assert torch.equal(clone(ids), emb(ids))
    assert torch.equal(clone.compute_mask(ids), emb.compute_mask(ids))


# ---------------------------------------------------------------- embedding dropout
def test_embedding_dropout_drops_whole_rows_with_the_documented_mask():
    torch.manual_seed(0)
    p, vocab = 0.4, 30
    emb = Embedding(vocab, 6, mask_zero=True, embeddings_dropout=p).train()
    ids = torch.tensor([[3, 7, 3, 12, 0, 0], [7, 3, 25, 25, 25, 1], [12, 9, 3, 7, 29, 0]])
    set_seed(8)
    out = emb(ids)
    out.square().sum().backward()
    set_seed(8)
    keep = (torch.rand(vocab) >= p).float()  # by hand: one draw per vocabulary row
    expected = emb.weight.detach()[ids] * (keep[ids] / (1 - p))[..., None]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    present = ids.unique()
    assert 0 < int(keep[present].sum()) < len(present)  # this batch has dropped words and kept words
    for word in present.tolist():  # every occurrence of a word goes together
        rows = out[ids == word]
        scale = 0.0 if keep[word] == 0 else 1 / (1 - p)
        torch.testing.assert_close(rows, emb.weight.detach()[word].expand_as(rows) * scale)
    # d/dW_i of sum y^2 = sum over occurrences of 2 (m_i / (1-p))^2 W_i: zero for a dropped row
    counts = torch.bincount(ids.flatten(), minlength=vocab).float()
    grad = 2 * (counts * keep / (1 - p) ** 2)[:, None] * emb.weight.detach()
    torch.testing.assert_close(emb.weight.grad, grad)
    assert torch.equal(emb.compute_mask(ids), ids != 0)  # mask_zero is unchanged in training


def test_embedding_dropout_is_off_in_eval_and_draws_nothing_at_rate_zero():
    ids = torch.tensor([[1, 2, 3, 2]])
    emb, plain = Embedding(5, 3, embeddings_dropout=0.5).eval(), Embedding(5, 3).train()
    state = torch.get_rng_state()
    assert torch.equal(emb(ids), emb.weight.detach()[ids])
    assert torch.equal(plain(ids), plain.weight.detach()[ids])
    assert torch.equal(torch.get_rng_state(), state)
    clone = Embedding.from_config(json.loads(json.dumps(emb.get_config())))
    assert clone.embeddings_dropout == 0.5
