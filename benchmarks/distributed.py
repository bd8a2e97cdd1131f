"""Data-parallel training on this machine: tokens/s of 1 process against 2 (torchrun, gloo), each on one thread.

The model is the medium LSTM language model of Zaremba et al. (2014): 2 x 650
LSTM, 650-wide embeddings, a 10,000-word vocabulary, 35-step chunks, global
batch 20 (10 rows a process with 2), trained with ``Model.fit`` on an
``LMStream`` as ``rnnkit textgen`` trains, on random tokens (the speed does not
depend on them).  Three runs, each ``--warmup`` steps then ``--steps`` timed:

* 1 process, 1 thread;
* 2 processes (``torchrun --standalone``), 1 thread each: the global tokens/s,
  the scaling efficiency (tokens/s / (2 x 1-process tokens/s)), and the
  all-reduce share of a step (an all-reduce of every gradient, timed alone in
  the same processes, over the step's time: what DDP's overlap with the
  backward pass hides or not);
* 1 process, 2 threads: what the second core buys without data parallelism;
* 1 process, 1 thread, half the batch: one rank's own work, alone, which
  bounds what 2 ranks can reach.

On 2 cores expect about 1.6-1.9x at best.  Usage:
    python benchmarks/distributed.py [--steps 6] [--warmup 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SRC = str(Path(__file__).resolve().parents[1] / "src")
MEDIUM = {"vocab": 10_000, "layers": 2, "units": 650, "embed": 650, "steps": 35, "batch": 20, "dropout": 0.5}


def _worker(args: argparse.Namespace) -> None:
    """One training process: fit the medium LM for warm-up + timed steps; rank 0 writes the figures."""
    import rnnkit
    from rnnkit.apps.textgen.model import build_model
    from rnnkit.data import LMStream
    from rnnkit.training.callbacks import Callback
    from rnnkit.training.losses import SparseCategoricalCrossentropy
    from rnnkit.training.optimizers import SGD

    torch.set_num_threads(args.threads)
    rnnkit.set_seed(0)
    m = MEDIUM
    model = build_model(m["vocab"], layers=m["layers"], units=m["units"], embed_dim=m["embed"], dropout=m["dropout"])
    model.compile(optimizer=SGD(learning_rate=1.0), loss=SparseCategoricalCrossentropy(from_logits=True),
                  clipnorm=5.0, device="cpu")
    steps = args.warmup + args.steps
    batch = args.batch or m["batch"]
    tokens = np.random.default_rng(0).integers(4, m["vocab"], size=batch * (m["steps"] * steps + 1))
    stamps: list[float] = []

    class Stamp(Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(time.perf_counter())

    model.fit(LMStream(tokens, batch, m["steps"]), batch_size=batch, epochs=1, verbose=0, shuffle=False,
              steps_per_epoch=steps, callbacks=[Stamp()])
    step = (stamps[-1] - stamps[args.warmup - 1]) / args.steps
    figures = {"threads": args.threads, "world": 1, "step_s": step, "tokens_per_s": batch * m["steps"] / step}
    if torch.distributed.is_initialized():
        world = torch.distributed.get_world_size()
        flat = torch.zeros(sum(p.numel() for p in model.parameters()))
        torch.distributed.all_reduce(flat)  # warm-up
        start = time.perf_counter()
        for _ in range(5):
            torch.distributed.all_reduce(flat)
        reduce = (time.perf_counter() - start) / 5
        figures.update(world=world, allreduce_s=reduce, allreduce_share=reduce / step, gradient_mb=flat.numel() * 4 / 1e6)
        if torch.distributed.get_rank() != 0:
            return
    Path(args.out).write_text(json.dumps(figures))


def _run(nproc: int, threads: int, args: argparse.Namespace, out: Path, batch: int = 0) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": str(threads)}
    me = [str(Path(__file__).resolve()), "--worker", "--threads", str(threads), "--steps", str(args.steps),
          "--warmup", str(args.warmup), "--out", str(out), "--batch", str(batch)]
    command = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *me]
               if nproc > 1 else [sys.executable, *me])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{nproc} process(es) x {threads} thread(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    from rnnkit._kernels import cpu_level

    with tempfile.TemporaryDirectory(prefix="rnnkit-dist-bench-") as tmp:
        runs = {label: _run(nproc, threads, args, Path(tmp) / f"{nproc}x{threads}.json")
                for label, nproc, threads in (("1 process x 1 thread", 1, 1), ("2 processes x 1 thread", 2, 1),
                                              ("1 process x 2 threads", 1, 2))}
        # one rank's own work, alone: half the batch on one thread (what 2 ranks would take with free communication)
        half = _run(1, 1, args, Path(tmp) / "half.json", batch=MEDIUM["batch"] // 2)
    base = runs["1 process x 1 thread"]["tokens_per_s"]
    m = MEDIUM
    print(f"CPU: {cpu_level()}; torch {torch.__version__}; medium LSTM LM ({m['layers']} x {m['units']}, vocabulary "
          f"{m['vocab']:,}, {m['steps']} steps, global batch {m['batch']}); {args.steps} timed steps after "
          f"{args.warmup}")
    print(f"{'run':<24} {'s/step':>8} {'tokens/s':>9} {'vs 1x1':>7}")
    for label, r in runs.items():
        print(f"{label:<24} {r['step_s']:>8.3f} {r['tokens_per_s']:>9.0f} {r['tokens_per_s'] / base:>6.2f}x")
    two = runs["2 processes x 1 thread"]
    efficiency = two["tokens_per_s"] / (2 * base)
    print(f"scaling efficiency with 2 processes: {efficiency:.0%} ({two['tokens_per_s'] / base:.2f}x; expected "
          f"1.6-1.9x at best on 2 cores); all-reduce of the {two['gradient_mb']:.0f} MB of gradients alone: "
          f"{1000 * two['allreduce_s']:.0f} ms, {two['allreduce_share']:.0%} of a step")
    print(f"one rank's half batch alone, 1 thread: {half['step_s']:.3f} s a step, so 2 ranks would reach "
          f"{m['batch'] * m['steps'] / half['step_s'] / base:.2f}x with free communication; they spend "
          f"{two['step_s'] - half['step_s']:.3f} s a step more (all-reduce, a second core's memory traffic)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"torch": torch.__version__, "cpu": cpu_level(), "model": MEDIUM,
                                         "runs": runs, "half_batch": half, "efficiency": efficiency}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
