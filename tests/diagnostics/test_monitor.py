"""fit(diagnostics=N) and GradientMonitor: the rows and the CSV contract (step,epoch,loss, then grad_norm:L and
reach:L per unit), the gradient norms from the real training step, and --diagnostics through an app's train()."""
import csv
import math

import numpy as np
import pytest
import torch

from rnnkit import Sequential
from rnnkit.diagnostics import GradientMonitor, gradient_flow, read_diagnostics
from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, Bidirectional, Dense


def _model(clipnorm=None):
    torch.manual_seed(0)
    model = Sequential([Bidirectional(LSTM(4, return_sequences=True, name="lstm"), name="bi"), GRU(3, name="gru"),
                        Dense(1)])
    model.compile(optimizer="sgd", loss="mse", device="cpu", clipnorm=clipnorm)
    model(torch.zeros(1, 6, 2))  # built now: the same seed gives the same weights
    return model


def test_fit_writes_the_csv_contract_every_n_steps(tmp_path):
    model = _model()
    x, y = torch.randn(40, 6, 2), torch.randn(40, 1)
    path = tmp_path / "diagnostics.csv"
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                        diagnostics=GradientMonitor(4, path, examples=3))
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "epoch", "loss", "grad_norm:bi/forward", "reach:bi/forward", "grad_norm:bi/backward",
                       "reach:bi/backward", "grad_norm:gru", "reach:gru"]
    assert [int(r[0]) for r in rows[1:]] == [1, 4, 8] and [int(r[1]) for r in rows[1:]] == [0, 0, 1]
    assert len(history.diagnostics) == 3 and all(math.isfinite(float(v)) for r in rows[1:] for v in r)
    columns = read_diagnostics(path)
    assert columns["step"] == [1, 4, 8]
    np.testing.assert_allclose(columns["reach:gru"], [r["reach:gru"] for r in history.diagnostics])


def test_the_row_holds_the_step_s_own_gradients_and_the_reach_of_the_batch(monkeypatch):
    model = _model(clipnorm=1e-3)  # clipped hard: the recorded norms are taken back to before clipping
    x, y = torch.randn(8, 6, 2), torch.randn(8, 1)
    seen = {}
    original = GradientMonitor.record

    def record(self):
        seen["flow"] = gradient_flow(self.model, self.model.last_step.x[:2], self.model.last_step.y[:2])
        return original(self)

    monkeypatch.setattr(GradientMonitor, "record", record)
    # the reference: a fresh backward on a copy with the same weights (before any step)
    model2 = _model(clipnorm=1e-3)
    model2.zero_grad()
    loss = model2.loss(y, model2(x))
    loss.backward()
    expected = torch.sqrt(sum(p.grad.pow(2).sum() for p in model2.layers[1].cell.parameters())).item()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, diagnostics=GradientMonitor(1, examples=2))
    row = history.diagnostics[0]
    assert row["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert row["grad_norm:gru"] == pytest.approx(expected, rel=1e-4)
    assert row["reach:gru"] == pytest.approx(seen["flow"].reach("gru"), rel=1e-6)


def test_fit_refuses_bad_diagnostics_in_one_line():
    model = _model()
    with pytest.raises(ConfigError, match=r"fit: `diagnostics` must be a number of steps >= 1"):
        model.fit(torch.randn(4, 3, 2), torch.randn(4, 1), epochs=1, verbose=0, diagnostics=0)
    dense = Sequential([Dense(1, input_size=2)])
    dense.compile(optimizer="sgd", loss="mse", device="cpu")
    with pytest.raises(ConfigError, match=r"fit\(diagnostics=...\): the model has no recurrent layer"):
        dense.fit(torch.randn(4, 2), torch.randn(4, 1), epochs=1, verbose=0, diagnostics=10)


def test_diagnostics_through_an_app_s_train_writes_the_run_folder(tmp_path):
    from rnnkit.apps.forecast import ForecastConfig, train

    t = np.arange(120)
    lines = ["date,value"] + [f"{np.datetime64('2000-01-01') + i},{np.sin(i / 3):.6f}" for i in t]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    train(ForecastConfig(data=str(tmp_path / "s.csv"), lookback=8, horizon=1, test_size=12, units="4", epochs=1,
                         val_size=10, batch_size=32, diagnostics=2, out=str(run)), print_fn=None)
    columns = read_diagnostics(run / "diagnostics.csv")
    unit = list(columns)[3].split(":", 1)[1]  # the app's one LSTM ('lstm', or 'lstm_k' after other tests' LSTMs)
    assert list(columns) == ["step", "epoch", "loss", f"grad_norm:{unit}", f"reach:{unit}"] and unit.startswith("lstm")
    assert columns["step"] == [1, 2] and all(0 < v < 1 for v in columns[f"reach:{unit}"])
    assert (run / "gradient_flow.png").stat().st_size > 0 and (run / "gates.png").stat().st_size > 0
    assert '"diagnostics": 2' in (run / "config.json").read_text()


def test_a_seq2seq_whose_part_batch_trims_its_padding_falls_back_to_the_whole_batch(tmp_path):
    """translate's Seq2Seq trims each side to the longest row of what it is given, so the first 8 pairs of a batch
    no longer fit the batch's targets: the reach is measured on the whole batch instead, and training goes on."""
    import random

    from rnnkit.apps.translate import train

    rng = random.Random(0)
    words = [f"w{i}" for i in range(12)]
    lines = []
    for _ in range(200):
        s = [rng.choice(words) for _ in range(rng.randint(2, 7))]
        lines.append(" ".join(s) + "\t" + " ".join(reversed(s)))
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    train(data=str(tmp_path / "pairs.tsv"), units=8, embed_dim=4, epochs=1, min_freq=1, diagnostics=2,
          out=str(tmp_path / "run"), print_fn=lambda s: None, verbose=0)
    table = read_diagnostics(tmp_path / "run" / "diagnostics.csv")
    reach = [v for k, col in table.items() if k.startswith("reach:") for v in col]
    assert len(table["step"]) >= 2 and reach and all(math.isfinite(v) and v > 0 for v in reach)


def test_a_reach_that_cannot_be_measured_is_nan_with_one_warning_and_training_goes_on(monkeypatch):
    import rnnkit.diagnostics.monitor as monitor

    def fails(*args, **kwargs):
        raise ConfigError("cannot measure this model")

    monkeypatch.setattr(monitor, "measure_flow", fails)
    model = Sequential([GRU(4, input_size=2, name="gru"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.warns(RuntimeWarning, match="cannot measure this model") as caught:
        history = model.fit(torch.randn(16, 5, 2), torch.randn(16, 1), batch_size=4, epochs=2, diagnostics=1,
                            verbose=0)
    assert len([w for w in caught if "reach" in str(w.message)]) == 1
    rows = history.diagnostics
    assert len(rows) == 8 and all(math.isnan(r["reach:gru"]) and r["grad_norm:gru"] > 0 for r in rows)
