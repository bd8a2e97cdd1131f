"""Recipe of time-series forecasting: train into a run folder with honest baselines, forecast from a run.

``train(config)``:

1. loads the series (:func:`~rnnkit.apps.forecast.data.load_series`) and splits it
   in time order: the last ``test_size`` rows (or ``test_fraction``) are the test
   part, the rest the training part, whose last ``val_size`` rows serve for early
   stopping;
2. fits the :class:`~rnnkit.apps.forecast.prepare.Preprocessor` (log, differencing,
   scaler) on the training part only;
3. trains the network on the windows whose targets lie before the validation
   rows (validation windows: targets inside them), keeping the weights of the
   best validation epoch (early stopping, ``patience`` epochs);
4. forecasts at every walk-forward origin of the test part and scores the model
   and the three baselines on the same (origin, step) pairs in the original units
   (see :mod:`rnnkit.apps.forecast.evaluate`).

The run folder (never overwritten) holds ``config.json`` (every setting resolved,
so it rebuilds the run), ``metrics.csv`` (per epoch), ``metrics.json``
(``{"model": {"rmse", "mae", "mape"}, "naive": ..., "seasonal_naive": ...,
"moving_average": ...}``), ``evaluation.json`` (origins, dates, epochs, seconds,
ratios to the baselines), ``test_forecasts.csv`` (every origin and step: actual,
model and baselines), ``prediction.png`` (actual vs forecast over the test dates),
``loss.png``, ``model.safetensors`` (architecture and weights) and
``preprocess.json`` (the fitted transform and scaler).

``predict(run, steps)`` reloads the run and forecasts past the end of the series:
the model's horizon directly, recursively beyond it (each forecast block is
appended and read back as if observed; univariate models only).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import rnnkit
from rnnkit.errors import ConfigError
from rnnkit.models import load_model
from rnnkit.optimizers import Adam
from rnnkit.plots import plot_history, plot_series
from rnnkit.runs import new_run_dir, parse_duration, read_config, read_json, write_config, write_csv, write_json
from rnnkit.training.callbacks import Callback, CSVLogger, EarlyStopping, TimeBudget

from .data import SERIES_DATASETS, Series, decimal_years, future_dates, infer_season, load_series
from .evaluate import BASELINES, actuals, baseline_forecasts, error_metrics, test_origins
from .model import build_model, parse_units
from .prepare import TRANSFORMS, Preprocessor, windows

__all__ = ["ForecastConfig", "PRESETS", "Forecast", "train", "predict", "load_run"]

APP = "forecast"

#: settings a registered dataset starts from (any option given explicitly wins)
PRESETS: dict[str, dict[str, Any]] = {
    # monthly, 144 points: the last 2 years as test, a year ahead; log + seasonal difference, so the
    # network learns the year-on-year growth (seasonal naive = a constant 0 in that space)
    "airline-passengers": dict(target="passengers", test_size=24, horizon=12, season=12, lookback=12, log=True,
                               transform="seasonal-diff", units="16", epochs=300, patience=30, val_size=12),
    # daily, 10 years: the last year as test, tomorrow from the last 30 days, yearly season
    "daily-min-temperatures": dict(target="temp", test_size=365, horizon=1, season=365, lookback=30,
                                   transform="none", units="32"),
    # the tutorials' exercise: next day's opening price from the last 60 days, the last 300 days as test;
    # daily log returns (a price is close to a random walk, and the test prices exceed the training range)
    "moutai": dict(target="open", test_size=300, horizon=1, season=5, lookback=60, log=True, transform="diff",
                   units="32"),
}

_GENERIC = dict(lookback=60, horizon=1, model="lstm", units="64", dropout=0.0, log=False, transform="none",
                epochs=100, patience=10)


@dataclass
class ForecastConfig:
    """Every setting of a forecasting run (saved, resolved, as the run's ``config.json``).

    ``None`` means: the dataset's preset (:data:`PRESETS`) if ``data`` names one,
    else the generic default (lookback 60, horizon 1, one LSTM of 64 units, no
    transform, 100 epochs with early stopping after 10 without improvement,
    test = the last 20%), else a value read from the data (``season`` from the
    calendar, ``ma_window = min(season, lookback)``, ``val_size = max(horizon,
    10% of the training rows)``).
    """

    data: str = "airline-passengers"
    date_column: str = "date"
    target: str | None = None
    features: list[str] | None = None  # input columns besides the target; None: the target alone
    fill: str | None = None  # None, 'interpolate' or 'ffill'
    lookback: int | None = None
    horizon: int | None = None
    model: str | None = None  # lstm, gru, rnn or mingru
    units: str | None = None  # one size per layer, '80,100'
    dropout: float | None = None
    test_size: int | None = None
    test_fraction: float | None = None
    val_size: int | None = None  # rows at the end of the training part for early stopping; 0: none
    epochs: int | None = None
    time_budget: float | None = None  # seconds of training
    patience: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    log: bool | None = None
    transform: str | None = None  # none, diff, seasonal-diff
    scaler: str = "standard"  # standard or minmax
    season: int | None = None
    ma_window: int | None = None
    seed: int = 0
    out: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ForecastConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def resolved(self, series: Series) -> "ForecastConfig":
        """A copy with every ``None`` filled in (see the class docstring) and every value checked."""
        preset = PRESETS.get(self.data, {}) if self.data in SERIES_DATASETS else {}
        values = asdict(self)
        for key, value in values.items():
            if value is None and key in preset:
                values[key] = preset[key]
        for key, value in _GENERIC.items():
            if values[key] is None:
                values[key] = value
        if self.test_size is not None and self.test_fraction is not None:
            raise ConfigError("give --test-size or --test-fraction, not both")
        if self.test_fraction is not None:
            values["test_size"] = None  # an explicit fraction beats the preset's size
        cfg = ForecastConfig(**values)
        cfg.target, cfg.features = series.target, series.columns[1:] or None
        _check_int("--lookback", cfg.lookback)
        _check_int("--horizon", cfg.horizon)
        _check_int("--batch-size", cfg.batch_size)
        _check_int("--patience", cfg.patience, minimum=0)
        if cfg.time_budget is not None:
            cfg.time_budget = parse_duration(cfg.time_budget)
            cfg.epochs = None if self.epochs is None else cfg.epochs
        if cfg.epochs is not None:
            _check_int("--epochs", cfg.epochs)
        cfg.units = ",".join(str(u) for u in parse_units(cfg.units))
        if cfg.transform not in TRANSFORMS:
            raise ConfigError(f"--transform must be one of {', '.join(TRANSFORMS)}, got {cfg.transform!r}")
        if not (cfg.learning_rate > 0):
            raise ConfigError(f"--lr must be positive, got {cfg.learning_rate!r}")
        total = len(series)
        if cfg.test_size is None:
            fraction = 0.2 if cfg.test_fraction is None else cfg.test_fraction
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
                raise ConfigError(f"--test-fraction must be a number in (0, 1), got {fraction!r}")
            cfg.test_size = max(int(math.floor(total * fraction + 1e-9)), cfg.horizon)
            cfg.test_fraction = None  # the size it gave is saved: config.json rebuilds the same split
        _check_int("--test-size", cfg.test_size)
        if cfg.season is None:
            cfg.season = infer_season(series.dates)
        _check_int("--season", cfg.season)
        if cfg.ma_window is None:
            cfg.ma_window = min(cfg.season, cfg.lookback)
        _check_int("--ma-window", cfg.ma_window)
        n_train = total - cfg.test_size
        if cfg.val_size is None:
            cfg.val_size = max(cfg.horizon, int(round(0.1 * n_train)))
        _check_int("--val-size", cfg.val_size, minimum=0)
        if 0 < cfg.val_size < cfg.horizon:
            raise ConfigError(f"--val-size {cfg.val_size} is shorter than --horizon {cfg.horizon}: no validation window "
                              f"fits; use --val-size {cfg.horizon} or more (or 0 for none)")
        return cfg


def _check_int(option: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{option} must be a whole number >= {minimum}, got {value!r}")


def _load(cfg: ForecastConfig, data: str | None = None) -> Series:
    return load_series(data or cfg.data, date_column=cfg.date_column, target=cfg.target, features=cfg.features,
                       fill=cfg.fill)


def _check_lengths(cfg: ForecastConfig, series: Series, lag: int) -> tuple[int, int]:
    """(n_train, n_fit): rows of the training part, and of it before the validation rows; errors if too short."""
    total = len(series)
    need = cfg.lookback + cfg.horizon + lag
    if total < need + cfg.test_size:
        raise ConfigError(f"--data {series.source} has {total} rows, but a window needs lookback + horizon = "
                          f"{cfg.lookback} + {cfg.horizon}" + (f" (+ {lag} for differencing)" if lag else "")
                          + f" = {need} rows on top of --test-size {cfg.test_size}; give a longer series or lower "
                          "--lookback/--horizon/--test-size")
    n_train = total - cfg.test_size
    n_fit = n_train - cfg.val_size
    if n_fit < need:
        raise ConfigError(f"--data {series.source}: {n_train} training rows minus --val-size {cfg.val_size} leave {n_fit}, "
                          f"fewer than the {need} one training window needs; lower --val-size, --lookback or --test-size")
    return n_train, n_fit


class _Progress(TimeBudget):
    """The training clock and budget (:class:`TimeBudget`), and about ten progress lines per run."""

    def __init__(self, cfg: ForecastConfig, epochs: int, print_fn: Callable[[str], None] | None) -> None:
        super().__init__(cfg.time_budget)
        self.cfg, self.epochs, self.print_fn = cfg, epochs, print_fn

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        every = max(1, self.epochs // 10) if not self.cfg.time_budget else 0
        due = (every and (epoch + 1) % every == 0) or (not every and epoch % 10 == 0)
        if self.print_fn and logs and due:
            figures = "  ".join(f"{k} {logs[k]:.4g}" for k in ("loss", "val_loss") if k in logs)
            self.print_fn(f"  epoch {epoch + 1:4d}  {figures}  ({self.elapsed:.1f} s)")


def _block_forecast(forecast: np.ndarray, origins: np.ndarray, n_train: int, total: int, horizon: int) -> np.ndarray:
    """One forecast per test row, from origins every ``horizon`` rows (the last block from the last origin)."""
    rows = np.arange(n_train, total)
    origin = n_train - 1 + horizon * ((rows - n_train) // horizon)
    origin = np.minimum(origin, origins[-1])
    return forecast[origin - origins[0], rows - origin - 1]


def _write_test_csv(path: Path, series: Series, origins: np.ndarray, actual: np.ndarray, forecasts: dict[str, np.ndarray]) -> None:
    horizon = actual.shape[1]
    write_csv(path, ["origin_date", "target_date", "step", "actual", *forecasts],
              ([series.dates[t], series.dates[t + h + 1], h + 1, f"{actual[i, h]:.10g}",
                *(f"{f[i, h]:.10g}" for f in forecasts.values())]
               for i, t in enumerate(origins.tolist()) for h in range(horizon)))


class _OneThread:
    """Run tiny tensors on one intra-op thread, then restore the caller's setting.

    A forecasting batch is a few kilobytes: with several threads each kernel call
    pays OpenMP's hand-off (and spin-waits on a busy machine), measured 10x slower
    on two loaded cores than one thread.
    """

    def __enter__(self) -> None:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.threads)


def train(config: ForecastConfig | None = None, *, print_fn: Callable[[str], None] | None = print,
          verbose: int = 0) -> dict[str, dict[str, float | None]]:
    """Train a forecaster into a run folder; returns ``metrics.json``'s content.

    ``print_fn=None`` prints nothing; ``verbose`` is passed to ``Model.fit``.
    """
    with _OneThread():
        return _train(config, print_fn, verbose)


def _train(config: ForecastConfig | None, print_fn: Callable[[str], None] | None, verbose: int) -> dict[str, Any]:
    cfg = config or ForecastConfig()
    series = _load(cfg)
    cfg = cfg.resolved(series)
    if cfg.log and (series.values <= 0).any():
        row, col = (int(v) for v in np.argwhere(series.values <= 0)[0])
        raise ConfigError(f"--log needs positive values, but {series.columns[col]} is {series.values[row, col]:g} at line "
                          f"{series.lines[row]} of {series.source}; drop --log (or pass --no-log)")
    prep = Preprocessor(log=cfg.log, transform=cfg.transform, season=cfg.season, scaler=cfg.scaler)
    n_train, n_fit = _check_lengths(cfg, series, prep.lag)
    total, horizon, lookback = len(series), cfg.horizon, cfg.lookback
    origins = test_origins(total, cfg.test_size, horizon)  # checks test_size >= horizon
    baselines_need = max(cfg.season, cfg.ma_window)
    if n_train < baselines_need:
        raise ConfigError(f"the training part has {n_train} rows, fewer than --season {cfg.season} / --ma-window "
                          f"{cfg.ma_window} need; lower them or give a longer series")
    run = new_run_dir(APP, cfg.out)
    cfg.out = str(run)

    prep.fit(series.values, n_train)  # reads rows < n_train only
    z = prep.encode(series.values)  # (T, F)
    x_all, y_all, o_all = windows(z, lookback, horizon)
    fit_rows = o_all + horizon < n_fit  # every target before the validation rows
    val_rows = (o_all + 1 >= n_fit) & (o_all + horizon < n_train)  # every target inside them
    x_tr, y_tr = x_all[fit_rows], y_all[fit_rows]
    validation = (x_all[val_rows], y_all[val_rows]) if cfg.val_size and val_rows.any() else None
    x_te, _, _ = windows(z, lookback, horizon, origins)

    write_config(run, APP, asdict(cfg))
    rnnkit.set_seed(cfg.seed)
    model = build_model(series.values.shape[1], horizon, cell=cfg.model, units=parse_units(cfg.units), dropout=cfg.dropout)
    model.compile(optimizer=Adam(learning_rate=cfg.learning_rate), loss="mse", clipnorm=1.0)
    epochs = cfg.epochs or 100_000  # a time budget alone: until it is spent (or early stopping)
    params = sum(p.numel() for p in model.parameters())
    say = print_fn or (lambda s: None)
    say(f"forecast: {series.source}, target {series.target}"
        + (f" with features {', '.join(series.columns[1:])}" if len(series.columns) > 1 else "")
        + f"; {n_train} training rows ({len(x_tr)} windows, {0 if validation is None else len(validation[0])} validation),"
        f" {cfg.test_size} test rows ({len(origins)} origins x {horizon} steps); {cfg.model} {cfg.units}, {params:,} "
        f"parameters; run folder {run}")
    progress = _Progress(cfg, epochs, print_fn)
    callbacks: list[Callback] = [progress, CSVLogger(str(run / "metrics.csv"))]
    if validation is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True))
    start = time.perf_counter()
    model.fit(x_tr, y_tr, batch_size=cfg.batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
              validation_data=validation, shuffle=True)
    wall = time.perf_counter() - start
    model.save(str(run / "model.safetensors"))
    write_json(run / "preprocess.json", {"columns": series.columns, **prep.to_dict()})

    target = series.values[:, 0]
    actual = actuals(target, origins, horizon)  # (N, H)
    forecasts = {"model": prep.decode(model.predict(x_te, batch_size=256), series.values, origins)}
    forecasts.update(baseline_forecasts(target, origins, horizon, cfg.season, cfg.ma_window))
    metrics = {name: error_metrics(f, actual) for name, f in forecasts.items()}
    write_json(run / "metrics.json", metrics)
    ratios = {b: {k: (metrics["model"][k] / metrics[b][k] if metrics[b][k] else None) for k in ("rmse", "mae", "mape")}
              for b in BASELINES}
    best = next((cb.best_epoch + 1 for cb in callbacks if isinstance(cb, EarlyStopping)), model.epochs_done)
    write_json(run / "evaluation.json", {
        "definition": "walk-forward: every origin t with all targets in the test part forecasts t+1..t+horizon from "
                      "the values up to t; figures are means over every (origin, step) pair in original units",
        "train_rows": n_train, "validation_rows": cfg.val_size, "test_rows": cfg.test_size,
        "test_start": str(series.dates[n_train]), "test_end": str(series.dates[-1]),
        "origins": len(origins), "first_origin": str(series.dates[origins[0]]), "last_origin": str(series.dates[origins[-1]]),
        "horizon": horizon, "pairs": int(actual.size), "training_windows": len(x_tr),
        "validation_windows": 0 if validation is None else len(validation[0]),
        "epochs": model.epochs_done, "best_epoch": best, "train_seconds": progress.elapsed, "wall_seconds": wall,
        "parameters": params, "ratio_to_baselines": ratios,
    })
    _write_test_csv(run / "test_forecasts.csv", series, origins, actual, forecasts)

    context = min(n_train, max(cfg.test_size, 2 * horizon))
    shown = slice(n_train - context, total)
    predicted = np.full(total, np.nan)
    predicted[n_train:] = _block_forecast(forecasts["model"], origins, n_train, total, horizon)
    plot_series(run / "prediction.png", {f"actual {series.target}": target[shown], f"{cfg.model} forecast": predicted[shown]},
                x=decimal_years(series.dates[shown]), xlabel="year", ylabel=series.target,
                title=f"{series.source}: test part, " + ("1-step forecasts" if horizon == 1 else f"{horizon}-step blocks"))
    plot_history(run / "metrics.csv", run / "loss.png", title=f"{series.source}: {cfg.model} {cfg.units}", keys=["loss"])

    lines = [f"{'':<16}{'RMSE':>12}{'MAE':>12}{'MAPE %':>10}"]
    for name, m in metrics.items():
        mape = "n/a" if m["mape"] is None else f"{m['mape']:.2f}"
        lines.append(f"{name:<16}{m['rmse']:>12.4g}{m['mae']:>12.4g}{mape:>10}")
    say("\n".join(lines))
    say(f"forecast: {model.epochs_done} epochs (best {best}) in {progress.elapsed:.1f} s; model RMSE / naive "
        f"{ratios['naive']['rmse']:.3f}, / seasonal naive {ratios['seasonal_naive']['rmse']:.3f}; "
        f"run folder {run} (metrics.json, prediction.png, loss.png, model.safetensors)")
    return metrics


# ---------------------------------------------------------------- using a run
@dataclass
class Forecast:
    """Forecasts past the end of a series: ``dates`` and ``values`` ``(steps,)``, and the files written."""

    dates: np.ndarray
    values: np.ndarray
    target: str
    csv: Path | None = None
    png: Path | None = None


def load_run(run: str | Path) -> tuple[Any, Preprocessor, ForecastConfig, list[str]]:
    """The model of a run folder, its fitted preprocessor, its settings and its columns (target first)."""
    run = Path(run)
    cfg = ForecastConfig.from_dict(read_config(run, APP))
    for name in ("model.safetensors", "preprocess.json"):
        if not (run / name).exists():
            raise ConfigError(f"--run {run} has no {name}; its training did not finish")
    saved = read_json(run / "preprocess.json")
    model = load_model(str(run / "model.safetensors"), compile=False)
    model.eval()
    return model, Preprocessor.from_dict(saved), cfg, list(saved.get("columns") or [])


def _free_path(folder: Path, stem: str, suffix: str) -> Path:
    path, k = folder / f"{stem}{suffix}", 2
    while path.exists() or path.with_suffix(".png").exists():
        path, k = folder / f"{stem}-{k}{suffix}", k + 1
    return path


def predict(run: str | Path, steps: int = 12, *, data: str | None = None, out: str | Path | None = None,
            print_fn: Callable[[str], None] | None = print) -> Forecast:
    """Forecast ``steps`` values after the end of the series (the training data, or ``data``).

    Steps up to the model's horizon come from one forward pass; beyond it the
    forecast is recursive: the block is appended to the series and the model
    reads it back (univariate models only: other features have no future values).
    Writes ``out`` (default ``RUN/forecast.csv``, or ``forecast-2.csv`` ... if taken)
    and a PNG of the same name; an existing ``out`` is refused, never overwritten.
    """
    with _OneThread():
        return _predict(Path(run), steps, data, out, print_fn)


def _predict(run: Path, steps: int, data: str | None, out: str | Path | None,
             print_fn: Callable[[str], None] | None) -> Forecast:
    model, prep, cfg, columns = load_run(run)
    _check_int("--steps", steps)
    series = _load(cfg, data)
    if columns and series.columns != columns:
        raise ConfigError(f"--data {series.source} gives columns {series.columns}, but the run was trained on {columns}")
    if steps > cfg.horizon and len(series.columns) > 1:
        raise ConfigError(f"--steps {steps} is beyond the model's horizon {cfg.horizon}, and a model with input features "
                          f"({', '.join(series.columns[1:])}) cannot read its own forecasts back; ask for at most "
                          f"{cfg.horizon} steps or train with --horizon {steps}")
    need = cfg.lookback + prep.lag
    if len(series) < need:
        raise ConfigError(f"--data {series.source} has {len(series)} rows, fewer than the lookback + differencing = {need} "
                          "rows a forecast reads")
    if out is not None and Path(out).exists():
        raise ConfigError(f"--out {out} already exists; choose another file name (nothing is overwritten)")
    values = series.values  # (T, F)
    produced: list[np.ndarray] = []
    while sum(len(p) for p in produced) < steps:
        z = prep.encode(values)[-cfg.lookback:]  # (lookback, F)
        z_hat = model.predict(z[None].astype(np.float32))  # (1, H)
        block = prep.decode(z_hat, values, np.array([len(values) - 1]))[0]  # (H,)
        produced.append(block)
        if sum(len(p) for p in produced) < steps:  # univariate (checked above): read the block back
            values = np.concatenate([values, block[:, None]])  # (T + H, 1)
    forecast = np.concatenate(produced)[:steps]
    dates = future_dates(series.dates, steps)

    csv_path = Path(out) if out is not None else _free_path(run, "forecast", ".csv")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(csv_path, ["date", series.target], ([d, f"{v:.10g}"] for d, v in zip(dates, forecast)))
    history = min(len(series), max(3 * steps, cfg.lookback))
    all_dates = np.concatenate([series.dates[-history:], dates])
    actual = np.concatenate([series.values[-history:, 0], np.full(steps, np.nan)])
    ahead = np.concatenate([np.full(history - 1, np.nan), series.values[-1:, 0], forecast])
    png_path = csv_path.with_suffix(".png")
    plot_series(png_path, {f"observed {series.target}": actual, "forecast": ahead}, x=decimal_years(all_dates),
                xlabel="year", ylabel=series.target, title=f"{series.source}: {steps} steps ahead")
    if print_fn:
        width = max(len(str(d)) for d in dates)
        print_fn(f"{'date':<{width}}  {series.target}")
        for d, v in zip(dates, forecast):
            print_fn(f"{str(d):<{width}}  {v:.6g}")
        print_fn(f"forecast: {steps} steps written to {csv_path} and {png_path}")
    return Forecast(dates, forecast, series.target, csv_path, png_path)
