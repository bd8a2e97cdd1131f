"""The HTML pieces of a report: the page with its inline style and script, sections, tables, embedded images.

Every text that comes from a run folder goes through :func:`esc` (``html.escape``,
quotes included), so odd characters in a config, a sample or a file name cannot
break the page.  Images are embedded as ``data:`` URIs and the style and script
are inline; the page's Content-Security-Policy forbids any other source, so a
report that loads makes no network request.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._version import __version__
from .charts import HOVER_SCRIPT

__all__ = ["esc", "fmt", "cell", "table", "image", "section", "document"]

# what the page may load: its own inline style and script, and images written into it
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
:root { --ink: #1d232a; --muted: #5b6570; --line: #dde2e7; --soft: #f5f7f9; --accent: #0072B2; --mark: #fff4c2; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; }
header { padding: 20px 32px 12px; border-bottom: 1px solid var(--line); background: var(--soft); }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 2px 0; color: var(--muted); }
header code { font-size: 12px; }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; }
main { padding: 8px 32px 40px; max-width: 1200px; }
section { margin-top: 24px; }
h2 { font-size: 17px; font-weight: 600; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 12px 0 6px; }
p.note { color: var(--muted); margin: 4px 0 10px; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { text-align: left; padding: 3px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 520px; overflow-wrap: anywhere; }
td.absent { color: var(--muted); font-style: italic; }
tr.differs td { background: var(--mark); }
tr.differs td:first-child { font-weight: 600; }
.scroll { max-height: 420px; overflow: auto; display: inline-block; border: 1px solid var(--line); }
.scroll table { margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figure.chart { position: relative; width: 540px; max-width: 100%; border: 1px solid var(--line); border-radius: 6px;
               padding: 8px 8px 4px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 2px; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
.plot-area { fill: #fff; stroke: var(--line); }
.grid { stroke: #eef1f4; }
.tick, .axis-label { font-size: 11px; fill: var(--muted); }
.line { fill: none; stroke-width: 2; }
.cursor { stroke: #9aa4ae; stroke-dasharray: 3 3; }
.legend { font-size: 12px; color: var(--muted); padding: 2px 4px; }
.key { margin-right: 14px; white-space: nowrap; }
.swatch { display: inline-block; width: 18px; height: 0; border-top: 2px solid; vertical-align: middle; margin-right: 5px; }
.swatch.dashed { border-top-style: dashed; }
.tip { position: absolute; top: 34px; background: rgba(255,255,255,.96); border: 1px solid var(--line);
       border-radius: 4px; padding: 4px 8px; font-size: 12px; pointer-events: none; white-space: nowrap;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); }
.images { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure.image { border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figure.image img { display: block; max-width: 100%; height: auto; max-height: 560px; }
figure.image figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; max-width: 980px; }
details summary { cursor: pointer; color: var(--accent); margin: 4px 0; }
label.toggle { font-size: 13px; color: var(--muted); display: block; margin: 4px 0; }
footer { color: var(--muted); font-size: 12px; padding: 16px 32px; border-top: 1px solid var(--line); }
"""


def esc(text: Any) -> str:
    """``text`` as HTML text or attribute value: every ``& < > " '`` escaped."""
    return html.escape(str(text), quote=True)


def fmt(value: Any) -> str:
    """A value as the report shows it: numbers to 6 significant digits, whole numbers with thousands separators.

    >>> fmt(0.123456789), fmt(12345), fmt(True), fmt(None), fmt([1, 2]), fmt(float("nan"))
    ('0.123457', '12,345', 'true', '–', '[1, 2]', 'NaN')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ("NaN" if math.isnan(value) else str(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def cell(value: Any, key: str | None = None) -> str:
    """A ``<td>`` showing ``value``; with ``key``, ``data-key`` and ``data-value`` (the exact value as JSON)."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    attrs = ' class="num"' if numeric else ' class="text"'
    if key is not None:
        exact = json.dumps(value if not (isinstance(value, float) and not math.isfinite(value)) else None,
                           ensure_ascii=False)
        attrs += f' data-key="{esc(key)}" data-value="{esc(exact)}"'
    return f"<td{attrs}>{esc(fmt(value))}</td>"


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, ident: str = "", row_classes: Sequence[str] = (),
          scroll: bool = False, cells: bool = False) -> str:
    """A table; ``cells=True``: the rows already hold ``<td>`` markup (from :func:`cell`), else values to escape."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        tds = "".join(row) if cells else "".join(cell(v) for v in row)
        klass = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        body.append(f"<tr{klass}>{tds}</tr>")
    ident = f' id="{esc(ident)}"' if ident else ""
    markup = f'<table{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{markup}</div>' if scroll else markup


def image(path: Path, caption: str | None = None) -> str:
    """A PNG file embedded as a ``data:`` URI, with its file name (or ``caption``) under it."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = caption or path.name
    return (f'<figure class="image"><img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def document(title: str, subtitle_lines: Sequence[str], sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole page: a header, links to the ``sections`` ((anchor, title, body) each), the sections, a footer."""
    nav = "".join(f'<a href="#{esc(anchor)}">{esc(name)}</a>' for anchor, name, _ in sections)
    subtitle = "".join(f"<p>{line}</p>" for line in subtitle_lines)  # lines come escaped
    body = "".join(section(*s) for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<header><h1>{esc(title)}</h1>{subtitle}</header>
<nav>{nav}</nav>
<main>{body}</main>
<footer>Written by rnnkit {esc(__version__)} (<code>rnnkit report</code>); one self-contained file: it loads nothing.</footer>
<script>{HOVER_SCRIPT}</script>
</body>
</html>
"""
