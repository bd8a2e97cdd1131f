"""The runs a server answers for, read generically: name, app, ``run.json``, metrics, plots and the app's Service.

Nothing here knows an app: a run folder's ``config.json`` names its app,
:func:`rnnkit.apps.service_for` loads its model (through the app's ``load_run``,
which reopens ``model.safetensors`` with :func:`rnnkit.load_model`) and says how
to answer requests.  A run is served under its folder's base name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..apps import service_for
from ..apps.framework import RUN_FILE, Service
from ..errors import ConfigError, RnnkitError
from ..runs import read_json

__all__ = ["ServedRun", "load_runs"]


@dataclass
class ServedRun:
    """One run as the server holds it; ``images`` are the PNG files of its folder, by name, read at start."""

    name: str
    app: str
    path: Path
    service: Service
    created: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Its entry in ``GET /models``."""
        s = self.service
        return {"name": self.name, "app": self.app, "created": self.created, "metrics": _finite(self.metrics),
                "streams": s.generate is not None, "upload": s.upload, "example": s.example, "info": s.info,
                "images": sorted(self.images), "max_bytes": s.max_bytes}


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _load(run: str | Path) -> ServedRun:
    path = Path(run)
    if not path.is_dir():
        raise ConfigError(f"--run {run}: no such folder; pass a run folder written by `rnnkit <app> train`")
    if not (path / "config.json").is_file():
        raise ConfigError(f"--run {run}: not a run folder (no config.json); pass a folder written by `rnnkit <app> train`")
    app = read_json(path / "config.json").get("app")
    service = service_for(app, path) if isinstance(app, str) else None
    if service is None:
        raise ConfigError(f"--run {run}: its app {app!r} cannot be served; rnnkit serves textgen, classify, forecast, "
                          "translate and speech runs")
    info = read_json(path / RUN_FILE) if (path / RUN_FILE).is_file() else {}
    metrics = read_json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    images = {p.name: p.resolve() for p in sorted(path.glob("*.png")) if p.is_file()}
    return ServedRun(path.resolve().name, app, path, service, info.get("created"), metrics, images)


def load_runs(runs: list[str]) -> dict[str, ServedRun]:
    """Every run, loaded once, by name; refuses two runs of one name and a folder that is no servable run."""
    if not runs:
        raise ConfigError("nothing to serve: give --run RUN (once per run folder)")
    served: dict[str, ServedRun] = {}
    for run in runs:
        try:
            one = _load(run)
        except ConfigError:
            raise
        except RnnkitError as exc:
            raise ConfigError(f"--run {run}: cannot be loaded: {exc}") from None
        if one.name in served:
            raise ConfigError(f"--run {run} and --run {served[one.name].path} are both named {one.name!r} (runs are "
                              "served under their folder's name); rename or copy one of the folders")
        served[one.name] = one
    return served
