"""Tiny real runs of every servable app (about a second each, made once per session), a served app over them,
and a real uvicorn on a free 127.0.0.1 port for the tests that need a socket (streaming, the browser)."""
from __future__ import annotations

import csv
import random
import socket
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="rnnkit serve needs the [serve] extra: pip install -e '.[serve]'")

QUIET = dict(print_fn=lambda line: None, verbose=0)
TEXT = "the quick brown fox jumps over the lazy dog. " * 40
POS, NEG = ["good", "great", "love", "fine"], ["bad", "awful", "hate", "poor"]
FILL = ["the", "film", "was", "a", "and", "it", "plot"]
RATE = 8000
TONES = {"high": 1500.0, "low": 500.0}


def write_wav(path: Path, x: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def tone(freq: float, rng: np.random.Generator, seconds: float = 0.2) -> np.ndarray:
    n = int(seconds * RATE)
    x = np.concatenate([np.zeros(400), 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / RATE), np.zeros(400)])
    return x + 0.01 * rng.standard_normal(len(x))


def _textgen(root: Path) -> Path:
    from rnnkit.apps.textgen import TextgenConfig, train
    (root / "text.txt").write_text(TEXT, encoding="utf-8")
    train(TextgenConfig(data=str(root / "text.txt"), layers=1, units=16, embed_dim=8, seq_len=16, batch_size=4, epochs=1,
                        sample_length=0, out=str(root / "textgen-run")), **QUIET)
    return root / "textgen-run"


def _classify(root: Path) -> Path:
    from rnnkit.apps.classify import ClassifyConfig, train
    rng = random.Random(0)
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(80):
            label, words = (("neg", NEG), ("pos", POS))[i % 2]
            text = [rng.choice(FILL) for _ in range(rng.randint(2, 8))]
            text.insert(rng.randrange(len(text) + 1), rng.choice(words))
            writer.writerow([" ".join(text), label])
    train(ClassifyConfig(data=str(root / "reviews.csv"), embed_dim=8, units=8, epochs=2, batch_size=16,
                         learning_rate=1e-2, out=str(root / "classify-run")), **QUIET)
    return root / "classify-run"


def _forecast(root: Path) -> Path:
    from rnnkit.apps.forecast import ForecastConfig, train
    dates = np.datetime64("1990-01") + np.arange(120)
    t = np.arange(120)
    rows = ["date,sales"] + [f"{d},{50 + 0.2 * i + 5 * np.sin(2 * np.pi * i / 12):.4f}" for d, i in zip(dates, t)]
    (root / "sales.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    train(ForecastConfig(data=str(root / "sales.csv"), lookback=12, horizon=3, test_size=12, units="4", epochs=2,
                         val_size=0, out=str(root / "forecast-run")), print_fn=None, verbose=0)
    return root / "forecast-run"


def _translate(root: Path) -> Path:
    from rnnkit.apps import translate as tr
    rng = random.Random(0)
    words = [f"w{i}" for i in range(8)]
    lines = set()
    while len(lines) < 100:
        s = [rng.choice(words) for _ in range(rng.randint(2, 5))]
        lines.add(" ".join(s) + "\t" + " ".join(reversed(s)))
    (root / "pairs.tsv").write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
    tr.train(data=str(root / "pairs.tsv"), units=8, embed_dim=8, epochs=1, min_freq=1, out=str(root / "translate-run"),
             **QUIET)
    return root / "translate-run"


def _speech(root: Path) -> Path:
    from rnnkit.apps.speech import train
    rng = np.random.default_rng(0)
    for label, f in TONES.items():
        for spk in ("ann", "bob", "cat"):
            for i in range(4):
                write_wav(root / "tones" / label / f"{label}_{spk}_{i}.wav", tone(f, rng))
    train(data=str(root / "tones"), task="words", units=8, layers=1, epochs=1, batch_size=8,
          out=str(root / "speech-run"), **QUIET)
    return root / "speech-run"


