"""ONNX export round trips on models built directly: ONNX Runtime against PyTorch within 1e-4.

Graphs are traced on a (2, 3) input and run here at other batch sizes and lengths,
padded (right padding, a one-step row, an all-padding row, a pad inside a row),
and compared with PyTorch on the padded batch and on each row alone without its
padding; the text generation step graph generates tokens one by one against the
stateful PyTorch model.  Errors: a layer with no ONNX form, a run folder's own
model.json, the missing extra.  The default run keeps the BiLSTM classifier, the step graph and the
errors; the other models are marked slow, as are the app runs and the CLI (test_apps.py).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxruntime) is not installed")
import onnxruntime as ort  # noqa: E402

from rnnkit import Sequential  # noqa: E402
from rnnkit.apps.classify.model import build_model  # noqa: E402
from rnnkit.errors import ConfigError, ExportError  # noqa: E402
from rnnkit.export import export_onnx  # noqa: E402
from rnnkit.layers import (GRU, LSTM, BatchNormalization, Bidirectional, Dense, Dropout, Embedding,  # noqa: E402
                           GlobalConcatPooling1D, GlobalMaxPooling1D, HashedNGrams, MinGRU, NaiveBayesBag, SimpleRNN,
                           SpatialDropout1D)

TOL = 1e-4


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _padded_ids(batch: int, steps: int, vocab: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, steps)).astype(np.int64)
    ids[0, steps // 2:] = 0  # right padding
    ids[1, 1:] = 0  # one real token
    ids[2, :] = 0  # nothing at all
    ids[3, 2] = 0  # a pad inside the row: masked as PyTorch masks it
    return ids


@pytest.fixture(scope="module")
def classifiers():
    torch.manual_seed(0)
    models = {
        # with the training-only regularisers of AWD-LSTM, which an exported (evaluation) graph leaves out
        "bilstm": Sequential([Embedding(40, 6, mask_zero=True, embeddings_dropout=0.1), Dropout(0.3),
                              SpatialDropout1D(0.2),
                              Bidirectional(LSTM(5, return_sequences=True, recurrent_weight_dropout=0.5)),
                              GlobalMaxPooling1D(), Dense(3)]),
        "gru-lstm": Sequential([Embedding(40, 6, mask_zero=True), GRU(5, return_sequences=True, reset_after=False),
                                LSTM(4), Dense(3)]),
        "rnn-bigru": Sequential([Embedding(40, 6, mask_zero=True), SimpleRNN(5, return_sequences=True, activation="relu"),
                                 Bidirectional(GRU(4, return_sequences=True, zero_output_for_mask=True), merge_mode="ave"),
                                 GlobalMaxPooling1D(), Dense(2)]),
        # the classify app's CNN-LSTM: the mask through the convolution and the pooling to the LSTM's last state
        "cnn-lstm": build_model("cnn-lstm", vocab_size=40, num_classes=3, embed_dim=6, units=5),
        # --pretrain-lm's head: concat pooling, batch normalisation with moving statistics (frozen in the graph)
        "lm-head": Sequential([Embedding(40, 6, mask_zero=True), LSTM(5, return_sequences=True),
                               GlobalConcatPooling1D(), BatchNormalization(), Dropout(0.2), Dense(4, activation="relu"),
                               BatchNormalization(momentum=0.5), Dense(2)]),
        # the classify app's nbsvm: hashed 1..3-grams (sort, remainder) and the naive-Bayes weighted bag
        "nbsvm": Sequential([HashedNGrams(3, 997), NaiveBayesBag(997, 3)]),
    }
    ngrams, bag = models["nbsvm"].layers
    bag.adapt((ngrams(torch.from_numpy(_padded_ids(30, 9, 40, seed=7))), torch.arange(30) % 3))
    torch.nn.init.normal_(bag.weight)
    for m in models.values():
        m.eval()
        m(torch.ones(1, 1, dtype=torch.long))
    models["lm-head"].train()
    for seed in range(3):  # training batches move the moving statistics away from (0, 1)
        models["lm-head"](torch.from_numpy(_padded_ids(4, 7, 40, seed=seed)[:2]))
    models["lm-head"].eval()
    return models


@pytest.mark.parametrize("kind", ["bilstm", "lm-head", "cnn-lstm", "nbsvm", pytest.param("gru-lstm", marks=pytest.mark.slow),
                                  pytest.param("rnn-bigru", marks=pytest.mark.slow)])
def test_classifier_round_trip_with_padding(classifiers, kind, tmp_path):
    model = classifiers[kind]
    path = export_onnx(model, tmp_path / "model.onnx")
    session = _session(path)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["graphs"]["model"]["inputs"] == [{"name": "ids", "dtype": "int64", "shape": ["batch", "time"]}]
    assert meta["checked"]["max_abs_diff"]["model"] <= TOL
    for batch, steps in ((6, 13), (4, 5)):
        ids = _padded_ids(batch, steps, 40, seed=steps)
        (got,) = session.run(None, {"ids": ids})
        with torch.no_grad():
            want = model(torch.from_numpy(ids)).numpy()
            # each right-padded row alone, without its padding: the padding changes nothing
            alone = model(torch.from_numpy(ids[:1, : steps // 2])).numpy()
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
        np.testing.assert_allclose(got[:1], alone, atol=TOL, rtol=0)
    (one,) = session.run(None, {"ids": _padded_ids(4, 9, 40)[:1, :4]})  # batch 1, no padding
    with torch.no_grad():
        np.testing.assert_allclose(one, model(torch.from_numpy(_padded_ids(4, 9, 40)[:1, :4])).numpy(), atol=TOL, rtol=0)


@pytest.mark.slow
def test_forecaster_round_trip_float_input(tmp_path):
    from rnnkit.apps.forecast.model import build_model

    torch.manual_seed(1)
    model = build_model(3, 4, cell="gru", units=(6, 5), dropout=0.1).eval()
    path = export_onnx(model, tmp_path / "f.onnx")
    meta = json.loads((tmp_path / "f.json").read_text())
    assert meta["graphs"]["model"]["inputs"][0] == {"name": "x", "dtype": "float32", "shape": ["batch", "time", 3]}
    assert meta["graphs"]["model"]["outputs"][0]["name"] == "y"
    x = np.random.default_rng(0).standard_normal((7, 31, 3)).astype(np.float32)
    (got,) = _session(path).run(None, {"x": x})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=TOL, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bilstm", "cnn-bilstm", "crnn"])
def test_speech_words_round_trip_masking_and_stacked_frames(kind, tmp_path):
    from rnnkit.apps.speech.data import PAD
    from rnnkit.apps.speech.model import build_model

    torch.manual_seed(2)
    model = build_model(kind, "words", num_classes=4, units=5, layers=2, stack=3, filters=8)
    model(torch.zeros(1, 4, 7))
    model.eval()
    path = export_onnx(model, tmp_path / "s.onnx")
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["graphs"]["model"]["inputs"][0]["name"] == "features" and meta["padding"]["value"] == PAD
    x = np.random.default_rng(3).standard_normal((3, 20, 7)).astype(np.float32)
    lengths = [20, 11, 4]
    for b, n in enumerate(lengths):
        x[b, n:] = PAD
    (got,) = _session(path).run(None, {"features": x})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=TOL, rtol=0)
        for b, n in enumerate(lengths):  # each utterance alone, unpadded
            np.testing.assert_allclose(got[b], model(torch.from_numpy(x[b:b + 1, :n]))[0].numpy(), atol=TOL, rtol=0)


def test_textgen_step_graph_generates_what_pytorch_generates(tmp_path):
    from rnnkit.apps.textgen.model import build_model

    torch.manual_seed(3)
    model = build_model(30, cell="lstm", layers=2, units=8, embed_dim=6).eval()
    export_onnx(model, tmp_path / "model.onnx", step=True)
    meta = json.loads((tmp_path / "model.json").read_text())
    step = meta["graphs"]["step"]
    assert step["file"] == "step.onnx"
    assert [s["input"] for s in step["state"]] == ["h_in_0", "c_in_0", "h_in_1", "c_in_1"]
    session = _session(tmp_path / "step.onnx")
    prompt = np.array([[3, 7, 1, 4]], dtype=np.int64)
    states = {s["input"]: np.zeros((1, 8), np.float32) for s in step["state"]}
    outs = session.run(None, {"ids": prompt, **states})
    for layer in model.layers:
        if hasattr(layer, "reset_states") and layer.stateful:
            layer.reset_states()
    tokens_ort, tokens_pt = [], []
    with torch.no_grad():
        logits_pt = model(torch.from_numpy(prompt))[:, -1]
        np.testing.assert_allclose(outs[0][:, -1], logits_pt.numpy(), atol=TOL, rtol=0)
        for _ in range(12):  # greedy generation, one token per call on both sides
            nxt_ort = int(outs[0][0, -1].argmax())
            nxt_pt = int(logits_pt[0].argmax())
            tokens_ort.append(nxt_ort)
            tokens_pt.append(nxt_pt)
            states = {s["input"]: outs[1 + i] for i, s in enumerate(step["state"])}
            outs = session.run(None, {"ids": np.array([[nxt_ort]], dtype=np.int64), **states})
            logits_pt = model(torch.tensor([[nxt_pt]]))[:, -1]
            np.testing.assert_allclose(outs[0][:, -1], logits_pt.numpy(), atol=TOL, rtol=0)
    assert tokens_ort == tokens_pt


def test_a_layer_with_no_onnx_form_is_named_and_nothing_is_written(tmp_path):
    model = Sequential([Embedding(20, 4, mask_zero=True), MinGRU(3, return_sequences=True, input_size=4),
                        GlobalMaxPooling1D(), Dense(2, input_size=3)])
    with pytest.raises(ExportError, match=r"layer 1 'mingru\w*' \(MinGRU\) cannot be exported to ONNX: .*parallel scan"):
        export_onnx(model, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_ensemble_is_one_graph_averaging_its_members_probabilities(classifiers, tmp_path):
    from rnnkit.models import Ensemble

    # 3 classes over 40 ids each; the n-gram member takes any id, so the graph's input is the others' vocabulary
    members = [classifiers["bilstm"], classifiers["cnn-lstm"], classifiers["nbsvm"]]
    path = export_onnx(Ensemble(members, average="probabilities"), tmp_path / "model.onnx")
    ids = _padded_ids(6, 11, 40, seed=4)
    (logits,) = _session(path).run(None, {"ids": ids})
    with torch.no_grad():
        each = [torch.softmax(m(torch.from_numpy(ids)), -1).numpy() for m in members]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=-1, keepdims=True), np.mean(each, axis=0), atol=TOL, rtol=0)
    with pytest.raises(ExportError, match="an Ensemble has no step graph"):
        export_onnx(Ensemble(members), tmp_path / "step" / "model.onnx", step=True)
    unexportable = Sequential([Embedding(40, 4, mask_zero=True), MinGRU(3, input_size=4), Dense(3, input_size=3)])
    with pytest.raises(ExportError, match=r"Ensemble member 1: layer 1 'mingru\w*' \(MinGRU\) cannot be exported"):
        export_onnx(Ensemble([members[0], unexportable]), tmp_path / "bad" / "model.onnx")
    assert not (tmp_path / "step").exists() and not (tmp_path / "bad").exists()


def test_custom_activation_is_refused_with_the_reason(tmp_path):
    model = Sequential([LSTM(3, activation="softsign", input_size=2)])
    model(torch.zeros(1, 2, 2))
    with pytest.raises(ExportError, match=r"LSTM\).*activation 'softsign' is not one of ONNX's recurrent activations"):
        export_onnx(model, tmp_path / "m.onnx")


def test_a_run_folders_own_model_json_is_never_overwritten(tmp_path):
    model = Sequential([LSTM(3, input_size=2)])
    model(torch.zeros(1, 2, 2))
    (tmp_path / "model.json").write_text('{"class_name": "Sequential"}')
    with pytest.raises(ExportError, match="is not an ONNX export's model.json"):
        export_onnx(model, tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_missing_extra_names_the_pip_command(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'", name="onnxruntime")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ConfigError, match=r"onnxruntime is missing\): pip install rnnkit\[onnx\]"):
        export_onnx(Sequential([Dense(2, input_size=2)]), tmp_path / "m.onnx")
