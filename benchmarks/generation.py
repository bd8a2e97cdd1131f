"""Generation speed: characters per second of textgen sampling against a torch.nn.LSTM step loop, one run.

Both sides use a 2 x 512 LSTM character model with the same weights: rnnkit's
``generate`` (stateful layers, one fused step per character) and a loop that
calls ``torch.nn.LSTM`` one step at a time with its (h, c) state, then samples
with ``torch.multinomial`` at the same temperature.  Rounds alternate between
the two; the table shows medians.  Goal: rnnkit >= 1x the loop.

Usage:  python benchmarks/generation.py [--length 400] [--rounds 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rnnkit.apps.textgen import generate
from rnnkit.apps.textgen.model import build_model
from rnnkit.data import Vocab
from rnnkit.layers import to_torch


class _TorchLoop(torch.nn.Module):
    """The peer: embedding, torch.nn.LSTM and a linear head, fed one character at a time."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        layers = [m for m in model.modules() if type(m).__name__ in ("Embedding", "LSTM", "Dense")]
        self.embed = torch.nn.Embedding.from_pretrained(layers[0].weight.detach().clone())
        self.lstm = to_torch([m for m in layers if type(m).__name__ == "LSTM"])  # one 2-layer torch.nn.LSTM
        head = layers[-1]
        self.head = torch.nn.Linear(head.weight.shape[1], head.weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(head.weight)
            self.head.bias.copy_(head.bias)

    @torch.inference_mode()
    def sample(self, prompt: list[int], length: int, temperature: float, gen: torch.Generator) -> list[int]:
        out, state = self.lstm(self.embed(torch.tensor([prompt])))
        logits = self.head(out[:, -1])
        ids = []
        for _ in range(length):
            nxt = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=gen)  # (1, 1)
            ids.append(int(nxt))
            out, state = self.lstm(self.embed(nxt), state)
            logits = self.head(out[:, -1])
        return ids


def run(length: int, rounds: int) -> dict:
    torch.manual_seed(0)
    vocab = Vocab.build(["".join(chr(c) for c in range(32, 127)) + "\n"], level="char")
    model = build_model(len(vocab), layers=2, units=512, embed_dim=64).eval()
    peer = _TorchLoop(model).eval()
    prompt = "ROMEO:"
    times: dict[str, list[float]] = {"torch.nn.LSTM step loop": [], "rnnkit textgen sample": []}
    generate(model, vocab, prompt, 20, seed=0)  # warm up both
    peer.sample(vocab.encode(prompt), 20, 0.8, torch.Generator().manual_seed(0))
    for r in range(rounds):
        t0 = time.perf_counter()
        peer.sample(vocab.encode(prompt), length, 0.8, torch.Generator().manual_seed(r))
        times["torch.nn.LSTM step loop"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generate(model, vocab, prompt, length, temperature=0.8, top_k=0, top_p=1.0, seed=r)
        times["rnnkit textgen sample"].append(time.perf_counter() - t0)
    peer_rate = length / statistics.median(times["torch.nn.LSTM step loop"])
    rows = {name: {"chars_per_s": length / statistics.median(t), "vs_torch_loop": length / statistics.median(t) / peer_rate}
            for name, t in times.items()}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = run(args.length, args.rounds)
    print(f"2 x 512 LSTM character model, {args.length} characters, median of {args.rounds} rounds, {torch.get_num_threads()} threads")
    print(f"{'generator':<28} {'chars/s':>9} {'vs loop':>8}")
    for name, r in rows.items():
        print(f"{name:<28} {r['chars_per_s']:>9.0f} {r['vs_torch_loop']:>7.2f}x")
    ratio = rows["rnnkit textgen sample"]["vs_torch_loop"]
    print(f"\ngoal: >= 1x the step loop: {ratio:.2f}x -> {'met' if ratio >= 1 else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
