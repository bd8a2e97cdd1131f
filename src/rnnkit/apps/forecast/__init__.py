"""Time-series forecasting: ``rnnkit forecast train|predict`` on stock prices, passengers, temperatures or a CSV file."""
from .data import Series, load_series
from .recipe import PRESETS, Forecast, ForecastConfig, load_run, predict, train

__all__ = ["ForecastConfig", "PRESETS", "Forecast", "train", "predict", "load_run", "Series", "load_series"]
