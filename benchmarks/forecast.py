"""Forecast quality against the baselines computed in the same run, on the three registered series.

Each task is ``rnnkit forecast train --data NAME`` with the dataset's preset (the
defaults), trained once per seed; the baselines (naive, seasonal naive, moving
average) are scored on exactly the model's (origin, step) pairs.  Goals (issue 7):

* ``airline-passengers``: last 24 months as test, 12-month horizon (13 origins x 12
  steps): model MAPE below seasonal naive's;
* ``daily-min-temperatures``: last 365 days as test, 1-day horizon: model RMSE at
  most 0.95 x naive's;
* ``moutai``: last 300 trading days as test, next day's open from the last 60 days:
  model RMSE within 5% of naive's (at most 1.05 x; a daily price is close to a
  random walk, so matching naive is what an honest pipeline can show).

A goal counts as met when it holds for every seed.  ``--extra`` also runs, for
airline, the network trained 200 epochs with no early stopping (``--val-size 0
--epochs 200``), to show what the trained network does beyond its starting point.

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/forecast.py [--seeds 0,1,2] [--extra]
Writes ``benchmarks/results/forecast.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from rnnkit.apps.forecast import ForecastConfig, train

TASKS = {  # name: (dataset, extra settings over the preset, goal metric, baseline, largest ratio allowed, strict)
    "airline-passengers": ("airline-passengers", {}, "mape", "seasonal_naive", 1.0, True),
    "daily-min-temperatures": ("daily-min-temperatures", {}, "rmse", "naive", 0.95, False),
    "moutai": ("moutai", {}, "rmse", "naive", 1.05, False),
}
EXTRA = {"airline-passengers, no early stopping": ("airline-passengers", {"val_size": 0, "epochs": 200}, "mape", "seasonal_naive", 1.0, True)}
BASELINES = ("naive", "seasonal_naive", "moving_average")


def _run(dataset: str, settings: dict, seed: int, root: Path) -> tuple[dict, dict]:
    out = root / f"{dataset}-{'-'.join(f'{k}{v}' for k, v in settings.items())}-seed{seed}"
    metrics = train(ForecastConfig(data=dataset, seed=seed, out=str(out), **settings), print_fn=None)
    evaluation = json.loads((out / "evaluation.json").read_text())
    return metrics, evaluation


def _met(ratio: float, limit: float, strict: bool) -> bool:
    return ratio < limit if strict else ratio <= limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default %(default)s)")
    parser.add_argument("--extra", action="store_true", help="also airline without early stopping")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "forecast.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = {**TASKS, **(EXTRA if args.extra else {})}
    root = Path(tempfile.mkdtemp(prefix="rnnkit-bench-forecast-"))
    results: dict = {"seeds": seeds, "machine": platform.processor() or platform.machine(),
                     "torch_threads_in_training": 1, "tasks": {}}
    start = time.perf_counter()
    for name, (dataset, settings, key, baseline, limit, strict) in tasks.items():
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            metrics, evaluation = _run(dataset, settings, seed, root)
            runs.append({"seed": seed, "metrics": metrics, "epochs": evaluation["epochs"], "best_epoch": evaluation["best_epoch"],
                         "seconds": time.perf_counter() - t0, "origins": evaluation["origins"], "pairs": evaluation["pairs"],
                         "test": f"{evaluation['test_start']} .. {evaluation['test_end']}"})
        ratios = [r["metrics"]["model"][key] / r["metrics"][baseline][key] for r in runs]
        met = all(_met(x, limit, strict) for x in ratios)
        results["tasks"][name] = {"dataset": dataset, "settings": settings, "goal": f"model {key} / {baseline} {key} "
                                  f"{'<' if strict else '<='} {limit}", "ratios": ratios, "met": met, "runs": runs}
        first = runs[0]
        epochs = ", ".join(f"{r['epochs']} ({r['best_epoch']})" for r in runs)
        print(f"\n{name}: test {first['test']}, {first['origins']} origins x {first['pairs'] // first['origins']} steps; "
              f"seeds {args.seeds}; epochs (best) {epochs}; "
              f"{statistics.mean(r['seconds'] for r in runs):.1f} s a run")
        print(f"{'':<16}{'RMSE':>10}{'MAE':>10}{'MAPE %':>9}   model / this: {'RMSE':>6}{'MAE':>7}{'MAPE':>7}")
        for label in ("model", *BASELINES):
            values = {k: statistics.mean(r["metrics"][label][k] for r in runs) for k in ("rmse", "mae", "mape")}
            line = f"{label:<16}{values['rmse']:>10.3f}{values['mae']:>10.3f}{values['mape']:>9.2f}"
            if label != "model":
                model = {k: statistics.mean(r["metrics"]["model"][k] for r in runs) for k in ("rmse", "mae", "mape")}
                line += "   " + " " * 14 + "".join(f"{model[k] / values[k]:>{w}.3f}" for k, w in (("rmse", 6), ("mae", 7), ("mape", 7)))
            print(line)
        shown = ", ".join(f"{x:.3f}" for x in ratios)
        print(f"goal: {results['tasks'][name]['goal']} for every seed: {shown} -> {'goal met' if met else 'goal NOT met'}")
    results["seconds"] = time.perf_counter() - start
    print(f"\n(means over seeds; {results['seconds']:.0f} s in all; run folders in {root})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
