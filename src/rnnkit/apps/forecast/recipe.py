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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rnnkit.errors import ConfigError
from rnnkit.optimizers import Adam
from rnnkit.plots import plot_series
from rnnkit.runs import parse_duration, read_json, write_csv, write_json

from ..framework import AppConfig, Fitted, Recipe, ReportSection, TrainConfig, open_run, setting, train_run
from .data import SERIES_DATASETS, Series, decimal_years, future_dates, infer_season, load_series
from .evaluate import BASELINES, actuals, baseline_forecasts, error_metrics, test_origins
from .model import build_model, parse_units
from .prepare import TRANSFORMS, Preprocessor, windows

__all__ = ["ForecastConfig", "PredictOptions", "PRESETS", "Forecast", "train", "predict", "load_run", "check_forecast",
           "forecast_ahead"]

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
class ForecastConfig(TrainConfig):
    """Every setting of a forecasting run (saved, resolved, as the run's ``config.json``).

    ``None`` means: the dataset's preset (:data:`PRESETS`) if ``data`` names one,
    else the generic default (lookback 60, horizon 1, one LSTM of 64 units, no
    transform, 100 epochs with early stopping after 10 without improvement,
    test = the last 20%), else a value read from the data (``season`` from the
    calendar, ``ma_window = min(season, lookback)``, ``val_size = max(horizon,
    10% of the training rows)``).
    """

    data: str = setting("airline-passengers", help="moutai, airline-passengers, daily-min-temperatures or a CSV file")
    date_column: str = setting("date", help="CSV header of the dates")
    target: str | None = setting(None, help="column to forecast (default: the dataset's, or the CSV's only one)")
    features: list[str] | None = setting(None, help="input columns, comma-separated, e.g. open,high,low,close,volume")
    fill: str | None = setting(None, help="fill missing cells (default: refuse them)", choices=("interpolate", "ffill"))
    lookback: int | None = setting(None, help="rows read per forecast (default 60)", min=1)
    horizon: int | None = setting(None, help="steps forecast at once (default 1)", min=1)
    model: str | None = setting(None, help="default lstm", choices=("lstm", "gru", "rnn", "mingru"))
    units: str | None = setting(None, help="layer sizes, e.g. 80,100 for two layers (default 64)")
    dropout: float | None = setting(None, help="after each recurrent layer (default 0)", min=0, lt=1)
    test_size: int | None = setting(None, help="last rows held out for testing", min=1, group="test")
    test_fraction: float | None = setting(None, help="share held out for testing (default 0.2)", gt=0, lt=1,
                                          group="test")
    val_size: int | None = setting(None, help="training rows kept for early stopping (0: none; default max(horizon, "
                                              "10% of the training rows))", min=0)
    epochs: int | None = setting(None, help="most epochs (default 100, early stopping on)", min=1, group="budget")
    time_budget: float | None = setting(None, help="training time, e.g. 90s, 5m", gt=0, group="budget",
                                        parse=parse_duration)
    patience: int | None = setting(None, help="epochs without validation improvement (default 10)", min=0)
    batch_size: int = setting(32, help="windows per batch", min=1)
    learning_rate: float = setting(1e-3, help="Adam's learning rate", gt=0, flag="--lr")
    log: bool | None = setting(None, help="model the log of the values")
    transform: str | None = setting(None, help="model differences: to the previous row or to one season back "
                                               "(default none)", choices=TRANSFORMS)
    scaler: str = setting("standard", help="fitted on the training part", choices=("standard", "minmax"))
    season: int | None = setting(None, help="season length, e.g. 12 for monthly data (default: from the dates)", min=1)
    ma_window: int | None = setting(None, help="moving-average baseline window (default min(season, lookback))", min=1)
    seed: int = setting(0, help="seed of every generator")
    out: str | None = setting(None, help="run folder (default runs/forecast-<time>)")

    def validate(self) -> None:
        if self.units is not None:  # checked before the data is read (or downloaded)
            parse_units(self.units)

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
            raise ConfigError(f"give {self.option('test_size')} or {self.option('test_fraction')}, not both")
        if self.test_fraction is not None:
            values["test_size"] = None  # an explicit fraction beats the preset's size
        cfg = ForecastConfig(**values)
        cfg.target, cfg.features = series.target, series.columns[1:] or None
        if cfg.time_budget is not None:
            cfg.epochs = None if self.epochs is None else cfg.epochs
        cfg.units = ",".join(str(u) for u in parse_units(cfg.units))
        total = len(series)
        if cfg.test_size is None:
            fraction = 0.2 if cfg.test_fraction is None else cfg.test_fraction
            cfg.test_size = max(int(math.floor(total * fraction + 1e-9)), cfg.horizon)
            cfg.test_fraction = None  # the size it gave is saved: config.json rebuilds the same split
        if cfg.season is None:
            cfg.season = infer_season(series.dates)
        if cfg.ma_window is None:
            cfg.ma_window = min(cfg.season, cfg.lookback)
        n_train = total - cfg.test_size
        if cfg.val_size is None:
            cfg.val_size = max(cfg.horizon, int(round(0.1 * n_train)))
        cfg.check()
        if 0 < cfg.val_size < cfg.horizon:
            val, horizon = cfg.option("val_size"), cfg.option("horizon")
            raise ConfigError(f"{val} {cfg.val_size} is shorter than {horizon} {cfg.horizon}: no validation window "
                              f"fits; use {val} {cfg.horizon} or more (or 0 for none)")
        return cfg


