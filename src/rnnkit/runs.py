"""Run folders: where every application run keeps its config, metrics, plots and model.

A run folder (``--out``, default ``runs/<app>-<time>``) holds:

* ``config.json`` — ``{"app": name, "rnnkit": version, "config": {...}}``, enough to
  rebuild the run;
* ``metrics.csv`` — one row per epoch; ``metrics.json`` — the final figures;
* PNG plots, and the model (``model.safetensors`` plus JSON files the app names).

Later commands take ``--run FOLDER`` and read it back with :func:`read_config`,
which refuses a folder written by another application.

>>> import tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp()) / "r"
>>> _ = new_run_dir("textgen", run)
>>> write_config(run, "textgen", {"units": 8})
>>> read_config(run, "textgen")["units"]
8
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ._io import atomic_write
from ._version import __version__
from .errors import ConfigError

__all__ = ["new_run_dir", "write_config", "read_config", "write_json", "read_json", "write_csv", "read_csv",
           "parse_duration"]


def new_run_dir(app: str, out: str | os.PathLike | None = None, *, resume: bool = False) -> Path:
    """Create (or, with ``resume``, reuse) the run folder ``out`` (default ``runs/<app>-<time>``).

    A fresh run refuses a folder that already holds a run, so nothing saved is
    overwritten; ``resume=True`` requires one.
    """
    path = Path(out) if out is not None else Path("runs") / f"{app}-{time.strftime('%Y%m%d-%H%M%S')}"
    has_run = (path / "config.json").is_file()
    if resume and not has_run:
        raise ConfigError(f"--resume: {path} holds no run (no config.json); start one with --out {path} and no --resume")
    if not resume and has_run:
        raise ConfigError(f"{path} already holds a run; pass --resume to continue it or choose another --out folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run folder {path}: {exc.strerror}; choose another --out") from None
    return path


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, tuples lists, paths strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically (the old file or the new one, never a part)."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(_clean(data), f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]], *,
              delimiter: str = ",") -> None:
    """Write a CSV file (header row, then ``rows``), atomically; cells are quoted where needed.

    ``delimiter="\\t"`` writes a TSV file.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> write_csv(p, ["text", "n"], [["a, b", 1], ["c", 2]])
    >>> p.read_text(encoding="utf-8")
    'text,n\\n"a, b",1\\nc,2\\n'
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(buffer.getvalue())


def read_csv(path: str | os.PathLike, limit: int | None = None) -> list[list[str]]:
    """The rows of a CSV file (a ``.tsv`` file: tab-separated), header first, each as long as the header;
    at most ``limit`` rows after the header.  A missing or unreadable file is a one-line :class:`ConfigError`.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> write_csv(p, ["text", "n"], [["a, b", 1], ["c"]])
    >>> read_csv(p)
    [['text', 'n'], ['a, b', '1'], ['c', '']]
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = [row for row in csv.reader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",") if row]
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path} is not a readable CSV file ({exc})") from None
    if not rows:
        return []
    width = len(rows[0])
    body = rows[1:] if limit is None else rows[1:limit + 1]
    return [rows[0], *[(row + [""] * width)[:width] for row in body]]


def read_json(path: str | os.PathLike, fields: Mapping[str, type | tuple[type, ...]] | None = None) -> dict[str, Any]:
    """Read a JSON object; a missing or broken file is a one-line :class:`ConfigError`.

    ``fields``: keys the object must hold, each with the type(s) of its value (a
    run folder's own file, damaged or edited, is refused here rather than failing
    later where it is used).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.json"
    >>> _ = p.write_text('{"classes": "pos"}')
    >>> read_json(p, {"classes": list})
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: ...classes.json: "classes" should be a list, got 'pos'; the file is damaged (restore it or train the run again)
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds {type(data).__name__}, expected a JSON object")
    for key, kind in (fields or {}).items():
        value, kinds = data.get(key), kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # JSON true is no number
            names = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)
            raise ConfigError(f'{path}: "{key}" should be {names}, got {value!r}; the file is damaged (restore it or '
                              "train the run again)")
    return data


_JSON_NAMES = {list: "a list", dict: "an object", str: "text", int: "a whole number", float: "a number"}


def write_config(run: str | os.PathLike, app: str, config: Mapping[str, Any]) -> None:
    """Save the run's settings as ``config.json`` with the app's name and rnnkit's version."""
    write_json(Path(run) / "config.json", {"app": app, "rnnkit": __version__, "config": dict(config)})


def read_config(run: str | os.PathLike, app: str) -> dict[str, Any]:
    """The ``config`` saved in run folder ``run``; refuses a folder of another app."""
    path = Path(run)
    if not path.is_dir():
        what = "a file, not a run folder" if path.exists() else "no such folder"
        raise ConfigError(f"--run {path}: {what}; pass a run folder written by `rnnkit {app} train`")
    data = read_json(path / "config.json") if (path / "config.json").exists() else None
    if data is None:
        raise ConfigError(f"--run {path}: not a run folder (no config.json); pass a folder written by `rnnkit {app} train`")
    if not isinstance(data.get("app"), str) or not isinstance(data.get("config", {}), dict):
        raise ConfigError(f"--run {path}: its config.json is not an rnnkit run's (no app name and settings); pass a "
                          f"folder written by `rnnkit {app} train`")
    if data["app"] != app:
        raise ConfigError(f"--run {path} is a run of `rnnkit {data['app']}`, not of `rnnkit {app}`; pass a {app} run folder")
    return dict(data.get("config") or {})


def parse_duration(text: str) -> float:
    """Seconds in ``'90'``, ``'90s'``, ``'10m'``, ``'1.5h'``.

    >>> parse_duration("10m"), parse_duration("45s"), parse_duration("2")
    (600.0, 45.0, 2.0)
    """
    units = {"s": 1, "m": 60, "h": 3600}
    raw = str(text).strip().lower()
    scale = units.get(raw[-1:], None)
    number = raw[:-1] if scale else raw
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise ConfigError(f"--time-budget {text!r} is not a duration; write e.g. 90s, 10m or 1.5h") from None
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(f"--time-budget must be positive, got {text!r}")
    return value
