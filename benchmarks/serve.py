"""``rnnkit serve`` under load: micro-batching against one request at a time, latency, and streamed generation.

Starts its own servers on 127.0.0.1 (free ports; never another address), each a
``rnnkit serve`` process, and stops them:

1. a classify run served with micro-batching (``--max-batch 32``, 5 ms window),
   then the same run one request at a time (``--max-batch 1``); against each,
   ``--clients`` concurrent clients send one text per request for ``--seconds``
   (or until ``--max-requests``): requests per second, errors, p50 and p99
   latency, and the ratio of the two throughputs (goal: >= 4x, 0 errors);
2. a 2 x 256 character LSTM (textgen) streaming ``--length`` characters
   ``--streams`` times: time to the first streamed piece (goal <= 50 ms) and
   characters per second per stream (goal >= 1,000).

Runs are trained here in a few seconds on generated data (``--classify RUN`` /
``--textgen RUN`` serve existing ones instead); the model's quality does not
change the timings.  Clients run in this process (asyncio + httpx), the server
in its own.

Usage:  python benchmarks/serve.py [--seconds 30] [--clients 32] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

from rnnkit._kernels import cpu_level

GOALS = {"ratio": 4.0, "ttft_ms": 50.0, "chars_per_s": 1000.0}
POS, NEG = ["good", "great", "love", "wonderful", "fine"], ["bad", "awful", "hate", "terrible", "poor"]
FILL = ["the", "film", "was", "a", "and", "it", "movie", "plot", "actors", "story", "scene", "music"]


def _texts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, words = (("neg", NEG), ("pos", POS))[i % 2]
        text = [rng.choice(FILL) for _ in range(rng.randint(8, 40))]
        text.insert(rng.randrange(len(text) + 1), rng.choice(words))
        rows.append((" ".join(text), label))
    return rows


def _classify_run(root: Path) -> Path:
    from rnnkit.apps.classify import ClassifyConfig, train
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(_texts(600))
    train(ClassifyConfig(data=str(root / "reviews.csv"), embed_dim=64, units=64, epochs=1, batch_size=32,
                         out=str(root / "classify")), print_fn=lambda line: None, verbose=0)
    return root / "classify"


def _textgen_run(root: Path) -> Path:
    from rnnkit.apps.textgen import TextgenConfig, train
    rng = random.Random(1)
    words = [w for w in (FILL + POS + NEG)]
    (root / "text.txt").write_text(" ".join(rng.choice(words) for _ in range(3000)) + ".\n", encoding="utf-8")
    train(TextgenConfig(data=str(root / "text.txt"), layers=2, units=256, embed_dim=64, seq_len=64, batch_size=64,
                        epochs=1, sample_length=0, out=str(root / "textgen")), print_fn=lambda line: None, verbose=0)
    return root / "textgen"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``rnnkit serve`` in a child process on 127.0.0.1 (a free port), waited for, stopped on exit."""

    def __init__(self, run: Path, *extra: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        self.process = subprocess.Popen([sys.executable, "-c", "import sys; from rnnkit.cli import main; sys.exit(main())", "serve", "--run", str(run), "--host",
                                         "127.0.0.1", "--port", str(self.port), *extra], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rnnkit serve exited: {self.process.stderr.read().decode()[-500:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("rnnkit serve did not answer /health within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def _load(url: str, name: str, clients: int, seconds: float, max_requests: int) -> dict:
    """``clients`` concurrent loops of one-text requests for ``seconds`` (or ``max_requests`` in all)."""
    texts = [t for t, _ in _texts(512, seed=7)]
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        for i in range(4):  # warm-up
            await http.post(f"/models/{name}/predict", json={"texts": [texts[i]]})
        start = time.perf_counter()
        deadline = start + seconds

        async def client(k: int) -> None:
            nonlocal sent
            i = k
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    reply = await http.post(f"/models/{name}/predict", json={"texts": [texts[i % len(texts)]]})
                    if reply.status_code != 200:
                        errors.append(f"{reply.status_code} {reply.text[:100]}")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)
                i += clients

        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": round(elapsed, 2), "per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * _percentile(latencies, 0.5), "p99_ms": 1000 * _percentile(latencies, 0.99)}


def _stream(url: str, name: str, length: int, seed: int) -> dict:
    """One streamed generation: time to the first piece, characters per second after it."""
    body = {"prompt": "the ", "length": length, "temperature": 0.8, "top_k": 40, "seed": seed, "stream": True}
    chars, first = 0, None
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{url}/models/{name}/predict", json=body, timeout=120) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event: error"):
                raise RuntimeError(f"the stream failed: {line}")
            if line.startswith("data: ") and first is None:
                first = time.perf_counter()
            if line.startswith("data: "):
                chars += len(json.loads(line[6:])["text"])
    end = time.perf_counter()
    chars //= 2  # each character came twice: as a piece, and in the final `done` event
    return {"ttft_ms": 1000 * (first - t0), "chars": chars, "chars_per_s": chars / max(end - first, 1e-9)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load time per classify phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--max-requests", type=int, default=200_000, help="requests per phase at most")
    parser.add_argument("--streams", type=int, default=5, help="streamed generations timed")
    parser.add_argument("--length", type=int, default=1000, help="characters per generation")
    parser.add_argument("--classify", type=Path, default=None, help="a classify run to serve (default: trained here)")
    parser.add_argument("--textgen", type=Path, default=None, help="a 2 x 256 char LSTM run (default: trained here)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rnnkit-serve-bench-") as tmp:
        classify = args.classify or _classify_run(Path(tmp))
        textgen = args.textgen or _textgen_run(Path(tmp))
        phases = {}
        for label, batch in (("micro-batched", "32"), ("one at a time", "1")):
            with Server(classify, "--max-batch", batch) as server:
                phases[label] = asyncio.run(_load(server.url, classify.name, args.clients, args.seconds,
                                                  args.max_requests))
        with Server(textgen) as server:
            _stream(server.url, textgen.name, 50, 0)  # warm-up
            streams = [_stream(server.url, textgen.name, args.length, seed) for seed in range(1, args.streams + 1)]
    ratio = phases["micro-batched"]["per_s"] / max(phases["one at a time"]["per_s"], 1e-9)
    ttft = statistics.median(s["ttft_ms"] for s in streams)
    rate = statistics.median(s["chars_per_s"] for s in streams)
    errors = sum(p["errors"] for p in phases.values())
    level = cpu_level()
    print(f"CPU: {level}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.clients} clients, "
          f"{args.seconds:g} s a phase, one text a request")
    print(f"{'classify':<14} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for label, p in phases.items():
        print(f"{label:<14} {p['requests']:>8} {p['errors']:>6} {p['per_s']:>8.1f} {p['p50_ms']:>8.1f} {p['p99_ms']:>8.1f}")
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    print(f"throughput ratio {ratio:.2f}x (goal >= {GOALS['ratio']:g}x: {verdict(ratio >= GOALS['ratio'])}); "
          f"errors {errors} (goal 0: {verdict(errors == 0)})")
    print(f"generation, 2 x 256 char LSTM, {args.length} chars x {args.streams}: first piece {ttft:.1f} ms median "
          f"(goal <= {GOALS['ttft_ms']:g}: {verdict(ttft <= GOALS['ttft_ms'])}), {rate:,.0f} chars/s median "
          f"(goal >= {GOALS['chars_per_s']:,.0f}: {verdict(rate >= GOALS['chars_per_s'])})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"torch": torch.__version__, "cpu": level, "clients": args.clients,
                                         "seconds": args.seconds, "phases": phases, "ratio": ratio, "errors": errors,
                                         "streams": streams, "ttft_ms": ttft, "chars_per_s": rate, "goals": GOALS},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
