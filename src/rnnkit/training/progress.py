"""Progress display for fit/evaluate: Keras' verbose=1 live bar and verbose=2 epoch lines."""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "format_logs"]


def format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


class ProgressBar:
    """One epoch's progress: ``update`` after each step, ``finish`` at the end.

    verbose=1 redraws one line (bar, running metrics, time left); verbose=2
    prints a single line at the end; 0 prints nothing.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(total=4, verbose=2, stream=out)
    >>> for step in range(4):
    ...     bar.update(step + 1, {"loss": 0.5})
    >>> bar.finish({"loss": 0.25})
    >>> "4/4" in out.getvalue() and "loss: 0.25" in out.getvalue()
    True
    """

    def __init__(self, total: int | None, verbose: int = 1, stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.verbose, self.width = total, verbose, width
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self.step = 0

    def update(self, step: int, logs: dict[str, float]) -> None:
        self.step = step
        if self.verbose != 1:
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and step != self.total:
            return
        self._last_draw = now
        self.stream.write("\r" + self._line(step, logs, now))
        self.stream.flush()

    def _line(self, step: int, logs: dict[str, float], now: float) -> str:
        elapsed = now - self.start
        if self.total:
            done = int(self.width * step / self.total)
            bar = "=" * max(done - 1, 0) + (">" if done < self.width else "=") + "." * (self.width - done)
            left = elapsed / step * (self.total - step) if step else 0.0
            timing = f"ETA {_duration(left)}" if step < self.total else _duration(elapsed)
            head = f"{step}/{self.total} [{bar}] {timing}"
        else:
            head = f"{step} steps {_duration(elapsed)}"
        return f"{head} - {format_logs(logs)}" if logs else head

    def finish(self, logs: dict[str, float]) -> None:
        if self.verbose == 0:
            return
        line = self._line(self.step, logs, time.perf_counter())
        self.stream.write(("\r" if self.verbose == 1 else "") + line + "\n")
        self.stream.flush()
