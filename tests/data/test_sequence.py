"""Tests of rnnkit.data.sequence: pad_sequences.

Expected values are worked out by hand from the Keras documentation of the same
function and written literally, never computed by the code under test.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import pad_sequences
from rnnkit.data.sequence import pad_sequences as pad_sequences_here
from rnnkit.errors import ConfigError, ShapeError


def test_the_public_name_is_the_module_function():
    assert pad_sequences is pad_sequences_here

# ---------------------------------------------------------------- pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6]]

PAD_CASES = [
    # (kwargs, expected)
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
    ({"maxlen": 2, "padding": "post"}, [[1, 0], [2, 3], [5, 6]]),
    ({"maxlen": 2, "padding": "post", "truncating": "post"}, [[1, 0], [2, 3], [4, 5]]),
    ({"maxlen": 4}, [[0, 0, 0, 1], [0, 0, 2, 3], [0, 4, 5, 6]]),
    ({"maxlen": 4, "padding": "post", "value": 9}, [[1, 9, 9, 9], [2, 3, 9, 9], [4, 5, 6, 9]]),
    ({"maxlen": 1}, [[1], [3], [6]]),
    ({"maxlen": 1, "truncating": "post"}, [[1], [2], [4]]),
]


@pytest.mark.parametrize("kwargs, expected", PAD_CASES)
def test_pad_sequences_table(kwargs, expected):
    out = pad_sequences(SEQS, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.array(expected))


def test_pad_sequences_float_dtype_and_value():
    out = pad_sequences(SEQS, dtype="float32", value=0.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.5, 0.5, 1.0], [0.5, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_pad_sequences_truncates_float_values_as_int32_by_default():
    # Keras' default dtype is int32: float values are cast
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]]), [[1, 2]])


def test_pad_sequences_of_vectors():
    seqs = [[[1, 2]], [[3, 4], [5, 6]]]
    pre = pad_sequences(seqs)
    assert pre.shape == (2, 2, 2)
    np.testing.assert_array_equal(pre, [[[0, 0], [1, 2]], [[3, 4], [5, 6]]])
    post = pad_sequences(seqs, padding="post", value=-1)
    np.testing.assert_array_equal(post, [[[1, 2], [-1, -1]], [[3, 4], [5, 6]]])
    cut = pad_sequences(seqs, maxlen=1)
    np.testing.assert_array_equal(cut, [[[1, 2]], [[5, 6]]])
    cut_post = pad_sequences(seqs, maxlen=1, truncating="post")
    np.testing.assert_array_equal(cut_post, [[[1, 2]], [[3, 4]]])
    arrays = [np.ones((1, 2, 3)), np.zeros((3, 2, 3))]
    assert pad_sequences(arrays, dtype="float64").shape == (2, 3, 2, 3)


def test_pad_sequences_empty_inputs():
    np.testing.assert_array_equal(pad_sequences([[], [1, 2]]), [[0, 0], [1, 2]])
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[], []]).shape == (2, 0)
    np.testing.assert_array_equal(pad_sequences([[]], maxlen=3), [[0, 0, 0]])
    # an empty first sequence must not hide the feature shape of later ones
    assert pad_sequences([[], [[1.0, 2.0]]], dtype="float32").shape == (2, 1, 2)


def test_pad_sequences_strings():
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["a", "b"], ["<pad>", "c"]]
    out = pad_sequences([["ab", "c"], ["d"]], dtype="<U5", value="_", padding="post")
    assert out.tolist() == [["ab", "c"], ["d", "_"]]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"padding": "middle"}, "'middle'"),
    ({"truncating": "both"}, "'both'"),
    ({"padding": "PRE"}, "'pre', 'post'"),
    ({"maxlen": 0}, "maxlen=None"),
    ({"maxlen": -3}, "positive integer"),
    ({"maxlen": 2.5}, "positive integer"),
])
def test_pad_sequences_bad_config(kwargs, fragment):
    with pytest.raises(ConfigError, match="pad_sequences") as info:
        pad_sequences(SEQS, **kwargs)
    assert fragment in str(info.value)


def test_pad_sequences_ragged_features():
    with pytest.raises(ShapeError, match="index 1"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])
    with pytest.raises(ShapeError, match="index 0"):
        pad_sequences([[[1, 2], [3]]])


def test_pad_sequences_string_value_with_int_dtype():
    with pytest.raises(ConfigError, match="dtype=object"):
        pad_sequences([["a"]], value="x")


def test_pad_sequences_not_a_list():
    with pytest.raises(ConfigError, match="index 1"):
        pad_sequences([[1], 5])


def test_bad_dtype():
    with pytest.raises(ConfigError, match="not a NumPy dtype"):
        pad_sequences([[1]], dtype="no-such-type")


# ---------------------------------------------------------------- properties

@settings(max_examples=50, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(-1000, 1000), max_size=8), max_size=6),
    maxlen=st.one_of(st.none(), st.integers(1, 10)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
def test_pad_sequences_never_crashes(seqs, maxlen, padding, truncating):
    out = pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=-7)
    width = maxlen if maxlen is not None else max((len(s) for s in seqs), default=0)
    assert out.shape == (len(seqs), width)
    for row, s in zip(out, seqs):
        kept = s[-width:] if truncating == "pre" else s[:width]
        body = row[width - len(kept):] if padding == "pre" else row[:len(kept)]
        assert body.tolist() == kept


@settings(max_examples=50, deadline=None)
@given(
    seqs=st.lists(st.lists(st.text(max_size=5), max_size=5), max_size=5),
    maxlen=st.one_of(st.none(), st.integers(1, 6)),
)
def test_pad_sequences_of_unicode_strings_never_crashes(seqs, maxlen):
    out = pad_sequences(seqs, maxlen=maxlen, dtype=object, value="")
    assert out.shape[0] == len(seqs)
