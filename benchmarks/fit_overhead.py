"""What fit() costs over a hand-written PyTorch training loop, measured in one run.

For a small and a medium LSTM model, trains one epoch with ``model.fit`` and one
with a plain loop (zero_grad, forward, loss, backward, step) over the same model
class and data, alternating the two several times, and prints tokens/s and the
ratio.  Goal: fit() at most 5% slower than the hand-written loop at the medium size.

Usage:  python benchmarks/fit_overhead.py [--rounds N] [--json PATH]
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
from rnnkit.layers import LSTM, Dense
from rnnkit.models import Sequential

SIZES = {  # name: (examples, time, features, units, batch)
    "small": (2048, 20, 8, 32, 64),
    "medium": (1024, 100, 128, 256, 32),
}


def _model(features: int, units: int) -> Sequential:
    model = Sequential([LSTM(units, input_size=features), Dense(1, input_size=units)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    return model


def _hand_loop(model: Sequential, x: torch.Tensor, y: torch.Tensor, batch: int, opt: torch.optim.Optimizer) -> None:
    model.train()
    order = torch.randperm(x.shape[0])
    for start in range(0, x.shape[0], batch):
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def run(rounds: int) -> list[dict]:
    rows = []
    for name, (n, steps, features, units, batch) in SIZES.items():
        rnnkit.set_seed(0)
        x, y = torch.randn(n, steps, features), torch.randn(n, 1)
        fit_model, loop_model = _model(features, units), _model(features, units)
        loop_opt = torch.optim.Adam(loop_model.parameters(), lr=1e-3, eps=1e-7)
        fit_model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, verbose=0)  # warm up, build optimizer
        _hand_loop(loop_model, x[:batch * 2], y[:batch * 2], batch, loop_opt)
        fit_times, loop_times = [], []

        def time_fit() -> None:
            t0 = time.perf_counter()
            fit_model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            fit_times.append(time.perf_counter() - t0)

        def time_loop() -> None:
            t0 = time.perf_counter()
            _hand_loop(loop_model, x, y, batch, loop_opt)
            loop_times.append(time.perf_counter() - t0)

        for r in range(rounds):  # alternate which goes first, so neither gains from the order
            for run_one in ((time_fit, time_loop) if r % 2 == 0 else (time_loop, time_fit)):
                run_one()
        tokens = n * steps
        t_fit, t_loop = statistics.median(fit_times), statistics.median(loop_times)
        rows.append(dict(size=name, shape=f"N{n} T{steps} in{features} h{units} B{batch}",
                         fit_tok_s=tokens / t_fit, loop_tok_s=tokens / t_loop, overhead=t_fit / t_loop - 1.0))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "fit_overhead.json")
    args = parser.parse_args(argv)
    rows = run(args.rounds)
    print(f"{'size':<8} {'shape':<30} {'fit tok/s':>11} {'loop tok/s':>11} {'fit/loop':>9}  goal")
    for r in rows:
        ratio = 1 + r["overhead"]
        goal = "<= 1.05x " + ("ok" if ratio <= 1.05 else "MISSED") if r["size"] == "medium" else ""
        print(f"{r['size']:<8} {r['shape']:<30} {r['fit_tok_s']:>11,.0f} {r['loop_tok_s']:>11,.0f} {ratio:>8.3f}x  {goal}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
