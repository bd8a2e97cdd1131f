"""From raw values to model inputs and back: log, differencing, a scaler fitted on the training part, windows.

:class:`Preprocessor` turns a ``(T, F)`` series into the ``(T, F)`` array ``z`` that
the network reads and predicts, and turns predicted ``z`` back into the
target's original units:

.. code-block:: text

    v = log(x) if log else x                  (every column; log needs positive values)
    d = v[t] - v[t - lag]                     (lag 0: d = v; lag 1: first difference; lag m: seasonal difference)
    z = scaler(d)                             (StandardScaler or MinMaxScaler, fitted on the training rows only)

Rows ``t < lag`` have no ``z`` (NaN).  The scaler is fitted on the ``z`` rows
whose time ``t`` lies in the training part (``t < n_train``), so nothing after
the split reaches it; the transform itself has no fitted parameters beyond the
scaler.  Decoding a forecast made at origin ``t`` (the last observed row) for
steps ``h = 1..H`` undoes the scaler, then rebuilds levels one step at a time,
``v[t+h] = base + d[t+h]`` where ``base = v[t+h-lag]`` when that row is observed
(``t+h-lag <= t``) and the forecast level otherwise, then applies ``exp``.

:func:`windows` cuts ``z`` into ``(x, y, origins)`` for the origins asked for:
window ``i`` reads rows ``origins[i]-lookback+1 .. origins[i]`` and its targets
are the target column at rows ``origins[i]+1 .. origins[i]+horizon``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.data import MinMaxScaler, StandardScaler, make_windows
from rnnkit.errors import ConfigError, DatasetError

__all__ = ["TRANSFORMS", "Preprocessor", "windows"]

TRANSFORMS = ("none", "diff", "seasonal-diff")
_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}


class Preprocessor:
    """Log, difference and scale a ``(T, F)`` series; undo it for the target (column 0).

    Args:
        log: take the natural log of every column first (values must be > 0).
        transform: ``'none'``, ``'diff'`` (lag 1) or ``'seasonal-diff'`` (lag ``season``).
        season: the seasonal lag for ``'seasonal-diff'``.
        scaler: ``'standard'`` or ``'minmax'``.

    Example:
        >>> x = np.array([[1.0], [2.0], [4.0], [7.0], [11.0]])      # differences 1, 2, 3, 4
        >>> p = Preprocessor(transform="diff").fit(x, n_train=4)   # scaler sees d = 1, 2, 3 only
        >>> p.encode(x)[:, 0].round(4).tolist()
        [nan, -1.2247, 0.0, 1.2247, 2.4495]
        >>> p.decode(np.array([[2.4495, 3.6742]]), x, np.array([3])).round(3).tolist()   # from row 3: +4, +5
        [[11.0, 16.0]]
    """

    def __init__(self, *, log: bool = False, transform: str = "none", season: int = 1, scaler: str = "standard") -> None:
        if transform not in TRANSFORMS:
            raise ConfigError(f"--transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        if scaler not in _SCALERS:
            raise ConfigError(f"--scaler must be one of {', '.join(_SCALERS)}, got {scaler!r}")
        if transform == "seasonal-diff" and (not isinstance(season, int) or season < 1):
            raise ConfigError(f"--transform seasonal-diff needs --season >= 1, got {season!r}")
        self.log, self.transform, self.season, self.scaler_name = bool(log), transform, int(season), scaler
        self.scaler = _SCALERS[scaler]()

    @property
    def lag(self) -> int:
        """Rows consumed by differencing: 0, 1 or the season."""
        return {"none": 0, "diff": 1, "seasonal-diff": self.season}[self.transform]

    def _levels(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if not self.log:
            return values
        bad = np.argwhere(values <= 0)
        if bad.size:
            row, col = (int(v) for v in bad[0])
            raise DatasetError(f"--log needs positive values, but row {row} of column {col} is {values[row, col]:g}; "
                               f"drop --log (or pass --no-log)")
        return np.log(values)

    def _differences(self, values: np.ndarray) -> np.ndarray:
        v = self._levels(values)  # (T, F)
        lag = self.lag
        d = np.full_like(v, np.nan)
        d[lag:] = v[lag:] - v[: len(v) - lag] if lag else v
        return d

    def fit(self, values: np.ndarray, n_train: int) -> "Preprocessor":
        """Fit the scaler on the transformed rows ``lag <= t < n_train`` (the training part only)."""
        if n_train - self.lag < 2:
            raise ConfigError(f"the training part has {n_train} rows, too few for a difference over {self.lag} rows; "
                              "give more data or a smaller --test-size")
        d = self._differences(np.asarray(values, dtype=np.float64)[:n_train])  # only training rows are read
        self.scaler.fit(d[self.lag:])
        return self

    def encode(self, values: np.ndarray) -> np.ndarray:
        """``(T, F)`` values -> ``(T, F)`` model space; rows before ``lag`` are NaN."""
        d = self._differences(values)
        out = np.full_like(d, np.nan)
        out[self.lag:] = self.scaler.transform(d[self.lag:])
        return out

    def decode(self, z: np.ndarray, values: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Predicted target ``z`` ``(N, H)`` made at ``origins`` ``(N,)`` -> ``(N, H)`` in original units.

        ``values`` is the observed series ``(T, F)``; only rows up to each origin are read.
        """
        z = np.asarray(z, dtype=np.float64)
        n, horizon = z.shape
        n_features = self.scaler.n_features_
        padded = np.zeros((n * horizon, n_features))
        padded[:, 0] = z.reshape(-1)
        d = self.scaler.inverse_transform(padded)[:, 0].reshape(n, horizon)  # (N, H) differences (or levels)
        levels = self._levels(np.asarray(values, dtype=np.float64)[:, :1])[:, 0]  # (T,)
        lag = self.lag
        out = np.empty_like(d)
        for h in range(horizon):
            if lag == 0:
                out[:, h] = d[:, h]
            elif h + 1 <= lag:  # the row one lag back is observed
                out[:, h] = levels[origins + h + 1 - lag] + d[:, h]
            else:  # it is itself a forecast
                out[:, h] = out[:, h - lag] + d[:, h]
        return np.exp(out) if self.log else out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings and fitted scaler."""
        return {"log": self.log, "transform": self.transform, "season": self.season, "scaler": self.scaler_name,
                "fitted": self.scaler.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessor":
        """Rebuild from :meth:`to_dict`."""
        try:
            p = cls(log=data["log"], transform=data["transform"], season=data["season"], scaler=data["scaler"])
            p.scaler = _SCALERS[data["scaler"]].from_dict(data["fitted"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"preprocess.json is incomplete ({exc!r}); the run folder is damaged, train again") from None
        return p


def windows(z: np.ndarray, lookback: int, horizon: int, origins: np.ndarray | None = None):
    """Model inputs and targets at the given origins (default: every origin with a full window).

    Args:
        z: ``(T, F)`` encoded series; NaN rows (before the differencing lag) are skipped.
        lookback, horizon: rows in and target steps out.
        origins: ``(N,)`` last input rows wanted; each must have ``lookback`` encoded
            rows up to it and ``horizon`` rows after it.

    Returns:
        ``x`` ``(N, lookback, F)`` float32, ``y`` ``(N, horizon)`` float32 (the target,
        column 0), ``origins`` ``(N,)`` int64.

    Example:
        >>> z = np.arange(8.0)[:, None]
        >>> x, y, o = windows(z, lookback=3, horizon=2)
        >>> o.tolist(), x[0, :, 0].tolist(), y[0].tolist(), y[-1].tolist()
        ([2, 3, 4, 5], [0.0, 1.0, 2.0], [3.0, 4.0], [6.0, 7.0])
    """
    z = np.asarray(z)
    first = int(np.argmax(~np.isnan(z).any(axis=1)))  # first encoded row
    body = z[first:]
    if len(body) < lookback + horizon:
        raise ConfigError(f"the series has {len(body)} usable rows but one window needs lookback + horizon = "
                          f"{lookback} + {horizon}; lower --lookback/--horizon or give a longer series")
    x, y, index = make_windows(body, lookback, horizon, target_columns=0, return_index=True)
    all_origins = index + first - 1  # (N,) the last input row of each window
    if origins is not None:
        origins = np.asarray(origins, dtype=np.int64)
        pos = origins - all_origins[0]
        if len(pos) and (pos.min() < 0 or pos.max() >= len(all_origins)):
            raise ConfigError(f"origins {origins.min()}..{origins.max()} are outside {all_origins[0]}..{all_origins[-1]}, "
                              "the rows with a full window")
        x, y, all_origins = x[pos], y[pos], all_origins[pos]
    return x.astype(np.float32), y.astype(np.float32), all_origins.astype(np.int64)
