"""``rnnkit serve`` under faults: the server-fault table (what the faulty client got, what the others got, what
was logged, whether any reply leaked a path or a traceback).

Starts ``rnnkit serve --read-timeout 2`` in a child process on 127.0.0.1 (a free port; never another address)
over a classify run (the app's default model), a 2 x 256 character LSTM (textgen), both trained here in a minute
or two (``--classify RUN`` / ``--textgen RUN`` serve existing ones), and two copies of the classify run: ``doomed``,
deleted while served, and ``corrupt``, whose model file and a plot are overwritten while served.  While a normal
client sends one-text classify requests back to back on a kept-alive connection, the faults come in turn:

1. clients that leave mid-stream (``--streams`` generations of 2,000 characters, closed after the first event),
   then one short generation: had the abandoned ones run on, it would wait for them;
2. clients that leave before a non-streamed reply (the same, closed 0.2 s after sending);
3. ``--slow`` slow-loris clients trickling their request heads (a byte each 100 ms), then as many trickling
   their bodies; each must be cut off (a 408) 2 s after it began;
4. 20 bodies declared at 2 MB (over the 1 MB limit), 20 malformed HTTP requests, 300 mangled JSON bodies;
5. the ``doomed`` run's folder deleted, then a request to it and to its plot; the ``corrupt`` run's model
   file zeroed and its plot removed, then the same.

The normal client's latency during each fault is set against its latency with no fault, measured first (the
ratio of the medians).  The log lines are the server's stderr during the fault.  Leak-free: no reply to a
faulty client held the runs' folder, the package's or Python's path, or a traceback.

Usage:  python benchmarks/serve_faults.py [--slow 50] [--streams 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

from rnnkit._kernels import cpu_level
from serve import Server, _classify_run, _percentile, _textgen_run  # benchmarks/serve.py

READ_TIMEOUT = 2.0
TEXT = {"texts": ["the film was good and the music was fine"]}


class Watch:
    """The normal client (one-text classify requests back to back, kept alive) and the server's stderr, both with
    timestamps, in threads; :meth:`window` gives both between two moments."""

    def __init__(self, server: Server, name: str) -> None:
        self.server, self.name = server, name
        self.requests: list[tuple[float, float, int]] = []  # (start, seconds, status)
        self.lines: list[tuple[float, str]] = []
        self.running = True
        self.threads = [threading.Thread(target=self._client, daemon=True),
                        threading.Thread(target=self._stderr, daemon=True)]
        for t in self.threads:
            t.start()

    def _client(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=60) as http:
            while self.running:
                t0 = time.perf_counter()
                try:
                    status = http.post(f"/models/{self.name}/predict", json=TEXT).status_code
                except httpx.HTTPError:
                    status = 0
                self.requests.append((t0, time.perf_counter() - t0, status))

    def _stderr(self) -> None:
        for raw in self.server.process.stderr:
            self.lines.append((time.perf_counter(), raw.decode("utf-8", "replace").rstrip()))

    def window(self, start: float, end: float) -> dict:
        seconds = [s for t0, s, _ in self.requests if start <= t0 < end]
        errors = sum(1 for t0, _, status in self.requests if start <= t0 < end and status != 200)
        return {"requests": len(seconds), "errors": errors, "p50_ms": 1000 * _percentile(seconds, 0.5),
                "p99_ms": 1000 * _percentile(seconds, 0.99), "max_ms": 1000 * max(seconds, default=float("nan")),
                "log": [line for t, line in self.lines if start <= t < end + 0.5]}

    def stop(self) -> None:
        self.running = False


def _raw(port: int, data: bytes, wait: float = 30.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (or ``wait`` seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
                if b"\r\n\r\n" in got and b"connection: close" not in got.lower():
                    head, _, body = got.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), None)
                    if length is not None and len(body) >= length:
                        break
        except OSError:
            pass
    return got


def _request(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    fields = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(body)),
              **(headers or {})}
    return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode() + body


def _gone(port: int, name: str, streams: int, stream: bool) -> dict:
    """``streams`` generations of 2,000 characters whose clients leave (after the first event, or after 0.2 s)."""
    got = []
    for seed in range(streams):
        body = json.dumps({"prompt": "the ", "length": 2000, "seed": seed, "stream": stream}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(_request(f"/models/{name}/predict", body))
            if stream:
                data = b""
                while b"data: " not in data:
                    data += sock.recv(65536)
                got.append(data)
            else:
                time.sleep(0.2)
    after, waited = _short(port, name)
    first = got[0].split(b"\r\n", 1)[0].decode() + ", then closed" if got else "closed before its reply"
    return {"got": first, "replies": [g.decode("utf-8", "replace") for g in got] + [after.text],
            "next_ms": 1000 * waited}


def _short(port: int, name: str, length: int = 5) -> tuple[httpx.Response, float]:
    """A generation of ``length`` characters and its seconds (it waits for any generation still running)."""
    t0 = time.perf_counter()
    reply = httpx.post(f"http://127.0.0.1:{port}/models/{name}/predict", json={"prompt": "the ", "length": length},
                       timeout=120)
    return reply, time.perf_counter() - t0


def _slow(port: int, name: str, count: int, part: str) -> dict:
    """``count`` clients trickling their request ``part`` ("head" or "body") a byte each 100 ms until cut off."""
    request = _request(f"/models/{name}/predict", json.dumps(TEXT).encode().ljust(300))
    head = request.index(b"\r\n\r\n") + 4
    first, rest = (b"", request) if part == "head" else (request[:head], request[head:])
    results: list[tuple[float, bytes]] = []

    def one() -> None:
        start, got = time.perf_counter(), b""
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            try:
                sock.sendall(first)
                sock.settimeout(0.1)
                for byte in rest:
                    sock.sendall(bytes([byte]))
                    try:
                        got += sock.recv(65536)
                        break
                    except socket.timeout:
                        continue
                sock.settimeout(30)
                while chunk := sock.recv(65536):
                    got += chunk
            except OSError:
                pass
        results.append((time.perf_counter() - start, got))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = [s for s, _ in results]
    statuses = sorted({g.split(b"\r\n", 1)[0].decode() or "nothing" for _, g in results})
    return {"got": f"{', '.join(statuses)}, cut at {min(seconds):.2f}-{max(seconds):.2f} s",
            "replies": [g.decode("utf-8", "replace") for _, g in results]}


def _many(port: int, requests: list[bytes]) -> dict:
    """Each request on its own connection; the statuses seen."""
    replies = [_raw(port, r) for r in requests]
    statuses: dict[str, int] = {}
    for r in replies:
        key = r.split(b" ", 2)[1].decode() if r.startswith(b"HTTP/") else "nothing"
        statuses[key] = statuses.get(key, 0) + 1
    return {"got": ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())),
            "replies": [r.decode("utf-8", "replace") for r in replies]}


def _mangled(name: str, count: int) -> list[bytes]:
    """``count`` classify bodies broken in assorted ways (truncated, bytes flipped, wrong types, deep, huge numbers)."""
    rng = random.Random(0)
    good = json.dumps({"texts": ["a good film", "bad"]}).encode()
    shapes = [lambda: good[: rng.randrange(len(good))], lambda: bytes(b ^ (rng.random() < 0.1) * 0x80 for b in good),
              lambda: b'{"texts": ' + rng.choice([b"1", b"null", b"true", b'"x"', b"{}", b"1e999", b"9" * 5000]) + b"}",
              lambda: b"[" * 50_000 + b"]" * 50_000, lambda: b'{"texts": ["\\ud800"], "x": 1}',
              lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))]
    return [_request(f"/models/{name}/predict", rng.choice(shapes)()) for _ in range(count)]


MALFORMED = [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
             b"GET /\x00 HTTP/1.1\r\n\r\n",
             b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
             b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # a TLS hello
             b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
             b"POST /models HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
             b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\nX-Ctl: a\x01b\r\n\r\n"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=50, help="slow-loris clients per kind")
    parser.add_argument("--streams", type=int, default=5, help="clients that leave, per kind")
    parser.add_argument("--classify", type=Path, default=None, help="a classify run to serve (default: trained here)")
    parser.add_argument("--textgen", type=Path, default=None, help="a textgen run to serve (default: trained here)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnnkit-serve-faults-") as tmp:
        classify = args.classify or _classify_run(Path(tmp))
        textgen = args.textgen or _textgen_run(Path(tmp))
        doomed, corrupt = Path(tmp) / "doomed", Path(tmp) / "corrupt"
        shutil.copytree(classify, doomed)
        shutil.copytree(classify, corrupt)
        leaks = [str(Path(tmp).resolve()), tmp, str(Path(__file__).resolve().parents[1]), sys.prefix, "Traceback",
                 'File "']
        with Server(classify, "--run", str(textgen), "--run", str(doomed), "--run", str(corrupt), "--read-timeout",
                    str(READ_TIMEOUT)) as server:
            watch = Watch(server, classify.name)
            port, base = server.port, server.url
            time.sleep(0.5)  # warm-up
            t0 = time.perf_counter()
            time.sleep(3.0)
            baseline = watch.window(t0, time.perf_counter())
            alone_ms = 1000 * min(_short(port, textgen.name)[1] for _ in range(3))
            whole_ms = 1000 * _short(port, textgen.name, 2000)[1]  # what each abandoned generation would have taken
            plot = sorted(p.name for p in classify.glob("*.png"))[0]

            def delete() -> dict:
                shutil.rmtree(doomed)
                a = httpx.post(f"{base}/models/doomed/predict", json=TEXT, timeout=60)
                b = httpx.get(f"{base}/models/doomed/files/{plot}", timeout=60)
                return {"got": f"predict {a.status_code}{', as before' if a.json() == before['doomed'] else ''}; "
                               f"plot {b.status_code}", "replies": [a.text, b.text]}

            def corrupted() -> dict:
                (corrupt / "model.safetensors").write_bytes(b"\0" * 64)
                (corrupt / plot).unlink()
                a = httpx.post(f"{base}/models/corrupt/predict", json=TEXT, timeout=60)
                b = httpx.get(f"{base}/models/corrupt/files/{plot}", timeout=60)
                return {"got": f"predict {a.status_code}{', as before' if a.json() == before['corrupt'] else ''}; "
                               f"plot {b.status_code}", "replies": [a.text, b.text]}

            before = {n: httpx.post(f"{base}/models/{n}/predict", json=TEXT, timeout=60).json()
                      for n in ("doomed", "corrupt")}
            faults = [
                ("client gone mid-stream", lambda: _gone(port, textgen.name, args.streams, True)),
                ("client gone before its reply", lambda: _gone(port, textgen.name, args.streams, False)),
                (f"{args.slow} slow-loris heads", lambda: _slow(port, classify.name, args.slow, "head")),
                (f"{args.slow} slow-loris bodies", lambda: _slow(port, classify.name, args.slow, "body")),
                ("20 bodies of 2 MB", lambda: _many(port, [_request(f"/models/{classify.name}/predict", b"{" * 1000,
                                                                    {"Content-Length": "2000000"})] * 20)),
                (f"{len(MALFORMED) * 2} malformed/odd HTTP", lambda: _many(port, MALFORMED * 2)),
                ("300 mangled JSON bodies", lambda: _many(port, _mangled(classify.name, 300))),
                ("run folder deleted", delete),
                ("model file corrupted", corrupted),
            ]
            for label, fault in faults:
                start = time.perf_counter()
                result = fault()
                time.sleep(max(0.0, start + 1.0 - time.perf_counter()))  # a second of normal requests at least
                others = watch.window(start, time.perf_counter())
                leaked = [leak for leak in leaks for reply in result["replies"] if leak in reply]
                rows.append({"fault": label, **result, "others": others, "leak_free": not leaked,
                             "leaked": sorted(set(leaked)), "ratio": others["p50_ms"] / baseline["p50_ms"]})
            watch.stop()
    level = cpu_level()
    print(f"CPU: {level}; torch {torch.__version__}; rnnkit serve --read-timeout {READ_TIMEOUT:g}; the normal client: "
          f"one-text classify requests back to back (default classify model), alone: p50 {baseline['p50_ms']:.1f} ms, "
          f"p99 {baseline['p99_ms']:.1f} ms, max {baseline['max_ms']:.1f} ms ({baseline['requests']} requests)")
    print(f"{'fault':<30} {'the faulty client got':<58} {'others: n':>9} {'err':>4} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'p50 x':>6} {'log lines':>9} {'leak-free':>9}")
    for r in rows:
        o = r["others"]
        print(f"{r['fault']:<30} {r['got'][:58]:<58} {o['requests']:>9} {o['errors']:>4} {o['p50_ms']:>7.1f} "
              f"{o['p99_ms']:>7.1f} {o['max_ms']:>7.1f} {r['ratio']:>6.2f} {len(o['log']):>9} "
              f"{'yes' if r['leak_free'] else 'NO'}")
        if "next_ms" in r:
            print(f"{'':<30} then a 5-character generation: {r['next_ms']:.0f} ms (alone: {alone_ms:.0f} ms; one "
                  f"abandoned generation run to its end: {whole_ms:,.0f} ms)")
    print("what was logged (the first line of each fault):")
    for r in rows:
        print(f"  {r['fault']:<30} {r['others']['log'][0][:130] if r['others']['log'] else '(nothing)'}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        for r in rows:
            r.pop("replies")
        args.json.write_text(json.dumps({"torch": torch.__version__, "cpu": level, "read_timeout": READ_TIMEOUT,
                                         "baseline": baseline, "generation_alone_ms": alone_ms,
                                         "generation_2000_ms": whole_ms, "faults": rows},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
