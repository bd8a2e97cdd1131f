"""Layer throughput: rnnkit against torch.nn, all measured in one run.

Prints one table of tokens/s (batch x time per second) for a training step
(forward + backward of output.sum()) and for inference (no_grad, eval), with
the ratio of each row to its peer measured in the same run:

* default      (use_fused='auto': the path rnnkit picks for this layer on this CPU)
               vs torch.nn.{RNN,LSTM,GRU} with the same weights
               (goal >= 1.3x for GRU, >= 0.95x for the others)
* fused path   (use_fused=True) vs the same torch.nn module  (goal >= 0.95x)
* compiled path (the C loop) vs the same torch.nn module (goal >= 0.5x, i.e. within 2x).
  Training: recurrent_dropout=0.1, which the fused kernels cannot compute;
  inference: use_fused=False.
* reference path (use_fused='reference': autograd over the cell's own
  recurrence, what runs where no kernel applies), same settings as the
  compiled row; no goal, for the record (--no-reference leaves it out).
* MinGRU / MinLSTM vs torch.nn.LSTM at time 100 and 1000  (MinGRU training goal >= 5x at 1000)

Usage:  python benchmarks/layers.py [--quick] [--no-reference] [--repeats N] [--json PATH]
Writes the rows as JSON (default benchmarks/results/layers.json).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from rnnkit._kernels import cpu_level
from rnnkit.layers import GRU, LSTM, SimpleRNN, from_torch

CONFIGS = [  # (batch, time, input, hidden, layers)
    (32, 100, 128, 256, 1),
    (64, 100, 512, 512, 2),
    (8, 200, 64, 128, 1),
]
KINDS = {"SimpleRNN": (torch.nn.RNN, SimpleRNN), "LSTM": (torch.nn.LSTM, LSTM), "GRU": (torch.nn.GRU, GRU)}


def _time(fns: list, repeats: int, min_seconds: float, clock=time.perf_counter) -> list[float]:
    """Median seconds per call of each function, measured round-robin after a warm-up.

    Interleaving the implementations being compared exposes them to the same machine
    state (allocator, caches, other load), so their ratio is fair even when the
    absolute speed drifts.  ``clock``: wall time by default; ``time.process_time``
    on a shared machine counts only this process's CPU seconds (with one thread,
    the work itself, not the time other processes held the cores).
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_seconds * len(fns) and rounds < 4 * repeats):
        for fn, bucket in zip(fns, times):
            t0 = clock()
            fn()
            bucket.append(clock() - t0)
        rounds += 1
    return [statistics.median(bucket) for bucket in times]


def _output(result):
    out = result[0] if isinstance(result, tuple) else result
    return out


def _train_step(module, x):
    def step():
        module.zero_grad(set_to_none=True)
        _output(module(x)).sum().backward()

    return step


def _infer(module, x):
    def step():
        with torch.no_grad():
            module(x)

    return step


def _stack(layers):
    """Apply a list of rnnkit layers in a row."""

    class Stack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(layers)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    return Stack()


def _paths(stack) -> str:
    return ",".join(sorted({layer.last_path for layer in stack.layers}))


