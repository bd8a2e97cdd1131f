"""``rnnkit serve`` under load: micro-batching against one request at a time, latency, and streamed generation.

Starts its own servers on 127.0.0.1 (free ports; never another address), each a
``rnnkit serve`` process with its default threads, and stops them:

1. a classify run with the app's default model (BiLSTM, 128-wide embeddings, 64
   units, 200 tokens) served with micro-batching (``--max-batch 32``, 5 ms
   window), then the same run one request at a time (``--max-batch 1``);
   against each, ``--clients`` concurrent clients send one review-length text
   (100-300 words) per request for ``--seconds`` (or until ``--max-requests``):
   requests per second, errors, p50 and p99 latency, and the ratio of the two
   throughputs (goal: >= 4x, 0 errors).  Beside it, what batching saves in
   the model itself: the model call alone, per text, at batch 1 against batch
   32, in this process with the server's thread count;
2. a 2 x 256 character LSTM (textgen) streaming ``--length`` characters
   ``--streams`` times over one kept-alive connection: time from sending the
   request to the first streamed piece (goal <= 50 ms) and characters per
   second per stream (goal >= 1,000).

Runs are trained here in a few seconds on generated data (``--classify RUN`` /
``--textgen RUN`` serve existing ones instead); the model's quality does not
change the timings.  The load clients are plain HTTP/1.1 keep-alive connections
written on asyncio streams in this process: a full client library costs about
as much CPU per request as the server does, and on a 2-core machine it would
take the server's second core, so the figure would be the client's.

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


def _texts(n: int, seed: int = 0, words: tuple[int, int] = (100, 300)) -> list[tuple[str, str]]:
    """``n`` (text, label) rows of a review's length: filler words and one telling word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, telling = (("neg", NEG), ("pos", POS))[i % 2]
        text = [rng.choice(FILL) for _ in range(rng.randint(*words))]
        text.insert(rng.randrange(len(text) + 1), rng.choice(telling))
        rows.append((" ".join(text), label))
    return rows


def _classify_run(root: Path) -> Path:
    from rnnkit.apps.classify import ClassifyConfig, train
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(_texts(600))
    train(ClassifyConfig(data=str(root / "reviews.csv"), epochs=1, out=str(root / "classify")),  # the default model
          print_fn=lambda line: None, verbose=0)
    return root / "classify"


def _model_call_ratio(run: Path, threads: int, repeats: int = 5) -> dict:
    """What batching saves in the model itself: the model call alone, per text, at batch 1 and at batch 32."""
    from rnnkit.apps.classify.serve import ClassifyRequest, service
    torch.set_num_threads(threads)
    answer = service(run).predict
    requests = [ClassifyRequest(texts=[t]) for t, _ in _texts(64, seed=7)]
    per_text = {}
    for batch in (1, 32):
        answer(requests[:batch])  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            for i in range(0, len(requests), batch):
                answer(requests[i:i + batch])
        per_text[batch] = (time.perf_counter() - start) / (repeats * len(requests))
    return {"threads": threads, "ms_batch1": 1000 * per_text[1], "ms_batch32": 1000 * per_text[32],
            "ratio": per_text[1] / per_text[32]}


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


