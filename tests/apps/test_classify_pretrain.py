"""rnnkit classify --pretrain-lm / --encoder: what the language model sees, the encoder it hands over, the errors."""
from __future__ import annotations

import csv
import json
import random

import pytest
import torch

from rnnkit.apps.classify import ClassifyConfig, load_run, predict, train
from rnnkit.apps.classify import pretrain
from rnnkit.apps.classify import recipe as classify_recipe
from rnnkit.apps.textgen import load_run as load_lm_run
from rnnkit.apps.textgen.model import build_model as build_lm
from rnnkit.data import Vocab
from rnnkit.layers import RecurrentLayer

POS, NEG = ["good", "great", "love"], ["bad", "awful", "hate"]
FILL = ["the", "film", "was", "a", "and", "it"]
TINY_LM = dict(units=8, embed_dim=8, batch_size=4, seq_len=8, sample_length=0)


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _marked(n, prefix, seed):
    """Texts of one class word and fillers, each with its own marker word twice (so min_freq 2 keeps it)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, words = (("neg", NEG), ("pos", POS))[i % 2]
        text = [rng.choice(FILL) for _ in range(rng.randint(2, 6))] + [rng.choice(words)]
        rows.append((" ".join([*text, f"{prefix}{i}", f"{prefix}{i}"]), label))
    return rows


def _encoder_states(model, ids):
    """The classifier's encoder output: its layers up to the last recurrent one, with the padding mask."""
    layers = list(model.layers)
    last = max(i for i, m in enumerate(layers) if isinstance(m, RecurrentLayer))
    x, mask = ids, None
    for layer in layers[:last + 1]:
        next_mask = layer.compute_mask(x, mask)
        x = layer(x, mask=mask) if mask is not None and isinstance(layer, RecurrentLayer) else layer(x)
        mask = next_mask
    return x


def _lm_states(lm, row):
    """The language model's own layers run directly on one text's ids (no padding), from a zero state."""
    x = row[None]
    for layer in lm.layers[:-1]:  # all but the output layer
        if getattr(layer, "stateful", False):
            layer.reset_states()
        x = layer(x)
    return x[0]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_an_encoder_built_from_a_language_model_gives_its_hidden_states(cell):
    torch.manual_seed(0)
    lm = build_lm(40, cell=cell, layers=2, units=6, embed_dim=5, dropout=0.1, softmax="adaptive", cutoffs=[10])
    lm.eval()
    model = pretrain.build_classifier(lm, num_classes=3, dropout=0.2).eval()
    ids = torch.tensor([[5, 9, 2, 30, 7], [11, 4, 0, 0, 0], [8, 8, 39, 1, 0]])  # 0 = padding
    states = _encoder_states(model, ids)
    for b, length in enumerate((5, 2, 4)):
        torch.testing.assert_close(states[b, :length], _lm_states(lm, ids[b, :length]), atol=1e-6, rtol=1e-6)
    # nothing is shared: training the classifier leaves the language model as it was
    assert all(p.data_ptr() != q.data_ptr() for p in model.parameters() for q in lm.parameters())
    groups = pretrain.layer_groups(model)  # top first: the head (Dense), the recurrent layers, the embedding
    first, second = (m for m in model.layers if isinstance(m, RecurrentLayer))
    assert [[id(p) for p in g] for g in groups] == [[id(p) for p in m.parameters()] for m in
                                                    (model.layers[-1], second, first, model.layers[0])]


