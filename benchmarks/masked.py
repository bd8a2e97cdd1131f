"""Padded batches: a masked rnnkit LSTM/GRU against torch.nn with packed sequences, in one run.

The PyTorch idiom for a batch of texts of different lengths is
``pack_padded_sequence`` -> ``torch.nn.LSTM`` -> ``pad_packed_sequence``.  rnnkit
takes a mask instead (``Embedding(mask_zero=True)`` makes one); when the layer need
not return its final state it runs the plain fused kernel over the padded batch
(each row's valid steps first) rather than a packed sequence.  Rows: a training
step (forward + backward of the outputs' sum at the valid steps) and inference,
tokens/s counted over valid steps only, for right-padded batches whose lengths lie
in [0.75 T, T] (what length bucketing gives) and in [1, T] (no bucketing).

Usage:  python benchmarks/masked.py [--repeats N] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.layers import GRU, LSTM, Bidirectional

CASES = [  # (name, batch, time, input, hidden, lowest length as a fraction of time)
    ("bucketed", 32, 300, 128, 64, 0.75),
    ("unbucketed", 32, 300, 128, 64, 0.0),
]


def _median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _case(kind: str, bidirectional: bool, batch: int, steps: int, features: int, hidden: int, low: float,
          repeats: int) -> dict:
    torch.manual_seed(0)
    lengths = torch.randint(max(1, int(low * steps)), steps + 1, (batch,))
    lengths[0] = steps
    mask = torch.arange(steps)[None, :] < lengths[:, None]  # (B, T)
    x = torch.randn(batch, steps, features)
    peer = (torch.nn.LSTM if kind == "LSTM" else torch.nn.GRU)(features, hidden, batch_first=True,
                                                                bidirectional=bidirectional)
    layer = (LSTM if kind == "LSTM" else GRU)(hidden, return_sequences=True)
    ours = Bidirectional(layer) if bidirectional else layer
    ours(x)
    valid = mask[:, :, None].float()

    def run_peer(grad: bool):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(peer(packed)[0], batch_first=True, total_length=steps)
        if grad:
            (out * valid).sum().backward()

    def run_ours(grad: bool):
        out = ours(x, mask=mask)
        if grad:
            (out * valid).sum().backward()

    tokens = float(lengths.sum())
    row = {"kind": ("Bi" if bidirectional else "") + kind, "batch": batch, "time": steps, "hidden": hidden}
    for phase, grad in (("train", True), ("infer", False)):
        ours.train(grad), peer.train(grad)
        with torch.set_grad_enabled(grad):
            t_peer = _median_seconds(lambda: run_peer(grad), repeats)
            t_ours = _median_seconds(lambda: run_ours(grad), repeats)
        row[f"{phase}_peer_tok_s"] = tokens / t_peer
        row[f"{phase}_ours_tok_s"] = tokens / t_ours
        row[f"{phase}_ratio"] = t_peer / t_ours
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "masked.json")
    args = parser.parse_args()
    rows = []
    for name, batch, steps, features, hidden, low in CASES:
        for kind, bi in (("LSTM", True), ("LSTM", False), ("GRU", False)):
            row = _case(kind, bi, batch, steps, features, hidden, low, args.repeats)
            row["lengths"] = name
            rows.append(row)
    print(f"{torch.get_num_threads()} threads; tokens/s over valid steps; peer = torch.nn with packed sequences")
    print(f"{'lengths':<11} {'layer':<7} {'train peer':>11} {'train ours':>11} {'ratio':>6} {'infer peer':>11} "
          f"{'infer ours':>11} {'ratio':>6}")
    for r in rows:
        print(f"{r['lengths']:<11} {r['kind']:<7} {r['train_peer_tok_s']:>11,.0f} {r['train_ours_tok_s']:>11,.0f} "
              f"{r['train_ratio']:>5.2f}x {r['infer_peer_tok_s']:>11,.0f} {r['infer_ours_tok_s']:>11,.0f} "
              f"{r['infer_ratio']:>5.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
