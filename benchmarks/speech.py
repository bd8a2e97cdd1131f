"""Speech recognition quality and speed on FSDD (issue 15's goals), ``rnnkit speech train``'s defaults, seed 0.

Tasks:

* ``words``: one digit per recording, FSDD's standard split (recordings 0-4 of each
  speaker and digit are the test set), ``--minutes`` 10 of training;
  goal test accuracy >= 98.5%.
* ``speakers``: words with each of the 6 speakers held out in turn (the test set
  is that speaker's 500 recordings), 10 minutes each; goal mean accuracy >= 92%,
  the worst speaker reported, and the mean of the same models recognising each
  recording at its own speed only (without the test-time speeds).
* ``digits``: connected strings of 2-7 recordings (CTC), standard split and one
  speaker held out (``--speaker``, default theo), 15 minutes each; goals digit
  error rate <= 2% (standard) and <= 8% (speaker held out), greedy decoding.
* ``speed``: log-mel features of one-second 8 kHz utterances, one at a time on one
  thread (goal >= 1,000 a second), and the latency of transcribing a one-second
  utterance (read features, model, greedy CTC decoding; goal <= 20 ms) with the
  ``--run`` given, else with an untrained model of the default size (the latency does
  not depend on the weights).

The published anchors (issue 15): 97-97.3% (CNN and BiLSTM on MFCC, splits that
share speakers), 89.8-91.0% (a log-mel CNN with one speaker held out).

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/speech.py [--task words|speakers|digits|speed|all]
            [--minutes M] [--speaker NAME] [--speakers A,B] [--set NAME=VALUE ...] [--run RUN] [--out DIR]
            [--json PATH]
``--minutes`` replaces every task's budget (e.g. 0.2 for a smoke run); ``--speakers``
holds out only these speakers in the speakers task; ``--set`` changes a setting of
every training from ``rnnkit speech train``'s default (``--set vtlp=0 --set
speed_range=0.15``: a number, or text).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _settings import parse_settings  # benchmarks/, the script's own folder
from rnnkit._kernels import cpu_level
from rnnkit.apps.speech import SpeechConfig, load_run, train
from rnnkit.apps.speech.config import TASK_DEFAULTS
from rnnkit.apps.speech.model import build_model
from rnnkit.apps.speech.recipe import decode_waves
from rnnkit.audio import log_mel

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
OVERRIDES: dict = {}  # --set NAME=VALUE
GOALS = {"words": 0.985, "speakers_mean": 0.92, "digits": 0.02, "digits_speaker": 0.08, "features": 1000.0,
         "latency_ms": 20.0}


def _train(name: str, out: Path, minutes: float, **settings) -> dict:
    print(f"\n== {name}: {settings} for {minutes:g} min", flush=True)
    cfg = SpeechConfig(data="fsdd", **{**OVERRIDES, **settings}, time_budget=minutes * 60, seed=0, out=str(out / name))
    return train(cfg, verbose=0)


def _speed(run: Path | None) -> dict:
    rng = np.random.default_rng(0)
    waves = [torch.from_numpy((rng.standard_normal(8000) * 0.1).astype(np.float32)) for _ in range(400)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for w in waves[:20]:
            log_mel(w, 8000)
        began = time.perf_counter()
        for w in waves:
            log_mel(w, 8000)
        rate = len(waves) / (time.perf_counter() - began)
    finally:
        torch.set_num_threads(threads)
    if run is not None:
        model, info, _ = load_run(run)
        source = str(run)
    else:
        stack = TASK_DEFAULTS["digits"]["stack"]
        model = build_model("bilstm", "digits", 10, units=128, layers=2, stack=stack).eval()
        model(torch.zeros(1, 12, 40))
        info = {"task": "digits", "classes": [str(d) for d in range(10)], "sample_rate": 8000, "features": "logmel",
                "n_mels": 40, "n_mfcc": 13, "hop_ms": 10, "stack": stack}
        source = "untrained default digits model"
    wave = (rng.standard_normal(8000) * 0.1).astype(np.float32)
    times = []
    for i in range(30):
        began = time.perf_counter()
        decode_waves(model, info, [wave], ["one-second"])
        if i >= 5:
            times.append((time.perf_counter() - began) * 1000)
    return {"features_per_second": rate, "latency_ms": statistics.median(times), "latency_model": source,
            "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["words", "speakers", "digits", "speed", "all"], default="all")
    parser.add_argument("--minutes", type=float, default=None, help="budget per training (words 10, digits 15)")
    parser.add_argument("--speaker", default="theo", help="the speaker held out in the digits task")
    parser.add_argument("--speakers", default=",".join(SPEAKERS), help="speakers held out in turn (comma-separated)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of every training (e.g. vtlp=0); may be repeated")
    parser.add_argument("--run", type=Path, default=None, help="a run folder for the latency (default: untrained)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    OVERRIDES.update(parse_settings(args.set))
    speakers = [s for s in args.speakers.split(",") if s]
    out = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-bench-speech-"))
    tasks = ["words", "speakers", "digits", "speed"] if args.task == "all" else [args.task]
    words_min, digits_min = args.minutes or 10.0, args.minutes or 15.0
    results: dict = {"cpu": cpu_level(), "threads": torch.get_num_threads(), "torch": torch.__version__, "seed": 0,
                     "minutes": {"words": words_min, "digits": digits_min}, "settings": dict(OVERRIDES)}
    if "words" in tasks:
        results["words"] = _train("words-standard", out, words_min, task="words")
    if "speakers" in tasks:
        results["speakers"] = {s: _train(f"words-{s}", out, words_min, task="words", split=f"speaker:{s}")
                               for s in speakers}
    if "digits" in tasks:
        results["digits"] = _train("digits-standard", out, digits_min, task="digits")
        results["digits_speaker"] = _train(f"digits-{args.speaker}", out, digits_min, task="digits",
                                           split=f"speaker:{args.speaker}")
    if "speed" in tasks:
        results["speed"] = _speed(args.run)

    print(f"\nCPU: {results['cpu']}; torch {results['torch']}, {results['threads']} threads; seed 0; "
          f"settings {OVERRIDES or 'the defaults'}; run folders under {out}")
    print(f"{'task':<24} {'figure':<22} {'value':>9} {'goal':>9} {'verdict':>8} {'epochs':>6} {'train s':>8}")

    def row(task: str, figure: str, value: float, goal: float, lower: bool, m: dict | None = None) -> None:
        ok = value <= goal if lower else value >= goal
        extra = f" {m['epochs']:>6} {m['train_seconds']:>8.0f}" if m else ""
        print(f"{task:<24} {figure:<22} {value:>9.4f} {goal:>9.4g} {'met' if ok else 'NOT met':>8}{extra}")

    if "words" in results:
        row("words standard", "test accuracy", results["words"]["test_accuracy"], GOALS["words"], False, results["words"])
    if "speakers" in results:
        accs = {s: m["test_accuracy"] for s, m in results["speakers"].items()}
        for s, m in results["speakers"].items():
            print(f"{'  held out ' + s:<24} {'test accuracy':<22} {accs[s]:>9.4f} {'':>9} {'':>8} {m['epochs']:>6} "
                  f"{m['train_seconds']:>8.0f}")
        worst = min(accs, key=accs.get)
        row("words speakers", "mean accuracy", statistics.mean(accs.values()), GOALS["speakers_mean"], False)
        own = [m.get("test_accuracy_own_speed") for m in results["speakers"].values()]
        if None not in own:  # the same models without the test-time speeds
            print(f"{'words speakers':<24} {'mean, own speed only':<22} {statistics.mean(own):>9.4f}  "
                  f"({', '.join(f'{x:.3f}' for x in own)})")
        print(f"{'words speakers':<24} {'worst (' + worst + ')':<22} {accs[worst]:>9.4f}")
        results["speakers_summary"] = {"mean": statistics.mean(accs.values()), "worst": worst, "worst_accuracy": accs[worst]}
    for key, name in (("digits", "digits standard"), ("digits_speaker", f"digits {args.speaker} held out")):
        if key in results:
            m = results[key]
            row(name, "digit error rate", m["test_digit_error_rate"], GOALS[key], True, m)
            print(f"{'':<24} {'  beam':<22} {m['test_digit_error_rate_beam']:>9.4f}")
            print(f"{'':<24} {'string error rate':<22} {m['test_string_error_rate']:>9.4f}")
    if "speed" in results:
        s = results["speed"]
        row("speed", "log-mel utt/s (1 thr)", s["features_per_second"], GOALS["features"], False)
        row("speed", "1 s transcription ms", s["latency_ms"], GOALS["latency_ms"], True)
        print(f"  (latency with: {s['latency_model']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
