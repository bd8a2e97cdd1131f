"""Reading a run folder for the report, generically: its config, run.json, metrics, curves and diagnostics.

:func:`read_run` knows no app: every run folder written by
:func:`rnnkit.apps.framework.train_run` has ``config.json`` (``{"app", "rnnkit",
"config"}``), and usually ``run.json``, ``metrics.json``, ``metrics.csv`` (one row
per epoch) and PNG plots; a run that recorded gradient flow
(:mod:`rnnkit.diagnostics`) also has ``diagnostics.csv`` (``step, epoch, loss``,
then ``grad_norm:L`` and ``reach:L`` per recurrent layer or direction ``L``); an
ensemble's members are run folders of their own in ``members/1``, ``members/2`` ...
Missing optional files are simply absent from the :class:`RunRecord`; a folder
without ``config.json`` is refused with a one-line :class:`~rnnkit.errors.ConfigError`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..runs import read_csv, read_json

__all__ = ["RunRecord", "read_run", "flatten"]

#: columns of metrics.csv that are bookkeeping, not curves
NOT_CURVES = ("epoch", "seconds", "epoch_seconds")


@dataclass
class RunRecord:
    """What the report reads of one run folder (absent files: empty values)."""

    path: Path
    app: str
    version: str
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)  # run.json
    metrics: dict[str, Any] = field(default_factory=dict)  # metrics.json
    history: dict[str, list[float]] = field(default_factory=dict)  # metrics.csv, column -> per-epoch values
    diagnostics: dict[str, list[float]] = field(default_factory=dict)  # diagnostics.csv, column -> per-step values
    images: list[str] = field(default_factory=list)  # PNG file names, sorted
    members: list["RunRecord"] = field(default_factory=list)  # an ensemble's members (members/1, members/2 ...)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def epochs(self) -> list[float]:
        """The x values of the curves: epochs counted from 1 (metrics.csv counts from 0)."""
        column = self.history.get("epoch")
        if column and all(math.isfinite(v) for v in column):
            return [v + 1 for v in column]
        return [float(i + 1) for i in range(len(next(iter(self.history.values()), [])))]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _columns(path: Path) -> dict[str, list[float]]:
    """The numeric columns of a CSV file (text cells become NaN); {} if the file is missing or empty."""
    if not path.is_file():
        return {}
    header, *rows = read_csv(path) or [[]]
    return {name: [_number(row[i]) for row in rows] for i, name in enumerate(header)}


def read_run(run: str | Path, flag: str = "--run") -> RunRecord:
    """Read run folder ``run``; refuses a missing folder and one that holds no run (no ``config.json``),
    naming the option that gave it (``flag``)."""
    path = Path(run)
    if not path.is_dir():
        what = "a file, not a run folder" if path.exists() else "no such folder"
        raise ConfigError(f"{flag} {path}: {what}; pass a run folder written by `rnnkit <app> train`")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{flag} {path}: not a run folder (no config.json); pass a folder written by "
                          "`rnnkit <app> train`")
    saved = read_json(path / "config.json")
    config = saved.get("config")
    if not isinstance(config, dict) or not isinstance(saved.get("app"), str):
        raise ConfigError(f"{flag} {path}: config.json has no app and config; it was not written by rnnkit")
    record = RunRecord(path, saved["app"], str(saved.get("rnnkit", "")), config)
    if (path / "run.json").is_file():
        record.info = read_json(path / "run.json")
    if (path / "metrics.json").is_file():
        record.metrics = read_json(path / "metrics.json")
    record.history = _columns(path / "metrics.csv")
    record.diagnostics = _columns(path / "diagnostics.csv")
    record.images = sorted(p.name for p in path.glob("*.png") if p.is_file())
    members = path / "members"
    if members.is_dir():
        folders = [p for p in members.iterdir() if p.name.isdigit() and (p / "config.json").is_file()]
        record.members = [read_run(p, flag) for p in sorted(folders, key=lambda p: int(p.name))]
    return record


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys; lists and scalars stay values.

    >>> flatten({"model": {"rmse": 1.5}, "epochs": 3, "confusion": [[1, 0], [0, 1]]})
    {'model.rmse': 1.5, 'epochs': 3, 'confusion': [[1, 0], [0, 1]]}
    """
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}
