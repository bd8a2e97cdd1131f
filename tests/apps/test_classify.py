"""rnnkit classify: readers, splits, models, training, prediction, reports and the CLI's errors."""
from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.apps.classify import ClassifyConfig, evaluate, load_run, predict, train
from rnnkit.apps.classify import data as classify_data
from rnnkit.apps.classify import recipe as classify_recipe
from rnnkit.apps.classify.data import read_labelled, read_texts
from rnnkit.apps.classify.model import MODELS, build_model
from rnnkit.apps.framework import member_budget
from rnnkit.cli import main
from rnnkit.data import Vocab, stratified_split, tokenize
from rnnkit.errors import ConfigError, DatasetError, ShapeError
from rnnkit.metrics import classification_report
from rnnkit.models import save_weights
from rnnkit.runs import read_config
from rnnkit.training import load_file

POS, NEG = ["good", "great", "love", "wonderful", "fine"], ["bad", "awful", "hate", "terrible", "poor"]
FILL = ["the", "film", "was", "a", "and", "it", "movie", "plot", "actors"]


def _synthetic(n: int, seed: int = 0, classes=(("neg", NEG), ("pos", POS))) -> list[tuple[str, str]]:
    """Filler words with one class keyword put at a random place: separable by that word alone."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, words = classes[i % len(classes)]
        text = [rng.choice(FILL) for _ in range(rng.randint(2, 14))]
        text.insert(rng.randrange(len(text) + 1), rng.choice(words))
        rows.append((" ".join(text), label))
    return rows


def _write_csv(path, rows, header=("text", "label"), delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _quick(tmp_path, data, name="run", **kw):
    settings = dict(data=str(data), embed_dim=16, units=16, epochs=12, batch_size=16, learning_rate=1e-2, dropout=0.0,
                    patience=12, out=str(tmp_path / name))
    settings.update(kw)
    return train(ClassifyConfig(**settings), print_fn=lambda s: None, verbose=0)


# ---------------------------------------------------------------- tokens and readers
# tokenize's own cases (words, punctuation, CJK, apostrophes, <br />) are in tests/data/test_tokens.py
FIXTURE = Path(__file__).parent / "fixtures" / "classify_run_0.1"


def test_classify_has_no_tokenizer_of_its_own():
    assert classify_data.tokenize is tokenize  # the name classify users import is the core function


@pytest.mark.parametrize("level", ["word", "char"])
def test_a_run_folder_written_before_the_core_tokenizer_gives_the_same_predictions(level, tmp_path):
    # settings, vocabulary and classes written by the code whose tokenizer lived in apps/classify/data.py
    # (see the fixture's README.md); its weights-only model file is written here from a seeded model
    expected = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
    texts, want = expected["texts"], expected[level]
    run = tmp_path / f"run-{level}"
    shutil.copytree(FIXTURE / f"run-{level}", run)
    vocab = Vocab.load(run / "vocab.json")
    assert vocab.level == level and vocab.analyzer == "split"  # the file holds no analyzer: classify tokenizes
    assert [tokenize(t, level) for t in texts] == want["tokens"]
    assert [vocab.encode(tokenize(t, level)) for t in texts] == want["ids"]
    torch.manual_seed(0)
    model = classify_recipe.RECIPE.rebuild(ClassifyConfig.from_dict(read_config(run, "classify")), run)
    save_weights(model, run / "model.safetensors")  # rnnkit 0.1's layout: weights only, no run.json
    assert not (run / "run.json").exists()
    model.eval()
    with torch.no_grad():  # the reference: the model applied to the ids the old code gave, one text at a time
        reference = [torch.softmax(model(torch.tensor([ids])), dim=-1)[0].tolist() for ids in want["ids"]]
    got = [list(p.probabilities.values()) for p in predict(run, texts)]
    for g, w in zip(got, reference):
        assert g == pytest.approx(w, abs=1e-6)


def test_csv_tsv_jsonl_and_folder_read_the_same_rows(tmp_path):
    rows = [("a fine film", "pos"), ('said "no", twice', "neg"), ("ok", "neutral")]
    _write_csv(tmp_path / "d.csv", rows)
    _write_csv(tmp_path / "d.tsv", rows, delimiter="\t")
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in rows) + "\n", encoding="utf-8")
    for i, (t, y) in enumerate(rows):
        (tmp_path / "folder" / y).mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / y / f"{i}.txt").write_text(t, encoding="utf-8")
    for name in ("d.csv", "d.tsv", "d.jsonl", "folder"):
        data = read_labelled(tmp_path / name)
        assert sorted(zip(data.texts, data.labels)) == sorted(rows), name
        assert data.classes == ["neg", "neutral", "pos"]


def test_reader_takes_a_known_alternative_column_and_skips_empty_texts(tmp_path):
    _write_csv(tmp_path / "r.csv", [("great", "1"), ("", "0"), ("poor", "0")], header=("review", "sentiment"))
    data = read_labelled(tmp_path / "r.csv")
    assert data.texts == ["great", "poor"] and data.labels == ["1", "0"] and data.dropped_empty == 1


def test_stratified_split_holds_out_the_fraction_of_every_class():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    keep, held = stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(100))
    counts = {c: sum(1 for i in held if labels[i] == c) for c in "abc"}
    assert counts == {"a": 10, "b": 6, "c": 4}


def test_grouped_split_never_puts_a_group_on_both_sides():
    rng = np.random.default_rng(0)
    groups = [f"movie{g}" for g in rng.integers(0, 40, size=400)]
    labels = ["pos" if int(g[5:]) % 2 else "neg" for g in groups]  # each movie's reviews share a label here
    keep, held = stratified_split(labels, 0.2, seed=1, groups=groups)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(400))
    assert not {groups[i] for i in keep} & {groups[i] for i in held}
    for cls in ("pos", "neg"):  # each class's share is reached to within one group
        n = sum(1 for y in labels if y == cls)
        taken = sum(1 for i in held if labels[i] == cls)
        biggest = max(groups.count(g) for g in set(groups))
        assert 0.2 * n - 1 <= taken <= 0.2 * n + biggest


def test_group_column_keeps_each_group_on_one_side(tmp_path):
    rows = [(text, label, f"m{i // 5}") for i, (text, label) in enumerate(_synthetic(200))]
    data = read_labelled(_write_csv(tmp_path / "g.csv", rows, header=("text", "label", "movie")), group_column="movie")
    assert data.groups == [r[2] for r in rows]
    keep, held = classify_recipe._splits(ClassifyConfig(data=str(tmp_path / "g.csv"), group_column="movie"))[:2]
    assert keep.groups and held.groups and not set(keep.groups) & set(held.groups)
    with pytest.raises(DatasetError, match="no group column 'film'"):
        read_labelled(tmp_path / "g.csv", group_column="film")


@pytest.mark.parametrize("how, kept", [("pre", "efgh"), ("post", "abcd"), ("head-tail", "afgh")])
def test_truncating_keeps_the_named_part(how, kept):
    assert "".join(classify_recipe.truncate(list("abcdefgh"), 4, how)) == kept
    assert classify_recipe.truncate(list("abc"), 4, how) == list("abc")


def test_report_matches_hand_computed_figures():
    # true:  0 0 0 1 1 2 ; predicted: 0 1 0 1 2 2
    r = classification_report([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], ["a", "b", "c"])
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    # a: P 2/2 R 2/3 F 0.8 ; b: P 1/2 R 1/2 F 0.5 ; c: P 1/2 R 1 F 2/3
    assert r["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_report_of_a_class_never_predicted_or_absent_counts_zero():
    # true: 0 0 1 1 ; predicted: 0 0 0 0 ; class 2 absent from both
    r = classification_report([0, 0, 1, 1], [0, 0, 0, 0], ["a", "b", "c"])
    assert r["confusion"] == [[2, 0, 0], [2, 0, 0], [0, 0, 0]]
    assert r["accuracy"] == 0.5
    # a: P 2/4 R 2/2 F 2/3 ; b: nothing predicted, P R F 0 ; c: no support, P R F 0
    assert r["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 2})
    assert r["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert r["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == pytest.approx((2 / 3) / 3)
    assert json.loads(json.dumps(r)) == r  # JSON-safe: plain floats and ints


@pytest.mark.parametrize("true, pred, fragment", [
    ([0, 1], [0], "2 true labels but 1 predictions"),
    ([0, 2], [0, 1], "true class id 2"),
    ([0, 1], [-1, 1], "predicted class id -1"),
])
def test_report_refuses_ids_that_name_no_class(true, pred, fragment):
    with pytest.raises(ShapeError, match=fragment):
        classification_report(true, pred, ["a", "b"])


@pytest.mark.slow
def test_report_agrees_with_scikit_learn_where_installed():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    pred[true == 3] = 3  # one class well predicted, another (none predicted as 2) left empty
    pred[pred == 2] = 1
    r = classification_report(true, pred, ["a", "b", "c", "d"])
    p, rec, f, support = metrics.precision_recall_fscore_support(true, pred, labels=range(4), zero_division=0)
    assert r["confusion"] == metrics.confusion_matrix(true, pred, labels=range(4)).tolist()
    for i, c in enumerate("abcd"):
        assert r["per_class"][c] == pytest.approx({"precision": p[i], "recall": rec[i], "f1": f[i], "support": support[i]})
    assert r["macro_f1"] == pytest.approx(metrics.f1_score(true, pred, labels=range(4), average="macro", zero_division=0))


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("kind", MODELS)
def test_padding_does_not_change_a_masked_models_output(kind):
    torch.manual_seed(0)
    model = build_model(kind, vocab_size=30, num_classes=3, embed_dim=6, units=5, layers=2, dropout=0.0).eval()
    ids = torch.tensor([[4, 9, 7, 12, 3, 8]])
    padded = torch.tensor([[4, 9, 7, 12, 3, 8, 0, 0, 0, 0, 0]])  # the cnn-lstm: 2 pooled steps, 3 padded
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(ids))


def test_cnn_lstm_and_every_model_give_class_logits():
    for kind in MODELS:
        out = build_model(kind, vocab_size=30, num_classes=4, embed_dim=6, units=5)(torch.randint(1, 30, (3, 11)))
        assert out.shape == (3, 4), kind


def test_cnn_lstm_pools_every_four_steps_and_takes_texts_shorter_than_four(tmp_path):
    torch.manual_seed(0)
    model = build_model("cnn-lstm", vocab_size=30, num_classes=2, embed_dim=6, units=5, dropout=0.0).eval()
    with torch.no_grad():
        for steps in (1, 3, 6):  # 6: one group of four and one of two
            ids = torch.randint(1, 30, (2, steps))
            conv = model.layers[2](model.layers[1](model.layers[0](ids))).numpy()  # (B, T, U) before the pooling
            # windows of four from the first step, the last one short: ceil(T / 4) of them
            by_hand = np.stack([conv[:, k:k + 4].max(axis=1) for k in range(0, steps, 4)], axis=1)
            np.testing.assert_allclose(model.layers[3](torch.from_numpy(conv)).numpy(), by_hand)
            assert model(ids).shape == (2, 2)
    data = tmp_path / "texts"
    for label, words in (("pos", "good fine great"), ("neg", "bad awful")):
        (data / label).mkdir(parents=True)
        for i in range(12):
            (data / label / f"{i}.txt").write_text(f"{words} {i}" if i else words.split()[0])  # one one-word text each
    metrics = train(data=str(data), model="cnn-lstm", epochs=1, units=8, embed_dim=8, out=str(tmp_path / "run"),
                    print_fn=lambda s: None, verbose=0)
    assert 0 <= metrics["test_accuracy"] <= 1
    # a text's probabilities do not depend on the longer texts predicted with it (the padding after it is masked)
    long = " ".join(["great fine good bad awful"] * 5)
    for text in ("good", "bad awful", "fine great good 3"):
        alone = predict(tmp_path / "run", [text])[0].probabilities
        together = predict(tmp_path / "run", [long, text, long + " bad"])[1].probabilities
        assert together == pytest.approx(alone, abs=1e-6)


@pytest.mark.parametrize("pooling, width", [("max", 10), ("mean", 10), ("max-mean", 20), ("concat", 30)])
def test_pooling_reaches_the_output_layer_with_its_width(pooling, width):
    model = build_model("bilstm", vocab_size=30, num_classes=2, embed_dim=6, units=5, pooling=pooling).eval()
    ids = torch.tensor([[4, 9, 7, 0], [3, 0, 0, 0]])
    with torch.no_grad():
        steps = model.layers[2](model.layers[1](model.layers[0](ids)), mask=ids != 0)  # (B, T, 2U) of the BiLSTM
        pooled = model.layers[3](steps, mask=ids != 0)
        assert model(ids).shape == (2, 2)  # builds the output layer on the pooled width
    assert pooled.shape == (2, width) and model.layers[-1].weight.shape[1] == width  # (classes, in)
    real = steps[0, :3]  # the first text's three real steps, pooled by hand
    parts = {"max": real.amax(0), "mean": real.mean(0), "last": real[-1]}
    expected = torch.cat([parts[k] for k in {"max": ["max"], "mean": ["mean"], "max-mean": ["max", "mean"],
                                            "concat": ["max", "mean", "last"]}[pooling]])
    torch.testing.assert_close(pooled[0], expected)


def test_the_regularisation_settings_reach_the_layers():
    model = build_model("bilstm", vocab_size=30, num_classes=2, embed_dim=6, units=5, layers=2, embed_dropout=0.1,
                        locked_dropout=0.2, weight_dropout=0.3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Embedding", "SpatialDropout1D", "Bidirectional", "SpatialDropout1D", "Bidirectional",
                     "GlobalMaxPooling1D", "Dropout", "Dense"]
    assert model.layers[0].embeddings_dropout == 0.1 and model.layers[1].rate == 0.2
    assert model.layers[2].forward_layer.cell.recurrent_weight_dropout == 0.3
    with pytest.raises(ConfigError, match="--weight-dropout must be in"):
        build_model("lstm", vocab_size=30, num_classes=2, weight_dropout=1.0)


def test_a_run_saved_before_the_new_settings_keeps_its_pooling_and_truncation():
    cfg = ClassifyConfig.from_dict({"data": "x.csv", "max_len": 50})
    assert (cfg.pooling, cfg.truncating, cfg.weight_dropout) == ("max", "pre", 0.0)
    assert ClassifyConfig().pooling == "max-mean"  # a new run takes the new default


def test_linear_schedule_decays_to_five_percent_over_the_run():
    lr = classify_recipe.RECIPE.schedule(ClassifyConfig(learning_rate=0.004, schedule="linear"))
    assert [lr(f, 0) for f in (0.0, 0.5, 0.99, 1.0)] == pytest.approx([0.004, 0.002, 0.0002, 0.0002])
    assert classify_recipe.RECIPE.schedule(ClassifyConfig()) is None  # constant by default


# ---------------------------------------------------------------- training end to end
def test_tiny_model_separates_two_synthetic_classes_perfectly(tmp_path):
    data = _write_csv(tmp_path / "syn.csv", _synthetic(400))
    metrics = _quick(tmp_path, data)
    assert metrics["test_accuracy"] == 1.0 and metrics["test_macro_f1"] == 1.0
    run = tmp_path / "run"
    for name in ("config.json", "vocab.json", "classes.json", "metrics.csv", "metrics.json", "training.png",
                 "confusion.png", "mistakes.csv", "model.safetensors"):
        assert (run / name).exists(), name
    saved = json.loads((run / "metrics.json").read_text())
    assert set(saved["test_per_class"]) == {"neg", "pos"} and saved["test_per_class"]["pos"]["support"] == 20
    assert predict(run, ["the film was wonderful", "a terrible plot"])[0].label == "pos"
    assert predict(run, ["a terrible plot"])[0].label == "neg"
    # the optimizer kept the moving average of the weights over 0.7 epochs of batches of 16 (--ema-epochs)
    optimizer = load_file(run / "model.safetensors")[1]["compile"]["optimizer"]["config"]
    batches = -(-saved["examples"]["train"] // 16)
    assert optimizer["use_ema"] and optimizer["ema_momentum"] == pytest.approx(1 - 1 / (0.7 * batches))


def test_the_average_spans_ema_epochs_of_batches_and_is_off_for_a_language_model_by_default():
    assert classify_recipe._ema_epochs(ClassifyConfig(ema_epochs=0)) == 0.0
    assert classify_recipe._ema_epochs(ClassifyConfig(encoder="lm-run")) == 0.0  # off when fine-tuning by default
    assert classify_recipe._ema_momentum(ClassifyConfig(encoder="lm-run", ema_epochs=1.0), 320) == 0.9  # 10 batches
    assert classify_recipe._ema_momentum(ClassifyConfig(ema_epochs=0.1), 320) == 0.0  # one batch: the weights
    with pytest.raises(ConfigError, match="ema_epochs"):
        ClassifyConfig(ema_epochs=-1)


@pytest.mark.slow
def test_multiclass_tsv_and_separate_test_file(tmp_path):
    classes = (("sport", ["goal", "match", "team"]), ("music", ["song", "band", "album"]), ("food", ["bread", "soup", "salt"]))
    train_file = _write_csv(tmp_path / "train.tsv", _synthetic(300, 1, classes), delimiter="\t")
    test_file = _write_csv(tmp_path / "test.tsv", _synthetic(60, 2, classes), delimiter="\t")
    metrics = _quick(tmp_path, train_file, test_data=str(test_file), model="gru")
    assert metrics["examples"]["test"] == 60
    assert set(metrics["test_per_class"]) == {"food", "music", "sport"}
    assert metrics["test_accuracy"] >= 0.95
    # the confusion matrix in metrics.json agrees with an independent count from predictions
    texts = [t for t, _ in _synthetic(60, 2, classes)]
    truth = [y for _, y in _synthetic(60, 2, classes)]
    guessed = [p.label for p in predict(tmp_path / "run", texts)]
    order = ["food", "music", "sport"]
    expected = [[sum(1 for t, g in zip(truth, guessed) if t == a and g == b) for b in order] for a in order]
    assert metrics["test_confusion"] == expected


@pytest.mark.slow
def test_chinese_char_level_file(tmp_path):
    good, bad = ["好", "棒", "赞", "爱"], ["差", "烂", "糟", "恨"]
    filler = list("这个电影我们觉得非常的了")
    rng = random.Random(5)
    rows = []
    for i in range(300):
        text = [rng.choice(filler) for _ in range(rng.randint(3, 12))]
        text.insert(rng.randrange(len(text) + 1), rng.choice(good if i % 2 else bad))
        rows.append(("".join(text), "正面" if i % 2 else "负面"))
    data = _write_csv(tmp_path / "zh.csv", rows)
    metrics = _quick(tmp_path, data, level="char")
    assert metrics["test_accuracy"] >= 0.95
    vocab = json.loads((tmp_path / "run" / "vocab.json").read_text(encoding="utf-8"))
    assert "好" in json.dumps(vocab, ensure_ascii=False)
    assert predict(tmp_path / "run", ["这个电影非常好"])[0].label == "正面"


def test_predict_is_repeatable_and_survives_reload(tmp_path):
    data = _write_csv(tmp_path / "syn.csv", _synthetic(200))
    _quick(tmp_path, data, epochs=2)
    texts = ["the movie was fine", "awful actors", "plot plot plot"]
    first = [p.probabilities for p in predict(tmp_path / "run", texts)]
    second = [p.probabilities for p in predict(tmp_path / "run", texts)]
    assert first == second
    model, vocab, classes, cfg = load_run(tmp_path / "run")  # a fresh model object from the folder
    ids = [torch.tensor([vocab.encode(tokenize(t, cfg.level))]) for t in texts]
    with torch.no_grad():
        direct = [torch.softmax(model(x), -1)[0].tolist() for x in ids]  # one text at a time, no batching
    for got, want in zip(first, direct):
        assert [got[c] for c in classes] == pytest.approx(want, abs=1e-6)


@pytest.mark.slow
def test_max_len_cuts_to_the_last_tokens_and_reports_it(tmp_path):
    rows = [(" ".join(["the"] * 30 + [w]), y) for w, y in [("good", "pos"), ("bad", "neg")] * 40]
    data = _write_csv(tmp_path / "long.csv", rows)
    lines = []
    metrics = train(ClassifyConfig(data=str(data), max_len=10, epochs=1, embed_dim=8, units=8, out=str(tmp_path / "run")),
                    print_fn=lines.append, verbose=0)
    assert metrics["truncated"]["train"] == metrics["examples"]["train"]
    assert any("longer than `max_len` 10" in line for line in lines)  # named as the Python caller knows it


@pytest.mark.slow
def test_words_seen_once_are_left_to_unk(tmp_path):
    rows = _synthetic(200) + [("zyzzyva good", "pos")]
    data = _write_csv(tmp_path / "rare.csv", rows)
    _quick(tmp_path, data, epochs=1, test_data=str(_write_csv(tmp_path / "t.csv", _synthetic(20, 4))))
    tokens = json.loads((tmp_path / "run" / "vocab.json").read_text(encoding="utf-8"))
    text = json.dumps(tokens)
    assert "zyzzyva" not in text and '"good"' in text


@pytest.mark.slow
def test_mistakes_csv_lists_the_most_confident_errors_first(tmp_path):
    rows = _synthetic(200)
    rows += [(t, "pos" if y == "neg" else "neg") for t, y in _synthetic(40, seed=9)]  # mislabelled copies
    data = _write_csv(tmp_path / "noisy.csv", rows)
    _quick(tmp_path, data, epochs=3)
    with open(tmp_path / "run" / "mistakes.csv", encoding="utf-8") as f:
        mistakes = list(csv.DictReader(f))
    assert 0 < len(mistakes) <= 20
    probs = [float(m["probability"]) for m in mistakes]
    assert probs == sorted(probs, reverse=True)
    for m in mistakes:
        assert m["label"] != m["predicted"]
        # the probability is the model's for the predicted label, checked by predicting again
        again = predict(tmp_path / "run", [m["text"]])[0]
        assert again.label == m["predicted"] and again.probability == pytest.approx(float(m["probability"]), abs=1e-4)


@pytest.mark.slow
def test_evaluate_reports_on_a_labelled_file_and_refuses_unknown_labels(tmp_path):
    data = _write_csv(tmp_path / "syn.csv", _synthetic(200))
    _quick(tmp_path, data, epochs=6)
    r = evaluate(tmp_path / "run", data)
    assert r["examples"] == 200 and r["accuracy"] >= 0.9
    other = _write_csv(tmp_path / "other.csv", [("good film", "pos"), ("meh", "neutral")])
    with pytest.raises(DatasetError, match="never saw in training.*'neutral'"):
        evaluate(tmp_path / "run", other)


# ---------------------------------------------------------------- ensembles
def _probabilities(run, texts, classes=("neg", "pos")) -> np.ndarray:
    return np.array([[p.probabilities[c] for c in classes] for p in predict(run, texts)])


def test_an_ensemble_predicts_the_mean_of_its_members_each_a_run_of_its_own(tmp_path):
    data = _write_csv(tmp_path / "syn.csv", _synthetic(200))
    test = _write_csv(tmp_path / "test.csv", _synthetic(60, seed=5))
    metrics = _quick(tmp_path, data, epochs=2, ensemble=3)
    run = tmp_path / "run"
    texts = [t for t, _ in _synthetic(60, seed=5)]
    # each member is a run folder of its own, and predicts alone
    members = np.stack([_probabilities(run / "members" / str(k), texts) for k in (1, 2, 3)])  # (K, N, C)
    np.testing.assert_allclose(_probabilities(run, texts), members.mean(axis=0), atol=1e-6)
    assert not np.allclose(members[0], members[1], atol=1e-3)  # seeds 0, 1, 2: three different models
    truth = np.array([("neg", "pos").index(y) for _, y in _synthetic(60, seed=5)])
    assert evaluate(run, test)["accuracy"] == pytest.approx(np.mean(members.mean(axis=0).argmax(axis=1) == truth))
    # metrics.json: the ensemble's figures, and each member's from its own metrics.json
    assert metrics["ensemble"] == 3 and [m["seed"] for m in metrics["members"]] == [0, 1, 2]
    for k, figures in enumerate(metrics["members"], 1):
        own = json.loads((run / "members" / str(k) / "metrics.json").read_text())
        assert figures["test_accuracy"] == own["test_accuracy"] and figures["folder"] == f"members/{k}"
        assert read_config(run / "members" / str(k), "classify")["member"] == k
    assert metrics["epochs"] == 6 and metrics["parameters"] == sum(m["parameters"] for m in metrics["members"])
    for name in ("model.safetensors", "model.json", "metrics.json", "training.png", "confusion.png", "mistakes.csv",
                 "vocab.json"):
        assert (run / name).is_file(), name
    # the first member is the model a single run of the same seed trains
    _quick(tmp_path, data, epochs=2, name="single")
    np.testing.assert_allclose(_probabilities(tmp_path / "single", texts), members[0], atol=1e-6)


def test_each_member_trains_with_its_own_seed_and_a_share_of_the_time_budget(tmp_path):
    recipe = classify_recipe.RECIPE
    cfg = ClassifyConfig(data="reviews.csv", seed=7, ensemble=3, time_budget=90.0, out="r")
    member = recipe.member_config(cfg, 2, tmp_path / "m", 30.0)
    assert (member.ensemble, member.member, member.seed, member.time_budget, member.out) == (1, 2, 7, 30.0,
                                                                                           str(tmp_path / "m"))
    assert recipe.member_config(ClassifyConfig(ensemble=2, epochs=4), 1, tmp_path, None).epochs == 4
    # the budget left after the members trained so far, shared equally by the rest (at least half an equal share)
    assert [member_budget(90.0, spent, 3, left) for spent, left in ((0, 3), (20, 2), (50, 1), (85, 1))] == [
        30.0, 35.0, 40.0, 15.0]
    assert member_budget(None, 12.0, 3, 2) is None
    # --ensemble-with: more members of other kinds, after --model's and trained before them, from scratch
    cfg = ClassifyConfig(data="reviews.csv", pretrain_lm=True, ensemble_with="nbsvm, bag", learning_rate=0.005,
                         out="r")
    assert recipe.ensemble_size(cfg) == 3 and recipe.member_order(cfg) == [2, 3, 1]
    first, second, third = (recipe.member_config(cfg, k, tmp_path / str(k), None) for k in (1, 2, 3))
    assert (first.model, first.pretrain_lm, second.model, second.pretrain_lm, third.model) == (
        "bilstm", True, "nbsvm", False, "bag")
    assert (first.learning_rate, second.learning_rate, third.learning_rate) == (0.005, 0.002, 0.002)
    assert first.ensemble_with is second.ensemble_with is None and second.seed == 0 and second.member == 2
    # --pretrain-lm --ensemble 3: member 1 trains the language model, the others fine-tune from it
    cfg = ClassifyConfig(data="reviews.csv", pretrain_lm=True, ensemble=3, out=str(tmp_path))
    members = [recipe.member_config(cfg, k, tmp_path / "members" / str(k), None) for k in (1, 2, 3)]
    assert [(m.pretrain_lm, m.encoder) for m in members] == [
        (True, None), *[(False, str(tmp_path / "members" / "1" / "lm"))] * 2]


def test_an_nbsvm_member_averages_with_a_recurrent_one_and_trains_first(tmp_path):
    data = _write_csv(tmp_path / "syn.csv", _synthetic(200))
    texts = [t for t, _ in _synthetic(60, seed=5)]
    truth = np.array([("neg", "pos").index(y) for _, y in _synthetic(60, seed=5)])
    lines: list[str] = []
    metrics = train(ClassifyConfig(data=str(data), embed_dim=16, units=16, epochs=3, batch_size=16, learning_rate=1e-2,
                                   ensemble_with="nbsvm", out=str(tmp_path / "run")), print_fn=lines.append, verbose=0)
    run = tmp_path / "run"
    recurrent, ngrams = (_probabilities(run / "members" / str(k), texts) for k in (1, 2))
    np.testing.assert_allclose(_probabilities(run, texts), (recurrent + ngrams) / 2, atol=1e-6)
    assert np.mean(ngrams.argmax(axis=1) == truth) >= 0.9  # one word tells the class: the n-grams find it
    assert [m["model"] for m in metrics["members"]] == ["bilstm", "nbsvm"]
    assert read_config(run / "members" / "2", "classify")["model"] == "nbsvm"
    assert [line.split(" into ")[0] for line in lines if line.startswith("classify: member")] == [
        "classify: member 2 of 2 (nbsvm)", "classify: member 1 of 2 (bilstm)"]  # the n-grams first
    with pytest.raises(ConfigError, match="'svm' is not a model; give some of bilstm"):
        ClassifyConfig(ensemble_with="nbsvm,svm")


def test_an_ensemble_exports_to_onnx_as_the_average_of_its_members(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxruntime) is not installed")
    from rnnkit.export import export_onnx

    data = _write_csv(tmp_path / "syn.csv", _synthetic(200))
    _quick(tmp_path, data, epochs=1, ensemble=2, model="cnn-lstm")
    path = export_onnx(tmp_path / "run")
    model, vocab, classes, cfg = load_run(tmp_path / "run")
    texts = ["the movie was fine", "awful actors and a poor plot", "good"]
    ids = [vocab.encode(tokenize(t, cfg.level)) for t in texts]
    batch = np.zeros((3, max(map(len, ids))), dtype=np.int64)
    for row, seq in enumerate(ids):
        batch[row, : len(seq)] = seq
    (logits,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"ids": batch})
    want = np.stack([_probabilities(tmp_path / "run" / "members" / str(k), texts) for k in (1, 2)]).mean(axis=0)
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(logits), -1).numpy(), want, atol=1e-5)


# ---------------------------------------------------------------- CLI
def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_predict_file_and_evaluate(tmp_path, capsys):
    data = _write_csv(tmp_path / "syn.csv", _synthetic(200))
    run = tmp_path / "cli-run"
    code, out, _ = _cli(capsys, "classify", "train", "--data", str(data), "--epochs", "3", "--units", "8",
                        "--embed-dim", "8", "--out", str(run), "--quiet")
    assert code == 0 and "test accuracy" in out
    (tmp_path / "texts.txt").write_text("a wonderful film\nthe plot was poor\n", encoding="utf-8")
    code, out, _ = _cli(capsys, "classify", "predict", "--run", str(run), "--file", str(tmp_path / "texts.txt"),
                        "--out", str(tmp_path / "pred.csv"))
    assert code == 0 and len(out.strip().splitlines()) == 3
    with open(tmp_path / "pred.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == ["a wonderful film", "the plot was poor"]
    assert float(rows[0]["p_neg"]) + float(rows[0]["p_pos"]) == pytest.approx(1.0, abs=1e-5)
    code, out, _ = _cli(capsys, "classify", "evaluate", "--run", str(run), "--data", str(data))
    assert code == 0 and "macro F1" in out and "precision" in out




def test_cli_bad_inputs_get_one_line_and_exit_code_2(tmp_path, one_line_error):
    _write_csv(tmp_path / "cols.csv", [("x", "y")], header=("body_text", "stars"))
    train = ["classify", "train", "--data"]
    assert "no text column (looked for text, sentence" in one_line_error([*train, str(tmp_path / "cols.csv")])
    assert "no label column 'score'; its columns are 'body_text', 'stars'" in one_line_error(
        [*train, str(tmp_path / "cols.csv"), "--text-column", "body_text", "--label-column", "score"])
    _write_csv(tmp_path / "one.csv", [("good", "pos"), ("great", "pos")])
    assert "only one class ('pos')" in one_line_error(["classify", "train", "--data", str(tmp_path / "one.csv")])
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert "empty" in one_line_error(["classify", "train", "--data", str(tmp_path / "empty.csv")])
    (tmp_path / "latin.csv").write_bytes("text,label\ngood,pos\ncaf\xe9 bad,neg\n".encode("latin-1"))
    assert "line 3 is not valid UTF-8" in one_line_error(["classify", "train", "--data", str(tmp_path / "latin.csv")])
    assert "no such file" in one_line_error(["classify", "train", "--data", str(tmp_path / "missing.csv")])
    assert "--max-len must be" in one_line_error(["classify", "train", "--data", str(tmp_path / "latin.csv"), "--max-len", "0"])
    assert "--ensemble-with: 'svm' is not a model; give some of bilstm" in one_line_error(
        ["classify", "train", "--data", str(tmp_path / "latin.csv"), "--ensemble-with", "nbsvm,svm"])
    assert "--ensemble must be a whole number from 1 to 32, got 0" in one_line_error(
        ["classify", "train", "--data", str(tmp_path / "latin.csv"), "--ensemble", "0"])


# predict's and train's refusals of a run folder (an empty text, an empty line of --file, a folder as --file, not
# a run folder, an --out that exists and keeps its content, a folder that holds a run): tests/cli/test_cli_errors.py


def test_read_texts_from_a_csv_column(tmp_path):
    _write_csv(tmp_path / "t.csv", [("first one", "x"), ("second", "y")], header=("sentence", "id"))
    assert read_texts(tmp_path / "t.csv") == ["first one", "second"]
