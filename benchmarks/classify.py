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
* ``imdb-lm``: ``rnnkit classify train --data imdb --pretrain-lm`` with its defaults
  (a word-level language model on the training reviews, then the fine-tuned
  classifier: :mod:`rnnkit.apps.classify.pretrain`).  Goal: test accuracy >= 92%
  within 45 minutes in all (the wall time of the whole command: data, language
  model, classifier, test).

The table gives each model's validation accuracy beside its test accuracy (a
validation split as new to the model as the test split should not overstate it),
and the load average before and after: on a shared machine the wall times say as
much about the others.

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/classify.py [--task imdb|sst2|imdb-lm|all] [--minutes M]
        [--seed S] [--set NAME=VALUE ...] [--json PATH]

``--set`` changes a setting of the main model only (e.g. ``--set lm_epochs=3`` or ``--set unfreeze=gradual``);
the bag baseline keeps its defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from _settings import parse_settings  # benchmarks/, the script's own folder
from rnnkit._kernels import cpu_level
from rnnkit.apps.classify import ClassifyConfig, train

TASKS = {
    "imdb": dict(settings=dict(data="imdb"), minutes=15.0, goal=0.90, over_bag=0.015, models=("bilstm", "bag")),
    "sst2": dict(settings=dict(data="sst2"), minutes=None, goal=0.85, models=("bilstm", "bag")),
    "imdb-lm": dict(settings=dict(data="imdb"), minutes=None, goal=0.92, wall_goal=45 * 60, models=("lm", "bag")),
}


def _run(task: str, model: str, minutes: float | None, out: Path, seed: int, overrides: dict) -> dict:
    spec = TASKS[task]
    budget = dict(time_budget=minutes * 60) if minutes and model != "lm" else {}
    kind = dict(pretrain_lm=True) if model == "lm" else dict(model=model)
    changed = overrides if model == spec["models"][0] else {}
    cfg = ClassifyConfig(**{**spec["settings"], **kind, "out": str(out / f"{task}-{model}"), "seed": seed, **budget,
                            **changed})
    began = time.perf_counter()
    metrics = train(cfg, verbose=0)
    return {**metrics, "command_seconds": time.perf_counter() - began}


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per model (imdb: 15; sst2: 10 epochs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the main model (not the bag), e.g. lm_epochs=3; may be repeated")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    overrides = parse_settings(args.set)
    out = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-classify-"))
    tasks = list(TASKS) if args.task == "all" else [args.task]
    results, loads = {}, {"before": _load()}
    for task in tasks:
        minutes = args.minutes or TASKS[task]["minutes"]
        results[task] = {model: _run(task, model, minutes, out, args.seed, overrides)
                         for model in TASKS[task]["models"]}
    loads["after"] = _load()
    print(f"\n{torch.get_num_threads()} threads, CPU: {cpu_level()}, seed {args.seed}, settings {overrides or 'default'}; "
          f"load average (1, 5, 15 min) "
          f"before {loads['before']}, after {loads['after']}; run folders under {out}")
    print(f"{'task':<8} {'model':<8} {'split':<5} {'accuracy':>9} {'val acc':>8} {'val-test':>9} {'macro F1':>9} "
          f"{'epochs':>6} {'train s':>8} {'wall s':>7} {'vs bag':>8}")
    verdicts = []
    for task, rows in results.items():
        spec, bag = TASKS[task], rows["bag"]["test_accuracy"]
        for model, m in rows.items():
            print(f"{task:<8} {model:<8} {m['test_split']:<5} {m['test_accuracy']:>9.4f} {m['val_accuracy']:>8.4f} "
                  f"{m['val_accuracy'] - m['test_accuracy']:>+9.4f} {m['test_macro_f1']:>9.4f} {m['epochs']:>6} "
                  f"{m['train_seconds']:>8.0f} {m['command_seconds']:>7.0f} {m['test_accuracy'] - bag:>+8.4f}")
        main_model = spec["models"][0]
        m, goal = rows[main_model], spec["goal"]
        verdict = m["test_accuracy"] >= goal
        line = f"{task}: {main_model} {m['test_split']} accuracy {m['test_accuracy']:.4f} >= {goal}"
        if "wall_goal" in spec:
            verdict = verdict and m["command_seconds"] <= spec["wall_goal"]
            line += (f" in {m['command_seconds'] / 60:.1f} <= {spec['wall_goal'] / 60:.0f} min (language model "
                     f"{m.get('lm_wall_seconds', 0) / 60:.1f} min, validation perplexity {m.get('lm_val_perplexity', 0):.1f})")
        verdicts.append(f"{line} -> {'met' if verdict else 'NOT met'}")
        if "over_bag" in spec:
            gain = m["test_accuracy"] - bag
            verdicts.append(f"{task}: {main_model} - bag = {gain:+.4f} >= {spec['over_bag']:+.3f} -> "
                            f"{'met' if gain >= spec['over_bag'] else 'NOT met'}")
    print("\n" + "\n".join(verdicts))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"threads": torch.get_num_threads(), "cpu": cpu_level(), "load": loads,
                                         "settings": overrides, **results}, indent=2))


if __name__ == "__main__":
    main()
