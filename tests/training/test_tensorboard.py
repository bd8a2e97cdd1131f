"""TensorBoard event files, written through the tensorboard package and read back by tensorboard's own EventAccumulator."""
import math
import os

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError

pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed (pip install 'rnnkit[tensorboard]')")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from rnnkit.training.callbacks import TensorBoard  # noqa: E402
from rnnkit.training.tensorboard import EventFileWriter  # noqa: E402


def _scalars(folder):
    """(tag, step, value) for every scalar in ``folder``, in the order written, read by tensorboard itself."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    rows = [(tag, e.step, e.value, e.wall_time) for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    return [r[:3] for r in sorted(rows, key=lambda r: r[3])]


def _by_tag(folder):
    out = {}
    for tag, step, value in _scalars(folder):
        out.setdefault(tag, []).append((step, value))
    return out


# ----------------------------------------------------------------------------- the writer
def test_writer_output_reads_back_with_tensorboard(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.add_scalar("epoch_loss", 0.5, step=0)
    writer.add_scalar("epoch_loss", 0.25, step=1)
    writer.add_scalar("epoch_accuracy", np.float32(0.75), step=1)
    writer.add_scalar("batch_loss", torch.tensor(1.0 / 3.0), step=300)
    writer.add_scalar("big_step", 7, step=2**40)
    writer.add_scalar("neg_step", -2.0, step=-1)
    writer.add_scalar("fixed_time", 1.0, step=5, wall_time=1234.5)
    writer.close()
    assert writer.closed
    got = _by_tag(tmp_path)
    assert got["epoch_loss"] == [(0, 0.5), (1, 0.25)]
    assert got["epoch_accuracy"] == [(1, 0.75)]
    assert got["batch_loss"] == [(300, pytest.approx(1 / 3, rel=1e-6))]
    assert got["big_step"] == [(2**40, 7.0)]
    assert got["neg_step"] == [(-1, -2.0)]
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert acc.Scalars("fixed_time")[0].wall_time == 1234.5


def test_special_values(tmp_path):
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalar("nan", float("nan"), step=0)
        writer.add_scalar("inf", float("inf"), step=0)
        writer.add_scalar("huge", 1e300, step=0)
    got = _by_tag(tmp_path)
    assert math.isnan(got["nan"][0][1]) and got["inf"][0][1] == math.inf and got["huge"][0][1] == math.inf


def test_flush_makes_records_visible_and_writers_do_not_collide(tmp_path):
    a = EventFileWriter(tmp_path / "a")
    b = EventFileWriter(tmp_path / "a")
    a.add_scalar("x", 1.0, step=0)
    a.flush()
    assert _scalars(tmp_path / "a") == [("x", 0, 1.0)]
    a.close()
    b.close()
    assert len(os.listdir(tmp_path / "a")) == 2


@pytest.mark.parametrize(
    "args,match",
    [(("", 1.0, 0), "tag"), (("t", "high", 0), "real number"), (("t", 1.0, 1.5), "step"),
     (("t", torch.ones(2), 0), "real number"), (("t", 1.0, True), "step")],
)
def test_add_scalar_rejects_bad_arguments(tmp_path, args, match):
    with EventFileWriter(tmp_path) as writer:
        with pytest.raises(ConfigError, match=match):
            writer.add_scalar(*args)


def test_closed_writer_refuses(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ConfigError, match="closed"):
        writer.add_scalar("x", 1.0, step=0)


def test_without_the_package_the_error_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    with pytest.raises(ImportError, match=r"pip install 'rnnkit\[tensorboard\]'") as info:
        TensorBoard(tmp_path)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- the callback
def test_tensorboard_callback_splits_train_and_validation(tmp_path):
    tb = TensorBoard(log_dir=tmp_path / "run", update_freq=2)
    tb.on_train_begin()
    for epoch in range(2):
        tb.on_epoch_begin(epoch)
        for batch in range(3):
            tb.on_train_batch_begin(batch)
            tb.on_train_batch_end(batch, {"loss": float(10 * epoch + batch)})
        tb.on_epoch_end(epoch, {"loss": 1.0 - epoch / 4, "accuracy": 0.5, "val_loss": 2.0, "val_accuracy": 0.25,
                                "note": "text is skipped"})
    tb.on_train_end()
    assert sorted(os.listdir(tmp_path / "run")) == ["train", "validation"]
    train = _by_tag(tmp_path / "run" / "train")
    val = _by_tag(tmp_path / "run" / "validation")
    # batches seen: 1..6; every 2nd is written, against that count
    assert train["batch_loss"] == [(2, 1.0), (4, 10.0), (6, 12.0)]
    assert train["epoch_loss"] == [(0, 1.0), (1, 0.75)]
    assert train["epoch_accuracy"] == [(0, 0.5), (1, 0.5)]
    assert sorted(train) == ["batch_loss", "epoch_accuracy", "epoch_loss"]
    assert val == {"epoch_loss": [(0, 2.0), (1, 2.0)], "epoch_accuracy": [(0, 0.25), (1, 0.25)]}


def test_tensorboard_callback_epoch_only_and_config(tmp_path):
    tb = TensorBoard(log_dir=str(tmp_path))
    tb.on_train_begin()
    tb.on_train_batch_end(0, {"loss": 1.0})
    tb.on_epoch_end(0, {"loss": 3.0})
    # visible before training ends: flushed each epoch
    assert _scalars(tmp_path / "train") == [("epoch_loss", 0, 3.0)]
    tb.on_train_end()
    assert os.listdir(tmp_path) == ["train"]
    assert tb.get_config() == {"log_dir": str(tmp_path), "update_freq": "epoch"}
    assert TensorBoard.from_config(tb.get_config()).get_config() == tb.get_config()
    for bad in ("step", 0, -1, 1.5, None):
        with pytest.raises(ConfigError, match="update_freq"):
            TensorBoard(str(tmp_path), update_freq=bad)