@pytest.mark.slow
def test_the_language_model_never_sees_a_validation_or_test_text(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain, "LM_SETTINGS", {**pretrain.LM_SETTINGS, **TINY_LM})
    data = _write(tmp_path / "train.csv", _marked(60, "trainmark", 0))
    test = _write(tmp_path / "test.csv", _marked(20, "testmark", 1))
    cfg = ClassifyConfig(data=str(data), test_data=str(test), pretrain_lm=True, lm_epochs=1, epochs=2, batch_size=8,
                         out=str(tmp_path / "run"))
    metrics = train(cfg, print_fn=lambda s: None, verbose=0)
    lm_dir = tmp_path / "run" / "lm"
    corpus = set((lm_dir / "corpus.txt").read_text(encoding="utf-8").split())
    lm_vocab = set(Vocab.load(lm_dir / "vocab.json").tokens)
    train_set, valid_set, test_set, _ = classify_recipe._splits(cfg)
    markers = {name: {t.split()[-1] for t in part.texts}
               for name, part in (("train", train_set), ("valid", valid_set), ("test", test_set))}
    assert len(markers["valid"]) >= 5 and len(markers["test"]) == 20
    assert markers["train"] <= corpus and markers["train"] <= lm_vocab  # what it saw is there, so the check can fail
    assert not (markers["valid"] | markers["test"]) & (corpus | lm_vocab)
    assert metrics["lm_val_perplexity"] > 1 and metrics["lm_run"] == str(lm_dir)
    assert predict(tmp_path / "run", ["good film"])[0].label in ("neg", "pos")

    # the language model's run is reusable: another classifier starts from it and its encoder reads as the LM does
    again = ClassifyConfig(data=str(data), test_data=str(test), encoder=str(lm_dir), epochs=1, batch_size=8,
                           out=str(tmp_path / "again"))
    train(again, print_fn=lambda s: None, verbose=0)
    assert Vocab.load(tmp_path / "again" / "vocab.json") == Vocab.load(lm_dir / "vocab.json")
    lm, vocab, _ = load_lm_run(lm_dir)
    fresh = pretrain.build_classifier(lm, 2, 0.0).eval()
    ids = torch.tensor([vocab.encode("the film was good trainmark3".split())])
    torch.testing.assert_close(_encoder_states(fresh, ids)[0], _lm_states(lm, ids[0]), atol=1e-6, rtol=1e-6)
    model, *_ = load_run(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["config"]["encoder"] == str(lm_dir)
    assert model.layers[-1].units == 2


def test_fine_tuning_compiles_discriminative_rates_and_the_run_schedule(tmp_path):
    lm = build_lm(30, layers=2, units=4, embed_dim=4, softmax="adaptive", cutoffs=[8])
    lm.save(str(tmp_path / "model.safetensors"))
    (tmp_path / "run.json").write_text(json.dumps({"app": "textgen"}))
    config = {"level": "word", "layers": 2, "units": 4, "embed_dim": 4, "cell": "lstm", "softmax": "adaptive",
              "cutoffs": [8]}
    (tmp_path / "config.json").write_text(json.dumps({"app": "textgen", "config": config}))
    Vocab([f"w{i}" for i in range(26)]).save(tmp_path / "vocab.json")
    cfg = ClassifyConfig(encoder=str(tmp_path), learning_rate=0.026)
    model = pretrain.fine_tuning(cfg, 2, lambda s: None)
    rates = [g["lr"] for g in model.optimizer.param_groups]
    assert rates == pytest.approx([0.026 / 2.6 ** k for k in range(4)])  # head, LSTM 2, LSTM 1, embedding
    stlr = pretrain.schedule(cfg)
    assert stlr(0.1) == pytest.approx(0.026) and stlr(0.0) == pytest.approx(0.026 / 32)


def test_cli_refuses_what_cannot_give_an_encoder(tmp_path, one_line_error):
    data = _write(tmp_path / "d.csv", _marked(20, "m", 0))
    train_cmd = ["classify", "train", "--data", str(data), "--out", str(tmp_path / "out")]
    assert "not both" in one_line_error([*train_cmd, "--pretrain-lm", "--encoder", str(tmp_path)])
    assert "needs a word-level classifier; drop --level char" in one_line_error([*train_cmd, "--pretrain-lm",
                                                                                 "--level", "char"])
    assert "not a run folder (no config.json)" in one_line_error([*train_cmd, "--encoder", str(tmp_path / "none")])
    assert ("--unfreeze gradual is for fine-tuning a language model; add --pretrain-lm or --encoder RUN"
            in one_line_error([*train_cmd, "--unfreeze", "gradual"]))
    other = tmp_path / "forecast-run"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"app": "forecast", "config": {}}))
    assert "is a run of `rnnkit forecast`, not a language model" in one_line_error([*train_cmd, "--encoder", str(other)])
    chars = tmp_path / "char-lm"
    chars.mkdir()
    (chars / "config.json").write_text(json.dumps({"app": "textgen", "config": {"level": "char"}}))
    assert "is a char-level language model" in one_line_error([*train_cmd, "--encoder", str(chars)])
    words = tmp_path / "word-lm"
    words.mkdir()
    (words / "config.json").write_text(json.dumps({"app": "textgen", "config": {"level": "word"}}))
    assert "has no vocab.json" in one_line_error([*train_cmd, "--encoder", str(words)])
    Vocab(["the", "film"]).save(words / "vocab.json")
    (words / "model.safetensors").write_bytes(b"")
    err = one_line_error([*train_cmd, "--encoder", str(words)])
    assert "its vocabulary knows" in err and "of the training tokens (at least 90% needed)" in err
    assert not (tmp_path / "out").exists()  # refused before any run folder was made


