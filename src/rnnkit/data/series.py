"""Time-series helpers: sliding windows, feature scalers and a chronological split.

* :func:`make_windows` cuts a ``(T,)`` or ``(T, F)`` series into ``(x, y)``
  supervised pairs: ``lookback`` past rows predict the next ``horizon`` rows.
* :class:`MinMaxScaler` and :class:`StandardScaler` rescale each feature (the
  last axis).  Fit them on the **training part only** — e.g. the first piece
  returned by :func:`chronological_split` — and then transform validation and
  test data with the training statistics, so no information from the future
  leaks into training.
* :func:`chronological_split` cuts data into train / validation / test pieces in
  time order, never shuffled.

The usual order is split, then scale, then window::

    train, val, test = chronological_split(series, test_fraction=0.2, val_fraction=0.1)
    scaler = MinMaxScaler().fit(train)
    x_train, y_train = make_windows(scaler.transform(train), lookback=12)
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

from .._validation import check_bool, check_positive_int
from ..errors import ConfigError, ShapeError

__all__ = ["make_windows", "MinMaxScaler", "StandardScaler", "chronological_split"]


def _as_array(owner: str, value: Any, name: str = "input") -> np.ndarray:
    """NumPy view of an array, tensor or nested list; a clear error for anything else."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ShapeError(f"{owner}: could not read {name} as an array ({exc})") from None
    if arr.dtype == object:
        raise ShapeError(f"{owner}: {name} is a ragged or object array; pass a rectangular numeric array")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ShapeError(f"{owner}: expected a numeric {name}, got dtype {arr.dtype}")
    return arr


# --------------------------------------------------------------------------- windows


def make_windows(
    series: Any,
    lookback: int,
    horizon: int = 1,
    stride: int = 1,
    target_columns: int | Sequence[int] | None = None,
    return_index: bool = False,
):
    """Cut a series into ``(x, y)`` windows: ``lookback`` rows in, the next ``horizon`` rows out.

    Window ``i`` reads rows ``[i*stride, i*stride + lookback)`` as input and rows
    ``[i*stride + lookback, i*stride + lookback + horizon)`` as target, so there are
    ``N = (T - lookback - horizon) // stride + 1`` windows.  The arrays are copies
    (changing them leaves ``series`` alone) and keep the series' dtype.

    Args:
        series: a ``(T,)`` (univariate) or ``(T, F)`` (multivariate) array or tensor,
            time on the first axis.
        lookback: number of input rows per window (>= 1).
        horizon: number of target rows per window (>= 1).
        stride: step between the starts of consecutive windows (>= 1).
        target_columns: which columns of a ``(T, F)`` series are targets: ``None``
            (all), an int (one column), or a sequence of ints.  Must be ``None``
            for a ``(T,)`` series.
        return_index: also return the row index of the first target row of every
            window, to line up dates or timestamps with ``y``.

    Returns:
        ``(x, y)``, or ``(x, y, index)`` with ``return_index=True``:

        * ``x``: ``(N, lookback, F)``; a ``(T,)`` series counts as ``F = 1``, so
          ``x`` is ready for an RNN layer.
        * ``y``: ``(N, horizon)`` for a ``(T,)`` series or an int
          ``target_columns``; ``(N, horizon, len(target_columns))`` for a sequence
          of columns; ``(N, horizon, F)`` for a ``(T, F)`` series with
          ``target_columns=None``.
        * ``index``: ``(N,)`` int64, ``index[i] = i*stride + lookback``; the
          targets of window ``i`` are rows ``index[i] .. index[i] + horizon - 1``.

    Raises:
        ShapeError: the series is not 1-D or 2-D, or is shorter than
            ``lookback + horizon`` rows.
        ConfigError: a bad ``lookback``/``horizon``/``stride`` or ``target_columns``.

    Example:
        >>> import numpy as np
        >>> x, y, idx = make_windows(np.arange(7), lookback=3, horizon=2, stride=2, return_index=True)
        >>> x[..., 0]
        array([[0, 1, 2],
               [2, 3, 4]])
        >>> y
        array([[3, 4],
               [5, 6]])
        >>> idx
        array([3, 5])
    """
    owner = "make_windows"
    lookback = check_positive_int(owner, "lookback", lookback)
    horizon = check_positive_int(owner, "horizon", horizon)
    stride = check_positive_int(owner, "stride", stride)
    return_index = check_bool(owner, "return_index", return_index)
    arr = _as_array(owner, series, "series")
    if arr.ndim not in (1, 2):
        raise ShapeError(
            f"{owner}: expected a series of 1 dim (time,) or 2 dims (time, features), "
            f"got {arr.ndim} dims with shape {arr.shape}"
        )
    univariate = arr.ndim == 1
    data = arr[:, None] if univariate else arr
    total, n_features = data.shape
    if n_features == 0:
        raise ShapeError(f"{owner}: the series has 0 features (shape {arr.shape})")
    need = lookback + horizon
    if total < need:
        raise ShapeError(
            f"{owner}: the series has {total} rows but one window needs lookback + horizon = "
            f"{lookback} + {horizon} = {need} rows; use a longer series or a smaller lookback/horizon"
        )

    squeeze_target = univariate
    if target_columns is None:
        columns = list(range(n_features))
    elif univariate:
        raise ConfigError(f"{owner}: `target_columns` must be None for a 1-D series, got {target_columns!r}")
    elif isinstance(target_columns, numbers.Integral) and not isinstance(target_columns, bool):
        columns = [int(target_columns)]
        squeeze_target = True
    else:
        try:
            columns = [c for c in target_columns]
        except TypeError:
            raise ConfigError(
                f"{owner}: `target_columns` must be None, an int or a sequence of ints, got {target_columns!r}"
            ) from None
        if not columns:
            raise ConfigError(f"{owner}: `target_columns` is empty; give at least one column")
    for c in columns:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not -n_features <= c < n_features:
            raise ConfigError(
                f"{owner}: `target_columns` entry {c!r} is not a column index of a series with {n_features} features"
            )
    columns = [int(c) % n_features for c in columns]

    n_windows = (total - need) // stride + 1
    starts = np.arange(n_windows, dtype=np.int64) * stride
    x = data[starts[:, None] + np.arange(lookback)]  # fancy indexing copies: (N, lookback, F)
    target_rows = starts[:, None] + lookback + np.arange(horizon)  # (N, horizon)
    y = data[target_rows][:, :, columns]  # (N, horizon, C)
    if squeeze_target:
        y = y[:, :, 0]
    if return_index:
        return x, y, starts + lookback
    return x, y


