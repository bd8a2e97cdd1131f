"""ONNX Runtime against PyTorch eager at batch 1, for an exported classifier of the classify app's default size.

The classifier is the app's default: ``bilstm`` (Embedding 20000 x 128 with
mask_zero, one Bidirectional LSTM of 64 units, global max pooling, Dense 2),
built with :func:`rnnkit.apps.classify.model.build_model` and exported with
:func:`rnnkit.export.export_onnx`.  For each text length, one text (batch 1, no
padding) is classified by ``model(ids)`` under ``torch.no_grad()`` and by
``session.run``; rounds alternate which goes first, and the table shows the median
time per call and the ratio PyTorch / ONNX Runtime (> 1: ONNX Runtime is faster).
Both run on ``--threads`` threads (torch.set_num_threads, ORT's intra_op_num_threads).
Goal (issue 17): ratio >= 1 at batch 1.

Usage:  python benchmarks/export.py [--lengths 20,100,200] [--calls N] [--rounds R] [--threads K] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import rnnkit
from rnnkit._kernels import cpu_level
from rnnkit.apps.classify.model import build_model
from rnnkit.export import export_onnx

GOAL = 1.0
VOCAB, CLASSES, EMBED, UNITS = 20000, 2, 128, 64


def _per_call(fn, calls: int) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="20,100,200", help="text lengths in tokens, comma-separated")
    parser.add_argument("--calls", type=int, default=50, help="calls per timing")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds (the median is shown)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both runtimes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    rnnkit.set_seed(0)
    model = build_model("bilstm", VOCAB, CLASSES, embed_dim=EMBED, units=UNITS)
    model(torch.ones(1, 1, dtype=torch.long))
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    rows = []
    rng = np.random.default_rng(0)
    for length in (int(n) for n in args.lengths.split(",")):
        ids = rng.integers(4, VOCAB, size=(1, length)).astype(np.int64)
        ids_t = torch.from_numpy(ids)
        with torch.no_grad():
            diff = float(np.abs(session.run(None, {"ids": ids})[0] - model(ids_t).numpy()).max())

        def torch_call():
            with torch.no_grad():
                model(ids_t)

        def ort_call():
            session.run(None, {"ids": ids})

        pt, rt = [], []
        for r in range(args.rounds):
            pair = [(torch_call, pt), (ort_call, rt)]
            for fn, times in pair if r % 2 == 0 else pair[::-1]:
                times.append(_per_call(fn, args.calls))
        t_pt, t_rt = statistics.median(pt), statistics.median(rt)
        rows.append({"length": length, "pytorch_ms": t_pt * 1e3, "onnxruntime_ms": t_rt * 1e3,
                     "ratio": t_pt / t_rt, "max_abs_diff": diff})

    print(f"exported classifier (bilstm, embed {EMBED}, {UNITS} units, vocab {VOCAB}) at batch 1; "
          f"{args.threads} thread(s); CPU level {cpu_level()}; torch {torch.__version__}, onnxruntime {ort.__version__}")
    print(f"{'length':>6}  {'pytorch ms':>10}  {'onnxrt ms':>10}  {'ratio':>6}  {'max |diff|':>10}")
    for row in rows:
        print(f"{row['length']:>6}  {row['pytorch_ms']:>10.3f}  {row['onnxruntime_ms']:>10.3f}  {row['ratio']:>6.2f}  "
              f"{row['max_abs_diff']:>10.1e}")
    worst = min(row["ratio"] for row in rows)
    print(f"goal: ONNX Runtime >= {GOAL:g}x PyTorch eager at batch 1 -> worst ratio {worst:.2f} "
          f"({'met' if worst >= GOAL else 'NOT met'})")
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "export", "cpu_level": cpu_level(), "threads": args.threads,
                                         "torch": torch.__version__, "onnxruntime": ort.__version__, "goal": GOAL,
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
