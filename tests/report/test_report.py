"""rnnkit report: the page parses, loads nothing, shows the run's files exactly, compares runs, refuses bad input."""
from __future__ import annotations

import csv
import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rnnkit.errors import ConfigError
from rnnkit.report import compare_runs, write_report
from rnnkit.report.build import curve_families
from rnnkit.report.reading import flatten


class _Page(HTMLParser):
    """The parts of a page the tests look at: every tag's attributes, the text of <pre>, the cells with a data-key."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.cells: dict[str, list[tuple[str, dict[str, str]]]] = {}  # table id -> [(text, attrs)]
        self.pre: list[str] = []
        self.rows: dict[str, list[str]] = {}  # table id -> class of each body row
        self._table, self._cell, self._in_pre, self._style = None, None, False, []

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id")
        elif tag == "tr" and self._table and "class" in attrs:
            self.rows.setdefault(self._table, []).append(attrs["class"])
        elif tag == "td" and "data-key" in attrs:
            self._cell = (attrs, [])
        elif tag == "pre":
            self._in_pre = True
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.setdefault(self._table, []).append(("".join(self._cell[1]), self._cell[0]))
            self._cell = None
        elif tag == "pre":
            self._in_pre = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1].append(data)
        if self._in_pre:
            self.pre[-1] += data


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    return text, page


@pytest.fixture(scope="module")
def report(textgen_runs):
    run = textgen_runs[0]
    return run, *_parse(write_report(run))


def test_the_page_is_one_file_that_loads_nothing(report):
    run, text, page = report
    assert (run / "report.html").is_file() and text.startswith("<!DOCTYPE html>")
    assert "@import" not in text and "url(" not in text
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name)
            if value is None:
                continue
            assert value.startswith(("data:", "#")), (tag, name, value[:80])
            assert "http://" not in value and "https://" not in value
        if tag == "script":
            assert "src" not in attrs
        if tag == "link":
            assert attrs.get("rel") == "icon" and attrs["href"].startswith("data:")
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    # the loss plot is drawn as SVG instead; gradient_flow.png and gates.png are embedded
    assert len(images) == 2 and all(src.startswith("data:image/png;base64,") for src in images)
    policy = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy


def test_metrics_and_config_cells_hold_the_files_values(report):
    run, _, page = report
    metrics = flatten(json.loads((run / "metrics.json").read_text()))
    shown = {a["data-key"]: (text, json.loads(a["data-value"])) for text, a in page.cells["metrics"]}
    assert set(shown) == set(metrics)
    for key, value in metrics.items():
        text, exact = shown[key]
        assert exact == value
        if isinstance(value, float):
            assert math.isclose(float(text.replace(",", "")), value, rel_tol=1e-5)
    config = json.loads((run / "config.json").read_text())["config"]
    assert {a["data-key"]: json.loads(a["data-value"]) for _, a in page.cells["config"]} == config


def test_each_curve_holds_its_metrics_csv_column(report):
    run, _, page = report
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    charts = [json.loads(a["data-chart"]) for t, a in page.tags if t == "figure" and "data-chart" in a]
    by_name = {s["name"]: s for c in charts if c["x_label"] == "epoch" for s in c["series"]}
    assert {"loss", "val_loss", "lr", "grad_norm"} <= set(by_name)
    for name, series in by_name.items():
        assert series["x"] == [int(r["epoch"]) + 1 for r in rows]
        assert series["y"] == [float(r[name]) for r in rows]


def test_an_ensemble_shows_each_members_curves_and_figures(textgen_runs, tmp_path):
    run = tmp_path / "ensemble"  # as train_run writes one: the members are run folders of their own
    for k, member in enumerate(textgen_runs, 1):
        shutil.copytree(member, run / "members" / str(k))
    shutil.copy(textgen_runs[0] / "config.json", run / "config.json")
    figures = [{"member": k, "folder": f"members/{k}", "seed": k - 1,
                "val_loss": json.loads((m / "metrics.json").read_text())["val_loss"]}
               for k, m in enumerate(textgen_runs, 1)]
    (run / "metrics.json").write_text(json.dumps({"val_loss": 1.5, "ensemble": 2, "members": figures}))
    text, page = _parse(write_report(run))
    assert "An ensemble: each member trained on its own" in text and "No metrics.csv" not in text
    charts = [json.loads(a["data-chart"]) for t, a in page.tags if t == "figure" and "data-chart" in a]
    by_name = {s["name"]: s for c in charts for s in c["series"]}
    for k, member in enumerate(textgen_runs, 1):
        with open(member / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        for name in ("loss", "val_loss"):
            assert by_name[f"member {k} {name}"]["y"] == [float(r[name]) for r in rows]
    shown = [(a["data-key"], json.loads(a["data-value"])) for _, a in page.cells["members-table"]]
    assert [v for key, v in shown if key == "val_loss"] == [f["val_loss"] for f in figures]
    assert {a["data-key"] for _, a in page.cells["metrics"]} == {"val_loss", "ensemble"}  # members: their own table


def test_curve_families_pair_each_figure_with_its_validation_twin():
    assert curve_families(["epoch", "val_bleu", "loss", "grad_norm", "val_loss", "lr", "epoch_seconds"]) == [
        ("loss", ["loss", "val_loss"]), ("bleu", ["val_bleu"]), ("grad_norm", ["grad_norm"]), ("lr", ["lr"])]


def test_textgen_section_shows_an_escaped_sample_after_the_prompt(report):
    run, text, page = report
    prompt = json.loads((run / "config.json").read_text())["config"]["sample_prompt"]
    assert prompt == '<fox> & "'
    assert '<h2>Sample</h2>' in text
    assert page.pre and page.pre[0].startswith(prompt)
    assert prompt not in text  # only escaped: the raw characters would be markup
    assert "<fox>" not in text and "&lt;fox&gt;" in text


def test_diagnostics_section_draws_grad_norm_and_reach_per_layer(report):
    run, text, page = report
    assert "Gradient flow and gates" in text
    charts = {c["title"]: c for c in (json.loads(a["data-chart"]) for t, a in page.tags if "data-chart" in a)}
    grad = charts["gradient norm per layer"]
    assert [s["name"] for s in grad["series"]] == ["lstm", "lstm/backward"] and grad["x_label"] == "step"
    assert grad["series"][0]["y"][:2] == [0.5, 0.65] and grad["series"][0]["x"] == list(range(10))
    assert [s["y"][:3] for s in charts["gradient reach per layer (steps)"]["series"]] == [[4, 5, 6], [3, 3, 3]]
    captions = [a["alt"] for t, a in page.tags if t == "img"]
    assert captions == ["gradient_flow.png", "gates.png"]


def test_a_run_of_an_unknown_app_is_reported_from_its_files(tmp_path):
    run = tmp_path / "mine"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"app": "my<app>", "config": {"note": "a & b </td>", "k": [1, 2]}}))
    (run / "metrics.csv").write_text("epoch,loss,score\n0,1.5,nan\n1,1.25,0.5\n")
    (run / "metrics.json").write_text(json.dumps({"score": 0.5, "nested": {"deep": {"x": 1}}}))
    text, page = _parse(write_report(run, tmp_path / "out.html"))
    assert "<app>" not in text and "&lt;app&gt;" in text and "</td>\"" not in text
    assert {a["data-key"] for _, a in page.cells["metrics"]} == {"score", "nested.deep.x"}
    score = next(json.loads(a["data-chart"]) for t, a in page.tags if "data-chart" in a and "score" in a["data-chart"])
    assert score["series"][0]["y"] == [None, 0.5]  # a gap, not a number


def test_compare_overlays_curves_and_highlights_the_settings_that_differ(textgen_runs, tmp_path):
    a, b = textgen_runs
    text, page = _parse(compare_runs([a, b], tmp_path / "compare.html"))
    keys = [attrs["data-key"] for _, attrs in page.cells["config"][::2]]  # two cells per row
    classes = dict(zip(keys, page.rows["config"]))
    assert classes["learning_rate"] == classes["cell"] == classes["out"] == "differs"
    assert classes["units"] == classes["seq_len"] == classes["app"] == "same"
    loss = next(json.loads(at["data-chart"]) for t, at in page.tags if "data-chart" in at and '"title": "loss"' in at["data-chart"])
    assert [s["name"] for s in loss["series"]] == ["run-a loss", "run-a val_loss", "run-b loss", "run-b val_loss"]
    assert "only-differences" in text and 'data-table="#config"' in text


def test_open_opens_the_written_page(textgen_runs, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    path = write_report(textgen_runs[1], tmp_path / "r.html", open_browser=True)
    assert opened == [path.resolve().as_uri()]


def test_cli_writes_the_report_and_the_comparison(textgen_runs, tmp_path, capsys):
    from rnnkit.cli import main

    a, b = textgen_runs
    assert main(["report", "--run", str(b)]) == 0
    assert capsys.readouterr().out.strip() == f"report written to {b / 'report.html'}"
    assert main(["report", "--compare", str(a), str(b), "--out", str(tmp_path / "c.html")]) == 0
    assert (tmp_path / "c.html").is_file()


def test_bad_input_is_one_line_naming_the_fix(tmp_path, textgen_runs, one_line_error):
    (tmp_path / "empty").mkdir()
    assert "no such folder" in one_line_error(["report", "--run", str(tmp_path / "nowhere")])
    assert "not a run folder (no config.json)" in one_line_error(["report", "--run", str(tmp_path / "empty")])
    assert "two or more run folders, got 1" in one_line_error(["report", "--compare", str(textgen_runs[0])])
    assert "give --run RUN" in one_line_error(["report"])
    assert "not both" in one_line_error(["report", "--run", str(textgen_runs[0]), "--compare", "a", "b"])
    assert "does not exist" in one_line_error(["report", "--run", str(textgen_runs[0]), "--out",
                                               str(tmp_path / "no" / "r.html")])
    with pytest.raises(ConfigError, match="two or more"):
        compare_runs([textgen_runs[0]])
    with pytest.raises(ConfigError, match="not a run folder"):
        write_report(tmp_path / "empty")
