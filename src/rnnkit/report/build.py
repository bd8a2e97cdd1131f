"""The report of one run (:func:`write_report`) and the page comparing runs (:func:`compare_runs`).

A run's page: its final metrics (``metrics.json``), its training curves
(``metrics.csv``, as inline SVG: :mod:`.charts`), the sections its app provides
(:meth:`rnnkit.apps.framework.Recipe.report_sections`: samples, confusion matrix,
forecast, BLEU and examples, transcriptions ...), gradient flow and gates when
recorded (``diagnostics.csv``, ``gradient_flow.png``, ``gates.png``), its
configuration, the per-epoch table and every other PNG of the folder.  The
comparison overlays the runs' curves and sets their configurations and final
metrics side by side, the rows that differ highlighted.
"""
from __future__ import annotations

import json
import webbrowser
from pathlib import Path
from typing import Any, Sequence

from .._io import atomic_write
from ..apps import recipe_for
from ..apps.framework import ReportSection
from ..errors import ConfigError, RnnkitError
from .charts import PALETTE, Series, line_chart
from .page import cell, document, esc, image, table
from .reading import NOT_CURVES, RunRecord, flatten, read_run

__all__ = ["write_report", "compare_runs", "curve_families"]

REPORT_FILE = "report.html"
OWN_PAGES = {"demo-vanishing": "demo vanishing"}  #: folders whose report.html their command wrote: never replaced
COMPARE_FILE = "compare.html"
DIAGNOSTIC_IMAGES = ("gradient_flow.png", "gates.png")
MAX_STEPS = 1500  # per-step curves with more points are thinned to about this many
_TITLES = {"loss": "loss", "accuracy": "accuracy", "bleu": "BLEU", "lr": "learning rate", "grad_norm": "gradient norm (per epoch)"}
_LAST = ("grad_norm", "lr")  # families drawn after the app's own figures


