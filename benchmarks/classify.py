"""Sentiment classification quality on IMDB and SST-2: the default model beside the bag baseline, in one run.

Tasks (each trains ``rnnkit classify train``'s default model with nothing but the
data and the budget given, then the ``bag`` baseline with the same data, vocabulary
and budget):

* ``imdb``: 25k train (10% of it, whole movies, held out for early stopping) / 25k
  test, ``--minutes`` 15 of training.  Goals: test accuracy >= 90%, and >= the bag's
  + 1.5 points.
* ``sst2``: GLUE SST-2 train phrases (10% held out, whole sentences with their
  phrases), scored on the GLUE dev split (the test labels are hidden), no pretrained
  embeddings.  Goal: dev accuracy >= 85%.

The table gives each model's validation accuracy beside its test accuracy: a
validation split as new to the model as the test split should not overstate it.

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/classify.py [--task imdb|sst2|all] [--minutes M] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from rnnkit.apps.classify import ClassifyConfig, train

TASKS = {
    "imdb": dict(settings=dict(data="imdb"), minutes=15.0, goal=0.90, over_bag=0.015),
    "sst2": dict(settings=dict(data="sst2"), minutes=None, goal=0.85, over_bag=None),
}


def _run(task: str, model: str, minutes: float | None, out: Path, seed: int) -> dict:
    spec = TASKS[task]
    budget = dict(time_budget=minutes * 60) if minutes else {}
    cfg = ClassifyConfig(**spec["settings"], model=model, out=str(out / f"{task}-{model}"), seed=seed, **budget)
    return train(cfg, verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per model (imdb: 15; sst2: 10 epochs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-classify-"))
    tasks = list(TASKS) if args.task == "all" else [args.task]
    results = {}
    for task in tasks:
        minutes = args.minutes or TASKS[task]["minutes"]
        results[task] = {model: _run(task, model, minutes, out, args.seed) for model in ("bilstm", "bag")}
    print(f"\n{torch.get_num_threads()} threads, seed {args.seed}; run folders under {out}")
    print(f"{'task':<6} {'model':<8} {'split':<5} {'accuracy':>9} {'val acc':>8} {'val-test':>9} {'macro F1':>9} "
          f"{'epochs':>6} {'train s':>8} {'vs bag':>8}")
    verdicts = []
    for task, rows in results.items():
        bag = rows["bag"]["test_accuracy"]
        for model, m in rows.items():
            print(f"{task:<6} {model:<8} {m['test_split']:<5} {m['test_accuracy']:>9.4f} {m['val_accuracy']:>8.4f} "
                  f"{m['val_accuracy'] - m['test_accuracy']:>+9.4f} {m['test_macro_f1']:>9.4f} {m['epochs']:>6} "
                  f"{m['train_seconds']:>8.0f} {m['test_accuracy'] - bag:>+8.4f}")
        spec, value = TASKS[task], rows["bilstm"]["test_accuracy"]
        verdicts.append(f"{task}: bilstm {rows['bilstm']['test_split']} accuracy {value:.4f} >= {spec['goal']} -> "
                        f"{'met' if value >= spec['goal'] else 'NOT met'}")
        if spec["over_bag"] is not None:
            verdicts.append(f"{task}: bilstm - bag = {value - bag:+.4f} >= {spec['over_bag']:+.3f} -> "
                            f"{'met' if value - bag >= spec['over_bag'] else 'NOT met'}")
    print("\n" + "\n".join(verdicts))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