def run(repeats: int, min_seconds: float, quick: bool, reference: bool = True) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    configs = CONFIGS[:1] if quick else CONFIGS
    for batch, steps, features, hidden, depth in configs:
        x = torch.randn(batch, steps, features)
        tokens = batch * steps
        shape = f"B{batch} T{steps} in{features} h{hidden} x{depth}"
        for kind, (torch_class, _) in KINDS.items():
            ref = torch_class(features, hidden, num_layers=depth, batch_first=True)
            default = _stack(from_torch(ref))
            fused = _stack(from_torch(ref, use_fused=True))
            compiled = _stack(from_torch(ref, use_fused=False))
            slow = _stack(from_torch(ref, use_fused="reference"))
            for stack in (compiled, slow):
                for layer in stack.layers:
                    layer.cell.recurrent_dropout = 0.1
            candidates = [("rnnkit default", default, 1.3 if kind == "GRU" else 0.95), ("rnnkit fused", fused, 0.95),
                          ("rnnkit compiled", compiled, 0.5)]
            for mode in ("train", "infer"):
                make = _train_step if mode == "train" else _infer
                for m in (ref, default, fused, compiled, slow):
                    m.train(mode == "train")
                t_ref, *times = _time([make(m, x) for m in [ref] + [stack for _, stack, _ in candidates]], repeats, min_seconds)
                peer = f"torch.nn.{torch_class.__name__}"
                rows.append(dict(shape=shape, layer=kind, mode=mode, impl=peer, path="fused", tok_s=tokens / t_ref, peer=peer, ratio=1.0))
                for (impl, stack, goal), t in zip(candidates, times):
                    rows.append(dict(shape=shape, layer=kind, mode=mode, impl=impl, path=_paths(stack), tok_s=tokens / t,
                                     peer=peer, ratio=t_ref / t, goal=goal))
                if reference:  # in a round of its own with the peer, so the slow path does not disturb the rows above
                    t_peer, t_slow = _time([make(ref, x), make(slow, x)], repeats, min_seconds)
                    rows.append(dict(shape=shape, layer=kind, mode=mode, impl="rnnkit reference", path=_paths(slow),
                                     tok_s=tokens / t_slow, peer=peer, ratio=t_peer / t_slow, goal=None))
    rows += _min_rnn_rows(repeats, min_seconds, quick)
    return rows


def _min_rnn_rows(repeats: int, min_seconds: float, quick: bool) -> list[dict]:
    try:
        from rnnkit.layers import MinGRU, MinLSTM
    except ImportError:
        return []
    rows = []
    batch, features, hidden = 32, 128, 256
    for steps in (100,) if quick else (100, 1000):
        x = torch.randn(batch, steps, features)
        tokens = batch * steps
        shape = f"B{batch} T{steps} in{features} h{hidden} x1"
        ref = torch.nn.LSTM(features, hidden, batch_first=True)
        candidates = [("MinGRU", MinGRU(hidden, input_size=features, return_sequences=True)),
                      ("MinLSTM", MinLSTM(hidden, input_size=features, return_sequences=True))]
        for mode in ("train", "infer"):
            make = _train_step if mode == "train" else _infer
            for m in [ref] + [layer for _, layer in candidates]:
                m.train(mode == "train")
            t_ref, *t_candidates = _time([make(ref, x)] + [make(layer, x) for _, layer in candidates], repeats, min_seconds)
            rows.append(dict(shape=shape, layer="LSTM", mode=mode, impl="torch.nn.LSTM", path="fused", tok_s=tokens / t_ref, peer="torch.nn.LSTM", ratio=1.0))
            for (name, layer), t in zip(candidates, t_candidates):
                goal = 5.0 if (name == "MinGRU" and mode == "train" and steps == 1000) else None
                rows.append(dict(shape=shape, layer=name, mode=mode, impl=f"rnnkit {name}", path=layer.last_path, tok_s=tokens / t, peer="torch.nn.LSTM", ratio=t_ref / t, goal=goal))
    return rows


def _print_table(rows: list[dict]) -> None:
    header = f"{'shape':<26} {'layer':<9} {'mode':<5} {'implementation':<18} {'path':<9} {'tokens/s':>10} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for r in rows:
        goal = r.get("goal")
        verdict = "" if goal is None else (f">={goal:g}x " + ("ok" if r["ratio"] >= goal else "MISSED"))
        print(f"{r['shape']:<26} {r['layer']:<9} {r['mode']:<5} {r['impl']:<18} {r['path']:<9} {r['tok_s']:>10,.0f} {r['ratio']:>6.2f}x  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="least time spent on each measurement")
    parser.add_argument("--quick", action="store_true", help="first configuration only")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="leave out the reference path's rows (the slowest to measure)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "layers.json")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, CPU: {cpu_level()}")
    rows = run(args.repeats, args.min_seconds, args.quick, args.reference)
    _print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_level(), "rows": rows}, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
