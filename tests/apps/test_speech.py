"""rnnkit speech: recordings and splits, digit strings, training on synthetic tones, transcribe, demo and the CLI's errors.

The "words" and "digits" here are pure tones (one frequency per label) between
short silences, with a little noise: a tiny model separates them in seconds.
"""
from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

import rnnkit

from rnnkit import datasets
from rnnkit.apps.speech import SpeechConfig, load_run, train, transcribe
from rnnkit.apps.speech.data import (PAD, Batches, Recordings, WaveFeatures, build_utterances, features_of,
                                     load_recordings, speaker_of, split_recordings)
from rnnkit.apps.speech.model import SpectrogramConv, StackFrames
from rnnkit.cli import main
from rnnkit.audio import mfcc, read_audio
from rnnkit.errors import ConfigError

RATE = 8000
SPEAKERS = ("ann", "bob", "cat")


def _write_wav(path: Path, x: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _tone(freq: float, rng: np.random.Generator, seconds: float | None = None) -> np.ndarray:
    """A tone of 0.12-0.25 s between 50 ms silences, with noise at -40 dB."""
    n = int((seconds or rng.uniform(0.12, 0.25)) * RATE)
    x = np.concatenate([np.zeros(400), 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / RATE), np.zeros(400)])
    return x + 0.01 * rng.standard_normal(len(x))


def _tone_folder(root: Path, freqs: dict[str, float], per_speaker: int, seed: int = 0) -> Path:
    """``root/<label>/<label>_<speaker>_<i>.wav``: FSDD's naming, so the speaker is in the file name."""
    rng = np.random.default_rng(seed)
    for label, f in freqs.items():
        for spk in SPEAKERS:
            for i in range(per_speaker):
                _write_wav(root / label / f"{label}_{spk}_{i}.wav", _tone(f, rng))
    return root


TWO_WORDS = {"high": 1500.0, "low": 500.0}
THREE_DIGITS = {"0": 400.0, "1": 1200.0, "2": 2400.0}
TEN_DIGITS = {str(d): 300.0 + 330.0 * d for d in range(10)}


