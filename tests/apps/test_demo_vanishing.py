"""rnnkit demo vanishing: the adding problem's data, a tiny run's folder and page, the gradient at initialisation.

The full demo (180 s) is not run here; its figures are measured by the demo itself.
"""
from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from rnnkit.apps.demo import VanishingConfig, vanishing
from rnnkit.apps.demo.vanishing import BASELINE_MSE, CELLS, adding_problem
from rnnkit.cli import main as cli
from rnnkit.diagnostics import gradient_flow
from rnnkit.errors import ConfigError
from rnnkit.layers import Dense
from rnnkit.models import Sequential
from rnnkit.random import set_seed

TINY = {"length": 12, "units": 6, "steps": 6, "eval_every": 3, "val_size": 40, "flow_size": 16}


# ---------------------------------------------------------------- the data
def test_adding_problem_has_one_marker_in_each_half_and_sums_the_marked_values():
    x, y = adding_problem(500, 21, torch.Generator().manual_seed(3))
    u, m = x[..., 0].numpy(), x[..., 1].numpy()
    assert x.shape == (500, 21, 2) and y.shape == (500, 1)
    assert ((u >= 0) & (u < 1)).all()
    assert set(np.unique(m)) == {0.0, 1.0}
    assert (m[:, :10].sum(axis=1) == 1).all() and (m[:, 10:].sum(axis=1) == 1).all()  # halves: 10 and 11 steps
    first, second = m[:, :10].argmax(axis=1), 10 + m[:, 10:].argmax(axis=1)
    rows = np.arange(500)
    np.testing.assert_allclose(y[:, 0].numpy(), u[rows, first] + u[rows, second], rtol=1e-6)
    # the markers' positions cover each half (uniform), not a fixed pair
    assert len(set(first.tolist())) == 10 and len(set(second.tolist())) == 11


def test_the_same_seed_gives_the_same_data():
    a = adding_problem(8, 10, torch.Generator().manual_seed(1))
    b = adding_problem(8, 10, torch.Generator().manual_seed(1))
    c = adding_problem(8, 10, torch.Generator().manual_seed(2))
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and not torch.equal(a[0], c[0])


def test_predicting_one_scores_the_baseline_mse():
    """Var(u_i + u_j) = 2/12: checked with NumPy on a large sample, independently of the demo's constant."""
    _, y = adding_problem(200_000, 10, torch.Generator().manual_seed(0))
    mse = float(np.mean((y.numpy().astype(np.float64) - 1.0) ** 2))
    assert mse == pytest.approx(2 / 12, abs=0.003)
    assert BASELINE_MSE == pytest.approx(0.1667, abs=1e-4)


def test_a_sequence_without_two_halves_is_refused():
    with pytest.raises(ConfigError, match="length >= 2"):
        adding_problem(4, 1, torch.Generator())


# ---------------------------------------------------------------- a tiny run
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vanishing") / "run"
    printed: list[str] = []
    metrics = vanishing(VanishingConfig(**TINY, out=str(out)), print_fn=printed.append)
    return out, metrics, printed