async def _client(port: int, path: str, bodies: list[bytes], deadline: float, budget: list[int],
                  latencies: list[float], errors: list[str]) -> None:
    """One keep-alive HTTP/1.1 connection sending ``bodies`` in turn until ``deadline`` or the shared budget is spent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            try:
                writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                reply = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                    errors.append(f"{status} {reply[:100].decode(errors='replace')}")
                elif b'"predictions"' not in reply:
                    errors.append(f"200 without predictions: {reply[:100].decode(errors='replace')}")
            except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError) as exc:
                errors.append(repr(exc))
                return
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load(port: int, name: str, clients: int, seconds: float, max_requests: int) -> dict:
    """``clients`` concurrent connections of one-text requests for ``seconds`` (or ``max_requests`` in all)."""
    bodies = [json.dumps({"texts": [t]}).encode() for t, _ in _texts(512, seed=7)]
    path = f"/models/{name}/predict"
    latencies: list[float] = []
    errors: list[str] = []
    await _client(port, path, bodies[:4], time.perf_counter() + 60, [4], [], errors)  # warm-up
    start = time.perf_counter()
    budget = [max_requests]
    await asyncio.gather(*(_client(port, path, bodies[k:] + bodies[:k], start + seconds, budget, latencies, errors)
                           for k in range(clients)))
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": round(elapsed, 2), "per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * _percentile(latencies, 0.5), "p99_ms": 1000 * _percentile(latencies, 0.99)}


def _stream(http: httpx.Client, name: str, length: int, seed: int) -> dict:
    """One streamed generation on a kept-alive connection: time to the first piece, characters per second after it."""
    body = {"prompt": "the ", "length": length, "temperature": 0.8, "top_k": 40, "seed": seed, "stream": True}
    chars, first = 0, None
    t0 = time.perf_counter()
    with http.stream("POST", f"/models/{name}/predict", json=body) as response:
        response.raise_for_status()
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                if event == "error":
                    raise RuntimeError(f"the stream failed: {line}")
            elif line.startswith("data: "):
                if event is None:  # a piece (the final `done` event repeats the whole text)
                    first = first or time.perf_counter()
                    chars += len(json.loads(line[6:])["text"])
                event = None
    end = time.perf_counter()
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
    from rnnkit.serve import model_threads
    threads = model_threads()
    with tempfile.TemporaryDirectory(prefix="rnnkit-serve-bench-") as tmp:
        classify = args.classify or _classify_run(Path(tmp))
        textgen = args.textgen or _textgen_run(Path(tmp))
        model_call = _model_call_ratio(classify, threads)
        torch.set_num_threads(1)  # this process now only sends requests
        phases = {}
        for label, batch in (("micro-batched", "32"), ("one at a time", "1")):
            with Server(classify, "--max-batch", batch) as server:
                phases[label] = asyncio.run(_load(server.port, classify.name, args.clients, args.seconds,
                                                  args.max_requests))
        with Server(textgen) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            _stream(http, textgen.name, 50, 0)  # warm-up, and the connection kept for the timed streams
            streams = [_stream(http, textgen.name, args.length, seed) for seed in range(1, args.streams + 1)]
    ratio = phases["micro-batched"]["per_s"] / max(phases["one at a time"]["per_s"], 1e-9)
    ttft = statistics.median(s["ttft_ms"] for s in streams)
    rate = statistics.median(s["chars_per_s"] for s in streams)
    errors = sum(p["errors"] for p in phases.values())
    level = cpu_level()
    print(f"CPU: {level}; torch {torch.__version__}; the server's models on {threads} thread(s) (every core but one); "
          f"{args.clients} clients, {args.seconds:g} s a phase, one review-length text (100-300 words) a request")
    print(f"{'classify':<14} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for label, p in phases.items():
        print(f"{label:<14} {p['requests']:>8} {p['errors']:>6} {p['per_s']:>8.1f} {p['p50_ms']:>8.1f} {p['p99_ms']:>8.1f}")
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    print(f"throughput ratio {ratio:.2f}x (goal >= {GOALS['ratio']:g}x: {verdict(ratio >= GOALS['ratio'])}); "
          f"errors {errors} (goal 0: {verdict(errors == 0)})")
    print(f"the model call alone, per text, {model_call['ms_batch1']:.2f} ms at batch 1, "
          f"{model_call['ms_batch32']:.2f} ms at batch 32: {model_call['ratio']:.2f}x ({threads} thread(s))")
    print(f"generation, 2 x 256 char LSTM, {args.length} chars x {args.streams}: first piece {ttft:.1f} ms median "
          f"(goal <= {GOALS['ttft_ms']:g}: {verdict(ttft <= GOALS['ttft_ms'])}), {rate:,.0f} chars/s median "
          f"(goal >= {GOALS['chars_per_s']:,.0f}: {verdict(rate >= GOALS['chars_per_s'])})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"torch": torch.__version__, "cpu": level, "clients": args.clients,
                                         "seconds": args.seconds, "phases": phases, "ratio": ratio, "errors": errors,
                                         "model_call": model_call, "streams": streams, "ttft_ms": ttft, "chars_per_s": rate,
                                         "goals": GOALS},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
