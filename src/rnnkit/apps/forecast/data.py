"""Forecasting data: a dated series from a registered dataset or a CSV file, checked line by line.

:func:`load_series` returns a :class:`Series` (dates, a ``(T, F)`` float64 array
whose first column is the target, and the column names) from one of the
registered series (``moutai``, ``airline-passengers``, ``daily-min-temperatures``)
or from a CSV file with a header row.  CSV problems are one-line errors that name
their lines and the fix:

* a missing cell (empty, ``NA``, ``NaN``, ``null``, ``None``): fill it with
  ``fill='interpolate'`` (linear in the row number; gaps at either end take the
  nearest value) or ``fill='ffill'`` (the last value before the gap; a gap at the
  start takes the first value), or remove the row;
* a non-numeric cell (``fill`` does not touch those);
* a date that does not parse (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, optionally
  with ``HH:MM[:SS]``; ``/`` or ``.`` may separate the parts);
* dates out of order, or the same date twice.

:func:`infer_season` and :func:`future_dates` read the calendar of the dates:
monthly, business-daily (weekends skipped, as in stock prices), or a fixed step.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rnnkit import datasets
from rnnkit.errors import ConfigError, DatasetError

__all__ = ["SERIES_DATASETS", "Series", "load_series", "read_csv_series", "series_from_rows", "fill_missing",
           "infer_season", "future_dates", "decimal_years"]

#: the registered datasets that are dated series, with their default target column
SERIES_DATASETS = {"moutai": "open", "airline-passengers": "passengers", "daily-min-temperatures": "temp"}

_MISSING = {"", "na", "n/a", "nan", "null", "none"}
_DATE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_SHOWN = 5  # problems listed in one message


@dataclass
class Series:
    """A dated series: ``values[:, 0]`` is the target, the other columns are input features.

    Attributes:
        dates: ``(T,)`` ``datetime64``, strictly increasing.
        values: ``(T, F)`` float64, no NaN once loaded.
        columns: the ``F`` column names, the target first.
        source: the dataset name or CSV path it came from.
        lines: ``(T,)`` the file line of each row (the header is line 1), for messages.
    """

    dates: np.ndarray
    values: np.ndarray
    columns: list[str]
    source: str
    lines: np.ndarray

    @property
    def target(self) -> str:
        """The name of the column being forecast."""
        return self.columns[0]

    def __len__(self) -> int:
        return len(self.dates)


def _listing(problems: list[str]) -> str:
    shown = ", ".join(problems[:_SHOWN])
    return shown + (f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else "")


def _parse_date(text: str) -> np.datetime64 | None:
    """A date or time in ISO-like form as ``datetime64``, or None.

    >>> [str(_parse_date(s)) for s in ("1949-1", "2020/04/24", "1990-12-31 06:30")]
    ['1949-01', '2020-04-24', '1990-12-31T06:30']
    >>> _parse_date("31/12/1990") is None
    True
    """
    m = _DATE.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second = m.groups()
    iso = year
    if month:
        iso += f"-{int(month):02d}"
        if day:
            iso += f"-{int(day):02d}"
    if hour is not None:
        if not day:
            return None
        iso += f"T{int(hour):02d}:{minute}" + (f":{second}" if second else "")
    try:
        return np.datetime64(iso)
    except ValueError:  # 2020-02-31, month 13 ...
        return None


def _column(header: list[str], name: str, what: str, option: str, source: str) -> int:
    """Index of column ``name`` (exact, else the only case-insensitive match)."""
    if name in header:
        return header.index(name)
    folded = [i for i, h in enumerate(header) if h.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise DatasetError(f"--data {source} has no {what} column {name!r}; its columns are {', '.join(header)}; "
                       f"name the right one with {option}")


def _check_order(dates: np.ndarray, lines: np.ndarray, source: str) -> None:
    """Dates must rise strictly: name the first rows out of order, or repeated."""
    step = np.diff(dates)
    back = np.flatnonzero(step < np.timedelta64(0))
    if back.size:
        i = int(back[0])
        raise DatasetError(f"--data {source}: dates are not in increasing order: line {lines[i + 1]} ({dates[i + 1]}) comes "
                           f"after line {lines[i]} ({dates[i]}) ({back.size} such place(s)); sort the rows by date, oldest first")
    same = np.flatnonzero(step == np.timedelta64(0))
    if same.size:
        pairs = [f"{dates[i]} at lines {lines[i]} and {lines[i + 1]}" for i in same.tolist()]
        raise DatasetError(f"--data {source}: duplicate dates: {_listing(pairs)}; keep one row per date")


def read_csv_series(path: str | Path, *, date_column: str = "date", target: str | None = None,
                    features: Sequence[str] | None = None, fill: str | None = None) -> Series:
    """Read a dated series from a CSV file with a header row (see the module docstring for the checks).

    Args:
        path: the CSV file (UTF-8, comma-separated, a header row first).
        date_column: the header of the date column (an exact match, else the only
            case-insensitive one).
        target: the column to forecast; by default the first of ``features``, or
            the only column besides the date.
        features: input columns (the target is added first if missing); by default
            the target alone (a univariate model).
        fill: ``None`` (missing cells are errors), ``'interpolate'`` or ``'ffill'``.

    Returns:
        a :class:`Series`, target first.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
        >>> _ = path.write_text("date,sales\\n2020-01,10\\n2020-02,\\n2020-03,14\\n")
        >>> s = read_csv_series(path, fill="interpolate")
        >>> s.columns, s.values[:, 0].tolist(), str(s.dates[-1])
        (['sales'], [10.0, 12.0, 14.0], '2020-03')
    """
    path = Path(path)
    source = str(path)
    if fill not in (None, "interpolate", "ffill"):
        raise ConfigError(f"--fill must be 'interpolate' or 'ffill', got {fill!r}")
    if not path.exists():
        raise ConfigError(f"--data {source}: no such file; give a dataset name ({', '.join(SERIES_DATASETS)}) or a CSV file")
    if path.is_dir():
        raise ConfigError(f"--data {source} is a folder; give one CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"--data {source} is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8 CSV") from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # a NUL byte, a field over the csv module's limit (128 KiB) ...
        raise DatasetError(f"--data {source}: line {reader.line_num + 1}: {exc}; check that row (and its quoting)") from None
    if header is None:
        raise DatasetError(f"--data {source} is empty; give a CSV file with a header row and one row per date")
    date_index = _column(header, date_column, "date", "--date-column", source)
    others = [h for i, h in enumerate(header) if i != date_index and h]
    if target is None:
        if features:
            target = features[0]
        elif len(others) == 1:
            target = others[0]
        else:
            raise ConfigError(f"--data {source} has several columns besides the date ({', '.join(others)}); "
                              f"choose the one to forecast with --target")
    names = [target, *[f for f in (features or []) if f != target]]
    indices = [_column(header, n, "target" if k == 0 else "feature", "--target" if k == 0 else "--features", source)
               for k, n in enumerate(names)]
    names = [header[i] for i in indices]
    if date_index in indices:
        raise ConfigError(f"--target/--features name the date column {header[date_index]!r} of {source}; choose "
                          "numeric columns")
    if not rows:
        raise DatasetError(f"--data {source} has a header but no rows of data")

    dates, lines = [], []
    values = np.full((len(rows), len(names)), np.nan)
    bad_dates, missing, non_numeric = [], [], []
    for r, (line, row) in enumerate(rows):
        lines.append(line)
        cell = row[date_index].strip() if date_index < len(row) else ""
        date = _parse_date(cell)
        if date is None:
            bad_dates.append(f"line {line} ({cell!r})")
            date = np.datetime64("NaT")
        dates.append(date)
        for c, index in enumerate(indices):
            cell = row[index].strip() if index < len(row) else ""
            if cell.lower() in _MISSING:
                missing.append(f"line {line} ({names[c]})")
                continue
            try:
                number = float(cell)
            except ValueError:
                number = float("nan")
            if not np.isfinite(number):
                non_numeric.append(f"line {line} ({names[c]}={cell!r})")
                continue
            values[r, c] = number
    if bad_dates:
        raise DatasetError(f"--data {source}: dates that do not parse at {_listing(bad_dates)}; write dates as YYYY-MM-DD "
                           f"(or YYYY-MM, optionally with HH:MM) in column {header[date_index]!r}")
    if non_numeric:
        raise DatasetError(f"--data {source}: non-numeric values at {_listing(non_numeric)}; write plain numbers "
                           f"('.' as the decimal point, no thousands separators) or empty the cells and use --fill")
    if missing and fill is None:
        raise DatasetError(f"--data {source}: missing values at {_listing(missing)}; fill them with --fill interpolate "
                           f"or --fill ffill, or remove those rows")
    date_array = np.array(dates)
    line_array = np.array(lines, dtype=np.int64)
    _check_order(date_array, line_array, source)
    values = fill_missing(values, fill, names=names, source=source) if missing else values
    return Series(date_array, values, names, source, line_array)


def fill_missing(values: np.ndarray, how: str | None, *, names: Sequence[str] | None = None, source: str = "data") -> np.ndarray:
    """Fill the NaNs of a ``(T, F)`` array column by column: ``'interpolate'`` or ``'ffill'``.

    ``interpolate`` draws a straight line between the neighbours (by row number);
    gaps at either end take the nearest value.  ``ffill`` repeats the last value
    before a gap; a gap at the start takes the first value.  A column with no value
    at all is an error.

    >>> x = np.array([[np.nan], [1.0], [np.nan], [np.nan], [4.0], [np.nan]])
    >>> fill_missing(x, "interpolate")[:, 0].tolist(), fill_missing(x, "ffill")[:, 0].tolist()
    ([1.0, 1.0, 2.0, 3.0, 4.0, 4.0], [1.0, 1.0, 1.0, 1.0, 4.0, 4.0])
    """
    if how not in ("interpolate", "ffill"):
        raise ConfigError(f"--fill must be 'interpolate' or 'ffill', got {how!r}")
    out = np.array(values, dtype=np.float64)
    rows = np.arange(len(out))
    for c in range(out.shape[1]):
        column = out[:, c]
        known = ~np.isnan(column)
        if not known.any():
            name = names[c] if names else f"column {c}"
            raise DatasetError(f"--data {source}: column {name!r} has no values at all; choose another column")
        if how == "interpolate":
            column[~known] = np.interp(rows[~known], rows[known], column[known])
        else:
            last = np.maximum.accumulate(np.where(known, rows, -1))  # (T,) row of the last known value
            first = int(np.argmax(known))
            column[:] = column[np.where(last < 0, first, last)]
    return out


def load_series(data: str, *, date_column: str = "date", target: str | None = None, features: Sequence[str] | None = None,
                fill: str | None = None) -> Series:
    """A :class:`Series` from a registered dataset name or a CSV path (see :func:`read_csv_series`).

    A registered dataset's columns are named as :func:`rnnkit.datasets.load` names
    them (``date`` plus ``open``, ``close``, ``high``, ``low``, ``volume`` for
    moutai; ``passengers``; ``temp``), and its target defaults to ``open``,
    ``passengers`` and ``temp``.

    >>> load_series("ptb")
    Traceback (most recent call last):
    ...
    rnnkit.errors.ConfigError: --data ptb is a text dataset, not a dated series; give moutai, airline-passengers, daily-min-temperatures or a CSV file
    """
    features = list(features) if features else None
    if data in SERIES_DATASETS:
        columns = datasets.load(data, "all")
        dates = np.asarray(columns.pop("date"))
        target = target or SERIES_DATASETS[data]
        names = [target, *[f for f in (features or []) if f != target]]
        unknown = [n for n in names if n not in columns]
        if unknown:
            raise ConfigError(f"--data {data} has no column {unknown[0]!r}; its columns are {', '.join(columns)}; "
                              f"choose among them with --target/--features")
        values = np.stack([np.asarray(columns[n], dtype=np.float64) for n in names], axis=1)  # (T, F)
        lines = np.arange(len(dates), dtype=np.int64) + 2
        if np.isnan(values).any():
            if fill is None:
                where = [f"line {lines[i]}" for i in np.flatnonzero(np.isnan(values).any(axis=1)).tolist()]
                raise DatasetError(f"--data {data}: missing values at {_listing(where)}; fill them with --fill interpolate or --fill ffill")
            values = fill_missing(values, fill, names=names, source=data)
        _check_order(dates, lines, data)
        return Series(dates, values, names, data, lines)
    if data in datasets.available():
        raise ConfigError(f"--data {data} is a text dataset, not a dated series; give {', '.join(SERIES_DATASETS)} or a CSV file")
    return read_csv_series(data, date_column=date_column, target=target, features=features, fill=fill)


# ------------------------------------------------------------------ calendar
def _unit(dates: np.ndarray) -> str:
    return np.datetime_data(dates.dtype)[0]


def _calendar(dates: np.ndarray) -> tuple[str, int]:
    """How the dates advance: ``('months', k)``, ``('busdays', 1)`` or ``('step', n)`` in the dates' unit."""
    if len(dates) < 2:
        return "step", 1
    unit = _unit(dates)
    if unit in ("Y", "M") or (unit == "D" and (dates.astype("datetime64[M]").astype("datetime64[D]") == dates).all()):
        months = np.diff(dates.astype("datetime64[M]").astype(np.int64))
        values, counts = np.unique(months, return_counts=True)
        return "months", int(values[np.argmax(counts)])
    steps = np.diff(dates.astype(np.int64))
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    if unit == "D" and step == 1 and np.is_busday(dates).all() and (steps == 3).any():
        return "busdays", 1
    return "step", step


