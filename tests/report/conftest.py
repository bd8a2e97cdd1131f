"""Run folders the report tests share: two tiny textgen runs (about half a second each) and their reports."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rnnkit.apps.textgen import TextgenConfig, train

# odd characters in the data, so that the vocabulary knows the prompt's and the page must escape them
TEXT = 'the <fox> & the "dog" jump over the lazy cat\'s </pre> box. ' * 40
PROMPT = '<fox> & "'


def _textgen(root: Path, name: str, **settings) -> Path:
    data = root / "text.txt"
    if not data.exists():
        data.write_text(TEXT, encoding="utf-8")
    config = dict(data=str(data), layers=1, units=16, embed_dim=8, seq_len=16, batch_size=4, epochs=2, sample_length=0,
                  sample_prompt=PROMPT, out=str(root / name))
    config.update(settings)
    train(TextgenConfig(**config), print_fn=lambda line: None, verbose=0)
    return root / name


@pytest.fixture(scope="session")
def textgen_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two textgen runs that differ in learning rate and cell; the first also holds gradient-flow diagnostics."""
    root = tmp_path_factory.mktemp("report-runs")
    a = _textgen(root, "run-a")
    b = _textgen(root, "run-b", learning_rate=0.01, cell="gru")
    # diagnostics as rnnkit.diagnostics writes them: per step, grad_norm and reach per layer/direction
    rows = ["step,epoch,loss,grad_norm:lstm,reach:lstm,grad_norm:lstm/backward,reach:lstm/backward"]
    rows += [f"{s},{s // 5},{3 - 0.1 * s:.3f},{0.5 * 1.3 ** s:.5g},{4 + s % 3},{0.2 + 0.01 * s:.3f},{3}" for s in range(10)]
    (a / "diagnostics.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    shutil.copy(a / "loss.png", a / "gradient_flow.png")
    shutil.copy(a / "loss.png", a / "gates.png")
    return a, b
