"""Time-series forecasting: ``rnnkit forecast train|predict`` on stock prices, passengers, temperatures or a CSV file."""
from ..framework import App, Command
from .data import Series, load_series
from .recipe import PRESETS, Forecast, ForecastConfig, PredictOptions, load_run, predict, predict_command, train

__all__ = ["ForecastConfig", "PredictOptions", "PRESETS", "Forecast", "train", "predict", "load_run", "Series",
           "load_series", "APP"]

#: the ``rnnkit forecast`` command
APP = App("forecast", "forecast a time series (stock prices, passengers, a CSV file) against baselines", [
    Command("train", "train into a run folder; scores the test part against naive baselines", ForecastConfig, train,
            quiet={"print_fn": None}, description="Unset options take the dataset's preset (moutai, airline-passengers, "
                                                  "daily-min-temperatures) or the generic default shown."),
    Command("predict", "forecast past the end of the series with a trained run", PredictOptions, predict_command),
])