@pytest.fixture(scope="module")
def words_run(tmp_path_factory):
    """A words run trained through the CLI on two tones."""
    root = tmp_path_factory.mktemp("speech-words")
    data = _tone_folder(root / "data", TWO_WORDS, per_speaker=8)
    code = main(["speech", "train", "--data", str(data), "--task", "words", "--units", "16", "--layers", "1",
                 "--epochs", "12", "--patience", "12", "--lr", "1e-2", "--dropout", "0", "--batch-size", "16",
                 "--out", str(root / "run"), "--quiet"])
    assert code == 0
    return root / "run", data


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A (barely trained) digits run on three tones: enough for transcribe's and demo's output."""
    root = tmp_path_factory.mktemp("speech-digits")
    data = _tone_folder(root / "data", THREE_DIGITS, per_speaker=3)
    metrics = train(data=str(data), task="digits", units=8, layers=1, epochs=2, utterances=40, batch_size=8,
                    stack=2, out=str(root / "run"), print_fn=lambda s: None, verbose=0)
    return root / "run", data, metrics


# ---------------------------------------------------------------- recordings, splits, digit strings
def test_speaker_is_read_from_the_file_name():
    assert [speaker_of(s) for s in ("7_jackson_3", "anna_take2", "clip")] == ["jackson", "anna", None]


def test_speaker_split_never_leaks_the_held_out_speaker(tmp_path):
    recs = load_recordings(str(_tone_folder(tmp_path / "d", TWO_WORDS, per_speaker=5)))
    for name in SPEAKERS:
        train_i, valid_i, test_i = split_recordings(recs, f"speaker:{name}", seed=0)
        assert {recs.speakers[i] for i in test_i} == {name}
        assert name not in {recs.speakers[i] for i in np.concatenate([train_i, valid_i])}
        assert len(test_i) == 10 and len(train_i) + len(valid_i) == 20 and len(valid_i) >= 2
        assert not set(train_i) & set(valid_i)
    with pytest.raises(ConfigError, match="no speaker 'dan'.*its speakers are ann, bob, cat"):
        split_recordings(recs, "speaker:dan", seed=0)


def _have_fsdd() -> bool:
    try:
        datasets.load("fsdd", "test", download=False)
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _have_fsdd(), reason="fsdd is not in RNNKIT_DATA's cache (rnnkit datasets fetch fsdd)")
def test_fsdd_splits_standard_and_every_speaker_held_out():
    recs = load_recordings("fsdd")
    train_i, valid_i, test_i = split_recordings(recs, "standard", seed=0)
    assert (len(train_i) + len(valid_i), len(test_i)) == (2700, 300)
    assert all(int(recs.files[i].split("_")[2][:-4]) < 5 for i in test_i)
    assert all(int(recs.files[i].split("_")[2][:-4]) >= 5 for i in np.concatenate([train_i, valid_i]))
    speakers = sorted(set(recs.speakers))
    assert len(speakers) == 6
    for name in speakers:
        train_i, valid_i, test_i = split_recordings(recs, f"speaker:{name}", seed=0)
        assert {recs.speakers[i] for i in test_i} == {name} and len(test_i) == 500
        assert name not in {recs.speakers[i] for i in np.concatenate([train_i, valid_i])}


def test_digit_strings_use_only_the_given_recordings_and_are_deterministic(tmp_path):
    recs = load_recordings(str(_tone_folder(tmp_path / "d", TEN_DIGITS, per_speaker=2)))
    _, _, test_i = split_recordings(recs, "speaker:cat", seed=0)
    test = recs.subset(test_i)
    a = build_utterances(test, 50, seed=3)
    b = build_utterances(test, 50, seed=3)
    c = build_utterances(test, 50, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.waves, b.waves)) and a.tokens == b.tokens
    assert a.tokens != c.tokens
    assert {len(t) for t in a.tokens} <= set(range(2, 8)) and {2, 7} <= {len(t) for t in a.tokens}
    for tokens, sources, w in zip(a.tokens, a.sources, a.waves):
        assert all(test.speakers[k] == "cat" for k in sources)  # test strings: test recordings only
        assert tokens == [recs.classes.index(test.labels[k]) + 1 for k in sources]  # 0 is the blank
        pieces = sum(len(test.waves[k]) for k in sources)
        assert len(w) >= pieces + (len(sources) + 1) * int(0.05 * RATE) and np.abs(w).max() <= 1.0


def test_digit_strings_bring_every_recording_to_one_peak_so_the_noise_lies_as_far_below_each():
    t = np.arange(RATE // 4) / RATE
    quiet, loud = 0.03 * np.sin(2 * np.pi * 440 * t), 0.6 * np.sin(2 * np.pi * 660 * t)  # -30.5 and -4.4 dBFS
    recs = Recordings([quiet.astype(np.float32), loud.astype(np.float32)], ["0", "1"], ["theo", "lucas"], ["a", "b"],
                      RATE)
    kw = dict(min_len=1, max_len=1, gain_db=(0.0, 0.0), noise_db=-50.0)
    strings = build_utterances(recs, 40, seed=0, **kw)
    assert {s[0] for s in strings.sources} == {0, 1}
    noise = 10 ** (-50 / 20)
    for w in strings.waves:  # one recording, at -12 dBFS; the noise (std 10^(-50/20)) by up to 5 std
        assert abs(np.abs(w).max() - 10 ** (-12 / 20)) < 5 * noise
    as_recorded = build_utterances(recs, 40, seed=0, peak_db=None, **kw)
    for w, src in zip(as_recorded.waves, as_recorded.sources):
        assert abs(np.abs(w).max() - (0.03, 0.6)[src[0]]) < 5 * noise
    gained = build_utterances(recs, 40, seed=0, peak_db=-20.0, min_len=1, max_len=1, gain_db=(-6.0, 6.0), noise_db=-200)
    peaks_db = [20 * np.log10(np.abs(w).max()) for w in gained.waves]
    assert -26.0 <= min(peaks_db) and max(peaks_db) <= -14.0 and max(peaks_db) - min(peaks_db) > 6.0  # then its gain


# ---------------------------------------------------------------- training
def test_a_tiny_model_learns_two_tones_perfectly(words_run):
    run, data = words_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] == metrics["test_macro_f1"] == metrics["test_accuracy_own_speed"] == 1.0
    assert np.trace(metrics["test_confusion"]) == sum(map(sum, metrics["test_confusion"])) == metrics["examples"]["test"]
    for name in ("config.json", "run.json", "metrics.csv", "confusion.png", "training.png", "model.safetensors",
                 "speech.json", "held_out.npz"):
        assert (run / name).exists(), name
    rng = np.random.default_rng(7)  # new recordings of each word
    files = [_write_wav(run.parent / f"new_{label}.wav", _tone(f, rng)) for label, f in TWO_WORDS.items()]
    assert [t.tokens for t in transcribe(run, files)] == [["high"], ["low"]]


def test_gain_peak_transcribes_a_quieter_recording_alike(words_run, tmp_path):
    _, data = words_run
    wave = _tone(TWO_WORDS["high"], np.random.default_rng(11))
    loud, quiet = _write_wav(tmp_path / "loud.wav", wave), _write_wav(tmp_path / "quiet.wav", wave * 10 ** (-20 / 20))
    probability = {}
    for gain in ("peak", "none"):
        train(data=str(data), features="logmel", gain=gain, units=4, layers=1, epochs=1, out=str(tmp_path / gain),
              print_fn=lambda s: None, verbose=0)
        assert json.loads((tmp_path / gain / "speech.json").read_text())["gain"] == gain
        probability[gain] = [t.probability for t in transcribe(tmp_path / gain, [loud, quiet])]
    assert probability["peak"][0] == pytest.approx(probability["peak"][1], abs=5e-3)  # 20 dB down: alike to 16-bit rounding
    assert abs(probability["none"][0] - probability["none"][1]) > 2e-2  # as recorded, the level moves the log floor


def test_trim_transcribes_a_recording_with_more_silence_around_it_alike(words_run, digits_run, tmp_path):
    _, data = words_run
    wave = _tone(TWO_WORDS["low"], np.random.default_rng(12))
    # 0.1 s of silence around it, or 0.3 s: whole numbers of 10 ms hops, so both trim to the same samples
    pad, more = np.zeros(800), np.zeros(2400)
    files = [_write_wav(tmp_path / "tight.wav", np.r_[pad, wave, pad]),
             _write_wav(tmp_path / "padded.wav", np.r_[more, wave, more])]
    probability = {}
    for trim in (40.0, 0.0):
        train(data=str(data), trim_db=trim, units=4, layers=1, epochs=1, out=str(tmp_path / f"trim{trim:g}"),
              print_fn=lambda s: None, verbose=0)
        assert json.loads((tmp_path / f"trim{trim:g}" / "speech.json").read_text())["trim_db"] == trim
        probability[trim] = [t.probability for t in transcribe(tmp_path / f"trim{trim:g}", files)]
    assert probability[40.0][0] == pytest.approx(probability[40.0][1], abs=1e-6)
    assert abs(probability[0.0][0] - probability[0.0][1]) > 1e-3  # whole, the silence moves the utterance's statistics
    # a digits run's spans are times in the whole file: the trimmed-off lead-in shifts them by its length
    _, digits, _ = digits_run
    train(data=str(digits), task="digits", trim_db=40.0, units=8, layers=1, epochs=1, utterances=40, batch_size=8,
          stack=2, out=str(tmp_path / "digits"), print_fn=lambda s: None, verbose=0)
    rng = np.random.default_rng(1)
    x = np.concatenate([_tone(THREE_DIGITS[d], rng, 0.2) for d in "201"])
    plain, padded = transcribe(tmp_path / "digits", [_write_wav(tmp_path / "201.wav", np.r_[pad, x, pad]),
                                                     _write_wav(tmp_path / "201-padded.wav", np.r_[more, x, more])])
    assert plain.tokens and plain.tokens == padded.tokens and len(plain.spans) == len(padded.spans)
    for (a0, a1), (b0, b1) in zip(plain.spans, padded.spans):
        assert b0 == pytest.approx(a0 + 0.2, abs=1e-3) and b1 == pytest.approx(a1 + 0.2, abs=1e-3)


@pytest.mark.parametrize("model", ["gru", "lstm", "cnn-bilstm", "crnn"])
def test_every_model_reopens_from_its_run_folder_with_the_same_outputs(model, words_run, tmp_path):
    _, data = words_run
    metrics = train(data=str(data), model=model, units=4, layers=1, filters=4, epochs=1, features="mfcc",
                    out=str(tmp_path / model), print_fn=lambda s: None, verbose=0)
    assert 0 <= metrics["test_accuracy"] <= 1
    reopened, info, cfg = load_run(tmp_path / model)
    assert cfg.model == model and info["features"] == "mfcc" and info["classes"] == ["high", "low"]
    x = torch.randn(2, 30, 13)
    x[1, 20:] = PAD
    direct = rnnkit.load_model(str(tmp_path / model / "model.safetensors"), compile=False).eval()
    with torch.no_grad():
        out, mask = reopened.forward_with_mask(x)
        assert out.shape == (2, 2) and torch.allclose(out, direct(x))
    if model in ("cnn-bilstm", "crnn"):  # the mask passes the convolutions: padding changes nothing
        with torch.no_grad():
            assert torch.allclose(reopened(x[1:, :20]), out[1:], atol=1e-5)


def test_a_cnn_bilstm_saved_with_the_apps_own_masked_conv_still_loads(tmp_path):
    """Runs saved before MaskedConv1D moved into rnnkit.layers name it "rnnkit.speech>MaskedConv1D"."""
    from rnnkit.apps.speech.model import build_model
    from rnnkit.layers import MaskedConv1D
    from rnnkit.saving import deserialize, serialize

    torch.manual_seed(0)
    model = build_model("cnn-bilstm", "words", 3, units=4, layers=1, filters=4).eval()
    x = torch.randn(2, 12, 13)
    x[1, 7:] = PAD
    with torch.no_grad():
        want = model(x)
    config = serialize(model)
    conv = [entry for entry in config["config"]["layers"] if entry["class_name"] == "MaskedConv1D"]
    assert len(conv) == 1
    conv[0]["registered_name"] = "rnnkit.speech>MaskedConv1D"  # as the old class was registered
    old = deserialize(json.loads(json.dumps(config)))
    assert sum(isinstance(layer, MaskedConv1D) for layer in old.layers) == 1
    old.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(old.eval()(x), want)


def test_digits_run_writes_error_rates_for_greedy_and_beam(digits_run):
    run, _, metrics = digits_run
    # two epochs leave CTC on its blank plateau, so only the figures' form is checked here (learning: the slow test)
    assert metrics["test_digit_error_rate"] >= 0 and metrics["test_digit_error_rate_beam"] >= 0
    assert 0 <= metrics["test_string_error_rate"] <= 1 and 0 <= metrics["test_string_error_rate_beam"] <= 1
    assert metrics["examples"] == {"train": 40, "valid": 10, "test": 10}
    assert sum(metrics["recordings"].values()) == len(SPEAKERS) * 3 * len(THREE_DIGITS)  # 3 per speaker and label
    info = json.loads((run / "speech.json").read_text())
    assert info["task"] == "digits" and info["classes"] == ["0", "1", "2"] and info["features"] == "logmel"


def test_stack_frames_joins_k_frames_and_keeps_a_step_per_started_group():
    x = torch.randn(3, 7, 4)
    x[1, 5:], x[2, 1:] = PAD, PAD  # 7, 5 and 1 real frames
    masking = rnnkit.layers.Masking(PAD)
    mask = masking.compute_mask(x)
    layer = StackFrames(3)
    y, m = layer(masking(x), mask=mask), layer.compute_mask(x, mask)
    ref = np.zeros((3, 9, 4), dtype=np.float32)  # NumPy: zero the padding, pad time to 9, reshape
    ref[:, :7] = np.where(mask.numpy()[:, :, None], x.numpy(), 0.0)
    np.testing.assert_array_equal(y.numpy(), ref.reshape(3, 3, 12))
    assert m.sum(dim=1).tolist() == [3, 2, 1]  # ceil(7/3), ceil(5/3), ceil(1/3)
    assert StackFrames.from_config(layer.get_config()).k == 3


def test_spectrogram_conv_is_torch_conv2d_and_band_pooling_over_the_real_frames():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 11)
    x[1, 6:] = PAD  # 9 and 6 real frames
    masking = rnnkit.layers.Masking(PAD)
    mask = masking.compute_mask(x)
    layer = SpectrogramConv([3, 5], kernel_size=3, pool=2)
    y = layer(masking(x), mask=mask)
    # the reference: torch's NCHW conv2d (time as height, bands as width), relu, max_pool2d over bands only
    h = torch.where(mask[:, None, :, None], x[:, None], 0.0)  # (B, 1, T, F)
    for conv in layer.blocks:
        h = torch.relu(torch.nn.functional.conv2d(h, conv.weight, conv.bias, padding=1))
        h = torch.nn.functional.max_pool2d(h, (1, 2)) * mask[:, None, :, None]  # 11 -> 5 -> 2 bands
    ref = h.permute(0, 2, 3, 1).reshape(2, 9, 2 * 5)  # (B, T, F' C)
    torch.testing.assert_close(y, ref)
    assert torch.equal(layer.compute_mask(x, mask), mask)
    config = SpectrogramConv.from_config(layer.get_config()).get_config()
    assert config["filters"] == [3, 5] and config["input_size"] == 11  # the bands of its first call
    with pytest.raises(rnnkit.errors.ShapeError, match="built for 11 bands per frame, got 12"):
        layer(torch.zeros(1, 4, 12))
    with pytest.raises(rnnkit.errors.ShapeError, match="3 bands cannot be pooled by 2 2 times"):
        SpectrogramConv([3, 5])(torch.zeros(1, 4, 3))


@pytest.mark.slow
def test_ctc_learns_connected_tone_digits(tmp_path):
    data = _tone_folder(tmp_path / "d", TEN_DIGITS, per_speaker=4)
    # no augmentation: a tone's frequency is its label here, and speed perturbation moves it by 10%
    m = train(data=str(data), task="digits", units=32, layers=1, epochs=30, utterances=300, batch_size=16,
              learning_rate=1e-2, dropout=0.0, patience=30, no_augment=True, out=str(tmp_path / "run"),
              print_fn=lambda s: None, verbose=0)
    assert m["test_digit_error_rate"] < 0.1 and m["test_digit_error_rate_beam"] < 0.1


# ---------------------------------------------------------------- transcribe, demo and the CLI
def _bad_files(root: Path) -> list[Path]:
    root.mkdir(exist_ok=True)
    (root / "noise.wav").write_bytes(np.random.default_rng(0).bytes(2000))
    _write_wav(root / "empty.wav", np.zeros(0))
    (root / "notes.txt").write_text("not audio at all\n")
    _write_wav(root / "silent.wav", np.zeros(RATE // 2))
    return [root / n for n in ("noise.wav", "empty.wav", "notes.txt", "silent.wav")]


def test_transcribe_prints_a_line_per_file_and_one_line_errors_for_bad_files(words_run, capsys, tmp_path):
    run, data = words_run
    good = [data / "high" / "high_ann_0.wav", data / "low" / "low_bob_1.wav"]
    bad = _bad_files(tmp_path)
    code = main(["speech", "transcribe", "--run", str(run), str(good[0]), *map(str, bad), str(good[1])])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.splitlines() == [f"{good[0]}: high", f"{good[1]}: low"]
    lines = err.splitlines()
    assert len(lines) == len(bad) + 1 and all(line.startswith("rnnkit: error: ") for line in lines)
    for path, line in zip(bad, lines):
        assert str(path) in line
    assert "silent" in lines[3] and "4 of 6 files could not be transcribed" in lines[-1]


def test_transcribe_json_spans_lie_inside_each_file(digits_run, capsys, tmp_path):
    run, data, _ = digits_run
    rng = np.random.default_rng(1)
    x = np.concatenate([_tone(THREE_DIGITS[d], rng, 0.2) for d in "201"])
    f = _write_wav(tmp_path / "201.wav", x)
    code = main(["speech", "transcribe", "--run", str(run), "--json", "--words", str(f)])
    out, _ = capsys.readouterr()
    assert code == 0
    row = json.loads(out)
    assert row["file"] == str(f) and set(row) >= {"text", "tokens", "spans"}
    assert all(t in THREE_DIGITS for t in row["tokens"]) and len(row["spans"]) == len(row["tokens"])
    assert row["text"] == " ".join({"0": "zero", "1": "one", "2": "two"}[t] for t in row["tokens"])
    duration = len(x) / RATE
    for span in row["spans"]:
        assert 0 <= span["start"] <= span["end"] <= duration


def test_demo_draws_the_held_out_utterances(digits_run, capsys, tmp_path, one_line_error):
    run, _, _ = digits_run
    assert main(["speech", "demo", "--run", str(run), "--out", str(tmp_path / "demo.png"), "--count", "2"]) == 0
    out, _ = capsys.readouterr()
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG" and out.count("held-out") == 2
    assert "give a .png file name" in one_line_error(["speech", "demo", "--run", str(run), "--out", str(tmp_path / "d.jpg")])


def test_cli_bad_inputs_get_one_line_and_exit_code_2(words_run, tmp_path, one_line_error):
    run, data = words_run
    assert "no speaker 'zoe'" in one_line_error(["speech", "train", "--data", str(data), "--split", "speaker:zoe"])
    assert "its speakers are ann, bob, cat" in one_line_error(["speech", "train", "--data", str(data),
                                                               "--split", "speaker:zoe"])
    assert "no such folder" in one_line_error(["speech", "train", "--data", str(tmp_path / "missing")])
    assert "--split must be standard or speaker:NAME" in one_line_error(["speech", "train", "--split", "half"])
    assert "--speeds must be a number, got 'fast'" in one_line_error(["speech", "train", "--speeds", "0.9,fast"])
    assert "--speeds must each be in [0.5, 2]" in one_line_error(["speech", "train", "--speeds", "3"])
    assert "--vtlp" in one_line_error(["speech", "train", "--vtlp", "0.9"])
    assert "--test-speeds is for words" in one_line_error(["speech", "train", "--task", "digits",
                                                           "--test-speeds", "0.9,1"])
    assert "--test-speeds must be a number, got 'slow'" in one_line_error(["speech", "train", "--test-speeds", "slow"])
    assert "--run is needed" in one_line_error(["speech", "demo"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"app": "classify", "config": {}}))
    assert "is a run of `rnnkit classify`" in one_line_error(["speech", "transcribe", "--run", str(other),
                                                              str(data / "high" / "high_ann_0.wav")])
    assert "nothing to transcribe" in one_line_error(["speech", "transcribe", "--run", str(run)])


def test_a_damaged_speech_json_is_a_one_line_error_naming_the_file(words_run, tmp_path, one_line_error):
    run, data = words_run
    wav = str(data / "high" / "high_ann_0.wav")
    for key, value, message in (("speaker_prior", {"mean": [0.0]}, "needs its speaker_prior statistics"),
                                ("prior_frames", "many", "needs its speaker_prior statistics"),
                                ("test_speeds", [0.9, "fast"], "test_speeds must be a list of speeds in [0.5, 2]"),
                                ("test_speeds", [], "test_speeds must be a list of speeds")):
        copy = tmp_path / f"{key}-{len(str(value))}"
        shutil.copytree(run, copy)
        info = json.loads((copy / "speech.json").read_text())
        (copy / "speech.json").write_text(json.dumps({**info, key: value}))
        error = one_line_error(["speech", "transcribe", "--run", str(copy), wav])
        assert message in error and "speech.json" in error and "the file is damaged" in error, error


def test_config_refuses_bad_settings():
    with pytest.raises(ConfigError, match="`n_mfcc` must be at most `n_mels` = 10"):
        SpeechConfig(n_mels=10, n_mfcc=13)
    with pytest.raises(ConfigError, match="speeds"):
        SpeechConfig(speeds=[0.9, 3.0])
    with pytest.raises(ConfigError, match="`speeds` must hold numbers"):
        SpeechConfig(speeds=["fast"])
    for name in ("vtlp", "speed_range"):
        with pytest.raises(ConfigError, match=name):
            SpeechConfig(**{name: 0.6})
        with pytest.raises(ConfigError, match=name):
            SpeechConfig(**{name: -0.1})


def test_the_help_names_the_defaults_each_task_trains_with(capsys):
    """`speech train --help` against what a config that leaves the setting out ends up with, task by task."""
    with pytest.raises(SystemExit):
        main(["speech", "train", "--help"])
    entries = capsys.readouterr().out.split("options:", 1)[1].split("\n  -")  # one per option, flag first
    helps = {entry.split()[0]: " ".join(entry.split()) for entry in entries if entry.strip()}
    shown = {"features": str, "stack": str, "speed_range": "{:g}".format, "vtlp": "{:g}".format, "trim_db": "{:g}".format,
             "noise_snr": lambda snr: ",".join(f"{x:g}" for x in snr) or "off", "normalise": str,
             "ema_epochs": "{:g}".format, "test_speeds": lambda speeds: ",".join(f"{x:g}" for x in speeds)}
    for task in ("words", "digits"):
        cfg = SpeechConfig(task=task).with_task_defaults()
        for name, show in shown.items():
            option = helps["-" + {"trim_db": "trim"}.get(name, name).replace("_", "-")]
            value = show(getattr(cfg, name))
            assert f"default {value})" in option or f"{value} for {task}" in option, (name, task, value, option)


def _mel_centre(band: int) -> float:
    """The centre in Hz of band ``band`` of 40 Slaney mel bands up to 4 kHz, from the scale written out here."""
    top = 15 + 27 * np.log(4.0) / np.log(6.4)  # 4 kHz in mels
    m = (band + 1) * top / 41
    return m * 200 / 3 if m < 15 else 1000 * 6.4 ** ((m - 15) / 27)


def test_training_batches_draw_speed_and_vtlp_warp_anew_each_time():
    rng = np.random.default_rng(0)
    waves = [np.sin(2 * np.pi * 1000 * np.arange(n) / RATE).astype(np.float32) for n in (3000, 3200, 3400, 3600)]
    source = WaveFeatures(waves, RATE, "logmel", speeds=(1.0,), speed_range=0.15, vtlp=0.1)
    batches = Batches(source, np.zeros(4, dtype=np.int64), 4, shuffle=False, seed=5)
    again = Batches(source, np.zeros(4, dtype=np.int64), 4, shuffle=False, seed=5)
    index = batches.order()[0]
    first, second = batches.batch(index), batches.batch(index)
    assert torch.equal(first, again.batch(index))  # seeded: the same draws again
    assert not torch.equal(first, second)  # a new speed and warp for every batch
    peaks = []
    for x in (first, second):
        for row in x:
            real = row[row[:, 0] != PAD]
            n = len(waves[index[len(peaks) % 4]])
            # the speed changes the length: 1 + n / (s · 80) frames for s in [0.85, 1.15]
            assert 1 + n / 1.15 // 80 - 1 <= len(real) <= 1 + n / 0.85 // 80 + 1
            peaks.append(_mel_centre(int(real[5:-5].mean(dim=0).argmax())))
    # the tone moves by the speed and then the warp (below the 2.4 kHz boundary, w(f) = α f): 1 kHz times 0.765-1.265
    assert all(1000 * 0.85 * 0.9 - 60 <= f <= 1000 * 1.15 * 1.1 + 60 for f in peaks) and len(set(peaks)) > 2
    # neither speed nor warp: the plain per-utterance features
    plain = WaveFeatures(waves, RATE, "mfcc", speeds=(1.0,)).draw([2, 0], torch.Generator())
    for got, ref in zip(plain, features_of([waves[2], waves[0]], RATE, "mfcc")):
        assert torch.equal(got, ref)


def test_training_batches_add_noise_at_an_snr_drawn_from_the_range():
    waves = [np.sin(2 * np.pi * 1000 * np.arange(n) / RATE).astype(np.float32) for n in (3000, 3400)]
    source = WaveFeatures(waves, RATE, "logmel", speeds=(1.0,), noise_snr=(5.0, 15.0))
    draws = [source.draw([0, 1], torch.Generator().manual_seed(seed)) for seed in range(6)]
    clean = features_of(waves, RATE, "logmel")

    def distance(snr: float) -> float:  # how far noise at one SNR moves the features from the clean ones
        fixed = WaveFeatures(waves, RATE, "logmel", speeds=(1.0,), noise_snr=(snr, snr))
        return float(sum((a - b).abs().mean() for a, b in zip(fixed.draw([0, 1], torch.Generator()), clean)))

    assert 0 < distance(40.0) < distance(15.0) < distance(5.0)  # the lower the SNR, the further
    drawn = [float(sum((a - b).abs().mean() for a, b in zip(d, clean))) for d in draws]
    assert all(distance(20.0) < x < distance(2.0) for x in drawn)  # SNRs from [5, 15] dB
    assert len({round(float(d[0].abs().sum()), 3) for d in draws}) == len(draws)  # a new SNR (and noise) every draw
    assert all(torch.equal(a, b) for a, b in zip(draws[0], source.draw([0, 1], torch.Generator().manual_seed(0))))
    with pytest.raises(ConfigError, match="LOW,HIGH"):
        SpeechConfig(noise_snr=[40.0, 10.0]).validate()
    with pytest.raises(ConfigError, match="LOW,HIGH"):
        SpeechConfig(noise_snr=[10.0]).validate()


def test_task_defaults_fill_only_what_is_not_given():
    assert (SpeechConfig(task="words").with_task_defaults().features, SpeechConfig(task="digits").with_task_defaults().stack) \
        == ("mfcc", 3)
    cfg = SpeechConfig(task="digits", features="mfcc", stack=1).with_task_defaults()
    assert (cfg.features, cfg.stack) == ("mfcc", 1)
    words, digits = SpeechConfig().with_task_defaults(), SpeechConfig(task="digits").with_task_defaults()
    assert (words.speed_range, words.vtlp, digits.speed_range, digits.vtlp) == (0.0, 0.0, 0.0, 0.0)
    given = SpeechConfig(speed_range=0.15, vtlp=0.1).with_task_defaults()
    assert (given.speed_range, given.vtlp) == (0.15, 0.1)
    assert (words.noise_snr, digits.noise_snr) == ([10.0, 40.0], [])
    assert SpeechConfig(noise_snr=[0.0, 20.0]).with_task_defaults().noise_snr == [0.0, 20.0]
    assert SpeechConfig(noise_snr="off").with_task_defaults().noise_snr == []  # as text: the CLI's way to say none
    # a run saved before noise_snr existed trained without noise, and resumes without it
    saved = {k: v for k, v in SpeechConfig().to_dict().items() if k != "noise_snr"}
    assert SpeechConfig.from_dict(saved).with_task_defaults().noise_snr == []
    assert SpeechConfig.from_dict(SpeechConfig().to_dict()).with_task_defaults().noise_snr == [10.0, 40.0]
    # and one saved before string_peak_db existed built its digit strings from the recordings as recorded
    older = {k: v for k, v in SpeechConfig(task="digits").to_dict().items() if k != "string_peak_db"}
    assert SpeechConfig.from_dict(older).string_peak_db is None and SpeechConfig().string_peak_db == -12.0
    assert SpeechConfig.from_dict(SpeechConfig().to_dict()).string_peak_db == -12.0
    # words normalise by speaker and keep the moving average; runs saved before either did neither
    assert (words.normalise, words.ema_epochs, digits.normalise, digits.ema_epochs) == ("speaker", 3.0, "utterance", 0.0)
    before = {k: v for k, v in SpeechConfig().to_dict().items() if k not in ("normalise", "ema_epochs")}
    assert (SpeechConfig.from_dict(before).normalise, SpeechConfig.from_dict(before).ema_epochs) == ("utterance", 0.0)
    with pytest.raises(ConfigError, match="`normalise` speaker is for words: a digit string joins several speakers"):
        SpeechConfig(task="digits", normalise="speaker")
    # words are recognised at three speeds; digits and runs saved before test_speeds at their own only
    assert (words.test_speeds, digits.test_speeds) == ([0.9, 1.0, 1.1], [1.0])
    before = {k: v for k, v in SpeechConfig().to_dict().items() if k != "test_speeds"}
    assert SpeechConfig.from_dict(before).with_task_defaults().test_speeds == [1.0]
    assert SpeechConfig(test_speeds=[1.0]).with_task_defaults().test_speeds == [1.0]
    with pytest.raises(ConfigError, match="`test_speeds` is for words: a digit string's CTC steps"):
        SpeechConfig(task="digits", test_speeds=[0.9, 1.0])
    SpeechConfig(task="digits", test_speeds=[1.0]).validate()
    for bad in ([], [0.9, 2.5]):
        with pytest.raises(ConfigError, match=r"`test_speeds` must be one or more speeds, each in \[0.5, 2\]"):
            SpeechConfig(test_speeds=bad)


def test_a_run_normalised_by_speaker_uses_the_statistics_of_the_files_given_together(words_run, tmp_path):
    """transcribe against the model fed MFCCs normalised by hand (NumPy): the files' pooled frames, shrunk toward the
    training speakers' statistics in speech.json by prior_frames frames; each file also played at the run's other
    test speeds (scipy's polyphase resampling), normalised by the same statistics, the log-probabilities averaged."""
    run, _ = words_run
    info = json.loads((run / "speech.json").read_text())
    assert info["normalisation"] == "speaker" and info["prior_frames"] == 100 and info["test_speeds"] == [0.9, 1.0, 1.1]
    model, _, _ = load_run(run)
    rng = np.random.default_rng(21)
    files = [_write_wav(tmp_path / f"f{i}.wav", _tone(TWO_WORDS[w], rng)) for i, w in enumerate(["high", "low", "high"])]
    # speed f: resampled from p to q Hz, p / q = f, and played at the old rate
    played = {0.9: lambda x: resample_poly(x, 10, 9), 1.0: lambda x: x, 1.1: lambda x: resample_poly(x, 10, 11)}

    def features(wave):
        return mfcc(torch.from_numpy(np.asarray(wave, dtype=np.float32)), RATE, n_mfcc=info["n_mfcc"],
                    n_mels=info["n_mels"], win_ms=info["win_ms"], hop_ms=info["hop_ms"]).double().numpy()

    waves = [read_audio(f, RATE)[0] for f in files]
    raw = {f: [features(play(w)) for w in waves] for f, play in played.items()}
    m0, s0, tau = np.array(info["speaker_prior"]["mean"]), np.array(info["speaker_prior"]["std"]), info["prior_frames"]

    def by_hand(count):
        x = np.concatenate(raw[1.0][:count])  # the statistics of the files at their own speed
        mean = (x.sum(0) + tau * m0) / (len(x) + tau)
        std = np.sqrt(((x**2).sum(0) + tau * (s0**2 + m0**2)) / (len(x) + tau) - mean**2)
        with torch.inference_mode():
            logp = [[torch.log_softmax(model(torch.from_numpy((u - mean) / std).float()[None])[0], -1).double().numpy()
                     for u in raw[f][:count]] for f in played]
        mean_logp = np.mean(logp, axis=0)  # (count, classes)
        p = np.exp(mean_logp - mean_logp.max(1, keepdims=True))
        return list((p / p.sum(1, keepdims=True)).max(1))

    together = [t.probability for t in transcribe(run, files)]
    np.testing.assert_allclose(together, by_hand(3), atol=1e-5)
    alone = transcribe(run, files[:1])[0].probability  # one file: its own frames and the prior
    assert alone == pytest.approx(by_hand(1)[0], abs=1e-5) and abs(alone - together[0]) > 1e-4
    with np.load(run / "held_out.npz") as held:  # the demo's recordings keep their speakers, to be normalised by them
        kept = json.loads(str(held["speakers"]))
    assert len(kept) == len([k for k in held.files if k.startswith("wave")]) and set(kept) <= set(SPEAKERS)
