"""Line charts as inline SVG, drawn in Python: the report's curves, with their numbers kept in the page.

Why SVG written here rather than a JavaScript plotting library or PNGs: the
report must be one file that works offline, and a library would be vendored
code (tens to hundreds of kB) for a few line charts; a PNG hides the numbers.
An SVG chart is a few kB, sharp at any zoom, printable, visible with scripts
off, and its data travel with it (``data-chart`` on the ``<figure>``: the x
values and each series' y values, as JSON), which the page's small script
(:data:`HOVER_SCRIPT`) reads to show the values under the pointer, and which a
test reads back to compare with ``metrics.csv``.

>>> svg = line_chart("loss", [Series("loss", [1, 2, 3], [0.9, 0.5, 0.4], "#1f77b4")])
>>> svg.startswith('<figure class="chart"') and "<svg" in svg and "<path" in svg
True
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Series", "line_chart", "nice_ticks", "PALETTE", "HOVER_SCRIPT"]

#: Okabe and Ito's colour-blind-safe palette (black left out), then two greys
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#555555", "#999999")

WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 38  # margins around the plot area
MAX_MARKERS = 60  # series with more points are drawn as lines only


@dataclass
class Series:
    """One line: its name (legend and tooltip), x and y values (NaN: a gap), colour and dash."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str
    dashed: bool = False


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high].

    >>> nice_ticks(0.13, 0.92)
    [0.2, 0.4, 0.6, 0.8]
    >>> nice_ticks(1, 10, 5)
    [2, 4, 6, 8, 10]
    """
    if not high > low:
        return [low]
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, k = [], 0
    while first + k * step <= high + 1e-9 * step:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


def _json_number(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def line_chart(title: str, series: Sequence[Series], *, x_label: str = "epoch", log: bool | None = None,
               integer_x: bool = True) -> str:
    """A ``<figure>`` with the SVG chart of ``series``, its legend and its data (``data-chart``).

    ``log``: a logarithmic y axis (None: chosen when every value is positive and
    they span more than two decades; True: values at or below 0, such as a gradient
    that underflowed, are left out as gaps).  ``integer_x``: x ticks are whole numbers.
    """
    xs = _finite([x for s in series for x in s.x])
    ys = _finite([y for s in series for y in s.y])
    if log is None:
        log = bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 100
    if log:
        ys = [y for y in ys if y > 0]
        series = [Series(s.name, s.x, [y if y is not None and y > 0 else math.nan for y in s.y], s.color, s.dashed)
                  for s in series]
    fy = (lambda v: math.log10(v)) if log else (lambda v: v)
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    ty = [fy(v) for v in ys]
    y0, y1 = (min(ty), max(ty)) if ty else (0.0, 1.0)
    pad = (y1 - y0) * 0.05 if y1 > y0 else (abs(y0) * 0.1 or 0.5)
    y0, y1 = y0 - pad, y1 + pad
    px0, px1, py0, py1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP  # data -> pixels (y grows downwards)

    def sx(x: float) -> float:
        return px0 + (x - x0) / (x1 - x0) * (px1 - px0)

    def sy(y: float) -> float:
        return py0 + (fy(y) - y0) / (y1 - y0) * (py1 - py0)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{html.escape(title)}" data-x0="{x0}" data-x1="{x1}" data-px0="{px0}" data-px1="{px1}">']
    parts.append(f'<rect class="plot-area" x="{px0}" y="{py1}" width="{px1 - px0}" height="{py0 - py1}"/>')
    if log:
        every = max(1, math.ceil((math.floor(y1) - math.ceil(y0) + 1) / 8))  # at most about 8 decades labelled
        y_ticks = ([10.0 ** k for k in range(math.ceil(y0), math.floor(y1) + 1) if k % every == 0]
                   or [10 ** ((y0 + y1) / 2)])
    else:
        y_ticks = nice_ticks(y0, y1)
    for t in y_ticks:
        y = round(sy(t), 1)
        parts.append(f'<line class="grid" x1="{px0}" x2="{px1}" y1="{y}" y2="{y}"/>'
                     f'<text class="tick" x="{px0 - 6}" y="{y + 4}" text-anchor="end">{_label(t)}</text>')
    x_ticks = [t for t in nice_ticks(x0, x1, 6) if not integer_x or float(t).is_integer()]
    for t in x_ticks:
        x = round(sx(t), 1)
        parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{py1}" y2="{py0}"/>'
                     f'<text class="tick" x="{x}" y="{py0 + 16}" text-anchor="middle">{_label(t)}</text>')
    parts.append(f'<text class="axis-label" x="{(px0 + px1) / 2}" y="{HEIGHT - 4}" text-anchor="middle">'
                 f'{html.escape(x_label)}{" (log scale on y)" if log else ""}</text>')
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        segments, current = [], []
        for x, y in zip(s.x, s.y):
            if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
                if current:
                    segments.append(current)
                current = []
                continue
            current.append(f"{sx(x):.1f},{sy(y):.1f}")
        if current:
            segments.append(current)
        d = " ".join("M" + " L".join(seg) for seg in segments)
        if d:
            parts.append(f'<path class="line" d="{d}" stroke="{s.color}"{dash}/>')
        points = [(x, y) for x, y in zip(s.x, s.y) if x is not None and y is not None
                  and math.isfinite(x) and math.isfinite(y)]
        if len(points) <= MAX_MARKERS:
            for x, y in points:
                parts.append(f'<circle class="marker" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" fill="{s.color}">'
                             f'<title>{html.escape(s.name)} at {x_label} {_label(x)}: {y:.6g}</title></circle>')
    parts.append(f'<line class="cursor" x1="0" x2="0" y1="{py1}" y2="{py0}" visibility="hidden"/></svg>')
    legend = "".join(f'<span class="key"><i class="swatch{" dashed" if s.dashed else ""}" '
                     f'style="border-color:{s.color}"></i>{html.escape(s.name)}</span>' for s in series)
    data = {"title": title, "x_label": x_label,
            "series": [{"name": s.name, "x": [_json_number(v) for v in s.x], "y": [_json_number(v) for v in s.y]}
                       for s in series]}
    return (f'<figure class="chart" data-chart="{html.escape(json.dumps(data, allow_nan=False))}">'
            f'<figcaption>{html.escape(title)}</figcaption>{"".join(parts)}'
            f'<div class="legend">{legend}</div><div class="tip" hidden></div></figure>')


#: the page's one script: the values of every series at the x under the pointer (written here, no library)
HOVER_SCRIPT = """
document.querySelectorAll("figure.chart").forEach(function (fig) {
  var data = JSON.parse(fig.dataset.chart), svg = fig.querySelector("svg");
  var tip = fig.querySelector(".tip"), cursor = svg.querySelector(".cursor");
  var x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, px0 = +svg.dataset.px0, px1 = +svg.dataset.px1;
  var xs = [];
  data.series.forEach(function (s) { s.x.forEach(function (x) { if (x !== null && xs.indexOf(x) < 0) xs.push(x); }); });
  function fmt(v) { return v === null || v === undefined ? "\\u2013" : Number(v.toPrecision(6)).toString(); }
  svg.addEventListener("mousemove", function (ev) {
    var box = svg.getBoundingClientRect(), scale = box.width / svg.viewBox.baseVal.width;
    var x = x0 + ((ev.clientX - box.left) / scale - px0) / (px1 - px0) * (x1 - x0), best = null;
    xs.forEach(function (v) { if (best === null || Math.abs(v - x) < Math.abs(best - x)) best = v; });
    if (best === null) return;
    var px = px0 + (best - x0) / (x1 - x0) * (px1 - px0);
    cursor.setAttribute("x1", px); cursor.setAttribute("x2", px); cursor.setAttribute("visibility", "visible");
    tip.textContent = "";
    var head = document.createElement("b"); head.textContent = data.x_label + " " + fmt(best); tip.appendChild(head);
    data.series.forEach(function (s) {
      var i = s.x.indexOf(best); if (i < 0) return;
      var row = document.createElement("div"); row.textContent = s.name + ": " + fmt(s.y[i]); tip.appendChild(row);
    });
    tip.hidden = false;
    tip.style.left = Math.min(px * scale + 12, box.width - tip.offsetWidth - 4) + "px";
  });
  svg.addEventListener("mouseleave", function () { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
});
document.querySelectorAll("input.only-differences").forEach(function (box) {
  box.addEventListener("change", function () {
    document.querySelectorAll(box.dataset.table + " tr.same").forEach(function (tr) { tr.hidden = box.checked; });
  });
});
"""
