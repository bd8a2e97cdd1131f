"""Speech-feature throughput on one CPU thread: rnnkit.audio against librosa, in one run.

Log-mel (40 bands, 25 ms windows, 10 ms hops) of one-second 8 kHz utterances
(seeded uniform noise: the content does not change the work), float32, on ONE
thread (``torch.set_num_threads(1)``; librosa's FFT is single-threaded): rnnkit
batched (``--batch`` utterances a call), rnnkit one utterance a call, and
``np.log(librosa.feature.melspectrogram(...) + 1e-6)`` one utterance a call (how
librosa is used in a data loader), then the same for 13 MFCCs.  The cases are
interleaved round by round so drifting machine load hits them alike; the table
shows the median round.  Ratios are against librosa in the same run.
Goal (the speech-recognition issue): rnnkit log-mel >= 1,000 one-second
utterances/s on one core.

Usage:  python benchmarks/audio.py [--rounds N] [--utterances N] [--batch B] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit._kernels import cpu_level
from rnnkit.audio import log_mel, mfcc

GOAL = 1000.0  # one-second utterances per second, one core
SR = 8000
LIBROSA_ARGS = {"sr": SR, "n_fft": 256, "win_length": 200, "hop_length": 80, "n_mels": 40}


def run(rounds: int, utterances: int, batch: int, one_by_one: int) -> tuple[list[dict], dict]:
    try:
        import librosa
    except ImportError:
        sys.exit("benchmarks/audio.py compares with librosa: pip install 'librosa>=0.10'")
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    waves = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, (utterances, SR)).astype(np.float32))
    arrays = waves.numpy()

    def batched(fn):
        def go():
            for start in range(0, utterances, batch):
                fn(waves[start:start + batch], SR)
        return go, utterances

    def alone(fn):
        def go():
            for i in range(one_by_one):
                fn(waves[i], SR)
        return go, one_by_one

    def librosa_log_mel():
        for i in range(one_by_one):
            np.log(librosa.feature.melspectrogram(y=arrays[i], **LIBROSA_ARGS) + 1e-6)

    def librosa_mfcc():
        for i in range(one_by_one):
            librosa.feature.mfcc(y=arrays[i], n_mfcc=13, **LIBROSA_ARGS)

    cases = {  # name: (function, utterances it computes, feature)
        f"rnnkit log_mel, batches of {batch}": (*batched(log_mel), "log_mel"),
        "rnnkit log_mel, one at a time": (*alone(log_mel), "log_mel"),
        "librosa log-mel, one at a time": (librosa_log_mel, one_by_one, "log_mel"),
        f"rnnkit mfcc, batches of {batch}": (*batched(mfcc), "mfcc"),
        "rnnkit mfcc, one at a time": (*alone(mfcc), "mfcc"),
        "librosa mfcc, one at a time": (librosa_mfcc, one_by_one, "mfcc"),
    }
    # the same numbers, checked once: rnnkit's float32 features against librosa's
    ref = np.log(librosa.feature.melspectrogram(y=arrays[0].astype(np.float64), **LIBROSA_ARGS) + 1e-6).T
    check = {"max_abs_log_mel_difference": float(np.abs(log_mel(waves[0], SR).numpy() - ref).max())}
    for fn, _n, _feature in cases.values():  # warm up: first-call costs (librosa's lazy imports, caches)
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (fn, _n, _feature) in cases.items():
            began = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - began)
    rate = {name: n / statistics.median(times[name]) for name, (_fn, n, _f) in cases.items()}
    peer = {feature: rate[name] for name, (_fn, _n, feature) in cases.items() if name.startswith("librosa")}
    rows = [{"case": name, "utterances": n, "seconds": statistics.median(times[name]),
             "utterances_per_s": rate[name], "vs_librosa": rate[name] / peer[feature]}
            for name, (_fn, n, feature) in cases.items()]
    return rows, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--utterances", type=int, default=2048, help="utterances of the batched cases (default 2048)")
    parser.add_argument("--batch", type=int, default=256, help="utterances per batched call (default 256)")
    parser.add_argument("--one-by-one", type=int, default=256, help="utterances of the one-at-a-time cases (default 256)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    rows, check = run(args.rounds, args.utterances, args.batch, min(args.one_by_one, args.utterances))
    import librosa

    print(f"CPU: {cpu_level()}; torch {torch.__version__}, librosa {librosa.__version__}, "
          f"threads {torch.get_num_threads()}; one-second 8 kHz utterances, median of {args.rounds} rounds")
    print(f"{'case':<34} {'utterances':>10} {'seconds':>8} {'utterances/s':>13} {'vs librosa':>11}")
    for r in rows:
        print(f"{r['case']:<34} {r['utterances']:>10} {r['seconds']:>8.3f} {r['utterances_per_s']:>13,.0f} "
              f"{r['vs_librosa']:>10.1f}x")
    best = rows[0]["utterances_per_s"]
    print(f"\nlargest |rnnkit - librosa| log-mel difference (float32): {check['max_abs_log_mel_difference']:.1e}")
    print(f"goal: >= {GOAL:,.0f} one-second utterances/s on one core (batched log_mel): {best:,.0f} -> "
          f"{'met' if best >= GOAL else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_level(), "torch": torch.__version__,
                                         "librosa": librosa.__version__, "threads": torch.get_num_threads(),
                                         "rounds": args.rounds, "rows": rows, **check, "goal": GOAL}, indent=2))


if __name__ == "__main__":
    main()