@dataclass
class PredictOptions(AppConfig):
    """The options of ``rnnkit forecast predict`` (see :func:`predict`)."""

    run: str = setting("", help="run folder written by `rnnkit forecast train`")
    data: str | None = setting(None, help="CSV with the same columns, newer rows (default: the training data)")
    steps: int = setting(12, help="values to forecast", min=1)
    out: str | None = setting(None, help="CSV to write (default RUN/forecast.csv; a PNG goes next to it)")

    def validate(self) -> None:
        self.need_run("forecast")


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


@dataclass
class _Data:
    """A forecasting run's series, fitted preprocessor, split and windows."""

    series: Series
    prep: Preprocessor
    n_train: int
    origins: np.ndarray
    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray] | None
    test_x: np.ndarray


class _Recipe(Recipe):
    """Forecasting's hooks of :func:`~rnnkit.apps.framework.train_run`."""

    name, config = APP, ForecastConfig

    def prepare(self, cfg: ForecastConfig, saved: Path | None, print_fn: Callable[[str], None]) -> tuple[ForecastConfig, _Data]:
        series = _load(cfg)
        cfg = cfg.resolved(series)
        if cfg.log and (series.values <= 0).any():
            row, col = (int(v) for v in np.argwhere(series.values <= 0)[0])
            raise ConfigError(f"{cfg.option('log')} needs positive values, but {series.columns[col]} is "
                              f"{series.values[row, col]:g} at line {series.lines[row]} of {series.source}; drop --log "
                              "(or pass --no-log)")
        prep = Preprocessor(log=cfg.log, transform=cfg.transform, season=cfg.season, scaler=cfg.scaler)
        n_train, n_fit = _check_lengths(cfg, series, prep.lag)
        horizon, lookback = cfg.horizon, cfg.lookback
        origins = test_origins(len(series), cfg.test_size, horizon)  # checks test_size >= horizon
        if n_train < max(cfg.season, cfg.ma_window):
            raise ConfigError(f"the training part has {n_train} rows, fewer than {cfg.option('season')} {cfg.season} / "
                              f"{cfg.option('ma_window')} {cfg.ma_window} need; lower them or give a longer series")
        prep.fit(series.values, n_train)  # reads rows < n_train only
        z = prep.encode(series.values)  # (T, F)
        x_all, y_all, o_all = windows(z, lookback, horizon)
        fit_rows = o_all + horizon < n_fit  # every target before the validation rows
        val_rows = (o_all + 1 >= n_fit) & (o_all + horizon < n_train)  # every target inside them
        validation = (x_all[val_rows], y_all[val_rows]) if cfg.val_size and val_rows.any() else None
        x_te, _, _ = windows(z, lookback, horizon, origins)
        return cfg, _Data(series, prep, n_train, origins, (x_all[fit_rows], y_all[fit_rows]), validation, x_te)

    def save_data(self, run: Path, cfg: ForecastConfig, data: _Data) -> None:
        write_json(run / "preprocess.json", {"columns": data.series.columns, **data.prep.to_dict()})

    def build(self, cfg: ForecastConfig, data: _Data) -> Any:
        model = build_model(data.series.values.shape[1], cfg.horizon, cell=cfg.model, units=parse_units(cfg.units),
                            dropout=cfg.dropout)
        model.compile(optimizer=Adam(learning_rate=cfg.learning_rate), loss="mse", clipnorm=1.0)
        return model

    def describe(self, cfg: ForecastConfig, data: _Data, parameters: int, run: Path) -> str:
        series, n_val = data.series, 0 if data.validation is None else len(data.validation[0])
        return (f"forecast: {series.source}, target {series.target}"
                + (f" with features {', '.join(series.columns[1:])}" if len(series.columns) > 1 else "")
                + f"; {data.n_train} training rows ({len(data.train[0])} windows, {n_val} validation), {cfg.test_size} "
                f"test rows ({len(data.origins)} origins x {cfg.horizon} steps); {cfg.model} {cfg.units}, {parameters:,} "
                f"parameters; run folder {run}")

    def fit_data(self, cfg: ForecastConfig, data: _Data) -> dict[str, Any]:
        x, y = data.train
        return dict(x=x, y=y, batch_size=cfg.batch_size, validation_data=data.validation, shuffle=True)

    def patience(self, cfg: ForecastConfig) -> int:
        return cfg.patience

    def progress_lines(self, cfg: ForecastConfig) -> bool:
        return True

    def evaluate(self, cfg: ForecastConfig, data: _Data, fitted: Fitted, print_fn: Callable[[str], None]) -> dict[str, Any]:
        series, origins, n_train, horizon, run = data.series, data.origins, data.n_train, cfg.horizon, fitted.run
        total, target = len(series), series.values[:, 0]
        actual = actuals(target, origins, horizon)  # (N, H)
        forecasts = {"model": data.prep.decode(fitted.model.predict(data.test_x, batch_size=256), series.values, origins)}
        forecasts.update(baseline_forecasts(target, origins, horizon, cfg.season, cfg.ma_window))
        metrics = {name: error_metrics(f, actual) for name, f in forecasts.items()}
        ratios = {b: {k: (metrics["model"][k] / metrics[b][k] if metrics[b][k] else None) for k in ("rmse", "mae", "mape")}
                  for b in BASELINES}
        write_json(run / "evaluation.json", {
            "definition": "walk-forward: every origin t with all targets in the test part forecasts t+1..t+horizon from "
                          "the values up to t; figures are means over every (origin, step) pair in original units",
            "train_rows": n_train, "validation_rows": cfg.val_size, "test_rows": cfg.test_size,
            "test_start": str(series.dates[n_train]), "test_end": str(series.dates[-1]), "origins": len(origins),
            "first_origin": str(series.dates[origins[0]]), "last_origin": str(series.dates[origins[-1]]),
            "horizon": horizon, "pairs": int(actual.size), "training_windows": len(data.train[0]),
            "validation_windows": 0 if data.validation is None else len(data.validation[0]),
            **fitted.figures(), "best_epoch": fitted.best_epoch + 1, "ratio_to_baselines": ratios,
        })
        _write_test_csv(run / "test_forecasts.csv", series, origins, actual, forecasts)
        context = min(n_train, max(cfg.test_size, 2 * horizon))
        shown = slice(n_train - context, total)
        predicted = np.full(total, np.nan)
        predicted[n_train:] = _block_forecast(forecasts["model"], origins, n_train, total, horizon)
        plot_series(run / "prediction.png", {f"actual {series.target}": target[shown],
                                             f"{cfg.model} forecast": predicted[shown]},
                    x=decimal_years(series.dates[shown]), xlabel="year", ylabel=series.target,
                    title=f"{series.source}: test part, " + ("1-step forecasts" if horizon == 1 else f"{horizon}-step blocks"))
        lines = [f"{'':<16}{'RMSE':>12}{'MAE':>12}{'MAPE %':>10}"]
        for name, m in metrics.items():
            mape = "n/a" if m["mape"] is None else f"{m['mape']:.2f}"
            lines.append(f"{name:<16}{m['rmse']:>12.4g}{m['mae']:>12.4g}{mape:>10}")
        print_fn("\n".join(lines))
        print_fn(f"forecast: {fitted.epochs} epochs (best {fitted.best_epoch + 1}) in {fitted.train_seconds:.1f} s; "
                 f"model RMSE / naive {ratios['naive']['rmse']:.3f}, / seasonal naive "
                 f"{ratios['seasonal_naive']['rmse']:.3f}; run folder {run} (metrics.json, prediction.png, loss.png, "
                 "model.safetensors)")
        return metrics

    def title(self, cfg: ForecastConfig) -> str:
        return f"{cfg.data}: {cfg.model} {cfg.units}"

    def report_sections(self, run: Path, metrics: dict[str, Any]) -> list[ReportSection]:
        """The forecast over the test dates, and the model's errors against the baselines'."""
        rows = [[name, m.get("rmse"), m.get("mae"), m.get("mape")]
                for name in ("model", *BASELINES) if isinstance(m := metrics.get(name), dict)]
        evaluation = read_json(run / "evaluation.json") if (run / "evaluation.json").is_file() else {}
        note = str(evaluation.get("definition", ""))
        if evaluation.get("test_start"):
            note = (f"Test part {evaluation['test_start']} to {evaluation.get('test_end')}, horizon "
                    f"{evaluation.get('horizon')}. {note}")
        return [ReportSection("Forecast", note, table=[["forecaster", "RMSE", "MAE", "MAPE (%)"], *rows] if rows else None,
                              images=["prediction.png"])]