@pytest.fixture(scope="session")
def wav():
    """``wav(path, x)`` writes wave ``x`` (floats in [-1, 1], 8 kHz) as 16-bit WAV and returns its bytes;
    ``wav.tone(freq, seed)`` is a 0.2 s tone between silences."""
    def write(path: Path, x: np.ndarray) -> bytes:
        return write_wav(path, x).read_bytes()
    write.tone = lambda freq, seed=0: tone(freq, np.random.default_rng(seed))
    write.rate = RATE
    return write


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One tiny run folder per app: {"textgen": path, "classify": ..., "forecast", "translate", "speech"}."""
    root = tmp_path_factory.mktemp("serve-runs")
    return {"textgen": _textgen(root), "classify": _classify(root), "forecast": _forecast(root),
            "translate": _translate(root), "speech": _speech(root)}


@pytest.fixture(scope="session")
def loaded(runs):
    from rnnkit.serve.loading import load_runs
    return load_runs([str(p) for p in runs.values()])


@pytest.fixture(scope="session")
def client(loaded):
    """A TestClient (no socket) of a server over every app's run, no API key."""
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import Limits, create_app
    with TestClient(create_app(loaded, limits=Limits(timeout=20))) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn in a thread of this process, on 127.0.0.1 at a free port, configured as ``rnnkit serve`` runs it
    (``read_timeout``: its ``--read-timeout``); stopped by :meth:`stop`."""

    def __init__(self, app, **config) -> None:
        import uvicorn

        from rnnkit.serve.server import uvicorn_config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port, **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live(loaded):
    """A real uvicorn over every app's run."""
    from rnnkit.serve.app import Limits, create_app
    server = LiveServer(create_app(loaded, limits=Limits(timeout=20)))
    yield server
    server.stop()


@pytest.fixture()
def keyed_live(loaded):
    """A real uvicorn over every app's run, guarded by the API key ``s3cret-key``."""
    from rnnkit.serve.app import create_app
    server = LiveServer(create_app(loaded, api_key="s3cret-key"))
    yield server
    server.stop()


class Reply:
    """One HTTP reply as read off the socket: ``status``, ``headers`` (lower-case names), ``body`` (de-chunked)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers.get('content-type')}, {self.body[:300]!r})"


class RawHTTP:
    """HTTP/1.1 to 127.0.0.1:``port`` written byte for byte (malformed too), on one kept-alive connection; each
    reply read by hand (interim 1xx skipped; Content-Length, chunked, or until closed).  Reconnects after a reply
    that closes the connection, so a caller can send request after request."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.buffer = b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _more(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data
        return data

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buffer:
            self._more()
        part, self.buffer = self.buffer.split(mark, 1)
        return part

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._more()
        part, self.buffer = self.buffer[:n], self.buffer[n:]
        return part

    def request(self, data: bytes, head: bool = False) -> Reply:
        """Send ``data`` (a whole request as bytes) and read one reply (``head``: it has no body, as for HEAD)."""
        reused = self.sock is not None
        try:
            self._send(data)
            return self.read(head)
        except ConnectionError:
            silent = not self.buffer
            self.close()
            if not (reused and silent):
                raise
        # a kept-alive connection the server had closed meanwhile (idle): once more, on a new one
        self._send(data)
        return self.read(head)

    def _send(self, data: bytes) -> None:
        """Write ``data``; a server may answer early (a 413 on a body over the limit) and close before it is all
        written, so a failed write is followed by reading that answer (the write's error if there is none)."""
        try:
            self.connect().sendall(data)
        except ConnectionError as failed:
            try:
                while b"\r\n\r\n" not in self.buffer:
                    self._more()
            except OSError:
                raise failed from None

    def read(self, head: bool = False) -> Reply:
        while True:
            lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if status >= 200:
                break
        if head or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                body += self._exactly(size)
                self._exactly(2)
                if size == 0:
                    break
        else:  # until the server closes
            try:
                while True:
                    self._more()
            except ConnectionError:
                pass
            body, self.buffer = self.buffer, b""
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Reply(status, headers, body)


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A well-formed HTTP/1.1 request as bytes (Host, and Content-Length unless given or chunked)."""
    fields = {"Host": "127.0.0.1", **(headers or {})}
    if (body or method in ("POST", "PUT", "PATCH")) and "Transfer-Encoding" not in fields:
        fields.setdefault("Content-Length", str(len(body)))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("latin-1") + body


@pytest.fixture(scope="session")
def http():
    """The socket-level tools: ``http.Server(app, **config)`` (:class:`LiveServer`), ``http.Raw(port)``
    (:class:`RawHTTP`), ``http.request(method, path, body, headers)`` (a request's bytes)."""
    from types import SimpleNamespace
    return SimpleNamespace(Server=LiveServer, Raw=RawHTTP, request=http_request)