@pytest.mark.parametrize("unfreeze", ["all", pytest.param("gradual", marks=pytest.mark.slow)])
def test_unfreeze_all_trains_the_embedding_in_the_first_epoch_and_gradual_leaves_it(tmp_path, monkeypatch, unfreeze):
    """``--unfreeze all`` (default): every group learns from the start; ``gradual``: the head alone in epoch 1."""
    monkeypatch.setattr(pretrain, "LM_SETTINGS", {**pretrain.LM_SETTINGS, **TINY_LM})
    data = _write(tmp_path / "train.csv", _marked(40, "m", 0))
    lm_cfg = ClassifyConfig(data=str(data), pretrain_lm=True, lm_epochs=1, epochs=1, batch_size=8,
                            out=str(tmp_path / "lm-run"))
    train(lm_cfg, print_fn=lambda s: None, verbose=0)
    lm, *_ = load_lm_run(tmp_path / "lm-run" / "lm")
    cfg = ClassifyConfig(data=str(data), encoder=str(tmp_path / "lm-run" / "lm"), epochs=1, batch_size=8,
                         unfreeze=unfreeze, out=str(tmp_path / unfreeze))
    train(cfg, print_fn=lambda s: None, verbose=0)
    model, *_ = load_run(tmp_path / unfreeze)
    before, after = lm.layers[0].weight, model.layers[0].weight  # the LM's, and the trained classifier's
    assert torch.equal(before, after) == (unfreeze == "gradual")
    assert json.loads((tmp_path / unfreeze / "config.json").read_text())["config"]["unfreeze"] == unfreeze


def test_a_run_saved_before_unfreeze_existed_resumes_as_it_was_trained():
    """Fine-tuned runs from before --unfreeze unfroze gradually; other runs never unfroze anything."""
    assert ClassifyConfig.from_dict({"encoder": "runs/lm"}).unfreeze == "gradual"
    assert ClassifyConfig.from_dict({"pretrain_lm": True}).unfreeze == "gradual"
    assert ClassifyConfig.from_dict({"model": "bilstm"}).unfreeze == "all"
    assert ClassifyConfig.from_dict({"encoder": "runs/lm", "unfreeze": "all"}).unfreeze == "all"


@pytest.mark.slow
def test_an_ensemble_fine_tunes_each_member_from_one_language_model(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain, "LM_SETTINGS", {**pretrain.LM_SETTINGS, **TINY_LM})
    data = _write(tmp_path / "train.csv", _marked(40, "m", 0))
    train(ClassifyConfig(data=str(data), pretrain_lm=True, lm_epochs=1, epochs=1, batch_size=8,
                         out=str(tmp_path / "lm-run")), print_fn=lambda s: None, verbose=0)
    lm, *_ = load_lm_run(tmp_path / "lm-run" / "lm")
    run = tmp_path / "ensemble"
    train(ClassifyConfig(data=str(data), encoder=str(tmp_path / "lm-run" / "lm"), epochs=1, batch_size=8,
                         unfreeze="gradual", ensemble=2, out=str(run)), print_fn=lambda s: None, verbose=0)
    members = [load_run(run / "members" / str(k))[0] for k in (1, 2)]
    for member in members:  # gradual unfreezing left each member's embedding at the language model's
        assert torch.equal(member.layers[0].weight, lm.layers[0].weight)
    assert not torch.equal(members[0].layers[-1].weight, members[1].layers[-1].weight)  # heads from seeds 0 and 1
    texts = ["good film m1", "awful it"]
    want = [(a.probabilities[c] + b.probabilities[c]) / 2 for a, b in
            zip(predict(run / "members" / "1", texts), predict(run / "members" / "2", texts)) for c in ("neg", "pos")]
    got = [p.probabilities[c] for p in predict(run, texts) for c in ("neg", "pos")]
    assert got == pytest.approx(want, abs=1e-6)
    assert not (run / "lm").exists() and not (run / "members" / "1" / "lm").exists()  # no language model retrained


@pytest.mark.slow
def test_pretrain_lm_with_an_ensemble_trains_one_language_model_for_every_member(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain, "LM_SETTINGS", {**pretrain.LM_SETTINGS, **TINY_LM})
    data = _write(tmp_path / "train.csv", _marked(40, "m", 0))
    run = tmp_path / "run"
    metrics = train(ClassifyConfig(data=str(data), pretrain_lm=True, lm_epochs=1, epochs=1, batch_size=8,
                                   unfreeze="gradual", ensemble=2, ensemble_with="nbsvm", out=str(run)),
                    print_fn=lambda s: None, verbose=0)
    lm, *_ = load_lm_run(run / "members" / "1" / "lm")
    lm_metrics = json.loads((run / "members" / "1" / "lm" / "metrics.json").read_text())
    assert metrics["lm_run"] == str(run / "members" / "1" / "lm")  # the ensemble's figures name its language model
    assert metrics["lm_val_perplexity"] == lm_metrics["val_perplexity"]
    for k in (1, 2):  # gradual unfreezing left each member's embedding at the one language model's
        assert torch.equal(load_run(run / "members" / str(k))[0].layers[0].weight, lm.layers[0].weight)
    assert not (run / "members" / "2" / "lm").exists() and not (run / "members" / "3" / "lm").exists()
    assert load_run(run / "members" / "3")[3].model == "nbsvm"
    texts = ["good film m1", "awful it"]
    each = [predict(run / "members" / str(k), texts) for k in (1, 2, 3)]
    want = [sum(p[i].probabilities[c] for p in each) / 3 for i in range(2) for c in ("neg", "pos")]
    assert [p.probabilities[c] for p in predict(run, texts) for c in ("neg", "pos")] == pytest.approx(want, abs=1e-6)
