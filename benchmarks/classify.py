"""Sentiment classification quality on IMDB and SST-2: each task's model beside the bag baseline, in one run.

Tasks (each trains its main model, the first in its row of ``TASKS``, with nothing
but the data, the model and the budget given, then the others in the row, down to
the ``bag`` baseline, with the same data, vocabulary and budget):

* ``imdb``: 25k train (10% of it, whole movies, held out for early stopping) / 25k
  test, ``--minutes`` 15 of training.  Goals: test accuracy >= 90%, and >= the bag's
  + 1.5 points.  ``nbsvm`` (n-gram logistic regression with naive-Bayes weights) is
  the strong linear baseline beside the tutorials' ``bag``.
* ``sst2``: GLUE SST-2 train phrases (10% held out, whole sentences with their
  phrases), scored on the GLUE dev split (the test labels are hidden), no pretrained
  embeddings; ``--model cnn-lstm --ensemble 3`` (the best single model measured on
  these short sentences, three of them averaged), then the default BiLSTM and the bag.
  Each member of the ensemble is also scored alone (member 1 is the run a single
  ``--model cnn-lstm`` of the same seed trains).  Goal: dev accuracy >= 85%.
* ``imdb-lm``: ``rnnkit classify train --data imdb --pretrain-lm`` with its defaults
  (a word-level language model on the training reviews, then the fine-tuned
  classifier: :mod:`rnnkit.apps.classify.pretrain`).  Goal: test accuracy >= 92%
  within 45 minutes in all (the wall time of the whole command: data, language
  model, classifier, test).  ``--set ensemble_with=nbsvm`` averages it with an n-gram
  model trained in the same command.

The table gives each model's validation accuracy beside its test accuracy (a
validation split as new to the model as the test split should not overstate it),
and the load average before and after: on a shared machine the wall times say as
much about the others.

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/classify.py [--task imdb|sst2|imdb-lm|all] [--minutes M]
        [--seed S | --seeds S,S,...] [--set NAME=VALUE ...] [--json PATH]

``--seeds 0,1,2`` repeats every task once per seed (the seed draws the weights, the
validation split and the batches) and adds each task's mean, spread and range over
the seeds: SST-2's dev split has 872 sentences, so one run's accuracy has a standard
error of about 1.3 points, and one seed's verdict says little on its own.

``--set`` changes a setting of the main model only (e.g. ``--set lm_epochs=3`` or ``--set unfreeze=gradual``);
the bag baseline keeps its defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from _settings import parse_settings  # benchmarks/, the script's own folder
from rnnkit._kernels import cpu_level
from rnnkit.apps.classify import ClassifyConfig, train

TASKS = {
    "imdb": dict(settings=dict(data="imdb"), minutes=15.0, goal=0.90, over_bag=0.015, models=("bilstm", "nbsvm", "bag")),
    "sst2": dict(settings=dict(data="sst2"), minutes=None, goal=0.85, models=("cnn-lstm", "bilstm", "nbsvm", "bag"),
                 main=dict(ensemble=3)),
    "imdb-lm": dict(settings=dict(data="imdb"), minutes=None, goal=0.92, wall_goal=45 * 60,
                    models=("lm", "nbsvm", "bag")),
}


def _run(task: str, model: str, minutes: float | None, out: Path, seed: int, overrides: dict) -> dict:
    spec = TASKS[task]
    budget = dict(time_budget=minutes * 60) if minutes and model != "lm" else {}
    kind = dict(pretrain_lm=True) if model == "lm" else dict(model=model)
    changed = {**spec.get("main", {}), **overrides} if model == spec["models"][0] else {}
    cfg = ClassifyConfig(**{**spec["settings"], **kind, "out": str(out / f"{task}-{model}"), "seed": seed, **budget,
                            **changed})
    began = time.perf_counter()
    metrics = train(cfg, verbose=0)
    return {**metrics, "command_seconds": time.perf_counter() - began}


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are whole numbers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"a seed is given twice in {text!r}")
    return seeds


def _verdicts(task: str, seed: int, rows: dict) -> list[str]:
    """The goal lines of one seed's run of ``task``: accuracy (and wall time, margin over the bag) against goal."""
    spec = TASKS[task]
    main_model = spec["models"][0]
    m, goal, bag = rows[main_model], spec["goal"], rows["bag"]["test_accuracy"]
    verdict = m["test_accuracy"] >= goal
    line = (f"{task} (seed {seed}): {_label(main_model, m)} {m['test_split']} accuracy {m['test_accuracy']:.4f} "
            f">= {goal}")
    if "wall_goal" in spec:
        verdict = verdict and m["command_seconds"] <= spec["wall_goal"]
        line += (f" in {m['command_seconds'] / 60:.1f} <= {spec['wall_goal'] / 60:.0f} min (language model "
                 f"{m.get('lm_wall_seconds', 0) / 60:.1f} min, validation perplexity {m.get('lm_val_perplexity', 0):.1f})")
    lines = [f"{line} -> {'met' if verdict else 'NOT met'}"]
    if "over_bag" in spec:
        gain = m["test_accuracy"] - bag
        lines.append(f"{task} (seed {seed}): {main_model} - bag = {gain:+.4f} >= {spec['over_bag']:+.3f} -> "
                     f"{'met' if gain >= spec['over_bag'] else 'NOT met'}")
    return lines


