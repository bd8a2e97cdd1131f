"""Machine translation quality and speed: ``rnnkit translate train``'s default model, in one run, seeds stated.

Tasks:

* ``fra``: tatoeba-fra-eng, English -> French, pairs of at most 10 words, test
  sources never seen in training (split by source).  The default model
  (GRU 256, additive attention) and the same model without attention, each with
  ``--minutes`` (20) of training, seed 0.  Goals: test BLEU (beam 5) >= 30;
  attention beats no attention by >= 3 BLEU; beam beats greedy by >= 0.5.
* ``cmn``: tatoeba-cmn-eng, English -> Chinese characters, 20 minutes, seed 0;
  goal test BLEU (sacreBLEU's ``zh`` tokeniser) >= 15.
* ``speed`` (after ``fra``, or with ``--run``): beam 5 over 1,000 test sentences,
  batched by length (goal >= 200 sentences/s), against the same sentences
  translated one at a time (goal: batched >= 5x faster, same translations).

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/translate.py [--task fra|cmn|speed|all]
        [--minutes M] [--run RUN (speed only)] [--out FOLDER] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from rnnkit._kernels import cpu_level
from rnnkit.apps.translate import TranslateConfig, load_run, train
from rnnkit.apps.translate.recipe import prepare_data
from rnnkit.runs import read_config

GOALS = {"fra": 30.0, "cmn": 15.0, "attention_gain": 3.0, "beam_gain": 0.5, "speed": 200.0, "batched_ratio": 5.0}


def _train(name: str, out: Path, minutes: float, **settings) -> dict:
    cfg = TranslateConfig(**settings, time_budget=minutes * 60, seed=0, out=str(out / name))
    print(f"\n== {name}: {settings} for {minutes:g} min")
    metrics = train(cfg, verbose=0)
    return {k: metrics[k] for k in ("test_bleu_beam", "test_bleu_greedy", "test_chrf_beam", "test_chrf_greedy",
                                    "val_bleu", "test_pairs", "test_sources", "train_pairs", "epochs",
                                    "train_seconds", "parameters")}


def _speed(run: Path, sentences: int = 1000, one_by_one: int = 200) -> dict:
    translator = load_run(run)
    cfg = TranslateConfig.from_dict(read_config(run, "translate"))
    cfg.out = None
    data = prepare_data(cfg, print_fn=lambda line: None)  # the run's own split: its test sources
    sources = data.references["test"][0][:sentences]
    torch.set_grad_enabled(False)
    translator.translate(sources[:64], beam=5)  # warm up
    began = time.perf_counter()
    batched = translator.translate(sources, beam=5, batch_size=128)
    batched_seconds = time.perf_counter() - began
    began = time.perf_counter()
    alone = [translator.translate([s], beam=5)[0] for s in sources[:one_by_one]]
    alone_seconds = time.perf_counter() - began
    same = sum(a.text == b.text for a, b in zip(alone, batched))
    per_batched = batched_seconds / len(sources)
    per_alone = alone_seconds / one_by_one
    return {"sentences": len(sources), "batched_seconds": round(batched_seconds, 2),
            "sentences_per_second": round(len(sources) / batched_seconds, 1),
            "one_by_one_sentences": one_by_one, "one_by_one_seconds": round(alone_seconds, 2),
            "batched_ratio": round(per_alone / per_batched, 2), "same_translations": f"{same}/{one_by_one}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["fra", "cmn", "speed", "all"], default="all")
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per model (default 20)")
    parser.add_argument("--run", type=Path, default=None, help="the run whose speed to measure (--task speed)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-translate-"))
    tasks = ["fra", "cmn", "speed"] if args.task == "all" else [args.task]
    results: dict = {"cpu": cpu_level(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "minutes": args.minutes, "seed": 0}
    if "fra" in tasks:
        results["fra"] = _train("fra-additive", out, args.minutes, data="tatoeba-fra-eng")
        results["fra-none"] = _train("fra-none", out, args.minutes, data="tatoeba-fra-eng", attention="none")
    if "cmn" in tasks:
        results["cmn"] = _train("cmn-additive", out, args.minutes, data="tatoeba-cmn-eng")
    if "speed" in tasks:
        run = args.run or out / "fra-additive"
        results["speed"] = _speed(run)

    print(f"\nCPU: {results['cpu']}, {results['threads']} threads, torch {results['torch']}; run folders under {out}")
    verdicts = []
    rows = [(k, results[k]) for k in ("fra", "fra-none", "cmn") if k in results]
    if rows:
        print(f"{'model':<9} {'BLEU beam':>9} {'greedy':>7} {'chrF beam':>9} {'val BLEU':>8} {'test src':>8} "
              f"{'train pairs':>11} {'epochs':>6} {'train s':>7}")
        for name, m in rows:
            print(f"{name:<9} {m['test_bleu_beam']:>9.2f} {m['test_bleu_greedy']:>7.2f} {m['test_chrf_beam']:>9.2f} "
                  f"{m['val_bleu']:>8.2f} {m['test_sources']:>8,} {m['train_pairs']:>11,} {m['epochs']:>6} "
                  f"{m['train_seconds']:>7.0f}")
    if "fra" in results:
        fra = results["fra"]
        verdicts.append(("eng->fra test BLEU (beam 5)", fra["test_bleu_beam"], GOALS["fra"]))
        verdicts.append(("beam - greedy", fra["test_bleu_beam"] - fra["test_bleu_greedy"], GOALS["beam_gain"]))
        if "fra-none" in results:
            verdicts.append(("attention - none (beam)", fra["test_bleu_beam"] - results["fra-none"]["test_bleu_beam"],
                             GOALS["attention_gain"]))
    if "cmn" in results:
        verdicts.append(("eng->cmn test BLEU (zh, beam 5)", results["cmn"]["test_bleu_beam"], GOALS["cmn"]))
    if "speed" in results:
        s = results["speed"]
        print(f"\nspeed: beam 5, {s['sentences']:,} test sentences batched: {s['batched_seconds']} s "
              f"({s['sentences_per_second']} sentences/s); one at a time: {s['one_by_one_sentences']} in "
              f"{s['one_by_one_seconds']} s; batched / one-by-one speed ratio {s['batched_ratio']}x; "
              f"same translations {s['same_translations']}")
        verdicts.append(("beam 5 sentences/s (batched)", s["sentences_per_second"], GOALS["speed"]))
        verdicts.append(("batched / one at a time", s["batched_ratio"], GOALS["batched_ratio"]))
    print()
    for what, value, goal in verdicts:
        print(f"{what:<34} {value:>8.2f}  goal >= {goal:<6g} {'MET' if value >= goal else 'MISSED'}")
    results["verdicts"] = [{"what": w, "value": v, "goal": g, "met": v >= g} for w, v, g in verdicts]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
