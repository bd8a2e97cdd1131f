"""Time-series helpers: windows, scalers and the chronological split, against hand-worked cases."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnkit.data import MinMaxScaler, StandardScaler, chronological_split, make_windows
from rnnkit.errors import ConfigError, ShapeError


# --------------------------------------------------------------------------- make_windows


def test_windows_univariate_stride2_horizon3():
    series = np.arange(10, 20)  # T = 10
    x, y, idx = make_windows(series, lookback=3, horizon=3, stride=2, return_index=True)
    # N = (10 - 3 - 3) // 2 + 1 = 3
    assert x.shape == (3, 3, 1)
    assert x[..., 0].tolist() == [[10, 11, 12], [12, 13, 14], [14, 15, 16]]
    assert y.tolist() == [[13, 14, 15], [15, 16, 17], [17, 18, 19]]
    assert idx.tolist() == [3, 5, 7]


def test_windows_floor_drops_unused_tail():
    x, y = make_windows(np.arange(11), lookback=3, horizon=3, stride=2)  # (11 - 6) // 2 + 1 = 3
    assert x.shape == (3, 3, 1) and y.tolist()[-1] == [7, 8, 9]


def test_windows_default_horizon_and_stride():
    x, y = make_windows(np.array([1.0, 2.0, 3.0, 4.0]), lookback=2)
    assert x[..., 0].tolist() == [[1.0, 2.0], [2.0, 3.0]]
    assert y.tolist() == [[3.0], [4.0]]
    assert x.dtype == np.float64


def test_windows_multivariate_all_columns():
    series = np.array([[t, 100 + t] for t in range(6)])
    x, y = make_windows(series, lookback=2)
    assert x.shape == (4, 2, 2) and y.shape == (4, 1, 2)
    assert x[0].tolist() == [[0, 100], [1, 101]]
    assert x[3].tolist() == [[3, 103], [4, 104]]
    assert y[:, 0].tolist() == [[2, 102], [3, 103], [4, 104], [5, 105]]


def test_windows_multivariate_target_columns():
    series = np.array([[t, 100 + t] for t in range(6)])
    _, y_int = make_windows(series, lookback=2, target_columns=1)
    assert y_int.tolist() == [[102], [103], [104], [105]]
    _, y_seq = make_windows(series, lookback=2, target_columns=[1, 0])
    assert y_seq.shape == (4, 1, 2) and y_seq[:, 0].tolist() == [[102, 2], [103, 3], [104, 4], [105, 5]]
    _, y_neg = make_windows(series, lookback=2, target_columns=-1)
    assert y_neg.tolist() == y_int.tolist()


def test_windows_multivariate_horizon2_stride2():
    series = np.array([[t, 100 + t] for t in range(6)])
    x, y, idx = make_windows(series, lookback=2, horizon=2, stride=2, target_columns=[0], return_index=True)
    # N = (6 - 2 - 2) // 2 + 1 = 2
    assert x.tolist() == [[[0, 100], [1, 101]], [[2, 102], [3, 103]]]
    assert y.tolist() == [[[2], [3]], [[4], [5]]]
    assert idx.tolist() == [2, 4]


def test_windows_index_aligns_dates_with_targets():
    dates = np.arange("2020-01", "2020-11", dtype="datetime64[M]")
    values = np.arange(10) * 10.0
    x, y, idx = make_windows(values, lookback=4, horizon=2, stride=3, return_index=True)
    assert (y[:, 0] == values[idx]).all()
    assert dates[idx].astype(str).tolist() == ["2020-05", "2020-08"]


def test_windows_are_copies_and_accept_tensors():
    series = np.arange(6.0)
    x, y = make_windows(torch.arange(6.0), lookback=2)
    x[0, 0, 0] = 99.0
    assert series[0] == 0.0
    assert isinstance(x, np.ndarray) and y.shape == (4, 1)


def test_windows_too_short_says_both_numbers():
    with pytest.raises(ShapeError, match=r"4 rows.*lookback \+ horizon = 3 \+ 2 = 5"):
        make_windows(np.arange(4), lookback=3, horizon=2)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(lookback=0), ConfigError),
        (dict(lookback=2, horizon=0), ConfigError),
        (dict(lookback=2, stride=1.5), ConfigError),
        (dict(lookback=2, target_columns=0), ConfigError),  # 1-D series has no columns
    ],
)
def test_windows_bad_arguments(kwargs, error):
    with pytest.raises(error):
        make_windows(np.arange(10), **kwargs)


def test_windows_bad_series():
    with pytest.raises(ShapeError, match="3 dims"):
        make_windows(np.zeros((5, 2, 2)), lookback=2)
    with pytest.raises(ConfigError, match="column index"):
        make_windows(np.zeros((5, 2)), lookback=2, target_columns=[2])
    with pytest.raises(ConfigError, match="empty"):
        make_windows(np.zeros((5, 2)), lookback=2, target_columns=[])


@settings(max_examples=60, deadline=None)
@given(
    t=st.integers(1, 40),
    f=st.integers(0, 3),  # 0 means a 1-D series
    lookback=st.integers(1, 12),
    horizon=st.integers(1, 5),
    stride=st.integers(1, 5),
)
def test_windows_property(t, f, lookback, horizon, stride):
    series = np.arange(t) if f == 0 else np.arange(t * f).reshape(t, f)
    if t < lookback + horizon:
        with pytest.raises(ShapeError):
            make_windows(series, lookback, horizon, stride)
        return
    x, y, idx = make_windows(series, lookback, horizon, stride, return_index=True)
    n = (t - lookback - horizon) // stride + 1
    feats = max(f, 1)
    assert x.shape == (n, lookback, feats)
    assert y.shape == ((n, horizon) if f == 0 else (n, horizon, f))
    rows = series.reshape(t, feats)
    for i in (0, n - 1):
        assert (x[i] == rows[i * stride : i * stride + lookback]).all()
        assert idx[i] == i * stride + lookback
        assert (y[i].reshape(horizon, -1) == rows[idx[i] : idx[i] + horizon]).all()


# --------------------------------------------------------------------------- scalers


def test_minmax_hand_computed():
    s = MinMaxScaler(feature_range=(-1, 1)).fit(np.array([[1.0, -2.0], [3.0, 0.0], [5.0, 2.0]]))
    assert s.data_min_.tolist() == [1.0, -2.0] and s.data_max_.tolist() == [5.0, 2.0]
    assert s.scale_.tolist() == [0.5, 0.5] and s.min_.tolist() == [-1.5, 0.0]
    out = s.transform(np.array([[1.0, -2.0], [3.0, 0.0], [5.0, 2.0], [7.0, 4.0]]))
    assert out.tolist() == [[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    assert s.inverse_transform(out).tolist() == [[1.0, -2.0], [3.0, 0.0], [5.0, 2.0], [7.0, 4.0]]


def test_minmax_matches_numpy_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)) * [1.0, 10.0, 0.01] + [0.0, 5.0, -3.0]
    expect = (x - x.min(0)) / (x.max(0) - x.min(0))
    np.testing.assert_allclose(MinMaxScaler().fit_transform(x), expect, rtol=1e-12, atol=1e-12)


def test_standard_hand_computed_and_numpy_formula():
    s = StandardScaler().fit(np.array([[1.0], [3.0], [5.0], [7.0]]))
    assert s.mean_.tolist() == [4.0] and s.var_.tolist() == [5.0]
    np.testing.assert_allclose(s.transform(np.array([[4.0], [9.0]])), [[0.0], [np.sqrt(5.0)]])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)) * 3 + 2
    np.testing.assert_allclose(StandardScaler().fit_transform(x), (x - x.mean(0)) / x.std(0), rtol=1e-12, atol=1e-12)


def test_constant_feature_has_scale_one():
    x = np.array([[2.0, 1.0], [2.0, 3.0], [2.0, 5.0]])
    mm = MinMaxScaler().fit(x)
    assert mm.scale_[0] == 1.0
    assert mm.transform(np.array([[2.0, 1.0], [5.0, 1.0]]))[:, 0].tolist() == [0.0, 3.0]
    st_ = StandardScaler().fit(x)
    assert st_.scale_[0] == 1.0 and st_.transform(x)[:, 0].tolist() == [0.0, 0.0, 0.0]
    assert np.isfinite(st_.inverse_transform(st_.transform(x))).all()


def test_scalers_per_last_axis_on_3d_and_1d():
    rng = np.random.default_rng(2)
    x3 = rng.normal(size=(5, 4, 2))
    s = StandardScaler().fit(x3)
    np.testing.assert_allclose(s.mean_, x3.reshape(-1, 2).mean(0))
    assert s.transform(x3).shape == (5, 4, 2)
    one = MinMaxScaler().fit(np.array([2.0, 4.0, 6.0]))
    assert one.transform(np.array([4.0, 8.0])).tolist() == [0.5, 1.5]


def test_dtype_float32_kept_ints_become_float64():
    s = MinMaxScaler().fit(np.arange(6).reshape(3, 2))
    assert s.transform(np.arange(6).reshape(3, 2)).dtype == np.float64
    assert s.transform(np.ones((2, 2), dtype=np.float32)).dtype == np.float32


def test_scaler_fitted_on_train_split_only():
    series = np.stack([np.arange(100.0), np.arange(100.0) * -2 + 7], axis=1)  # trending: test part is new
    train, val, test = chronological_split(series, test_fraction=0.2, val_fraction=0.1)
    scaler = MinMaxScaler().fit(train)
    np.testing.assert_array_equal(scaler.data_min_, train.min(axis=0))
    np.testing.assert_array_equal(scaler.data_max_, train.max(axis=0))
    assert scaler.data_max_[0] == 69.0 and series[:, 0].max() == 99.0  # the future was not seen
    assert scaler.transform(test)[:, 0].min() > 1.0  # test values lie beyond the fitted range, unclipped


def test_transform_before_fit_and_feature_mismatch():
    for s in (MinMaxScaler(), StandardScaler()):
        with pytest.raises(ConfigError, match="before fit"):
            s.transform(np.ones((2, 2)))
        with pytest.raises(ConfigError, match="before fit"):
            s.inverse_transform(np.ones((2, 2)))
        s.fit(np.arange(6.0).reshape(3, 2))
        with pytest.raises(ShapeError, match="fitted on 2 features"):
            s.transform(np.ones((2, 3)))
        with pytest.raises(ShapeError, match="empty"):
            s.fit(np.ones((0, 2)))


def test_bad_feature_range():
    for bad in [(1, 1), (2, 0), (0,), "ab", (0, float("inf"))]:
        with pytest.raises(ConfigError):
            MinMaxScaler(feature_range=bad)


@pytest.mark.parametrize("cls, config", [(MinMaxScaler, {"feature_range": (-1, 2)}), (StandardScaler, {})])
def test_to_dict_json_round_trip(cls, config):
    x = np.random.default_rng(3).normal(size=(20, 3))
    s = cls(**config).fit(x)
    data = json.loads(json.dumps(s.to_dict()))
    back = cls.from_dict(data)
    assert back.get_config() == s.get_config()
    np.testing.assert_array_equal(back.transform(x), s.transform(x))
    assert cls.from_dict(json.loads(json.dumps(cls(**config).to_dict()))).fitted is False
    with pytest.raises(ConfigError):
        (StandardScaler if cls is MinMaxScaler else MinMaxScaler).from_dict(data)


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    ),
    cls=st.sampled_from([MinMaxScaler, StandardScaler]),
)
def test_scaler_round_trip_property(x, cls):
    s = cls().fit(x)
    y = s.transform(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    back = s.inverse_transform(y)
    np.testing.assert_allclose(back, x, rtol=1e-7, atol=1e-7 * max(1.0, float(np.abs(x).max())))


# --------------------------------------------------------------------------- chronological_split


def test_split_sizes_and_order():
    data = np.arange(10)
    train, val, test = chronological_split(data, test_size=2, val_size=3)
    assert (train.tolist(), val.tolist(), test.tolist()) == ([0, 1, 2, 3, 4], [5, 6, 7], [8, 9])
    train, val, test = chronological_split(np.arange(8), test_fraction=0.25)
    assert (train.tolist(), val.tolist(), test.tolist()) == ([0, 1, 2, 3, 4, 5], [], [6, 7])
    train, val, test = chronological_split(list(range(10)), val_fraction=0.3, test_fraction=0.1)
    assert (train, val, test) == ([0, 1, 2, 3, 4, 5], [6, 7, 8], [9])
    parts = chronological_split(torch.arange(7), test_size=1, val_size=1)
    assert torch.equal(torch.cat(parts), torch.arange(7))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "at least one"),
        (dict(test_size=2, test_fraction=0.2), "not both"),
        (dict(test_size=10), "leave 0 training"),
        (dict(test_size=6, val_size=4), "leave 0 training"),
        (dict(test_fraction=0.05), "is 0 rows"),
        (dict(val_fraction=1.0), r"\(0, 1\)"),
        (dict(test_size=0), "positive integer"),
        (dict(test_size=-1), "positive integer"),
    ],
)
def test_split_impossible_sizes(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        chronological_split(np.arange(10), **kwargs)


def test_scalers_ignore_nan_when_fitting():
    x = np.array([[1.0], [np.nan], [3.0]])
    mm = MinMaxScaler().fit(x)
    assert mm.data_min_.tolist() == [1.0] and mm.data_max_.tolist() == [3.0]
    out = mm.transform(x)
    assert out[0, 0] == 0.0 and np.isnan(out[1, 0]) and out[2, 0] == 1.0
    assert StandardScaler().fit(x).mean_.tolist() == [2.0]
    with pytest.raises(ShapeError, match="only NaN"):
        StandardScaler().fit(np.array([[1.0, np.nan]]))
    with pytest.raises(ShapeError, match="infinite"):
        MinMaxScaler().fit(np.array([1.0, np.inf]))
