"""``rnnkit forecast train|predict``: parsing only, the work is in :mod:`rnnkit.apps.forecast`."""
from __future__ import annotations

import argparse

__all__ = ["add_forecast"]


def _train(args: argparse.Namespace) -> int:
    from ..apps.forecast import ForecastConfig, train
    from ..runs import parse_duration

    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    cfg = ForecastConfig(
        data=args.data, date_column=args.date_column, target=args.target, features=features, fill=args.fill,
        lookback=args.lookback, horizon=args.horizon, model=args.model, units=args.units, dropout=args.dropout,
        test_size=args.test_size, test_fraction=args.test_fraction, val_size=args.val_size, epochs=args.epochs,
        time_budget=parse_duration(args.time_budget) if args.time_budget is not None else None,
        patience=args.patience, batch_size=args.batch_size, learning_rate=args.learning_rate, log=args.log,
        transform=args.transform, scaler=args.scaler, season=args.season, ma_window=args.ma_window, seed=args.seed,
        out=args.out,
    )
    train(cfg, print_fn=None if args.quiet else print)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from ..apps.forecast import predict

    predict(args.run, args.steps, data=args.data, out=args.out)
    return 0


def add_forecast(sub: argparse._SubParsersAction) -> None:
    forecast = sub.add_parser("forecast", help="forecast a time series (stock prices, passengers, a CSV file) against baselines")
    actions = forecast.add_subparsers(dest="action", required=True)
    train = actions.add_parser("train", help="train into a run folder; scores the test part against naive baselines",
                               description="Unset options take the dataset's preset (moutai, airline-passengers, "
                                           "daily-min-temperatures) or the generic default shown.")
    train.add_argument("--data", required=True, help="moutai, airline-passengers, daily-min-temperatures or a CSV file")
    train.add_argument("--date-column", default="date", help="CSV header of the dates (default %(default)s)")
    train.add_argument("--target", default=None, help="column to forecast (default: the dataset's, or the CSV's only one)")
    train.add_argument("--features", default=None, help="input columns, comma-separated, e.g. open,high,low,close,volume")
    train.add_argument("--fill", choices=["interpolate", "ffill"], default=None, help="fill missing cells (default: refuse them)")
    train.add_argument("--lookback", type=int, default=None, help="rows read per forecast (default 60)")
    train.add_argument("--horizon", type=int, default=None, help="steps forecast at once (default 1)")
    train.add_argument("--model", choices=["lstm", "gru", "rnn", "mingru"], default=None, help="default lstm")
    train.add_argument("--units", default=None, help="layer sizes, e.g. 80,100 for two layers (default 64)")
    train.add_argument("--dropout", type=float, default=None, help="after each recurrent layer (default 0)")
    test = train.add_mutually_exclusive_group()
    test.add_argument("--test-size", type=int, default=None, help="last rows held out for testing")
    test.add_argument("--test-fraction", type=float, default=None, help="share held out for testing (default 0.2)")
    train.add_argument("--val-size", type=int, default=None, help="training rows kept for early stopping (0: none; "
                                                                   "default max(horizon, 10%% of the training rows))")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None, help="most epochs (default 100, early stopping on)")
    budget.add_argument("--time-budget", default=None, help="training time, e.g. 90s, 5m")
    train.add_argument("--patience", type=int, default=None, help="epochs without validation improvement (default 10)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=1e-3, dest="learning_rate")
    train.add_argument("--log", action=argparse.BooleanOptionalAction, default=None, help="model the log of the values")
    train.add_argument("--transform", choices=["none", "diff", "seasonal-diff"], default=None,
                       help="model differences: to the previous row or to one season back (default none)")
    train.add_argument("--scaler", choices=["standard", "minmax"], default="standard", help="fitted on the training part")
    train.add_argument("--season", type=int, default=None, help="season length, e.g. 12 for monthly data (default: from the dates)")
    train.add_argument("--ma-window", type=int, default=None, help="moving-average baseline window (default min(season, lookback))")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="run folder (default runs/forecast-<time>)")
    train.add_argument("--quiet", action="store_true", help="print nothing")
    train.set_defaults(func=_train)
    pred = actions.add_parser("predict", help="forecast past the end of the series with a trained run")
    pred.add_argument("--run", required=True, help="run folder written by `rnnkit forecast train`")
    pred.add_argument("--data", default=None, help="CSV with the same columns, newer rows (default: the training data)")
    pred.add_argument("--steps", type=int, default=12, help="values to forecast (default %(default)s)")
    pred.add_argument("--out", default=None, help="CSV to write (default RUN/forecast.csv; a PNG goes next to it)")
    pred.set_defaults(func=_predict)