# --------------------------------------------------------------------------- scalers


class _Scaler:
    """Shared machinery: per-feature parameters over the last axis, fit/transform/inverse."""

    _param_names: tuple[str, ...] = ()

    def _check_fitted(self, method: str) -> None:
        if not self.fitted:
            raise ConfigError(
                f"{type(self).__name__}: {method}() called before fit(); call fit() on the training data first"
            )

    @property
    def fitted(self) -> bool:
        """True once :meth:`fit` has run (or parameters were loaded)."""
        return getattr(self, "n_features_", None) is not None

    def _prepare(self, x: Any, method: str) -> np.ndarray:
        """Validate ``x`` as float64 ``(..., F)``; a 1-D array is one feature."""
        owner = f"{type(self).__name__}.{method}"
        arr = _as_array(owner, x)
        if arr.ndim == 0:
            raise ShapeError(f"{owner}: expected an array of at least 1 dim, got a scalar")
        if arr.size == 0:
            raise ShapeError(f"{owner}: the input is empty (shape {arr.shape})")
        if method != "fit" and self.fitted:
            n_features = 1 if arr.ndim == 1 else arr.shape[-1]
            if n_features != self.n_features_:
                raise ShapeError(
                    f"{owner}: fitted on {self.n_features_} features (last axis) but got "
                    f"{n_features} (shape {arr.shape})"
                )
        return arr

    @staticmethod
    def _flat(arr: np.ndarray) -> np.ndarray:
        return arr.reshape(-1, 1) if arr.ndim == 1 else arr.reshape(-1, arr.shape[-1])

    @staticmethod
    def _out_dtype(arr: np.ndarray):
        return arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64

    def _shape_params(self, arr: np.ndarray, *params: np.ndarray):
        return params if arr.ndim > 1 else tuple(p[0] for p in params)

    def fit(self, x: Any):
        """Learn the per-feature statistics of ``x`` (use the training part only); returns ``self``."""
        arr = self._prepare(x, "fit")
        self._fit(self._flat(arr).astype(np.float64))
        self.n_features_ = 1 if arr.ndim == 1 else arr.shape[-1]
        return self

    def fit_transform(self, x: Any) -> np.ndarray:
        """:meth:`fit` on ``x``, then return ``transform(x)``."""
        return self.fit(x).transform(x)

    def transform(self, x: Any) -> np.ndarray:
        """Scale ``x`` with the fitted statistics; same shape, float dtype."""
        self._check_fitted("transform")
        arr = self._prepare(x, "transform")
        return self._forward(arr.astype(np.float64)).astype(self._out_dtype(arr), copy=False)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Undo :meth:`transform`: map scaled values back to the original units."""
        self._check_fitted("inverse_transform")
        arr = self._prepare(x, "inverse_transform")
        return self._backward(arr.astype(np.float64)).astype(self._out_dtype(arr), copy=False)

    def get_config(self) -> dict:
        """The constructor arguments, as a JSON-safe dict."""
        return {}

    def to_dict(self) -> dict:
        """JSON-safe description: class name, config and fitted parameters (``None`` if unfitted)."""
        params = None
        if self.fitted:
            params = {name: [float(v) for v in getattr(self, name)] for name in self._param_names}
            params["n_features_"] = int(self.n_features_)
        return {"class_name": type(self).__name__, "config": self.get_config(), "params": params}

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild a scaler from :meth:`to_dict` output."""
        if not isinstance(data, dict) or data.get("class_name") != cls.__name__:
            got = data.get("class_name") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(f"{cls.__name__}.from_dict: expected a dict from {cls.__name__}.to_dict(), got {got!r}")
        scaler = cls(**(data.get("config") or {}))
        params = data.get("params")
        if params is not None:
            try:
                n_features = int(params["n_features_"])
                values = {name: np.asarray(params[name], dtype=np.float64) for name in cls._param_names}
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{cls.__name__}.from_dict: bad or missing parameter ({exc!r})") from None
            for name, value in values.items():
                if value.shape != (n_features,):
                    raise ConfigError(
                        f"{cls.__name__}.from_dict: `{name}` has shape {value.shape}, expected ({n_features},)"
                    )
                setattr(scaler, name, value)
            scaler.n_features_ = n_features
        return scaler

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _nonzero(values: np.ndarray) -> np.ndarray:
    """Replace zero (or denormal-tiny) scales by 1, as scikit-learn does for constant features."""
    out = values.copy()
    out[~(np.abs(out) > 10 * np.finfo(np.float64).eps)] = 1.0
    return out