def curve_families(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The curves of ``metrics.csv`` grouped by chart: each figure with its ``val_`` twin, loss first.

    >>> curve_families(["epoch", "loss", "accuracy", "lr", "val_loss", "val_accuracy", "seconds", "val_bleu"])
    [('loss', ['loss', 'val_loss']), ('accuracy', ['accuracy', 'val_accuracy']), ('bleu', ['val_bleu']), ('lr', ['lr'])]
    """
    families: dict[str, list[str]] = {}
    for name in columns:
        if name in NOT_CURVES:
            continue
        families.setdefault(name[4:] if name.startswith("val_") else name, []).append(name)
    order = sorted(families, key=lambda base: (base != "loss", base in _LAST, _LAST.index(base) if base in _LAST else 0))
    return [(base, sorted(families[base], key=lambda n: n.startswith("val_"))) for base in order]


def _thin(xs: list[float], *columns: list[float]) -> tuple[list[float], ...]:
    step = max(1, -(-len(xs) // MAX_STEPS))
    return (xs[::step], *(c[::step] for c in columns))


# ---------------------------------------------------------------- one run
def _subtitle(record: RunRecord) -> list[str]:
    info = record.info
    lines = [f"app <b>{esc(record.app)}</b> · rnnkit {esc(info.get('rnnkit', record.version))}"
             + (f" · created {esc(info['created'])}" if info.get("created") else "")]
    if isinstance(info.get("command"), list):
        lines.append(f"command <code>{esc(' '.join(map(str, info['command'])))}</code>")
    lines.append(f"folder <code>{esc(record.path.resolve())}</code>")
    return lines


def _metrics_section(record: RunRecord) -> str:
    if not record.metrics:
        return '<p class="note">No metrics.json: the training did not finish.</p>'
    shown = {k: v for k, v in record.metrics.items() if k != "members"}  # an ensemble's members: their own section
    rows = [[f"<td>{esc(key)}</td>", cell(value, key)] for key, value in flatten(shown).items()]
    return table(["metric", "value"], rows, ident="metrics", cells=True)


def _curves_section(record: RunRecord) -> str:
    if not record.history and record.members:
        charts = _overlaid([f"member {m.path.name}" for m in record.members], record.members)
        return ('<p class="note">An ensemble: each member trained on its own, one colour per member; validation curves '
                f'dashed.</p><div class="charts">{"".join(charts)}</div>')
    if not record.history:
        return '<p class="note">No metrics.csv: no epoch finished.</p>'
    xs, charts = record.epochs(), []
    for base, members in curve_families(list(record.history)):
        series = [Series(name, xs, record.history[name], PALETTE[i % len(PALETTE)], dashed=name.startswith("val_"))
                  for i, name in enumerate(members)]
        charts.append(line_chart(_TITLES.get(base, base), series, log=False if base != "grad_norm" else None))
    return f'<div class="charts">{"".join(charts)}</div>'


def _epochs_table(record: RunRecord) -> str:
    columns = list(record.history)
    rows = list(zip(*(record.history[c] for c in columns)))
    body = table(columns, [[v if c != "epoch" else int(v) + 1 for c, v in zip(columns, row)] for row in rows],
                 scroll=True)
    return f"<details><summary>metrics.csv: {len(rows)} epoch(s)</summary>{body}</details>"


def _diagnostics_section(record: RunRecord) -> str | None:
    """Gradient norm and reach per recurrent layer over the steps, and the diagnostics' PNGs; None if none."""
    d, pngs = record.diagnostics, [n for n in DIAGNOSTIC_IMAGES if n in record.images]
    if not d and not pngs:
        return None
    parts = ['<p class="note">Recorded by <code>rnnkit.diagnostics</code>: per recurrent layer (and direction), '
             "the gradient norm and how many steps back the gradient still reaches.</p>"]
    steps = d.get("step")
    if steps:
        charts = []
        for prefix, title in (("grad_norm:", "gradient norm per layer"), ("reach:", "gradient reach per layer (steps)"),
                              ("loss", "loss per step")):
            names = [c for c in d if c.startswith(prefix)] if prefix.endswith(":") else [c for c in d if c == prefix]
            if not names:
                continue
            xs, *ys = _thin(steps, *(d[c] for c in names))
            series = [Series(name.split(":", 1)[-1] if ":" in name else name, xs, y, PALETTE[i % len(PALETTE)])
                      for i, (name, y) in enumerate(zip(names, ys))]
            charts.append(line_chart(title, series, x_label="step", log=None if prefix == "grad_norm:" else False))
        parts.append(f'<div class="charts">{"".join(charts)}</div>')
    if pngs:
        parts.append('<div class="images">' + "".join(image(record.path / n) for n in pngs) + "</div>")
    return "".join(parts)


def _render(section: ReportSection, run: Path) -> str:
    parts = []
    if section.text:
        parts.append(f'<p class="note">{esc(section.text)}</p>')
    if section.table:
        header, *rows = section.table
        parts.append(table(header, rows, scroll=len(rows) > 15))
    if section.pre is not None:
        parts.append(f"<pre>{esc(section.pre)}</pre>")
    shown = [run / name for name in section.images if (run / name).is_file()]
    if shown:
        parts.append('<div class="images">' + "".join(image(p) for p in shown) + "</div>")
    return "".join(parts) or '<p class="note">Nothing to show.</p>'


def _app_sections(record: RunRecord) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(the app's sections as (anchor, title, html), the PNG files they show)."""
    recipe = recipe_for(record.app)
    if recipe is None:
        return [], set()
    try:
        provided = recipe.report_sections(record.path, record.metrics)
    except (RnnkitError, OSError, ValueError, KeyError) as exc:  # a part-written run: the rest of the report stands
        note = f'<p class="note">The {esc(record.app)} sections could not be made: {esc(exc)}</p>'
        return [("app", record.app, note)], {recipe.history_plot}
    shown = {recipe.history_plot}  # its curves are drawn here as SVG
    out = []
    for i, s in enumerate(provided):
        out.append((f"app-{i}", s.title, _render(s, record.path)))
        shown.update(s.images)
    return out, shown


def _config_rows(record: RunRecord) -> list[list[str]]:
    return [[f"<td>{esc(key)}</td>", cell(value, key)] for key, value in record.config.items()]


def render_report(record: RunRecord) -> str:
    """The HTML of one run's report."""
    sections = [("metrics", "Final metrics", _metrics_section(record)),
                ("curves", "Training curves", _curves_section(record))]
    if _members(record):
        sections.append(("members", "Ensemble members", _members_section(record)))
    app_sections, shown = _app_sections(record)
    sections += app_sections
    diagnostics = _diagnostics_section(record)
    if diagnostics is not None:
        sections.append(("diagnostics", "Gradient flow and gates", diagnostics))
        shown.update(DIAGNOSTIC_IMAGES)
    sections.append(("config", "Configuration", table(["setting", "value"], _config_rows(record), ident="config",
                                                      cells=True)))
    if record.history:
        sections.append(("epochs", "Per-epoch figures", _epochs_table(record)))
    others = [n for n in record.images if n not in shown]
    if others:
        sections.append(("plots", "Other plots",
                         '<div class="images">' + "".join(image(record.path / n) for n in others) + "</div>"))
    return document(f"{record.app} run {record.name}", _subtitle(record), sections)


def _write(path: Path, text: str, open_browser: bool) -> Path:
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: its folder {path.parent} does not exist; create it or choose another file")
    try:
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}; choose another --out") from None
    if open_browser:
        webbrowser.open(path.resolve().as_uri())
    return path


def write_report(run: str | Path, out: str | Path | None = None, *, open_browser: bool = False) -> Path:
    """Write the self-contained HTML report of run folder ``run`` (default ``run/report.html``); returns its path.

    ``open_browser``: also open it in the web browser (:mod:`webbrowser`).
    """
    record = read_run(run)
    if out is None and record.app in OWN_PAGES and (record.path / REPORT_FILE).exists():
        raise ConfigError(f"--run {record.path}: its {REPORT_FILE} is the page `rnnkit {OWN_PAGES[record.app]}` wrote; "
                          f"open that, or give --out to write the generic report elsewhere")
    return _write(Path(out) if out is not None else record.path / REPORT_FILE, render_report(record), open_browser)


# ---------------------------------------------------------------- several runs
def _labels(records: Sequence[RunRecord]) -> list[str]:
    names = [r.name for r in records]
    return names if len(set(names)) == len(names) else [f"{i + 1}: {n}" for i, n in enumerate(names)]


def _same(values: Sequence[Any]) -> bool:
    return len({json.dumps(v, sort_keys=True, default=str) for v in values}) == 1


def _side_by_side(ident: str, labels: Sequence[str], keyed: Sequence[dict[str, Any]], first: str) -> str:
    """A table of ``keyed``'s values (rows: the union of keys; columns: the runs); rows that differ marked."""
    missing = object()
    keys = list(dict.fromkeys(k for values in keyed for k in values))
    rows, classes = [], []
    for key in keys:
        values = [values.get(key, missing) for values in keyed]
        differs = any(v is missing for v in values) or not _same(values)
        rows.append([f"<td>{esc(key)}</td>", *(cell(v, key) if v is not missing else '<td class="absent">absent</td>'
                                               for v in values)])
        classes.append("differs" if differs else "same")
    count = classes.count("differs")
    toggle = (f'<label class="toggle"><input type="checkbox" class="only-differences" data-table="#{ident}"> '
              f"show only the {count} that differ (highlighted)</label>")
    return toggle + table([first, *labels], rows, ident=ident, row_classes=classes, cells=True)


def _overlaid(labels: Sequence[str], records: Sequence[RunRecord]) -> list[str]:
    """One chart per family of curves, each run's in its colour (``labels`` name the runs)."""
    families: dict[str, list[str]] = {}
    for r in records:
        for base, names in curve_families(list(r.history)):
            families.setdefault(base, [])
            families[base] += [n for n in names if n not in families[base]]
    charts = []
    for base, names in families.items():
        series = [Series(f"{label} {name}", r.epochs(), r.history[name], PALETTE[i % len(PALETTE)],
                         dashed=name.startswith("val_"))
                  for i, (label, r) in enumerate(zip(labels, records)) for name in names if name in r.history]
        charts.append(line_chart(_TITLES.get(base, base), series, log=False if base != "grad_norm" else None))
    return charts


def _members(record: RunRecord) -> list[dict[str, Any]]:
    """The figures of an ensemble's members in ``metrics.json`` (a damaged entry is left out)."""
    rows = record.metrics.get("members")
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _members_section(record: RunRecord) -> str:
    """An ensemble's members side by side: each one's figures alone (``metrics.json``'s ``members``)."""
    rows = _members(record)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return ('<p class="note">Each member scored alone; the final metrics above are the ensemble\'s. Each member\'s '
            "folder is a run of its own (<code>rnnkit report --run RUN/members/1</code>).</p>"
            + table(keys, [[cell(row.get(k), k) for k in keys] for row in rows], ident="members-table", cells=True))


def render_comparison(records: Sequence[RunRecord]) -> str:
    """The HTML of the page comparing ``records``."""
    labels = _labels(records)
    overview = table(["run", "app", "folder", "epochs", "created"],
                     [[label, r.app, str(r.path.resolve()), len(r.epochs()) if r.history else None,
                       r.info.get("created")] for label, r in zip(labels, records)])
    charts = _overlaid(labels, records)
    curves = (f'<p class="note">One colour per run; validation curves dashed.</p><div class="charts">{"".join(charts)}</div>'
              if charts else '<p class="note">No run has a metrics.csv.</p>')
    configs = [{"app": r.app, "rnnkit": r.version, **r.config} for r in records]
    sections = [("runs", "Runs", overview), ("curves", "Training curves", curves),
                ("config", "Configurations", _side_by_side("config", labels, configs, "setting")),
                ("metrics", "Final metrics", _side_by_side("metrics", labels, [flatten(r.metrics) for r in records],
                                                           "metric"))]
    return document(f"rnnkit: {len(records)} runs compared", [esc(" · ".join(labels))], sections)


def compare_runs(runs: Sequence[str | Path], out: str | Path = COMPARE_FILE, *, open_browser: bool = False) -> Path:
    """Write one self-contained page comparing run folders ``runs`` (two or more) into ``out``; returns its path."""
    if isinstance(runs, (str, Path)) or len(runs) < 2:
        count = 1 if isinstance(runs, (str, Path)) else len(runs)
        raise ConfigError(f"--compare needs two or more run folders, got {count}; pass them all: "
                          "rnnkit report --compare RUN_A RUN_B ...")
    return _write(Path(out), render_comparison([read_run(r, "--compare") for r in runs]), open_browser)
