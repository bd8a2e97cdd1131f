"""Tests of rnnkit.data.labels: to_categorical.

Expected values are written literally (Keras' documented behaviour), never computed by the code under test.
"""
import numpy as np
import pytest

from rnnkit.data import containment_groups, to_categorical
from rnnkit.errors import ConfigError

# ---------------------------------------------------------------- to_categorical

def test_to_categorical_table():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    out = to_categorical([[1], [0]], num_classes=3)
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 1, 0], [1, 0, 0]])
    out = to_categorical([[0, 1], [1, 0]])
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out, [[[1, 0], [0, 1]], [[0, 1], [1, 0]]])
    assert to_categorical([1], num_classes=2, dtype="int64").tolist() == [[0, 1]]
    assert to_categorical(np.array([2.0])).tolist() == [[0.0, 0.0, 1.0]]
    assert to_categorical(3).tolist() == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("y, kwargs, fragment", [
    ([0, 3], {"num_classes": 3}, "label 3"),
    ([-1, 0], {}, "label -1"),
    ([0.5], {}, "whole numbers"),
    ([], {}, "num_classes"),
    (["a"], {}, "integers"),
    ([0], {"num_classes": 0}, "positive integer"),
])
def test_to_categorical_errors(y, kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        to_categorical(y, **kwargs)
    assert fragment in str(info.value)


def test_containment_groups_match_a_brute_force_search():
    rng = np.random.default_rng(7)
    vocab = ["a", "good", "bad", "film", "not", "the", "plot"]
    sentences = [" ".join(rng.choice(vocab, size=rng.integers(3, 8))) for _ in range(30)]
    texts = list(sentences)
    for s in sentences:  # sub-phrases, as SST-2 has them
        w = s.split()
        a = int(rng.integers(0, len(w)))
        texts.append(" ".join(w[a: int(rng.integers(a + 1, len(w) + 1))]))
    group = containment_groups(texts)

    def holds(big, small):
        return f" {small} " in f" {big} "

    for i, g in enumerate(group):
        assert holds(texts[g], texts[i])  # each text's group text contains it
        # a group's text is contained in no strictly longer text: it is a root
        assert not any(len(t) > len(texts[g]) and holds(t, texts[g]) for t in texts)
