"""A full disk under every writer: one line naming the file and the free space, the previous file intact, no temp files.

The disk is a real one that fills up: a tiny tmpfs mounted for the test where this
process may mount one (root on Linux), else the same folder with the process's
file-size limit (``RLIMIT_FSIZE``) at 0, so that every write fails in the kernel
(``EFBIG``) as it would on a full disk, C-level writers (PNG, zip, HDF5) included.
Each case writes a first version while there is room, fills the disk, tries to
write a second one, then frees the disk and checks what is there.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import CheckpointError, WriteError

resource = pytest.importorskip("resource", reason="the fallback full disk needs the resource module (POSIX)")

_FILLER = "filler.bin"


class FullDisk:
    """A folder on a disk that ``fill()`` makes full and ``free()`` frees again."""

    def __init__(self, folder: Path, how: str) -> None:
        self.folder, self.how = folder, how
        self._limit = None

    def fill(self) -> None:
        if self.how == "tmpfs":
            with open(self.folder / _FILLER, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError as exc:  # the last block that did not fit: write what does, a page at a time
                    assert exc.errno == errno.ENOSPC
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
        else:
            self._handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
            self._limit = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, self._limit[1]))

    def free(self) -> None:
        if self._limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, self._limit)
            signal.signal(signal.SIGXFSZ, self._handler)
            self._limit = None
        (self.folder / _FILLER).unlink(missing_ok=True)

    def listing(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.name != _FILLER)


def _mount_tmpfs(folder: Path) -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not ctypes.util.find_library("c"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return libc.mount(b"tmpfs", os.fsencode(folder), b"tmpfs", 0, b"size=2m") == 0


@pytest.fixture
def disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = _mount_tmpfs(folder)
    d = FullDisk(folder, "tmpfs" if mounted else "rlimit")
    try:
        yield d
    finally:
        d.free()
        if mounted:
            ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).umount2(os.fsencode(folder), 2)  # MNT_DETACH


def _refused(disk: FullDisk, write, error=WriteError) -> str:
    """Run ``write`` on the full disk; the one-line message of the error it must raise."""
    disk.fill()
    try:
        with pytest.raises(error) as info:
            write()
    finally:
        disk.free()
    message = str(info.value)
    assert "\n" not in message and str(disk.folder) in message, message
    assert re.search(r"\(([\d.]+ (bytes|kB|MB|GB)) free on its disk\)", message), message
    assert info.value.errno in (errno.ENOSPC, errno.EFBIG)
    if disk.how == "tmpfs":
        assert "No space left on device (0 bytes free on its disk)" in message, message
    return message


def _model():
    rnnkit.set_seed(0)
    model = rnnkit.Sequential([rnnkit.layers.LSTM(8, input_size=3), rnnkit.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    model.fit(np.zeros((4, 5, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    return model


def _perturb(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)


@pytest.mark.parametrize("weights_only", [False, True])
def test_model_save_and_save_weights(disk, weights_only):
    model, path = _model(), disk.folder / "model.safetensors"
    save = model.save_weights if weights_only else model.save
    save(path)
    good = path.read_bytes()
    _perturb(model)
    message = _refused(disk, lambda: save(path), CheckpointError)
    assert message.startswith(f"checkpoint {str(path)!r}: could not be written: ") and "untouched" in message
    assert path.read_bytes() == good and disk.listing() == ["model.safetensors"]
    again = _model()
    again.load_weights(path)  # loadable: the first version
    assert not torch.equal(again.layers[1].weight, model.layers[1].weight)


def test_the_model_checkpoint_of_a_fit(disk):
    """The disk fills during epoch 2: fit stops with the error, epoch 1's checkpoint stays and resumes."""
    path = disk.folder / "ckpt.safetensors"

    class FillAtEpoch2(rnnkit.training.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                disk.fill()

    model, x, y = _model(), np.zeros((4, 5, 3), np.float32), np.zeros((4, 2), np.float32)
    checkpoint = rnnkit.training.callbacks.ModelCheckpoint(path, monitor="loss", save_weights_only=False)
    try:
        with pytest.raises(CheckpointError) as info:
            model.fit(x, y, epochs=3, verbose=0, callbacks=[FillAtEpoch2(), checkpoint])
    finally:
        disk.free()
    assert "\n" not in str(info.value) and "free on its disk" in str(info.value)
    assert disk.listing() == ["ckpt.safetensors"]
    resumed = _model()
    resumed.fit(x, y, epochs=1, verbose=0, resume_from=path)  # epoch 1's whole checkpoint: nothing left to train
    assert resumed.epochs_done == 1


def test_save_keras(disk):
    pytest.importorskip("h5py", reason="Keras files need h5py (the [keras] extra)")
    from rnnkit.saving.keras_files import load_keras

    model, path, x = _model(), disk.folder / "model.keras", np.ones((2, 5, 3), np.float32)
    model.save(path)
    good, want = path.read_bytes(), model.predict(x)
    _perturb(model)
    _refused(disk, lambda: model.save(path))
    assert path.read_bytes() == good and disk.listing() == ["model.keras"]
    np.testing.assert_allclose(load_keras(path).predict(x), want, atol=1e-6)  # the first version, whole


def test_run_files_json_csv_and_plots(disk):
    from rnnkit.plots import plot_history
    from rnnkit.runs import write_csv, write_json

    run = disk.folder
    write_json(run / "metrics.json", {"val_loss": 0.7})
    write_json(run / "run.json", {"app": "textgen"})
    write_csv(run / "examples.tsv", ["a", "b"], [[1, 2]], delimiter="\t")
    (run / "loss.png").write_bytes(b"the first plot")
    before = {name: (run / name).read_bytes() for name in disk.listing()}
    for name, write in [
        ("metrics.json", lambda: write_json(run / "metrics.json", {"val_loss": 0.5, "notes": "x" * 10_000})),
        ("run.json", lambda: write_json(run / "run.json", {"app": "textgen", "command": ["y"] * 5_000})),
        ("examples.tsv", lambda: write_csv(run / "examples.tsv", ["a", "b"], [[3, 4]] * 5_000, delimiter="\t")),
        ("loss.png", lambda: plot_history({"loss": [3.0, 2.0, 1.0]}, run / "loss.png")),
    ]:
        message = _refused(disk, write)
        assert message.startswith(f"could not write {run / name}: ")
    assert {name: (run / name).read_bytes() for name in disk.listing()} == before
    assert json.loads((run / "metrics.json").read_text()) == {"val_loss": 0.7}


def test_metrics_csv_of_the_csv_logger(disk):
    from rnnkit.training.callbacks import CSVLogger

    path = disk.folder / "metrics.csv"
    logger = CSVLogger(path)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 0.5, "note": "first"})
    good = path.read_bytes()
    long = "x" * 10_000  # more than the slack of the file's last page
    message = _refused(disk, lambda: logger.on_epoch_end(1, {"loss": 0.25, "note": long}))
    assert message.startswith(f"could not write {path}: ") and "its earlier lines are untouched" in message
    assert path.read_bytes() == good and disk.listing() == ["metrics.csv"]  # no half row
    logger.on_epoch_end(1, {"loss": 0.25, "note": "second"})  # room again: the log goes on
    assert path.read_text() == "epoch,loss,note\n0,0.5,first\n1,0.25,second\n"


