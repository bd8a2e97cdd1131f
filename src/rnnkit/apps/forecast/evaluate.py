"""Walk-forward evaluation: forecast origins over the test part, baselines, and error figures.

The test part is the last ``n_test`` rows.  An *origin* ``t`` is the last row a
forecast may read; it forecasts rows ``t+1 .. t+H``.  The evaluation uses every
origin whose ``H`` targets all lie in the test part, ``t = n_train-1 .. T-1-H``
(``n_test - H + 1`` origins), each reading the true values up to ``t`` (walk-forward,
the model is not refitted).  Every figure is a mean over all ``origins x H``
(origin, step) pairs, in the target's original units; the model and every
baseline are scored on exactly the same pairs.

Baselines, at origin ``t`` for step ``h`` (``y`` the target column):

* ``naive``: ``y[t]`` (last value);
* ``seasonal_naive``: ``y[t + h - m * ceil(h / m)]``, the latest observed value
  of the same season (``m = season``);
* ``moving_average``: the mean of ``y[t-w+1 .. t]`` (``w = ma_window``).

Figures: ``rmse = sqrt(mean(e**2))``, ``mae = mean(|e|)`` and
``mape = 100 * mean(|e| / |y|)`` in percent, with ``e = forecast - actual``;
MAPE leaves out pairs whose actual value is 0 (None if all are).
"""
from __future__ import annotations

import numpy as np

from rnnkit.errors import ConfigError

__all__ = ["BASELINES", "test_origins", "actuals", "baseline_forecasts", "error_metrics"]

BASELINES = ("naive", "seasonal_naive", "moving_average")


def test_origins(n_total: int, n_test: int, horizon: int) -> np.ndarray:
    """The origins whose ``horizon`` targets all lie in the last ``n_test`` rows.

    >>> test_origins(10, 4, 2).tolist()   # rows 6..9 are the test part
    [5, 6, 7]
    """
    if n_test < horizon:
        raise ConfigError(f"the test part has {n_test} rows, fewer than --horizon {horizon}; "
                          f"raise --test-size to at least {horizon} or lower --horizon")
    return np.arange(n_total - n_test - 1, n_total - horizon, dtype=np.int64)


def actuals(target: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """``(N, H)`` true values ``target[origins + h]`` for ``h = 1..H``.

    >>> actuals(np.arange(10.0), np.array([5, 6]), 2).tolist()
    [[6.0, 7.0], [7.0, 8.0]]
    """
    return np.asarray(target)[origins[:, None] + np.arange(1, horizon + 1)]


def baseline_forecasts(target: np.ndarray, origins: np.ndarray, horizon: int, season: int, ma_window: int) -> dict[str, np.ndarray]:
    """``{name: (N, H)}`` forecasts of the three baselines at ``origins`` (see the module docstring).

    >>> y = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 100.0])
    >>> f = baseline_forecasts(y, np.array([5]), 1, season=3, ma_window=2)
    >>> f["naive"].tolist(), f["seasonal_naive"].tolist(), f["moving_average"].tolist()
    ([[30.0]], [[10.0]], [[25.0]])
    """
    target = np.asarray(target, dtype=np.float64)
    steps = np.arange(1, horizon + 1)  # (H,)
    need = max(season - 1, ma_window - 1)
    if origins.min() < need:
        raise ConfigError(f"the first origin (row {int(origins.min())}) has fewer than {need + 1} rows before it, which "
                          f"--season {season} / --ma-window {ma_window} need; lower them or give more training data")
    naive = np.repeat(target[origins][:, None], horizon, axis=1)  # (N, H)
    back = season * np.ceil(steps / season).astype(np.int64)  # (H,) rows back from the target
    seasonal = target[origins[:, None] + steps[None, :] - back[None, :]]  # (N, H)
    cums = np.concatenate([[0.0], np.cumsum(target)])
    mean = (cums[origins + 1] - cums[origins + 1 - ma_window]) / ma_window  # (N,)
    moving = np.repeat(mean[:, None], horizon, axis=1)
    return {"naive": naive, "seasonal_naive": seasonal, "moving_average": moving}


def error_metrics(forecast: np.ndarray, actual: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAE and MAPE (percent) over every entry; MAPE skips zero actual values.

    >>> error_metrics(np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]]))
    {'rmse': 1.0, 'mae': 1.0, 'mape': 60.0}
    """
    e = np.asarray(forecast, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    nonzero = actual != 0
    mape = float(100 * np.mean(np.abs(e[nonzero]) / np.abs(actual[nonzero]))) if nonzero.any() else None
    return {"rmse": float(np.sqrt(np.mean(e**2))), "mae": float(np.mean(np.abs(e))), "mape": mape}