class MinMaxScaler(_Scaler):
    """Rescale each feature (last axis) linearly so the fitted data spans ``feature_range``.

    ``transform(x) = x * scale_ + min_`` with ``scale_ = (hi - lo) / (data_max_ - data_min_)``
    and ``min_ = lo - data_min_ * scale_``.  A constant feature gets a range of 1
    (as scikit-learn), so it maps to ``lo`` and nothing divides by zero.  NaNs are
    ignored when fitting and stay NaN.  Fit on the training part only; values
    outside the fitted range map outside ``feature_range`` (no clipping).

    Inputs may be NumPy arrays, tensors or nested lists of any shape ``(..., F)``
    (statistics are taken over every axis but the last; a 1-D array is one
    feature); results are NumPy arrays, float64 unless the input was a float
    array of another precision (kept).  :meth:`to_dict` / :meth:`from_dict`
    store the fitted parameters as JSON-safe lists.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``, the target range.

    Example:
        >>> import numpy as np
        >>> s = MinMaxScaler().fit(np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]]))
        >>> s.transform(np.array([[3.0, 10.0], [7.0, 10.0]]))
        array([[0.5, 0. ],
               [1.5, 0. ]])
        >>> s.inverse_transform(np.array([[0.25, 0.0]]))
        array([[ 2., 10.]])
    """

    _param_names = ("data_min_", "data_max_", "scale_", "min_")

    def __init__(self, feature_range: Sequence[float] = (0, 1)):
        try:
            lo, hi = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise ConfigError(f"MinMaxScaler: `feature_range` must be a pair (lo, hi), got {feature_range!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"MinMaxScaler: `feature_range` must satisfy lo < hi (finite), got {feature_range!r}")
        self.feature_range = (lo, hi)
        self.n_features_ = None

    @property
    def data_range_(self) -> np.ndarray:
        """``data_max_ - data_min_`` per feature."""
        self._check_fitted("data_range_")
        return self.data_max_ - self.data_min_

    def _fit(self, flat: np.ndarray) -> None:
        if np.isnan(flat).all(axis=0).any():
            raise ShapeError("MinMaxScaler.fit: a feature has only NaN values")
        if not np.isfinite(flat[~np.isnan(flat)]).all():
            raise ShapeError("MinMaxScaler.fit: the input contains infinite values")
        lo, hi = self.feature_range
        self.data_min_ = np.nanmin(flat, axis=0)
        self.data_max_ = np.nanmax(flat, axis=0)
        self.scale_ = (hi - lo) / _nonzero(self.data_max_ - self.data_min_)
        self.min_ = lo - self.data_min_ * self.scale_

    def _forward(self, arr: np.ndarray) -> np.ndarray:
        scale, shift = self._shape_params(arr, self.scale_, self.min_)
        return arr * scale + shift

    def _backward(self, arr: np.ndarray) -> np.ndarray:
        scale, shift = self._shape_params(arr, self.scale_, self.min_)
        return (arr - shift) / scale

    def get_config(self) -> dict:
        """``{"feature_range": [lo, hi]}``."""
        return {"feature_range": list(self.feature_range)}


class StandardScaler(_Scaler):
    """Standardize each feature (last axis) to zero mean and unit variance.

    ``transform(x) = (x - mean_) / scale_`` where ``scale_`` is the population
    standard deviation (``ddof=0``, as scikit-learn).  A constant feature gets
    ``scale_ = 1`` so nothing divides by zero.  NaNs are ignored when fitting.
    Fit on the training part only.  Inputs, outputs and :meth:`to_dict` work as
    for :class:`MinMaxScaler`.

    Example:
        >>> import numpy as np
        >>> s = StandardScaler().fit(np.array([1.0, 2.0, 3.0, 4.0]))
        >>> float(s.mean_[0]), round(float(s.scale_[0]), 6)
        (2.5, 1.118034)
        >>> s.transform(np.array([2.5, 4.0])).round(4)
        array([0.    , 1.3416])
        >>> s.inverse_transform(s.transform(np.array([7.0])))
        array([7.])
    """

    _param_names = ("mean_", "var_", "scale_")

    def __init__(self):
        self.n_features_ = None

    def _fit(self, flat: np.ndarray) -> None:
        if np.isnan(flat).all(axis=0).any():
            raise ShapeError("StandardScaler.fit: a feature has only NaN values")
        if not np.isfinite(flat[~np.isnan(flat)]).all():
            raise ShapeError("StandardScaler.fit: the input contains infinite values")
        self.mean_ = np.nanmean(flat, axis=0)
        self.var_ = np.nanvar(flat, axis=0)
        self.scale_ = _nonzero(np.sqrt(self.var_))

    def _forward(self, arr: np.ndarray) -> np.ndarray:
        mean, scale = self._shape_params(arr, self.mean_, self.scale_)
        return (arr - mean) / scale

    def _backward(self, arr: np.ndarray) -> np.ndarray:
        mean, scale = self._shape_params(arr, self.mean_, self.scale_)
        return arr * scale + mean


# --------------------------------------------------------------------------- split


def _count(owner: str, total: int, size: Any, fraction: Any, what: str) -> int:
    if size is not None and fraction is not None:
        raise ConfigError(f"{owner}: give `{what}_size` or `{what}_fraction`, not both")
    if size is not None:
        return check_positive_int(owner, f"{what}_size", size)
    if fraction is None:
        return 0
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"{owner}: `{what}_fraction` must be a float in (0, 1), got {fraction!r}")
    count = int(math.floor(total * float(fraction) + 1e-9))
    if count == 0:
        raise ConfigError(
            f"{owner}: {what}_fraction={fraction} of {total} rows is 0 rows; use a larger fraction or `{what}_size`"
        )
    return count