RECIPE = _Recipe()


def train(config: ForecastConfig | None = None, *, print_fn: Callable[[str], None] | None = print,
          verbose: int = 0, **settings: Any) -> dict[str, dict[str, float | None]]:
    """Train a forecaster into a run folder; returns ``metrics.json``'s content.

    ``settings`` replace fields of ``config``; ``print_fn=None`` prints nothing;
    ``verbose`` is passed to ``Model.fit``.
    """
    with _OneThread():
        return train_run(RECIPE, ForecastConfig.of(config, **settings), print_fn=print_fn, verbose=verbose)


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
    model, cfg, run = open_run(run, RECIPE, needs=("preprocess.json",))
    saved = read_json(run / "preprocess.json")
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
    PredictOptions(run=str(run), data=data, steps=steps)  # checks the options
    model, prep, cfg, columns = load_run(run)
    series = _load(cfg, data)
    if columns and series.columns != columns:
        raise ConfigError(f"--data {series.source} gives columns {series.columns}, but the run was trained on {columns}")
    check_forecast(cfg, prep, series, steps)
    if out is not None and Path(out).exists():
        raise ConfigError(f"--out {out} already exists; choose another file name (nothing is overwritten)")
    dates, forecast = forecast_ahead(model, prep, cfg, series, steps)

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