def _over_seeds(task: str, by_seed: dict) -> list[str]:
    """Each model's test accuracy over the seeds: mean, sample standard deviation, range."""
    lines = []
    for model in TASKS[task]["models"]:
        acc = [rows[model]["test_accuracy"] for rows in by_seed.values()]
        label = _label(model, next(iter(by_seed.values()))[model])
        lines.append(f"{task}: {label} over {len(acc)} seeds: mean {statistics.mean(acc):.4f}, "
                     f"sd {statistics.stdev(acc):.4f}, range {min(acc):.4f}-{max(acc):.4f}")
    return lines


def _label(model: str, metrics: dict) -> str:
    """The model's name in the table: ``cnn-lstm x3`` for an ensemble of three, ``lm+nbsvm`` for a language-model
    classifier averaged with an n-gram model."""
    members = [m.get("model", model) for m in metrics.get("members") or []]
    if len(members) < 2:
        return model
    counts = Counter("lm" if name == "language-model encoder" else name for name in members)
    return "+".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())


def _members(task: str, seed: int, rows: dict) -> list[str]:
    """Each member of an ensemble scored alone, beside the ensemble."""
    lines = []
    for model, m in rows.items():
        if m.get("members"):
            alone = [member["test_accuracy"] for member in m["members"]]
            lines.append(f"{task} (seed {seed}): {_label(model, m)}'s members alone: "
                         f"{', '.join(f'{a:.4f}' for a in alone)} (mean {statistics.mean(alone):.4f}); "
                         f"averaged {m['test_accuracy']:.4f} ({m['test_accuracy'] - statistics.mean(alone):+.4f})")
    return lines


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per model (imdb: 15; sst2: 10 epochs)")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0)
    seeds.add_argument("--seeds", type=_seed_list, default=None, metavar="S,S,...",
                       help="run every task once per seed, and summarise over the seeds")
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the main model (not the bag), e.g. lm_epochs=3; may be repeated")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    overrides = parse_settings(args.set)
    out = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-classify-"))
    tasks = list(TASKS) if args.task == "all" else [args.task]
    seed_list = args.seeds or [args.seed]
    results, loads = {}, {"before": _load()}  # results[task][seed][model]: that run's metrics
    for task in tasks:
        minutes = args.minutes or TASKS[task]["minutes"]
        results[task] = {seed: {model: _run(task, model, minutes, out / f"seed-{seed}", seed, overrides)
                                for model in TASKS[task]["models"]} for seed in seed_list}
    loads["after"] = _load()
    print(f"\n{torch.get_num_threads()} threads, CPU: {cpu_level()}, seeds {', '.join(map(str, seed_list))}, "
          f"settings {overrides or 'default'}; load average (1, 5, 15 min) "
          f"before {loads['before']}, after {loads['after']}; run folders under {out}")
    print(f"{'task':<8} {'seed':>4} {'model':<15} {'split':<5} {'accuracy':>9} {'val acc':>8} {'val-test':>9} "
          f"{'macro F1':>9} {'epochs':>6} {'train s':>8} {'wall s':>7} {'vs bag':>8}")
    verdicts = []
    for task, by_seed in results.items():
        spec = TASKS[task]
        for seed, rows in by_seed.items():
            bag = rows["bag"]["test_accuracy"]
            for model, m in rows.items():
                print(f"{task:<8} {seed:>4} {_label(model, m):<15} {m['test_split']:<5} {m['test_accuracy']:>9.4f} "
                      f"{m['val_accuracy']:>8.4f} {m['val_accuracy'] - m['test_accuracy']:>+9.4f} "
                      f"{m['test_macro_f1']:>9.4f} {m['epochs']:>6} {m['train_seconds']:>8.0f} "
                      f"{m['command_seconds']:>7.0f} {m['test_accuracy'] - bag:>+8.4f}")
            verdicts += _verdicts(task, seed, rows) + _members(task, seed, rows)
        if len(by_seed) > 1:
            verdicts += _over_seeds(task, by_seed)
    print("\n" + "\n".join(verdicts))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"threads": torch.get_num_threads(), "cpu": cpu_level(), "load": loads,
                                         "settings": overrides, **results}, indent=2))


if __name__ == "__main__":
    main()