def chronological_split(
    data: Any,
    test_size: int | None = None,
    test_fraction: float | None = None,
    val_size: int | None = None,
    val_fraction: float | None = None,
):
    """Split ``data`` along its first axis into ``(train, val, test)`` in time order, never shuffled.

    ``train`` is the start, ``val`` follows it and ``test`` is the end, so the model
    is always evaluated on data later than anything it trained on.  A fraction
    counts rows with ``floor(len(data) * fraction)``; both fractions refer to the
    whole of ``data``.  The pieces are slices (views for NumPy arrays and tensors).

    Args:
        data: anything with ``len()`` and slicing (array, tensor, list).
        test_size / test_fraction: rows (int) or share (float in (0, 1)) for the
            test piece; at most one of the two.
        val_size / val_fraction: the same for the validation piece.

    Returns:
        ``(train, val, test)``; a piece that was not asked for is an empty slice
        (``data[n:n]``).

    Raises:
        ConfigError: both a size and a fraction for one piece, none of the four
            given, a fraction that gives 0 rows, or sizes that leave no training rows.

    Example:
        >>> import numpy as np
        >>> train, val, test = chronological_split(np.arange(10), test_size=2, val_fraction=0.3)
        >>> train, val, test
        (array([0, 1, 2, 3, 4]), array([5, 6, 7]), array([8, 9]))
    """
    owner = "chronological_split"
    try:
        total = len(data)
    except TypeError:
        raise ConfigError(f"{owner}: `data` must have a length and support slicing, got {type(data).__name__}") from None
    if test_size is None and test_fraction is None and val_size is None and val_fraction is None:
        raise ConfigError(f"{owner}: give at least one of test_size, test_fraction, val_size, val_fraction")
    n_test = _count(owner, total, test_size, test_fraction, "test")
    n_val = _count(owner, total, val_size, val_fraction, "val")
    n_train = total - n_val - n_test
    if n_train < 1:
        raise ConfigError(
            f"{owner}: {n_val} validation + {n_test} test rows leave {n_train} training rows "
            f"out of {total}; ask for smaller pieces"
        )
    return data[:n_train], data[n_train : n_train + n_val], data[n_train + n_val :]