def check_forecast(cfg: ForecastConfig, prep: Preprocessor, series: Series, steps: int, name: str | None = None) -> None:
    """Refuse a forecast the model cannot make: beyond its horizon with input features, or from too short a series
    (``name``: how the caller knows the series, default ``--data SOURCE``)."""
    name = name or f"--data {series.source}"
    if steps > cfg.horizon and len(series.columns) > 1:
        raise ConfigError(f"--steps {steps} is beyond the model's horizon {cfg.horizon}, and a model with input features "
                          f"({', '.join(series.columns[1:])}) cannot read its own forecasts back; ask for at most "
                          f"{cfg.horizon} steps or train with --horizon {steps}")
    need = cfg.lookback + prep.lag
    if len(series) < need:
        raise ConfigError(f"{name} has {len(series)} rows, fewer than the lookback + differencing = {need} "
                          "rows a forecast reads")


def forecast_ahead(model: Any, prep: Preprocessor, cfg: ForecastConfig, series: Series,
                   steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(dates, values) of ``steps`` forecasts after the end of ``series`` with a loaded run (:func:`load_run`):
    the model's horizon from one pass, recursively beyond it (univariate models; see :func:`check_forecast`)."""
    values = series.values  # (T, F)
    produced: list[np.ndarray] = []
    while sum(len(p) for p in produced) < steps:
        z = prep.encode(values)[-cfg.lookback:]  # (lookback, F)
        z_hat = model.predict(z[None].astype(np.float32))  # (1, H)
        block = prep.decode(z_hat, values, np.array([len(values) - 1]))[0]  # (H,)
        produced.append(block)
        if sum(len(p) for p in produced) < steps:  # univariate (checked above): read the block back
            values = np.concatenate([values, block[:, None]])  # (T + H, 1)
    return future_dates(series.dates, steps), np.concatenate(produced)[:steps]


def predict_command(options: PredictOptions) -> Forecast:
    """``rnnkit forecast predict``: :func:`predict` with the command's options."""
    return predict(options.run, options.steps, data=options.data, out=options.out)
