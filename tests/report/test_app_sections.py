"""Each app's own report sections, from tiny real runs of classify, forecast, translate and speech (slow: about 7 s)."""
from __future__ import annotations

import random
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from rnnkit.report import write_report

pytestmark = pytest.mark.slow
QUIET = dict(print_fn=lambda line: None, verbose=0)


def _sections(run: Path) -> list[str]:
    text = write_report(run).read_text(encoding="utf-8")
    assert "could not be made" not in text
    return re.findall(r"<h2>([^<]*)</h2>", text)


def test_classify_shows_the_confusion_matrix_per_class_figures_and_mistakes(tmp_path):
    from rnnkit.apps.classify import train

    rng = random.Random(0)
    rows = [(f"{rng.choice(['good', 'great'] if i % 2 else ['bad', 'awful'])} the <b> film", "pos" if i % 2 else "neg")
            for i in range(80)]
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in rows) + "\n", encoding="utf-8")
    train(data=str(data), embed_dim=8, units=8, epochs=1, out=str(tmp_path / "run"), **QUIET)
    assert {"Confusion matrix", "Per-class figures", "Most confident mistakes"} <= set(_sections(tmp_path / "run"))


def test_forecast_shows_its_plot_and_the_baselines(tmp_path):
    from rnnkit.apps.forecast import ForecastConfig, train

    dates = np.arange(np.datetime64("2000-01-01"), np.datetime64("2000-01-01") + 150)
    data = tmp_path / "s.csv"
    data.write_text("date,value\n" + "\n".join(f"{d},{np.sin(i / 3):.4f}" for i, d in enumerate(dates)) + "\n")
    train(ForecastConfig(data=str(data), lookback=8, horizon=1, test_size=20, units="4", epochs=1,
                         out=str(tmp_path / "run")), print_fn=None)
    assert "Forecast" in _sections(tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text()
    assert "seasonal_naive" in page and 'alt="prediction.png"' in page


def test_translate_shows_bleu_examples_and_attention(tmp_path):
    from rnnkit.apps import translate

    rng = random.Random(0)
    pairs = {" ".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 5))) for _ in range(300)}
    data = tmp_path / "p.tsv"
    data.write_text("\n".join(f"{s}\t{' '.join(reversed(s.split()))}" for s in sorted(pairs)) + "\n")
    translate.train(data=str(data), units=8, embed_dim=8, epochs=1, min_freq=1, out=str(tmp_path / "run"), **QUIET)
    assert {"BLEU", "Examples", "Attention"} <= set(_sections(tmp_path / "run"))


def test_speech_shows_the_confusion_matrix_and_the_transcriptions(tmp_path):
    from rnnkit.apps.speech import train

    rate, rng = 8000, np.random.default_rng(0)
    for label, freq in {"high": 1500.0, "low": 500.0}.items():
        for speaker in ("ann", "bob", "cat"):
            for i in range(4):
                n = int(rng.uniform(0.12, 0.2) * rate)
                x = np.concatenate([np.zeros(400), 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate), np.zeros(400)])
                path = tmp_path / "wav" / label / f"{label}_{speaker}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                with wave.open(str(path), "wb") as w:
                    w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
                    w.writeframes((x * 32767).astype("<i2").tobytes())
    train(data=str(tmp_path / "wav"), task="words", units=8, layers=1, epochs=1, out=str(tmp_path / "run"), **QUIET)
    assert {"Confusion matrix", "Transcriptions"} <= set(_sections(tmp_path / "run"))
