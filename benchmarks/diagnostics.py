"""What ``fit(..., diagnostics=100)`` costs over the same training without it, measured in one run.

For a 2-layer LSTM (128 units) and a 2-layer GRU (128 units) on T=100 sequences
(batch 32, 16 features, a regression head), trains ``--steps`` steps with
``fit(diagnostics=100)`` and the same steps without, on two models with the same
weights and data, alternating which goes first round by round; the table shows
the median round and the ratio.  With 100 steps per record, a run of S steps
records 1 + S // 100 rows (the first step is recorded too), so a short run
overstates the steady cost a little.  On a busy machine the end-to-end ratio is
noisy, so the time spent inside the records is also timed directly: ``steady``
is 1 + (seconds per record) / (100 plain steps), the cost at N = 100 in a long
run.  Goal (issue 16): <= 1.05.

Usage:  python benchmarks/diagnostics.py [--rounds N] [--steps S] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import rnnkit
from rnnkit._kernels import cpu_level
from rnnkit.diagnostics import GradientMonitor
from rnnkit.layers import GRU, LSTM, Dense
from rnnkit.models import Sequential

GOAL = 1.05
EVERY = 100
MODELS = {"lstm 2x128": LSTM, "gru 2x128": GRU}
T, FEATURES, UNITS, BATCH = 100, 16, 128, 32


def _model(layer: type) -> Sequential:
    rnnkit.set_seed(0)
    model = Sequential([layer(UNITS, return_sequences=True, input_size=FEATURES), layer(UNITS), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    return model


class _TimedMonitor(GradientMonitor):
    """A GradientMonitor that adds up the seconds its records take."""

    seconds = 0.0

    def record(self) -> dict:
        t0 = time.perf_counter()
        try:
            return super().record()
        finally:
            self.seconds += time.perf_counter() - t0


def run(rounds: int, steps: int) -> list[dict]:
    rows = []
    for name, layer in MODELS.items():
        rnnkit.set_seed(1)
        x, y = torch.randn(steps * BATCH, T, FEATURES), torch.randn(steps * BATCH, 1)
        plain, watched = _model(layer), _model(layer)
        for model in (plain, watched):  # warm up: build, optimizer, kernels
            model.fit(x[:BATCH * 2], y[:BATCH * 2], batch_size=BATCH, verbose=0, diagnostics=1 if model is watched else None)
        times: dict[str, list[float]] = {"plain": [], "diagnostics": [], "records": []}

        def timed(which: str) -> None:
            model = watched if which == "diagnostics" else plain
            monitor = _TimedMonitor(EVERY) if which == "diagnostics" else None
            t0 = time.perf_counter()
            history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, diagnostics=monitor)
            times[which].append(time.perf_counter() - t0)
            if monitor is not None:
                assert len(history.diagnostics) == 1 + steps // EVERY
                times["records"].append(monitor.seconds / len(history.diagnostics))

        for r in range(rounds):  # alternate which goes first, so neither gains from the order
            for which in (("plain", "diagnostics") if r % 2 == 0 else ("diagnostics", "plain")):
                timed(which)
        t_plain, t_diag = statistics.median(times["plain"]), statistics.median(times["diagnostics"])
        per_record = statistics.median(times["records"])
        rows.append(dict(model=name, shape=f"T{T} in{FEATURES} B{BATCH} steps{steps}", every=EVERY,
                         records=1 + steps // EVERY, plain_s=t_plain, diagnostics_s=t_diag, ratio=t_diag / t_plain,
                         record_s=per_record, steady=1 + per_record / (EVERY * t_plain / steps),
                         path=plain.layers[0].last_path))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200, help="training steps per timed fit")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.rounds, args.steps)
    level = cpu_level()
    print(f"CPU: {level}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'model':<12} {'shape':<28} {'path':<9} {'records':>7} {'plain s':>8} {'diag. s':>8} {'ratio':>7} "
          f"{'ms/record':>9} {'steady':>7}  goal")
    for r in rows:
        verdict = f"<= {GOAL:.2f} " + ("ok" if r["steady"] <= GOAL else "MISSED")
        print(f"{r['model']:<12} {r['shape']:<28} {r['path']:<9} {r['records']:>7} {r['plain_s']:>8.2f} "
              f"{r['diagnostics_s']:>8.2f} {r['ratio']:>6.3f}x {1000 * r['record_s']:>9.0f} {r['steady']:>6.3f}x  {verdict}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"torch": torch.__version__, "cpu": level, "threads": torch.get_num_threads(),
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
