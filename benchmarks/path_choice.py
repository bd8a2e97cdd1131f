"""Which path trains and infers faster, per layer kind and size, on this CPU: the data behind ``use_fused='auto'``.

For SimpleRNN, LSTM and GRU with default settings, over a grid of batch sizes
and units (input features = units, 100 steps), times the fused kernel
(``use_fused=True``, PyTorch's oneDNN kernel) against the compiled loop
(``use_fused=False``, ``rnn_loop.c``) with the same weights in the same run,
and prints ``compiled / fused`` speed ratios for a training step (forward and
backward of ``output.sum()``) and for inference, with the path ``'auto'``
chose, so the rule in ``rnnkit.layers._compiled.compiled_preferred`` can be
checked against the machine it runs on.  Stops with a message where the
compiled loop did not run (no C compiler: ``use_fused=False`` is then the
reference path, and the ratios would not be the compiled loop's).

Usage:  python benchmarks/path_choice.py [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from layers import _infer, _time, _train_step, cpu_level  # noqa: E402

from rnnkit.layers import GRU, LSTM, SimpleRNN  # noqa: E402

KINDS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


def run(batches, units_list, steps, repeats, min_seconds) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    for kind, cls in KINDS.items():
        for units in units_list:
            for batch in batches:
                x = torch.randn(batch, steps, units)
                fused = cls(units, input_size=units, return_sequences=True, use_fused=True)
                compiled = cls(units, input_size=units, return_sequences=True, use_fused=False)
                auto = cls(units, input_size=units, return_sequences=True)
                compiled.load_state_dict(fused.state_dict())
                auto.load_state_dict(fused.state_dict())
                for mode in ("train", "infer"):
                    make = _train_step if mode == "train" else _infer
                    for m in (fused, compiled, auto):
                        m.train(mode == "train")
                    t_fused, t_comp = _time([make(fused, x), make(compiled, x)], repeats, min_seconds)
                    if compiled.last_path != "compiled":
                        raise SystemExit(f"path_choice: the compiled loop did not run ({compiled.last_path_reason})")
                    make(auto, x)()
                    rows.append(dict(layer=kind, units=units, batch=batch, steps=steps, mode=mode,
                                     fused_tok_s=batch * steps / t_fused, compiled_tok_s=batch * steps / t_comp,
                                     ratio=t_fused / t_comp, compiled_path=compiled.last_path, auto=auto.last_path))
                    r = rows[-1]
                    print(f"{kind:<9} U{units:<5} B{batch:<4} {mode:<5} fused {r['fused_tok_s']:>10,.0f}  compiled "
                          f"{r['compiled_tok_s']:>10,.0f}  compiled/fused {r['ratio']:5.2f}x  auto -> {r['auto']}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "path_choice.json")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_level()}")
    batches, units = ([8, 64], [128, 512]) if args.quick else ([1, 8, 32, 128], [64, 256, 512, 1024])
    rows = run(batches, units, 100, args.repeats, args.min_seconds)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"torch": torch.__version__, "cpu": cpu_level(), "rows": rows}, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
