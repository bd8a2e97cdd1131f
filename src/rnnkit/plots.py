"""Training-curve and series plots written as PNG files, for every app.

:func:`plot_history` draws a run's per-epoch metrics (a ``History.history`` dict or
the ``metrics.csv`` written by :class:`rnnkit.training.callbacks.CSVLogger`), one
subplot per metric family (``loss`` with ``val_loss``, ``accuracy`` with
``val_accuracy`` ...).  :func:`plot_series` draws several lines on one axes, such as
"actual vs predicted".  :func:`plot_confusion` draws a classifier's confusion matrix,
:func:`plot_attention` the attention weights of a translated sentence, :func:`plot_images`
a grid of small grey images with a caption each (a classifier's mistakes).

matplotlib is imported inside the functions, so ``import rnnkit`` stays fast and
works without it.  The figures are built with the object-oriented API
(:class:`matplotlib.figure.Figure` on the Agg canvas) rather than through
``pyplot``: no display is needed, pyplot's backend is never switched (a user's
Jupyter session keeps its own), and no figure is left registered with pyplot.
Files are written atomically (:func:`save_figure`, through :func:`rnnkit._io.atomic_write`):
a reader sees the old PNG or the whole new one, and a failed write leaves no temporary file.
"""
from __future__ import annotations

import csv
import math
import numbers
import os
import pathlib
from typing import Any, Mapping, Sequence

from ._io import atomic_write
from .errors import ConfigError

__all__ = ["plot_history", "plot_histories", "plot_series", "plot_confusion", "plot_attention", "plot_images",
           "save_figure"]

_VAL = "val_"
_SKIPPED = {"epoch", "epochs", "step", "steps", "batch", "lr", "learning_rate"}


def _is_lr_like(name: str) -> bool:
    base = name[len(_VAL):] if name.startswith(_VAL) else name
    return base in _SKIPPED or base.endswith("_lr") or base.endswith("learning_rate")


def _as_float(value: Any) -> float | None:
    """The value as a float (NaN for a gap), or None if it is not a number."""
    if value is None or (isinstance(value, str) and value.strip().upper() in ("", "NA", "NAN", "NONE")):
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    try:  # 0-d tensors and NumPy scalars
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _read_csv(path: pathlib.Path) -> tuple[list[float] | None, dict[str, list[Any]]]:
    """Columns of a metrics CSV (header row first); returns (epoch column or None, other columns)."""
    if not path.is_file():
        raise ConfigError(f"plot_history: no metrics file at {str(path)!r}; pass a CSVLogger file or a dict of per-epoch lists")
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max(",\t;|", key=first.count) if first else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if row]
    if not rows:
        raise ConfigError(f"plot_history: {str(path)!r} is empty; it needs a header row and one row per epoch")
    header, body = rows[0], rows[1:]
    columns: dict[str, list[Any]] = {name: [row[i] if i < len(row) else "" for row in body] for i, name in enumerate(header)}
    epochs = None
    if "epoch" in columns:
        parsed = [_as_float(v) for v in columns["epoch"]]
        if all(v is not None and math.isfinite(v) for v in parsed):
            epochs = [v + 1 for v in parsed]  # CSVLogger counts epochs from 0; the plot from 1
    return epochs, columns


def _collect(history: Any, keys: Sequence[str] | None) -> tuple[list[float] | None, list[list[tuple[str, list[float]]]]]:
    """(x values or None, families): each family is [(name, values), ...] drawn on one axes."""
    epochs = None
    if isinstance(history, (str, os.PathLike)):
        epochs, columns = _read_csv(pathlib.Path(history))
    elif isinstance(getattr(history, "history", None), Mapping):  # a History callback
        columns = dict(history.history)
    elif isinstance(history, Mapping):
        columns = dict(history)
    else:
        raise ConfigError(
            f"plot_history: `history` must be a dict of per-epoch lists, a History or a metrics.csv path, got {type(history).__name__}"
        )
    if not columns or all(len(v) == 0 for v in columns.values()):
        raise ConfigError("plot_history: the history is empty (no metrics or no epochs); train for at least one epoch first")
    if keys is not None:
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise ConfigError(f"plot_history: `keys` must be a list of metric names such as ['loss', 'accuracy'], got {keys!r}")
        missing = [k for k in keys if k not in columns]
        if missing:
            raise ConfigError(f"plot_history: {', '.join(map(repr, missing))} not in the history; it has {sorted(columns)}")
    series: dict[str, list[float]] = {}
    for name, values in columns.items():
        if keys is None and (name in _SKIPPED or _is_lr_like(name)):
            continue
        floats = [_as_float(v) for v in values]
        if any(v is None for v in floats):
            if keys is not None and name in keys:
                raise ConfigError(f"plot_history: column {name!r} holds values that are not numbers; leave it out of `keys`")
            continue
        if floats:
            series[name] = floats
    if keys is not None:  # the named metrics, each with its validation twin
        wanted = [n for k in keys for n in (k, _VAL + k) if n in series]
        series = {n: series[n] for n in dict.fromkeys(wanted)}
    if not series:
        raise ConfigError(
            f"plot_history: nothing to plot among {sorted(columns)} (epoch and learning-rate columns are skipped); name columns in keys="
        )
    families: dict[str, list[tuple[str, list[float]]]] = {}
    for name, values in series.items():
        base = name[len(_VAL):] if name.startswith(_VAL) and name[len(_VAL):] in series else name
        families.setdefault(base, []).append((name, values))
    order = sorted(families, key=lambda base: base != "loss")  # loss on top, the rest as they came
    for base in order:
        families[base].sort(key=lambda item: item[0].startswith(_VAL))  # training line first
    return epochs, [families[base] for base in order]