def infer_season(dates: np.ndarray) -> int:
    """The natural season of a calendar: 12 for months, 4 for quarters, 5 for business days,
    7 for days, 24 for hours, 1 otherwise (then seasonal naive equals naive).

    >>> infer_season(np.arange("1949-01", "1951-01", dtype="datetime64[M]"))
    12
    >>> infer_season(np.busday_offset("2020-01-01", np.arange(30), roll="forward"))
    5
    >>> infer_season(np.datetime64("2020-01-01T00:00") + np.arange(48) * np.timedelta64(60, "m"))
    24
    """
    kind, step = _calendar(np.asarray(dates))
    if kind == "months":
        return {1: 12, 3: 4}.get(step, 1)
    if kind == "busdays":
        return 5
    seconds = np.timedelta64(step, _unit(np.asarray(dates))) / np.timedelta64(1, "s")
    return {86_400.0: 7, 3_600.0: 24}.get(float(seconds), 1)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def series_from_rows(rows: Sequence[Sequence], target: str, name: str = "`history`") -> Series:
    """A univariate :class:`Series` from ``[[date, value], ...]`` rows, oldest first (a request's history).

    Problems are one-line errors naming the rows, as ``name[i]`` (counted from 0).

    >>> s = series_from_rows([["2020-01", 10], ["2020-02", 12.5]], "sales")
    >>> str(s.dates[-1]), s.values[:, 0].tolist()
    ('2020-02', [10.0, 12.5])
    >>> series_from_rows([["2020-02", 1], ["2020-01", 2]], "sales")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `history`[1] (2020-01) comes before `history`[0] (2020-02); give the rows oldest first, one per date
    """
    dates, values = [], []
    for i, row in enumerate(rows):
        if len(row) != 2 or not isinstance(row[0], str) or isinstance(row[1], bool) or not isinstance(row[1], (int, float)):
            raise ConfigError(f"{name}[{i}] must be [date, value] (a date text and a number), got {list(row)!r}")
        date = _parse_date(row[0])
        if date is None:
            raise ConfigError(f"{name}[{i}]: date {row[0]!r} does not parse; write YYYY, YYYY-MM, YYYY-MM-DD "
                              "(optionally with HH:MM[:SS])")
        if not np.isfinite(row[1]):
            raise ConfigError(f"{name}[{i}]: value {row[1]!r} is not a finite number")
        if abs(row[1]) > _FLOAT32_MAX:  # the model reads float32: beyond it, an infinity
            raise ConfigError(f"{name}[{i}]: value {row[1]!r} is beyond what the model reads (float32, up to "
                              f"{_FLOAT32_MAX:.3g} in size)")
        dates.append(date)
        values.append(float(row[1]))
    if not dates:
        raise ConfigError(f"{name} is empty; give [date, value] rows, oldest first")
    units = {np.datetime_data(d.dtype)[0] for d in dates}
    if len(units) > 1:
        raise ConfigError(f"{name} mixes date precisions ({', '.join(sorted(units))}); write every date alike")
    array = np.array(dates)
    for i in range(1, len(array)):
        if not array[i] > array[i - 1]:
            raise ConfigError(f"{name}[{i}] ({array[i]}) comes {'before' if array[i] < array[i - 1] else 'on the date of'} "
                              f"{name}[{i - 1}] ({array[i - 1]}); give the rows oldest first, one per date")
    return Series(array, np.asarray(values, dtype=np.float64)[:, None], [target], name.strip("`"),
                  np.arange(len(array), dtype=np.int64))