def test_vocab_and_token_files(disk):
    from rnnkit.data import Vocab, save_tokens

    vocab, tokens = disk.folder / "vocab.json", disk.folder / "tokens.npy"
    Vocab(["a", "b"]).save(vocab)
    save_tokens(tokens, np.arange(10))
    before = {name: (disk.folder / name).read_bytes() for name in disk.listing()}
    _refused(disk, lambda: Vocab([f"w{i}" for i in range(2_000)]).save(vocab))
    _refused(disk, lambda: save_tokens(tokens, np.arange(100_000)))
    assert {name: (disk.folder / name).read_bytes() for name in disk.listing()} == before
    assert Vocab.load(vocab).tokens[-2:] == ["a", "b"]


@pytest.mark.slow
def test_an_app_run_on_a_disk_that_fills_stops_with_one_line_and_resumes_when_there_is_room(disk, capsys, one_line_error):
    from rnnkit.cli import main as cli
    from rnnkit.saving import load_file

    corpus = disk.folder.parent / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 20, encoding="utf-8")
    run = disk.folder / "run"
    assert cli(["textgen", "train", "--data", str(corpus), "--layers", "1", "--units", "16", "--embed-dim", "8",
                "--seq-len", "16", "--batch-size", "4", "--sample-length", "0", "--quiet", "--epochs", "2",
                "--out", str(run)]) == 0
    good = (run / "checkpoint.safetensors").read_bytes()
    files = sorted(p.name for p in run.iterdir())
    capsys.readouterr()
    disk.fill()
    try:
        message = one_line_error(["textgen", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"])
    finally:
        disk.free()
    assert str(run) in message and "free on its disk" in message, message
    assert (run / "checkpoint.safetensors").read_bytes() == good  # epoch 2's, whole
    assert load_file(run / "checkpoint.safetensors")[1]["training"]["epoch"] == 2
    assert sorted(p.name for p in run.iterdir()) == files  # no temporary file
    assert cli(["textgen", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0  # room again
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]  # epoch 3 logged once, whatever the full disk cut
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3
