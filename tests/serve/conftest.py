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
    """uvicorn in a thread of this process, on 127.0.0.1 at a free port; stopped by :meth:`stop`."""

    def __init__(self, app) -> None:
        import uvicorn
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
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