def test_a_tiny_run_writes_the_folder(tiny_run):
    out, _, printed = tiny_run
    for name in ("report.html", "metrics.json", "config.json", "curves.csv", "gradient_flow.csv", "curves.png",
                 "gradient_flow_before.png", "gradient_flow_after.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert any(str(out / "report.html") in line for line in printed)
    assert json.loads((out / "config.json").read_text())["config"]["length"] == TINY["length"]


def test_rnnkit_report_never_replaces_the_demo_s_own_page(tiny_run, tmp_path):
    from rnnkit.errors import ConfigError
    from rnnkit.report import write_report

    out = tiny_run[0]
    before = (out / "report.html").read_bytes()
    with pytest.raises(ConfigError, match="demo vanishing"):
        write_report(out)
    assert (out / "report.html").read_bytes() == before
    assert write_report(out, tmp_path / "generic.html").is_file()  # elsewhere, the generic page is written


def test_metrics_json_holds_each_models_figures(tiny_run):
    out, metrics, _ = tiny_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["baseline_mse"] == pytest.approx(1 / 6)
    assert list(saved["models"]) == list(CELLS) == ["SimpleRNN", "GRU", "LSTM"]
    for name, m in saved["models"].items():
        assert m["steps"] == TINY["steps"] and m["seconds"] > 0
        assert isinstance(m["solved"], bool) and m["solved"] == (m["val_mse"] < saved["solved_mse"])
        for when in ("before", "after"):
            assert set(m[when]) == {"back_10", "back_25", "back_50", "reach"}
            assert m[when]["reach"] > 0
            assert m[when]["back_25"] is None and m[when]["back_50"] is None  # T = 12: not that far back
        assert m["val_mse"] == pytest.approx(metrics["models"][name]["val_mse"])


def test_the_csv_files_hold_the_curves_and_the_flow(tiny_run):
    out, metrics, _ = tiny_run
    with open(out / "curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 3, 6]
    for name in CELLS:
        assert float(rows[-1][f"val_mse:{name}"]) == pytest.approx(metrics["models"][name]["val_mse"], rel=1e-6)
    with open(out / "gradient_flow.csv", newline="") as f:
        flow = list(csv.DictReader(f))
    assert len(flow) == TINY["length"] and flow[0]["steps_back"] == "0"
    for name in CELLS:  # the reach is |dL/dh_1| / |dL/dh_T|: the last row over the first
        ratio = float(flow[-1][f"after:{name}"]) / float(flow[0][f"after:{name}"])
        assert ratio == pytest.approx(metrics["models"][name]["after"]["reach"], rel=1e-5)


def test_the_page_parses_and_loads_nothing(tiny_run):
    out, _, _ = tiny_run
    text = (out / "report.html").read_text(encoding="utf-8")
    page = _Tags()
    page.feed(text)
    page.close()
    assert text.startswith("<!DOCTYPE html>") and "url(" not in text
    assert not re.search(r"https?://", text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), (tag, name, attrs[name][:80])
        assert not (tag == "script" and "src" in attrs)
    charts = [json.loads(a["data-chart"]) for t, a in page.tags if t == "figure" and "data-chart" in a]
    assert [c["title"] for c in charts] == ["validation MSE (log scale)", "before training", "after training"]
    assert [s["name"] for s in charts[1]["series"]] == list(CELLS)
    for section in ("result", "curves", "flow", "task", "config"):
        assert f'id="{section}"' in text


def test_the_terminal_table_names_every_model(tiny_run):
    _, _, printed = tiny_run
    table = "\n".join(printed)
    assert "val MSE" in table and "reach" in table
    for name in CELLS:
        assert re.search(rf"^{name}\s+\d\.\d{{4}}", table, re.MULTILINE), name


def test_the_command_line_runs_it_and_refuses_bad_options(tmp_path, capsys, monkeypatch):
    from rnnkit.apps.demo import recipe

    seen = {}
    monkeypatch.setattr(recipe, "vanishing", lambda cfg, print_fn: seen.setdefault("cfg", cfg))
    assert cli(["demo", "vanishing", "--seconds", "7", "--seed", "3", "--out", str(tmp_path / "v")]) == 0
    assert (seen["cfg"].seconds, seen["cfg"].seed, seen["cfg"].out) == (7.0, 3, str(tmp_path / "v"))
    assert cli(["demo", "vanishing", "--seconds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--seconds" in err
    assert cli(["demo", "vanish"]) == 2


def test_bad_settings_are_one_line_errors_naming_them(tmp_path):
    with pytest.raises(ConfigError, match="`units` must be a whole number >= 1"):
        VanishingConfig(units=0)
    with pytest.raises(ConfigError, match="`steps`"):
        VanishingConfig(steps=0)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds a run"):
        vanishing(VanishingConfig(**TINY, out=str(tmp_path / "taken")), print_fn=lambda s: None)


# ---------------------------------------------------------------- the gradient at initialisation
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_initialisation_the_gates_not_the_plain_rnn_cut_the_gradient(seed):
    """What the default initialisation does at T = 100, 50 steps back from the loss.

    Not the textbook picture: with rnnkit's (Keras') defaults the SimpleRNN's
    recurrent matrix is orthogonal and its states start in tanh's near-linear
    range, so its gradient keeps a few percent of its size over 50 steps; the
    gated cells start with half-open gates (GRU: update gate sigma(0) = 1/2; LSTM:
    forget gate sigma(1) = 0.73), which multiply the gradient by about that much
    each step.  Training reverses the order (the demo's "after" column).
    """
    x, y = adding_problem(128, 100, torch.Generator().manual_seed(100 + seed))
    ratio = {}
    for name, cls in CELLS.items():
        set_seed(seed)
        model = Sequential([cls(64, input_size=2, name="rnn"), Dense(1)])
        dh = gradient_flow(model, x, y, loss="mse").dh["rnn"]
        ratio[name] = dh[-51] / dh[-1]
    assert ratio["SimpleRNN"] > 1e-3, ratio
    assert ratio["LSTM"] < 1e-2 * ratio["SimpleRNN"], ratio
    assert ratio["GRU"] < 1e-2 * ratio["LSTM"], ratio
