"""``rnnkit export`` on real run folders (tiny classify, textgen and forecast runs), the README's example, CLI errors.

The runs take seconds each, so these tests are marked slow, except the CLI's refusals.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxruntime) is not installed")

from rnnkit import Sequential  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.layers import Dense, Embedding, GlobalMaxPooling1D, MinGRU  # noqa: E402

QUIET = dict(print_fn=lambda line: None, verbose=0)


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory) -> Path:
    from rnnkit.apps.classify import ClassifyConfig, train

    root = tmp_path_factory.mktemp("export-classify")
    rows = ["text,label"] + [f"{'a wonderful moving film' if i % 2 else 'a dull awful film'} {i % 5},"
                             f"{'pos' if i % 2 else 'neg'}" for i in range(40)]
    (root / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    train(ClassifyConfig(data=str(root / "reviews.csv"), embed_dim=8, units=4, epochs=1, batch_size=16,
                         out=str(root / "run")), **QUIET)
    return root / "run"


@pytest.mark.slow
def test_readme_example_runs_an_exported_classifier(classify_run, capsys, monkeypatch):
    assert main(["export", "--run", str(classify_run)]) == 0
    assert "exported" in capsys.readouterr().out
    meta = json.loads((classify_run / "onnx" / "model.json").read_text())
    assert meta["app"] == "classify" and meta["preprocessing"]["files"]["classes.json"]["classes"] == ["neg", "pos"]
    assert meta["preprocessing"]["files"]["vocab.json"]["tokens"][:2] == ["<pad>", "<unk>"]
    text = (Path(__file__).parents[2] / "README.md").read_text()
    code = re.search(r"## Export to ONNX.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    monkeypatch.chdir(classify_run.parent)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() in ("neg", "pos")


@pytest.mark.slow
def test_textgen_run_exports_both_graphs(tmp_path):
    from rnnkit.apps.textgen import TextgenConfig, train

    (tmp_path / "text.txt").write_text("the fox and the dog jump over the lazy cat. " * 20, encoding="utf-8")
    train(TextgenConfig(data=str(tmp_path / "text.txt"), layers=2, units=8, embed_dim=4, seq_len=8, batch_size=4,
                        epochs=1, sample_length=0, cell="gru", out=str(tmp_path / "run")), **QUIET)
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "lm.onnx")]) == 0
    meta = json.loads((tmp_path / "lm.json").read_text())
    assert meta["graphs"]["step"]["file"] == "lm_step.onnx" and (tmp_path / "lm_step.onnx").is_file()
    assert [s["input"] for s in meta["graphs"]["step"]["state"]] == ["h_in_0", "h_in_1"]
    assert max(meta["checked"]["max_abs_diff"].values()) <= 1e-4
    assert meta["preprocessing"]["files"]["vocab.json"]["level"] == "char"


@pytest.mark.slow
def test_forecast_run_keeps_its_scaler_in_model_json(tmp_path):
    from rnnkit.apps.forecast import ForecastConfig, train

    t = np.arange(120)
    rows = ["date,value"] + [f"{np.datetime64('2000-01-01') + i},{np.sin(i / 5):.6f}" for i in t]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    train(ForecastConfig(data=str(tmp_path / "s.csv"), lookback=10, horizon=2, test_size=20, units="4", epochs=1,
                         out=str(tmp_path / "run")), **QUIET)
    assert main(["export", "--run", str(tmp_path / "run")]) == 0
    meta = json.loads((tmp_path / "run" / "onnx" / "model.json").read_text())
    saved = json.loads((tmp_path / "run" / "preprocess.json").read_text())
    assert meta["preprocessing"]["files"]["preprocess.json"] == saved
    assert meta["graphs"]["model"]["outputs"][0] == {"name": "y", "dtype": "float32", "shape": ["batch", 2]}


def test_cli_refuses_an_unexportable_layer_in_one_line(tmp_path, one_line_error):
    run = tmp_path / "run"
    run.mkdir()
    model = Sequential([Embedding(20, 4, mask_zero=True), MinGRU(3, return_sequences=True, input_size=4, name="mingru"),
                        GlobalMaxPooling1D(), Dense(2, input_size=3)])
    model(torch.ones(1, 2, dtype=torch.long))
    model.save(str(run / "model.safetensors"))
    (run / "run.json").write_text(json.dumps({"app": "classify"}))
    err = one_line_error(["export", "--run", str(run)])
    assert "layer 1 'mingru' (MinGRU) cannot be exported to ONNX" in err
    assert not (run / "onnx" / "model.onnx").exists()


def test_cli_refuses_another_format_and_a_missing_run(tmp_path, one_line_error):
    assert "`format` must be one of onnx" in one_line_error(["export", "--run", str(tmp_path), "--format", "tflite"]) \
        or "--format must be one of onnx" in one_line_error(["export", "--run", str(tmp_path), "--format", "tflite"])
    assert "is not a run folder" in one_line_error(["export", "--run", str(tmp_path)])
