"""HashedNGrams and NaiveBayesBag against plain-Python and NumPy references written from their equations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit import Sequential, load_model
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import HashedNGrams, NaiveBayesBag
from rnnkit.training.losses import SparseCategoricalCrossentropy

P, A = 2_147_483_629, 1_000_003  # the hash's prime and multiplier, as the docstring states them


def _bins_by_hand(row: list[int], n_max: int, bins: int) -> set[int]:
    """The bins of a row's distinct n-grams: every window of real tokens, hashed with Python's integers."""
    real = [t for t in row if t != 0]
    assert row[: len(real)] == real  # right-padded
    out = set()
    for n in range(1, n_max + 1):
        for t in range(len(real) - n + 1):
            h = n
            for token in real[t:t + n]:
                h = (h * A + token) % P
            out.add(1 + h % (bins - 1))
    return out


def test_hashed_ngrams_are_each_rows_distinct_windows_hashed_as_the_equation_says():
    rng = np.random.default_rng(0)
    rows = []
    for length in (9, 4, 1, 0, 7):
        ids = rng.integers(1, 6, size=length).tolist()  # few distinct ids: repeated n-grams in a row
        rows.append(ids + [0] * (9 - length))
    for n_max, bins in ((1, 50), (2, 1000), (3, 2 ** 20)):
        out = HashedNGrams(n_max, bins)(torch.tensor(rows))
        assert out.shape == (5, 9 * n_max) and out.dtype == torch.int64
        for row, got in zip(rows, out.tolist()):
            nonzero = [b for b in got if b]
            assert len(nonzero) == len(set(nonzero))  # each bin once
            assert set(nonzero) == _bins_by_hand(row, n_max, bins)
    # large ids (a 2-million-word vocabulary) stay exact: no int64 overflow
    big = [[1_999_999, 1_999_998, 1_999_997]]
    assert set(HashedNGrams(3, 2 ** 21)(torch.tensor(big))[0].tolist()) - {0} == _bins_by_hand(big[0], 3, 2 ** 21)


def test_hashed_ngrams_keep_orders_apart_and_refuse_bad_input():
    # the unigram (7) and the bigram (0-padded) never meet; a bigram's bin differs from its words' bins
    out = HashedNGrams(2, 2 ** 20)(torch.tensor([[7, 8]]))[0].tolist()
    assert len([b for b in out if b]) == 3
    assert HashedNGrams(3, 100)(torch.tensor([[4, 5]])).shape == (1, 6)  # fewer steps than n: no trigram window
    with pytest.raises(ShapeError, match="expected integer token ids"):
        HashedNGrams()(torch.ones(2, 3))
    with pytest.raises(ShapeError, match="token ids must be >= 0"):
        HashedNGrams()(torch.tensor([[3, -1]]))
    with pytest.raises(ConfigError, match="num_bins"):
        HashedNGrams(2, 1)


def test_naive_bayes_bag_is_dense_on_the_multi_hot_bag_and_adapt_follows_the_ratio_equation():
    rng = np.random.default_rng(1)
    bins, classes, alpha = 12, 3, 0.5
    x = np.zeros((40, 6), dtype=np.int64)
    for row in x:  # distinct bins per row, 0-padded
        k = rng.integers(0, 6)
        row[:k] = rng.choice(np.arange(1, bins), size=k, replace=False)
    y = rng.integers(0, classes, size=40)
    bag = NaiveBayesBag(bins, classes, alpha=alpha)
    bag.adapt([(torch.from_numpy(x[:25]), torch.from_numpy(y[:25])), (torch.from_numpy(x[25:]), torch.from_numpy(y[25:]))])
    # NumPy: multi-hot rows, per-class counts, one class against the rest
    hot = np.zeros((40, bins))
    for i, row in enumerate(x):
        hot[i, row[row > 0]] = 1
    r = np.zeros((bins, classes))
    for c in range(classes):
        p = alpha + hot[y == c, 1:].sum(0)
        q = alpha + hot[y != c, 1:].sum(0)
        r[1:, c] = np.log(p / p.sum()) - np.log(q / q.sum())
    np.testing.assert_allclose(bag.ratios.numpy(), r, rtol=1e-5, atol=1e-6)
    # min_count: a bin held by fewer rows than that tells nothing
    rare = NaiveBayesBag(bins, classes, alpha=alpha, min_count=9)
    rare.adapt((torch.from_numpy(x), torch.from_numpy(y)))
    held = hot.sum(0)
    assert 0 < (held[1:] < 9).sum() < bins - 1  # some bins on each side of the line
    np.testing.assert_allclose(rare.ratios.numpy(), np.where((held < 9)[:, None], 0.0, r), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        bag.weight.copy_(torch.from_numpy(rng.normal(size=(bins, classes))))
        bag.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    want = hot @ (r * bag.weight.detach().numpy().astype(np.float64)) + np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(bag(torch.from_numpy(x)).detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_two_classes_get_opposite_ratios_and_the_words_of_one_class_point_to_it():
    ids = torch.tensor([[3, 4, 0], [3, 4, 4], [5, 6, 0], [5, 5, 6]])  # class 0 says 3 4, class 1 says 5 6
    model = Sequential([HashedNGrams(1, 64), NaiveBayesBag(64, 2)])
    model.layers[1].adapt((model.layers[0](ids), torch.tensor([0, 0, 1, 1])))
    r = model.layers[1].ratios
    np.testing.assert_allclose(r[:, 0].numpy(), -r[:, 1].numpy(), atol=1e-6)
    three, five = (model.layers[0](torch.tensor([[w]]))[0, 0].item() for w in (3, 5))
    assert r[three, 0] > 0 > r[five, 0]


def test_an_nbsvm_learns_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=200)
    ids = rng.integers(10, 40, size=(200, 8))
    ids[:, 3] = np.where(y == 1, 5, 6)  # one word tells the class
    x = torch.from_numpy(ids)
    model = Sequential([HashedNGrams(2, 4096), NaiveBayesBag(4096, 2)])
    model.layers[1].adapt((model.layers[0](x), torch.from_numpy(y)))
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, torch.from_numpy(y), epochs=5, batch_size=20, verbose=0)
    assert model.evaluate(x, torch.from_numpy(y), return_dict=True, verbose=0)["accuracy"] == 1.0
    model.save(str(tmp_path / "nb.safetensors"))
    again = load_model(str(tmp_path / "nb.safetensors"))
    torch.testing.assert_close(again(x), model(x))
    torch.testing.assert_close(again.layers[1].ratios, model.layers[1].ratios)


def test_naive_bayes_bag_refuses_what_it_cannot_use():
    bag = NaiveBayesBag(10, 2)
    with pytest.raises(ShapeError, match=r"bins must lie in \[0, num_bins=10\)"):
        bag(torch.tensor([[3, 12]]))
    with pytest.raises(ShapeError, match="expected integer bins"):
        bag(torch.ones(1, 3))
    with pytest.raises(ShapeError, match="2 rows of bins but 3 labels"):
        bag.adapt((torch.tensor([[1], [2]]), torch.tensor([0, 1, 1])))
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, units=2\)"):
        bag.adapt((torch.tensor([[1], [2]]), torch.tensor([0, 2])))
    with pytest.raises(ConfigError, match="no labelled rows"):
        bag.adapt([])
    with pytest.raises(ConfigError, match="alpha"):
        NaiveBayesBag(10, 2, alpha=0)
