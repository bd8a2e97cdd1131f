"""fit options: clipping, reproducibility, verbosity, DataLoader input, checkpoints by name, bf16."""
import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.layers import LSTM, Dense
from rnnkit.models import Sequential
from rnnkit.training.callbacks import ModelCheckpoint


def _data(n=32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, 3, generator=g)
    return x, x.sum(dim=(1, 2))[:, None] * 10


def _model(**compile_args):
    model = Sequential([LSTM(4, input_size=3), Dense(1, input_size=4)])
    model.compile(**{"optimizer": rnnkit.optimizers.SGD(learning_rate=1.0), "loss": "mse", "device": "cpu", **compile_args})
    return model


@pytest.mark.parametrize("clip", [{"clipnorm": 0.1}, {"clipvalue": 0.01}])
def test_clipping_bounds_each_sgd_step(clip):
    rnnkit.set_seed(0)
    x, y = _data(8)
    model = _model(**clip)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - before  # lr 1: the clipped gradient
    if "clipnorm" in clip:
        assert step.norm() == pytest.approx(0.1, rel=1e-4)
        assert history.history["grad_norm"][0] > 0.1  # logged before clipping
    else:
        assert step.abs().max() == pytest.approx(0.01, rel=1e-4)


def test_set_seed_makes_a_cpu_run_repeat_bit_for_bit():
    x, y = _data()
    runs = []
    for _ in range(2):
        rnnkit.set_seed(123)
        model = Sequential([LSTM(6), torch.nn.Dropout(0.3), Dense(1)])
        model.compile(optimizer="adam", loss="mse", device="cpu")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*runs):
        assert torch.equal(a, b)


def test_verbose_modes(capsys):
    x, y = _data(16)
    _model().fit(x, y, epochs=2, batch_size=8, verbose=2)
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 2 and out.count("2/2 [") == 2 and "loss:" in out and "\r" not in out
    _model().fit(x, y, epochs=1, batch_size=8, verbose=1)
    assert "\r" in capsys.readouterr().out
    _model().fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""


def test_dataloader_input_matches_arrays():
    x, y = _data(16)
    rnnkit.set_seed(0)
    a = _model(optimizer="sgd")
    a.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    rnnkit.set_seed(0)
    b = _model(optimizer="sgd")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    b.fit(loader, epochs=2, verbose=0)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_model_checkpoint_names_files_from_the_logs(tmp_path):
    x, y = _data(16)
    model = _model(optimizer="sgd")
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.safetensors")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x, y),
                        callbacks=[ModelCheckpoint(pattern, save_weights_only=True)])
    names = sorted(p.name for p in tmp_path.iterdir())
    expect = sorted(f"m-{e + 1:02d}-{v:.3f}.safetensors" for e, v in enumerate(history.history["val_loss"]))
    assert names == expect


def test_bf16_precision_trains_like_float32_on_cpu():
    x, y = _data(64)
    losses = {}
    for precision in (None, "bf16"):
        rnnkit.set_seed(0)
        model = _model(optimizer=rnnkit.optimizers.Adam(learning_rate=0.02), precision=precision)
        losses[precision] = model.fit(x, y / 10, epochs=20, batch_size=16, verbose=0).history["loss"]
        assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
        assert np.isfinite(model.predict(x)).all()
    assert losses["bf16"][-1] < 0.5 * losses["bf16"][0]
    assert losses["bf16"][-1] == pytest.approx(losses[None][-1], rel=0.15)
    assert losses["bf16"] != losses[None]  # bfloat16 arithmetic really ran


_NO_NATIVE_BF16 = r"""
import json, warnings
import torch
import rnnkit
from rnnkit.layers import LSTM, Dense
from rnnkit.models import Sequential

torch.set_num_threads(1)  # tiny tensors: OpenMP spin-waits on a busy 2-core machine cost 10x
if torch.ops.mkldnn._is_mkldnn_bf16_supported():
    print(json.dumps({"skip": "ONEDNN_MAX_CPU_ISA=AVX2 did not hide native bf16"}))
    raise SystemExit
g = torch.Generator().manual_seed(0)
x = torch.randn(64, 5, 3, generator=g)
y = x.sum(dim=(1, 2))[:, None]
out = {}
for precision in (None, "bf16"):
    rnnkit.set_seed(0)
    model = Sequential([LSTM(4, input_size=3), Dense(1, input_size=4)])
    model.compile(optimizer=rnnkit.optimizers.Adam(learning_rate=0.02), loss="mse", device="cpu", precision=precision)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history["loss"]
    out[str(precision)] = {"losses": losses, "warnings": [str(w.message) for w in caught],
                           "path": model.layers[0].last_path}
print(json.dumps(out))
"""


@pytest.mark.slow  # a subprocess that builds its own kernels (about 4 s); .ci/run's slow pass runs it
def test_bf16_on_a_cpu_without_native_bf16_runs_the_recurrent_kernel_in_float32():
    """oneDNN limited to AVX2 has no bf16 LSTM primitive: fit must still train, with one warning saying so."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _NO_NATIVE_BF16], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    f32, bf16 = result["None"], result["bf16"]
    assert f32["warnings"] == []
    assert len(bf16["warnings"]) == 1 and "no native bfloat16" in bf16["warnings"][0]
    assert bf16["path"] == "fused"
    assert bf16["losses"][-1] < 0.5 * bf16["losses"][0]
    assert bf16["losses"][-1] == pytest.approx(f32["losses"][-1], rel=0.15)
    assert bf16["losses"] != f32["losses"]  # the Dense layer really ran in bfloat16


def test_callbacks_together_through_fit(tmp_path):
    import csv

    from rnnkit.training.callbacks import CSVLogger, LearningRateScheduler, ReduceLROnPlateau, TensorBoard

    x, y = _data(32)
    model = _model(optimizer=rnnkit.optimizers.SGD(learning_rate=0.0))
    history = model.fit(
        x, y, epochs=4, batch_size=8, verbose=0, steps_per_epoch=2, initial_epoch=1,
        callbacks=[
            LearningRateScheduler(lambda epoch, lr: 0.1 * (epoch + 1)),
            ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9),
            CSVLogger(tmp_path / "log.csv"),
            TensorBoard(tmp_path / "tb"),
        ],
    )
    assert history.epoch == [1, 2, 3]  # from initial_epoch
    # the schedule sets 0.1*(epoch+1) as each epoch begins (as in Keras, over the plateau's change);
    # the plateau (nothing ever improves by 1e9) halves the rate as each epoch ends
    assert history.history["lr"] == pytest.approx([0.2, 0.3, 0.4])
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.2)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["loss"]) for r in rows] == pytest.approx(history.history["loss"])
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").rglob("*"))
    logs = model.evaluate(x, y, return_dict=True)
    expect = float(np.mean((model.predict(x) - y.numpy()) ** 2))
    assert set(logs) == {"loss"} and logs["loss"] == pytest.approx(expect, rel=1e-5)
