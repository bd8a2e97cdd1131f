"""Tokenizer throughput on IMDB train against the plainest Python word count, in one run.

The floor is ``Counter.update(text.split())`` over every review: the least any
word tokenizer written in Python does.  Against it, in the same process and
interleaved round by round, this measures ``Tokenizer.fit_on_texts`` followed by
``texts_to_sequences`` on the same reviews (the tutorials' two calls), each call
alone, and ``texts_to_sequences`` on the unseen test reviews.  MB/s counts UTF-8
bytes of review text.  Goal: fit + convert within 2x of the floor's time.

Usage:  RNNKIT_DATA=../shared/datasets python benchmarks/data.py [--rounds N] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from rnnkit.data import Tokenizer
from rnnkit.datasets import load
from rnnkit.errors import DatasetError


def _floor(texts: list[str]) -> None:
    counts: Counter = Counter()
    for text in texts:
        counts.update(text.split())


def _fit_and_convert(texts: list[str]) -> None:
    tok = Tokenizer()
    tok.fit_on_texts(texts)
    tok.texts_to_sequences(texts)


def run(rounds: int) -> list[dict]:
    try:
        train, _ = load("imdb", "train")
        test, _ = load("imdb", "test")
    except DatasetError as exc:
        sys.exit(f"benchmarks/data.py needs the IMDB dataset: {exc}")
    megabytes = sum(len(t.encode("utf-8")) for t in train) / 1e6
    test_megabytes = sum(len(t.encode("utf-8")) for t in test) / 1e6
    fitted = Tokenizer()
    fitted.fit_on_texts(train)
    fitted.texts_to_sequences(train)  # uses up the ids kept by fit: later calls split again

    def fit_only() -> None:
        Tokenizer().fit_on_texts(train)

    cases = {  # name: (function, MB it reads)
        "str.split + Counter (floor)": (lambda: _floor(train), megabytes),
        "fit_on_texts + texts_to_sequences": (lambda: _fit_and_convert(train), megabytes),
        "fit_on_texts alone": (fit_only, megabytes),
        "texts_to_sequences, unseen test reviews": (lambda: fitted.texts_to_sequences(test), test_megabytes),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved, so drifting machine load hits every case alike
        for name, (fn, _mb) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    floor = statistics.median(times["str.split + Counter (floor)"]) / megabytes  # seconds per MB
    rows = []
    for name, (_fn, mb) in cases.items():
        seconds = statistics.median(times[name])
        rows.append({"case": name, "seconds": seconds, "mb_per_s": mb / seconds, "time_vs_floor": seconds / mb / floor})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = run(args.rounds)
    print(f"{'case':<42} {'seconds':>8} {'MB/s':>7} {'time / floor':>13}")
    for r in rows:
        print(f"{r['case']:<42} {r['seconds']:>8.3f} {r['mb_per_s']:>7.1f} {r['time_vs_floor']:>12.2f}x")
    goal = rows[1]["time_vs_floor"]
    print(f"\ngoal: fit + convert within 2x of the floor: {goal:.2f}x -> {'met' if goal <= 2 else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
