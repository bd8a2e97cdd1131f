"""Truncated BPTT against a hand-written PyTorch loop, and resume against an uninterrupted run.

Runs killed by SIGKILL at many moments are soaked in ``tests/saving/test_kill_soak.py``.
"""
import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import ConfigError
from rnnkit.layers import LSTM, Bidirectional, Dense, to_torch
from rnnkit.models import Sequential


def test_tbptt_matches_a_hand_written_loop_carrying_detached_state():
    rnnkit.set_seed(0)
    x = torch.randn(4, 12, 3)
    y = torch.randn(4, 12, 2)
    model = Sequential([LSTM(5, return_sequences=True, input_size=3), Dense(2, input_size=5)])
    model.compile(optimizer=rnnkit.optimizers.SGD(learning_rate=0.1), loss="mse", device="cpu")
    # the reference: torch.nn modules with the same weights, chunks of 5, 5, 2 steps
    lstm = to_torch(model.layers[0])
    head = torch.nn.Linear(5, 2)
    head.load_state_dict({"weight": model.layers[1].weight.detach(), "bias": model.layers[1].bias.detach()})
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.1)
    for _ in range(2):  # two epochs of one batch each
        state = None
        for start in range(0, 12, 5):
            out, state = lstm(x[:, start : start + 5], state)
            loss = torch.nn.functional.mse_loss(head(out), y[:, start : start + 5])
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, tbptt_steps=5)
    cell = model.layers[0].cell
    torch.testing.assert_close(cell.weight_hh, lstm.weight_hh_l0)
    torch.testing.assert_close(cell.bias_ih, lstm.bias_ih_l0)
    torch.testing.assert_close(model.layers[1].weight, head.weight)
    assert model.layers[0].stateful is False and model.layers[0].states is None


def test_tbptt_refuses_targets_without_time_axis_and_bidirectional():
    model = Sequential([LSTM(3), Dense(1)])
    model.compile(loss="mse", device="cpu")
    with pytest.raises(ConfigError, match="tbptt_steps needs a target per time step"):
        model.fit(np.zeros((4, 6, 2), np.float32), np.zeros((4, 1), np.float32), tbptt_steps=2, verbose=0)
    model = Sequential([Bidirectional(LSTM(3, return_sequences=True)), Dense(1)])
    model.compile(loss="mse", device="cpu")
    with pytest.raises(ConfigError, match="Bidirectional"):
        model.fit(np.zeros((4, 6, 2), np.float32), np.zeros((4, 6, 1), np.float32), tbptt_steps=2, verbose=0)


@pytest.mark.parametrize("source", ["arrays", "dataloader"])
def test_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, source):
    """The fast, in-process twin of the kill test above: Adam, dropout and shuffling resume exactly.

    The DataLoader shuffles with torch's global generator when each epoch starts reading it, so the
    resumed epochs see the uninterrupted run's orders only if that generator is restored first.
    """
    from rnnkit.layers import Dropout
    from rnnkit.training.callbacks import ModelCheckpoint

    def run(epochs, callbacks=(), resume_from=None):
        rnnkit.set_seed(0)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(40, 5, 3, generator=g)
        y = x.sum(dim=(1, 2))[:, None]
        model = Sequential([LSTM(4), Dropout(0.3), Dense(1)])
        model.compile(optimizer="adam", loss="mse", device="cpu")
        if source == "arrays":
            model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=list(callbacks), resume_from=resume_from)
        else:
            loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True)
            model.fit(loader, epochs=epochs, verbose=0, callbacks=list(callbacks), resume_from=resume_from)
        return model

    full = run(4)
    path = tmp_path / "ckpt.safetensors"
    run(2, [ModelCheckpoint(path, monitor="loss", save_weights_only=False)])
    resumed = run(4, resume_from=path)
    assert resumed.epochs_done == 4
    again = resumed.state_dict()
    for key, value in full.state_dict().items():
        assert torch.equal(value, again[key]), key
    # the comparison can tell runs apart: one epoch more ends elsewhere
    assert not torch.equal(run(5).layers[2].weight, full.layers[2].weight)


def test_resume_continues_the_callbacks_progress(tmp_path):
    from rnnkit.training.callbacks import EarlyStopping, ModelCheckpoint

    def model():
        rnnkit.set_seed(0)
        m = Sequential([LSTM(3, input_size=2), Dense(1, input_size=3)])
        m.compile(optimizer=rnnkit.optimizers.SGD(learning_rate=0.0), loss="mse", device="cpu")
        return m

    x, y = torch.randn(8, 4, 2), torch.randn(8, 1)
    # lr 0: the loss never improves after epoch 0, so patience 3 stops after epoch 3
    full = model().fit(x, y, epochs=20, verbose=0, shuffle=False, callbacks=[EarlyStopping(monitor="loss", patience=3)])
    assert full.epoch == [0, 1, 2, 3]
    path = tmp_path / "ckpt.safetensors"
    model().fit(x, y, epochs=2, verbose=0, shuffle=False,
                callbacks=[EarlyStopping(monitor="loss", patience=3), ModelCheckpoint(path, monitor="loss")])
    resumed = model().fit(x, y, epochs=20, verbose=0, shuffle=False, resume_from=path,
                          callbacks=[EarlyStopping(monitor="loss", patience=3), ModelCheckpoint(path, monitor="loss")])
    assert resumed.epoch == [2, 3]  # the patience count went on from the checkpoint


def test_a_run_killed_after_logging_an_epoch_resumes_with_one_row_per_epoch(tmp_path):
    """Killed after the CSV row of epoch 2 (and half of another line) but before epoch 2's checkpoint: the resumed
    fit logs epoch 2 once, the logs equal the uninterrupted run's byte for byte, and the temporary file the kill left
    beside the checkpoint is removed (one of another file is not)."""
    from rnnkit.training.callbacks import Callback, CSVLogger, ModelCheckpoint

    x, y = torch.randn(16, 4, 2, generator=torch.Generator().manual_seed(0)), torch.randn(16, 1)

    def fit(log, epochs, extra=(), resume_from=None, append=False):
        rnnkit.set_seed(0)
        model = Sequential([LSTM(3, input_size=2, name="lstm"), Dense(1, input_size=3)])
        model.compile(optimizer="adam", loss="mse", device="cpu")
        callbacks = [CSVLogger(log, append=append), *extra, ModelCheckpoint(ckpt, monitor="loss", save_weights_only=False)]
        return model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=callbacks, resume_from=resume_from,
                         diagnostics=rnnkit.diagnostics.GradientMonitor(3, str(log) + ".diag", append=append))

    class Killed(Callback):  # dies after the CSV row of epoch 2, before its checkpoint
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    ckpt = tmp_path / "full.safetensors"
    fit(tmp_path / "full.csv", 3)
    ckpt = tmp_path / "run.safetensors"
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "run.csv", 3, extra=[Killed()])
    with open(tmp_path / "run.csv", "a") as f:
        f.write("2,0.12")  # a line cut short
    stale, other = tmp_path / ".run.safetensors.0123456789ab.tmp", tmp_path / ".full.csv.0123456789ab.tmp"
    stale.write_bytes(b"half a checkpoint")
    other.write_bytes(b"another file's")
    assert (tmp_path / "run.csv").read_text().count("\n1,") == 1
    fit(tmp_path / "run.csv", 3, resume_from=ckpt, append=True)
    assert (tmp_path / "run.csv").read_text() == (tmp_path / "full.csv").read_text()
    assert (tmp_path / "run.csv.diag").read_text() == (tmp_path / "full.csv.diag").read_text()
    assert not stale.exists() and other.exists()
