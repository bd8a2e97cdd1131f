"""The self-contained HTML report of a run folder, and a page comparing runs: ``rnnkit report``.

``rnnkit report --run RUN [--open]`` writes ``RUN/report.html``: config, final
metrics, training curves, what the run's app provides (its
:meth:`~rnnkit.apps.framework.Recipe.report_sections`) and gradient flow and gates
when recorded.  ``rnnkit report --compare RUN_A RUN_B ...`` writes one page with
the runs' curves overlaid and their configs side by side, differences
highlighted.  Each page is one file that loads nothing: images embedded, style
and script inline (:mod:`.page`), curves as inline SVG (:mod:`.charts`).

From Python: :func:`write_report` and :func:`compare_runs`, or
:func:`report_command` with the command's :class:`ReportOptions`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..apps.framework import App, AppConfig, Command, setting
from ..errors import ConfigError
from .build import COMPARE_FILE, REPORT_FILE, compare_runs, write_report

__all__ = ["write_report", "compare_runs", "ReportOptions", "report_command", "APP"]


@dataclass
class ReportOptions(AppConfig):
    """The options of ``rnnkit report`` (one of ``run`` and ``compare``).

    >>> ReportOptions(compare=["runs/a"])
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `compare` needs two or more run folders, got 1; pass them all: rnnkit report --compare RUN_A RUN_B ...
    """

    run: str | None = setting(None, help=f"a run folder: writes RUN/{REPORT_FILE}")
    compare: list[str] = setting([], help="two or more run folders: one page with their curves overlaid and their "
                                          "configs side by side", several=True)
    out: str | None = setting(None, help=f"the HTML file to write (default RUN/{REPORT_FILE}; with --compare "
                                         f"{COMPARE_FILE})")
    open: bool = setting(False, help="open the page in the web browser")

    def validate(self) -> None:
        if self.run and self.compare:
            raise ConfigError(f"give {self.option('run')} or {self.option('compare')}, not both")
        if not self.run and not self.compare:
            raise ConfigError(f"nothing to report on: give {self.option('run')} RUN, or {self.option('compare')} "
                              "RUN_A RUN_B ...")
        if self.compare and len(self.compare) < 2:
            raise ConfigError(f"{self.option('compare')} needs two or more run folders, got {len(self.compare)}; "
                              "pass them all: rnnkit report --compare RUN_A RUN_B ...")


def report_command(options: ReportOptions, print_fn: Callable[[str], None] = print) -> Path:
    """``rnnkit report``: write the page, say where it is, open it with ``--open``."""
    if options.compare:
        path = compare_runs(options.compare, options.out or COMPARE_FILE, open_browser=options.open)
    else:
        path = write_report(options.run, options.out, open_browser=options.open)
    print_fn(f"report written to {path}")
    return path


#: the ``rnnkit report`` command
APP = App("report", "a self-contained HTML report of a run, or a page comparing runs",
          [Command(None, "write the report", ReportOptions, report_command,
                   description="Writes one HTML file that loads nothing (images embedded, script and style inline).")])