def future_dates(dates: np.ndarray, steps: int) -> np.ndarray:
    """The ``steps`` dates after the last one, following the series' calendar.

    Months step in calendar months; business days skip weekends (not holidays);
    anything else repeats the most common step.

    >>> future_dates(np.array(["1960-11", "1960-12"], dtype="datetime64[M]"), 2)
    array(['1961-01', '1961-02'], dtype='datetime64[M]')
    >>> days = np.array(["2020-04-21", "2020-04-22", "2020-04-23", "2020-04-24", "2020-04-27"], dtype="datetime64[D]")
    >>> future_dates(days, 3)
    array(['2020-04-28', '2020-04-29', '2020-04-30'], dtype='datetime64[D]')
    """
    dates = np.asarray(dates)
    kind, step = _calendar(dates)
    ahead = np.arange(1, steps + 1)
    last = dates[-1]
    if kind == "months":
        months = last.astype("datetime64[M]") + ahead * step
        return months.astype(dates.dtype)
    if kind == "busdays":
        return np.busday_offset(last, ahead, roll="forward").astype(dates.dtype)
    return last + ahead * np.timedelta64(step, _unit(dates))


def decimal_years(dates: np.ndarray) -> np.ndarray:
    """Dates as fractional years (for plot axes): 1949-01 -> 1949.0, 1949-07-02 -> about 1949.5.

    >>> decimal_years(np.array(["1949-01", "1950-07"], dtype="datetime64[M]")).round(3).tolist()
    [1949.0, 1950.496]
    """
    seconds = np.asarray(dates).astype("datetime64[s]")
    year = seconds.astype("datetime64[Y]")
    start = year.astype("datetime64[s]")
    length = (year + 1).astype("datetime64[s]") - start
    return year.astype(np.int64) + 1970 + (seconds - start) / length
