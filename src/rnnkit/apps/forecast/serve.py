"""``rnnkit serve`` for a forecast run: the next ``steps`` values after the run's series or a given history."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import ConfigError, RnnkitError

from ..framework import AppConfig, Service, setting
from .data import load_series, series_from_rows
from .recipe import check_forecast, forecast_ahead, load_run

__all__ = ["ForecastRequest", "service", "MAX_STEPS", "MAX_HISTORY"]

MAX_STEPS = 1000  # values one request may ask for
MAX_HISTORY = 100_000  # rows of a request's history


@dataclass
class ForecastRequest(AppConfig):
    """The body of ``POST /models/NAME/predict`` for a forecast run.

    >>> ForecastRequest(steps=0)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `steps` must be a whole number from 1 to 1000, got 0
    """

    steps: int = setting(12, help="values to forecast after the last date", min=1, max=MAX_STEPS)
    history: list[tuple[str, float]] | None = setting(
        None, help="the observed series as [[date, value], ...], oldest first (default: the run's own series); "
                   "dates as YYYY, YYYY-MM or YYYY-MM-DD", min=1, max=MAX_HISTORY)


def service(run: Path) -> Service:
    """The :class:`~rnnkit.apps.framework.Service` of forecast run folder ``run`` (its model and series loaded once)."""
    model, prep, cfg, columns = load_run(run)
    try:  # the run's own series, read once: what a request without history continues
        own = load_series(cfg.data, date_column=cfg.date_column, target=cfg.target, features=cfg.features,
                          fill=cfg.fill)
        missing = None
    except RnnkitError as exc:  # the server's log names the file; a client is never told a path
        logging.getLogger("rnnkit.serve").warning("%s: its series cannot be read (%s); requests must send `history`",
                                                  run.name, exc)
        own, missing = None, "this run's own series is not on the server; send `history` (the series to continue)"
    target = columns[0] if columns else (own.target if own is not None else "value")

    def check(request: ForecastRequest) -> ForecastRequest:
        if request.history is None:
            if own is None:
                raise ConfigError(missing)
            check_forecast(cfg, prep, own, request.steps, "the run's series")
            return request
        if len(columns) > 1:
            raise ConfigError(f"`history`: the run also reads {', '.join(columns[1:])}, which a [date, value] history "
                              "does not give; leave `history` out to forecast after the run's own series")
        series = series_from_rows(request.history, target)
        check_forecast(cfg, prep, series, request.steps, "`history`")
        request.series = series  # parsed once, here
        return request

    def predict(requests: list[ForecastRequest]) -> list[dict]:
        replies = []
        for request in requests:
            dates, values = forecast_ahead(model, prep, cfg, getattr(request, "series", own), request.steps)
            replies.append({"forecast": [[str(d), float(v)] for d, v in zip(dates, values)], "target": target})
        return replies

    example: dict = {"steps": min(12, MAX_STEPS)}
    return Service(ForecastRequest, predict=predict, check=check, batch=16, example=example,
                   info={"target": target, "horizon": cfg.horizon, "lookback": cfg.lookback,
                         "last": [str(own.dates[-1]), float(own.values[-1, 0])] if own is not None else None})
