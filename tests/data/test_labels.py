"""Tests of rnnkit.data.labels: to_categorical.

Expected values are written literally (Keras' documented behaviour), never computed by the code under test.
"""
import numpy as np
import pytest

from rnnkit.data import to_categorical
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
