"""The cost of AWD-LSTM's regularisers in a training step, against torch.nn.LSTM in the same run.

DropConnect on the recurrent weights (``recurrent_weight_dropout``) draws one
mask per call and passes the masked weight to the fused kernel, so its cost
should be one elementwise product of ``weight_hh`` per direction and call, a few
per cent of a step at classifier sizes.  Rows (a training step: forward, and
backward of the outputs' sum; tokens/s over batch x time):

* ``bilstm``: a BiLSTM of 64 units over embeddings of 128, batch 32, 200 steps:
  torch.nn.LSTM(bidirectional=True) (the peer), rnnkit with
  ``recurrent_weight_dropout=0`` (twice: the second's ratio to the first is the
  noise of the measurement) and ``=0.5``;
* ``bilstm padded``: the same with a padding mask (lengths in [0.75 T, T], what
  length bucketing gives), as a classifier runs it;
* ``awd stack``: ids -> Embedding(20000, 128, mask_zero) -> [SpatialDropout1D] ->
  BiLSTM -> GlobalMaxPooling1D -> Dense(2), every regulariser off, then on
  (embeddings_dropout 0.1, locked dropout 0.2, DropConnect 0.5).

The line that matters is the ratio of ``=0.5`` to ``=0`` (goal: >= 0.95x).
On a machine other jobs share, ``--cpu-time`` runs one thread and times CPU
seconds of this process (``time.process_time``) instead of wall time, which
the others' load disturbs far less.

Usage:  python benchmarks/regularisation.py [--repeats N] [--min-seconds S] [--cpu-time] [--json PATH]
Writes the rows as JSON (default benchmarks/results/regularisation.json).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from layers import _time  # benchmarks/layers.py: round-robin medians
from rnnkit._kernels import cpu_level
from rnnkit.layers import (LSTM, Bidirectional, Dense, Embedding, GlobalMaxPooling1D, SpatialDropout1D,
                           load_torch_state_dict)
from rnnkit.models import Sequential

BATCH, STEPS, EMBED, UNITS, VOCAB, P = 32, 200, 128, 64, 20000, 0.5


def _step(module, *inputs, **kwargs):
    def step():
        module.zero_grad(set_to_none=True)
        out = module(*inputs, **kwargs)
        (out[0] if isinstance(out, tuple) else out).sum().backward()

    return step


def _bilstm(peer: torch.nn.LSTM, p: float) -> Bidirectional:
    layer = Bidirectional(LSTM(UNITS, return_sequences=True, recurrent_weight_dropout=p))
    layer.build((BATCH, STEPS, EMBED))
    load_torch_state_dict([layer], peer.state_dict())
    return layer.train()


def _stack(on: bool) -> Sequential:
    torch.manual_seed(0)
    layers = [Embedding(VOCAB, EMBED, mask_zero=True, embeddings_dropout=0.1 if on else 0.0)]
    layers += [SpatialDropout1D(0.2)] if on else []
    layers += [Bidirectional(LSTM(UNITS, return_sequences=True, recurrent_weight_dropout=P if on else 0.0)),
               GlobalMaxPooling1D(), Dense(2)]
    return Sequential(layers).train()


def run(repeats: int, min_seconds: float, clock=time.perf_counter) -> list[dict]:
    torch.manual_seed(0)
    tokens = BATCH * STEPS
    x = torch.randn(BATCH, STEPS, EMBED)
    lengths = torch.randint(int(0.75 * STEPS), STEPS + 1, (BATCH,))
    mask = torch.arange(STEPS)[None, :] < lengths[:, None]  # (B, T)
    peer = torch.nn.LSTM(EMBED, UNITS, batch_first=True, bidirectional=True)
    # a second p=0 layer, timed as one more candidate, shows the noise floor of the vs-off column
    candidates = [("rnnkit p=0", _bilstm(peer, 0.0)), ("rnnkit p=0 again", _bilstm(peer, 0.0)),
                  (f"rnnkit p={P}", _bilstm(peer, P))]
    rows = []
    for case, kwargs in (("bilstm", {}), ("bilstm padded", {"mask": mask})):
        # the peer runs the unmasked case only; with padding it would need packed sequences, another workload
        peers = [] if kwargs else [_step(peer, x)]
        times = _time(peers + [_step(layer, x, **kwargs) for _, layer in candidates], repeats, min_seconds, clock)
        t_peer = times.pop(0) if peers else None
        if t_peer is not None:
            rows.append(dict(case=case, impl="torch.nn.LSTM", path="fused", tok_s=tokens / t_peer, vs_peer=1.0))
        for (impl, layer), t in zip(candidates, times):
            rows.append(dict(case=case, impl=impl, path=layer.last_path, tok_s=tokens / t,
                             vs_peer=None if t_peer is None else t_peer / t, vs_p0=times[0] / t))
    ids = torch.randint(1, VOCAB, (BATCH, STEPS))
    ids[mask.logical_not()] = 0
    plain, awd = _stack(False), _stack(True)
    t_plain, t_awd = _time([_step(plain, ids), _step(awd, ids)], repeats, min_seconds, clock)
    rows.append(dict(case="awd stack", impl="regularisers off", path=plain.layers[1].last_path, tok_s=tokens / t_plain,
                     vs_peer=None, vs_p0=1.0))
    rows.append(dict(case="awd stack", impl="regularisers on", path=awd.layers[2].last_path, tok_s=tokens / t_awd,
                     vs_peer=None, vs_p0=t_plain / t_awd))
    return rows


def _print_table(rows: list[dict]) -> None:
    """Text columns left-aligned, numbers right-aligned, each as wide as its widest cell."""
    cells = [("case", "implementation", "path", "tokens/s", "vs torch", "vs off")]
    cells += [(r["case"], r["impl"], r["path"], f"{r['tok_s']:,.0f}",
               "" if r["vs_peer"] is None else f"{r['vs_peer']:.2f}x",
               "" if r.get("vs_p0") is None else f"{r['vs_p0']:.3f}x") for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    for k, line in enumerate(cells):
        print("  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))
        if k == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=2.0, help="least time spent on each measurement")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread, timed in CPU seconds of this process (for a shared machine)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "regularisation.json")
    args = parser.parse_args(argv)
    if args.cpu_time:
        torch.set_num_threads(1)
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, CPU: {cpu_level()}, "
          f"{'CPU' if args.cpu_time else 'wall'} time")
    rows = run(args.repeats, args.min_seconds, clock)
    _print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_level(),
                                     "clock": "process" if args.cpu_time else "wall", "rows": rows}, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