def _figure(rows: int, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


# fonts tried after the default one for characters it lacks (matplotlib >= 3.6 falls back glyph by glyph)
_FALLBACK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei",
                   "PingFang SC", "Arial Unicode MS")


def save_figure(fig: Any, path: str | os.PathLike) -> pathlib.Path:
    """Write matplotlib figure ``fig`` as a PNG file at ``path``, atomically, then clear the figure.

    A full disk raises :class:`~rnnkit.errors.WriteError` (the old file kept); the
    folder is created if missing.
    """
    import warnings

    from matplotlib import font_manager, rc_context

    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    installed = {f.name for f in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans", *[f for f in _FALLBACK_FONTS if f in installed]]
    try:
        with rc_context({"font.family": families}), warnings.catch_warnings(), atomic_write(target, "wb") as f:
            # a label in a script no installed font covers is drawn as boxes; that is no reason to warn on every plot
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
            fig.savefig(f, format="png", dpi=100)
    finally:
        fig.clear()
    return target


def plot_history(
    history: Mapping[str, Sequence[float]] | str | os.PathLike,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    keys: Sequence[str] | None = None,
) -> pathlib.Path:
    """Draw per-epoch training curves into a PNG file, one subplot per metric family.

    A metric ``x`` and its validation twin ``val_x`` share one axes; ``loss`` comes
    first, the other families follow in the history's order.  The x axis counts
    epochs from 1 (a CSV's ``epoch`` column, which counts from 0 as Keras does, is
    shifted by one, so an appended run continues where it stopped).  Missing values
    (``NA`` in a CSV, ``None``/NaN in a dict) leave gaps.

    Args:
        history: a dict ``{metric name: per-epoch values}`` (``History.history``), a
            :class:`~rnnkit.training.callbacks.History`, or the path of a CSV written by
            :class:`~rnnkit.training.callbacks.CSVLogger` (header row, ``epoch`` column).
        path: the PNG file to write (missing directories are created).
        title: drawn above the subplots.
        keys: the metrics to draw, each with its ``val_`` twin when present.  By
            default every numeric metric but ``epoch`` and learning-rate columns
            (``lr``, ``learning_rate``, ``*_lr``); naming one here draws it.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ConfigError: the history is empty, a key is unknown or not numeric, or
            nothing is left to draw.

    Example:
        >>> import os, tempfile
        >>> history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.7, 0.6], "lr": [0.01] * 3}
        >>> out = plot_history(history, os.path.join(tempfile.mkdtemp(), "curves.png"), title="demo")
        >>> out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    return plot_histories({"": history}, path, title=title, keys=keys)


def plot_histories(
    histories: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    keys: Sequence[str] | None = None,
) -> pathlib.Path:
    """Draw the per-epoch curves of several runs on shared subplots: one colour per run, validation dashed.

    ``histories`` maps a label (``"member 1"``) to what :func:`plot_history` takes (a dict, a
    History or a metrics.csv path); ``title`` and ``keys`` are :func:`plot_history`'s.  An
    ensemble's members are drawn this way.  Returns ``path``.

    Example:
        >>> import os, tempfile
        >>> runs = {"seed 0": {"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}, "seed 1": {"loss": [0.8, 0.6]}}
        >>> out = plot_histories(runs, os.path.join(tempfile.mkdtemp(), "runs.png"))
        >>> out.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    if not histories:
        raise ConfigError("plot_histories: no histories given; pass {label: history, ...}")
    collected = {label: _collect(history, keys) for label, history in histories.items()}
    bases = list(dict.fromkeys(family[0][0] for _, families in collected.values() for family in families))
    fig, axes = _figure(len(bases), 1.0 + 2.4 * len(bases))
    from matplotlib.ticker import MaxNLocator

    for colour, (label, (epochs, families)) in enumerate(collected.items()):
        for family in families:
            ax = axes[bases.index(family[0][0])]
            for name, values in family:
                x = epochs if epochs is not None and len(epochs) == len(values) else range(1, len(values) + 1)
                ax.plot(list(x), values, marker="o" if len(values) <= 30 else None, markersize=3,
                        linestyle="--" if name.startswith(_VAL) else "-", label=f"{label} {name}".strip(),
                        color=f"C{colour % 10}" if len(collected) > 1 else None)
    for ax, base in zip(axes, bases):
        ax.set_ylabel(base)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small" if len(collected) > 1 else None)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_series(
    path: str | os.PathLike,
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> pathlib.Path:
    """Draw several named lines on one axes into a PNG file (e.g. actual vs predicted).

    Args:
        path: the PNG file to write (missing directories are created).
        series: ``{label: values}``; each is a 1-D sequence (list, NumPy array, tensor).
        x: shared x values, as long as every series, or ``{label: x values}``, one
            per series (lines of different lengths, such as two models' curves
            over their own training seconds); by default 0, 1, 2, ...
        title, xlabel, ylabel: the axes' labels.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ConfigError: ``series`` is empty, a series is empty or not numbers, or
            ``x`` has another length than a series.

    Example:
        >>> import os, tempfile
        >>> out = plot_series(os.path.join(tempfile.mkdtemp(), "fit.png"),
        ...                   {"actual": [1, 2, 3, 2], "predicted": [1.1, 1.9, 2.7, 2.2]}, ylabel="value")
        >>> out.suffix, out.stat().st_size > 1000
        ('.png', True)
    """
    if not isinstance(series, Mapping) or not series:
        raise ConfigError(f"plot_series: `series` must be a non-empty dict {{label: values}}, got {series!r}")
    lines: dict[str, list[float]] = {}
    for label, values in series.items():
        try:
            floats = [_as_float(v) for v in values]
        except TypeError:  # not iterable
            floats = [None]
        if not floats or any(v is None for v in floats):
            raise ConfigError(f"plot_series: series {label!r} must be a non-empty 1-D sequence of numbers, got {values!r:.80}")
        lines[str(label)] = floats
    per_line = isinstance(x, Mapping)
    if per_line and set(map(str, x)) != set(lines):
        raise ConfigError(f"plot_series: `x` has values for {sorted(map(str, x))} but the series are {sorted(lines)}; "
                          "give one x sequence per series")
    given_x = {str(k): v for k, v in x.items()} if per_line else {label: x for label in lines}
    if not per_line and x is not None and not isinstance(x, Sequence):
        shared = list(x)  # read an iterator once, for every line
        given_x = {label: shared for label in lines}
    xs: dict[str, list[float]] = {}
    for label, values in lines.items():
        given = given_x[label]
        if given is None:
            xs[label] = [float(i) for i in range(len(values))]
            continue
        xs[label] = [_as_float(v) for v in given]
        if any(v is None for v in xs[label]):
            raise ConfigError(f"plot_series: `x` must be a sequence of numbers, got {given!r:.80}")
    wrong = {label: len(v) for label, v in lines.items() if len(v) != len(xs[label])}
    if wrong:
        shown = {label: len(xs[label]) for label in wrong} if per_line else len(next(iter(xs.values())))
        raise ConfigError(f"plot_series: `x` has {shown} values but the series have {wrong}; give every series one value per x")
    fig, (ax,) = _figure(1, 4.0)
    for label, values in lines.items():
        ax.plot(xs[label], values, label=label)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return save_figure(fig, path)


def plot_confusion(
    path: str | os.PathLike,
    matrix: Sequence[Sequence[int]],
    classes: Sequence[str],
    *,
    title: str | None = None,
) -> pathlib.Path:
    """Draw a confusion matrix (rows: true class, columns: predicted class) into a PNG file.

    Each cell shows its count and, below it, its share of the true class (the row);
    the colour follows that share, so classes of different sizes read alike.  Long
    class names are cut to 20 characters.

    Args:
        path: the PNG file to write (missing directories are created).
        matrix: a square table of counts, ``matrix[i][j]`` = examples of class ``i``
            predicted as ``j``.
        classes: the class names, one per row.
        title: drawn above the matrix.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ConfigError: the matrix is not square, has negative or non-integer counts,
            or its size differs from the number of classes.

    Example:
        >>> import os, tempfile
        >>> out = plot_confusion(os.path.join(tempfile.mkdtemp(), "confusion.png"), [[8, 2], [1, 9]], ["neg", "pos"])
        >>> out.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    import numpy as np

    counts = np.asarray(matrix)
    n = len(classes)
    if counts.ndim != 2 or counts.shape != (n, n):
        raise ConfigError(f"plot_confusion: expected a {n} x {n} matrix for {n} classes, got shape {counts.shape}")
    if counts.size and (not np.issubdtype(counts.dtype, np.number) or (counts < 0).any()
                        or (counts != np.round(counts)).any()):
        raise ConfigError("plot_confusion: the matrix must hold counts (whole numbers >= 0)")
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    side = min(2.0 + 0.9 * n, 16.0)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class")
    names = [str(c) if len(str(c)) <= 20 else str(c)[:19] + "…" for c in classes]
    ax.set_xticks(range(n), names, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:  # numbers in the cells while they still fit
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(counts[i, j]):,}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def plot_attention(
    path: str | os.PathLike,
    weights: Any,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    *,
    title: str | None = None,
) -> pathlib.Path:
    """Draw attention weights as a heat map into a PNG file: target tokens down, source tokens across.

    Args:
        path: the PNG file to write (missing directories are created).
        weights: ``(len(target_tokens), len(source_tokens))`` weights, each row a
            distribution over the source (the weight of output token ``t`` on
            source token ``s`` at ``[t, s]``).
        source_tokens, target_tokens: the axis labels.
        title: drawn above the map.

    Raises:
        ConfigError: the weights' shape does not match the tokens, or a weight is
            outside [0, 1] or not finite.

    Example:
        >>> import os, tempfile
        >>> out = plot_attention(os.path.join(tempfile.mkdtemp(), "attention.png"), [[0.9, 0.1], [0.2, 0.8]],
        ...                      ["I", "sing"], ["je", "chante"])
        >>> out.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    import numpy as np

    w = np.asarray(weights, dtype=float)
    shape = (len(target_tokens), len(source_tokens))
    if w.shape != shape:
        raise ConfigError(f"plot_attention: expected weights of shape (target, source) = {shape}, got {w.shape}")
    if w.size and (not np.isfinite(w).all() or (w < 0).any() or (w > 1 + 1e-6).any()):
        raise ConfigError("plot_attention: weights must be finite and in [0, 1] (softmax outputs)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = min(2.5 + 0.45 * shape[1], 16.0)
    height = min(1.5 + 0.4 * shape[0], 16.0)
    fig = Figure(figsize=(width + 1.2, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(image, ax=ax, label="attention weight")
    ax.set_xticks(range(shape[1]), [str(t) for t in source_tokens], rotation=60, ha="right")
    ax.set_yticks(range(shape[0]), [str(t) for t in target_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def plot_images(
    path: str | os.PathLike,
    images: Sequence[Any],
    captions: Sequence[str] | None = None,
    *,
    columns: int = 10,
    title: str | None = None,
) -> pathlib.Path:
    """Draw small grey images in a grid, each with its caption, into a PNG file (e.g. a classifier's mistakes).

    Args:
        path: the PNG file to write (missing directories are created).
        images: 2-D arrays (height, width) of grey levels, drawn dark on light from their own minimum to maximum.
        captions: one short text per image (e.g. ``"7 as 1"``), or None.
        columns: images per row.
        title: the figure's title.

    Raises:
        ConfigError: no images, an image that is not 2-D, or captions of another count.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> out = plot_images(os.path.join(tempfile.mkdtemp(), "digits.png"), [np.eye(8), np.ones((8, 8))], ["a", "b"])
        >>> out.stat().st_size > 1000
        True
    """
    import numpy as np

    arrays = [np.asarray(image, dtype=np.float64) for image in images]
    if not arrays:
        raise ConfigError("plot_images: `images` is empty; give at least one 2-D array")
    bad = [i for i, a in enumerate(arrays) if a.ndim != 2]
    if bad:
        raise ConfigError(f"plot_images: image {bad[0]} has shape {arrays[bad[0]].shape}; each must be 2-D (height, width)")
    if captions is not None and len(captions) != len(arrays):
        raise ConfigError(f"plot_images: {len(captions)} captions for {len(arrays)} images; give one caption per image")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ConfigError(f"plot_images: `columns` must be a whole number >= 1, got {columns!r}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(columns, len(arrays))
    rows = math.ceil(len(arrays) / columns)
    fig = Figure(figsize=(1.1 * columns, 1.25 * rows + (0.4 if title else 0.0)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(arrays):
            ax.imshow(arrays[i], cmap="gray_r", interpolation="nearest")
            if captions is not None:
                ax.set_title(str(captions[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
