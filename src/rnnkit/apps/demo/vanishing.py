r"""``rnnkit demo vanishing``: the vanishing gradient, seen on the adding problem with SimpleRNN, GRU and LSTM.

The adding problem (Hochreiter & Schmidhuber 1997, experiment 4) asks a network
to remember two numbers across a long sequence.  This demo uses the variant of
Arjovsky, Shah & Bengio (2016, "Unitary evolution recurrent neural networks",
section 4.2), which most later papers use.  Each example is a sequence of
:math:`T` steps with two features,

.. math::
    x_t = (u_t, m_t), \quad u_t \sim U(0, 1), \quad
    m_t = [t = i] + [t = j], \quad i \sim U\{1..\lfloor T/2 \rfloor\}, \;
    j \sim U\{\lfloor T/2 \rfloor + 1..T\},

exactly two markers, one in each half, and the target is the sum of the two
marked values,

.. math::
    y = \sum_t m_t u_t = u_i + u_j .

A network that ignores the inputs does best by predicting the mean
:math:`E[y] = 1`; its mean squared error is

.. math::
    E[(y - 1)^2] = \mathrm{Var}(u_i + u_j) = 2 \cdot \tfrac{1}{12} = \tfrac{1}{6} \approx 0.167,

the baseline.  To beat it the network must carry :math:`u_i` from the first half
across up to :math:`T - 1` steps, which needs the gradient of the loss to reach
that far back: :math:`\partial L/\partial h_t` is a product of one Jacobian per
later step and, without gates, shrinks geometrically.

:func:`vanishing` builds ``Sequential([SimpleRNN | GRU | LSTM(units), Dense(1)])``
with the same units, trains the three with the same optimizer (Adam, gradients
clipped to norm ``clipnorm``) on the same batches, and measures
:func:`rnnkit.diagnostics.gradient_flow` of each on a validation batch before
and after training.  The data are drawn from the seed (no network, no dataset).

Before training the order is not the textbook one: rnnkit's (Keras') default
initialisation gives the SimpleRNN an orthogonal recurrent matrix and states in
tanh's near-linear range, so its gradient decays the slowest, while the gated
cells start with half-open gates (GRU update gate :math:`\sigma(0) = 1/2`, LSTM
forget gate :math:`\sigma(1) \approx 0.73`) that scale the gradient by about that
much each step.  Training opens the gates; the SimpleRNN has none.

Side by side: the three take turns, ``eval_every`` steps each per round, on the
same batches, until the time budget is spent (or ``steps``, for tests and tuning).
Equal steps rather than equal seconds, because the question is what a cell
learns from the same updates; the SimpleRNN, the fastest per step, spends the
least time, and each model's seconds are reported.  The validation curves then
share one step axis.

The run folder (``--out``, default ``runs/vanishing-<time>``): ``report.html``
(one self-contained page, built with :mod:`rnnkit.report`'s helpers),
``metrics.json``, ``curves.csv`` (validation MSE per model every ``eval_every``
steps), ``gradient_flow.csv`` (:math:`\|\partial L/\partial h_t\|` per model,
before and after), ``curves.png``, ``gradient_flow_before.png`` and
``gradient_flow_after.png``, and ``config.json``.
"""
from __future__ import annotations

import math
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..._io import atomic_write
from ...diagnostics import GradientFlow, gradient_flow, plot_gradient_flow
from ...errors import ConfigError
from ...layers import GRU, LSTM, Dense, SimpleRNN
from ...models import Sequential
from ...plots import plot_series
from ...random import set_seed
from ...report.charts import PALETTE, Series, line_chart  # the page is built with the report's own helpers
from ...report.page import document, esc, fmt, table
from ...runs import new_run_dir, write_config, write_csv, write_json
from ..framework import AppConfig, setting

__all__ = ["VanishingConfig", "adding_problem", "vanishing", "BASELINE_MSE", "CELLS"]

#: the MSE of always predicting E[y] = 1: Var(u_i + u_j) = 2/12
BASELINE_MSE = 1.0 / 6.0
#: the three models, by the name the run folder and the page use
CELLS = {"SimpleRNN": SimpleRNN, "GRU": GRU, "LSTM": LSTM}
#: how many steps back from the loss the terminal table compares with the last step
STEPS_BACK = (10, 25, 50)


@dataclass
class VanishingConfig(AppConfig):
    """Settings of ``rnnkit demo vanishing`` (saved in the run folder's ``config.json``).

    >>> VanishingConfig(length=1)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `length` must be a whole number >= 2, got 1
    """

    seconds: float = setting(180.0, help="training time of the three models together, in seconds", gt=0)
    steps: int | None = setting(None, help="train exactly this many steps per model, ignoring `seconds` "
                                           "(tests, tuning)", min=1)
    length: int = setting(100, help="sequence length T", min=2)
    units: int = setting(64, help="units of each recurrent layer", min=1)
    batch_size: int = setting(64, help="examples per training step", min=1)
    learning_rate: float = setting(3e-3, help="Adam's learning rate", gt=0)
    clipnorm: float = setting(1.0, help="gradients clipped to this global norm", gt=0)
    eval_every: int = setting(50, help="steps per model per round; validation after each round", min=1)
    val_size: int = setting(1000, help="validation examples (fixed, drawn from seed + 1)", min=1)
    flow_size: int = setting(256, help="validation examples the gradient flow is measured on", min=1)
    solved_mse: float = setting(0.01, help="a model whose final validation MSE is below this solved the task", gt=0)
    seed: int = setting(0, help="seed of every generator")
    out: str | None = setting(None, help="run folder (default runs/vanishing-<time>)")


def adding_problem(n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` examples of the adding problem of ``length`` steps: x (n, length, 2) = (u_t, m_t), y (n, 1) = u_i + u_j.

    >>> x, y = adding_problem(3, 10, torch.Generator().manual_seed(0))
    >>> x.shape, y.shape, x[..., 1].sum(dim=1).tolist()
    (torch.Size([3, 10, 2]), torch.Size([3, 1]), [2.0, 2.0, 2.0])
    >>> bool(torch.allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(dim=1)))
    True
    """
    if length < 2:
        raise ConfigError(f"adding_problem: the sequence needs two halves, length >= 2, got {length}")
    half = length // 2
    u = torch.rand(n, length, generator=generator)  # (n, T) values
    first = torch.randint(0, half, (n,), generator=generator)  # marker in the first half
    second = torch.randint(half, length, (n,), generator=generator)  # marker in the second half
    m = torch.zeros(n, length)  # (n, T) markers
    rows = torch.arange(n)
    m[rows, first] = 1.0
    m[rows, second] = 1.0
    # y = Σ_t m_t u_t = u_i + u_j                                                    (n, 1)
    y = (u * m).sum(dim=1, keepdim=True)
    return torch.stack([u, m], dim=-1), y


def _model(name: str, cfg: VanishingConfig) -> Sequential:
    return Sequential([CELLS[name](cfg.units, input_size=2, name=name.lower()), Dense(1, name="head")])


def _flow(model: Sequential, x: torch.Tensor, y: torch.Tensor) -> GradientFlow:
    return gradient_flow(model, x, y, loss="mse")


def _ratios(dh: np.ndarray) -> dict[str, float]:
    r"""|dL/dh| k steps back over |dL/dh| at the last step, for k in :data:`STEPS_BACK`, and the reach (k = T - 1).

    >>> _ratios(np.array([0.001, 0.01, 0.1, 1.0]))["reach"]
    0.001
    """
    last = dh[-1]
    out = {f"back_{k}": float(dh[-1 - k] / last) if k < len(dh) else math.nan for k in STEPS_BACK}
    out["reach"] = float(dh[0] / last)
    return out


def _fmt_ratio(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.0e}" if v < 0.01 else f"{v:.2f}"


def vanishing(config: VanishingConfig | None = None, print_fn: Callable[[str], None] = print, *,
              open_browser: bool = False) -> dict[str, Any]:
    """Train SimpleRNN, GRU and LSTM side by side on the adding problem and write the run folder.

    Returns the figures of ``metrics.json``: per model ``val_mse``, ``solved``,
    ``steps``, ``seconds``, ``before`` and ``after`` (the ratios of
    :math:`\\|\\partial L/\\partial h\\|` 10, 25, 50 steps back to the last step, and
    the reach :math:`\\|\\partial L/\\partial h_1\\|/\\|\\partial L/\\partial h_T\\|`), plus
    ``baseline_mse`` and ``report`` (the page's path).
    """
    cfg = config or VanishingConfig()
    run = new_run_dir("vanishing", cfg.out)
    write_config(run, "demo-vanishing", cfg.to_dict())
    budget = f"{cfg.steps} steps each" if cfg.steps else f"{cfg.seconds:.0f} s"
    print_fn(f"rnnkit demo vanishing: SimpleRNN, GRU and LSTM ({cfg.units} units each) learn the adding problem "
             f"at T = {cfg.length} side by side for {budget}; predicting 1 scores MSE {BASELINE_MSE:.3f}")

    set_seed(cfg.seed)
    models = {name: _model(name, cfg) for name in CELLS}
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=cfg.learning_rate) for name, m in models.items()}
    x_val, y_val = adding_problem(cfg.val_size, cfg.length, torch.Generator().manual_seed(cfg.seed + 1))
    x_flow, y_flow = x_val[: cfg.flow_size], y_val[: cfg.flow_size]
    before = {name: _flow(m, x_flow, y_flow) for name, m in models.items()}

    gen = torch.Generator().manual_seed(cfg.seed)
    seconds = {name: 0.0 for name in CELLS}
    curves: list[dict[str, float]] = [{"step": 0, **{name: _val_mse(m, x_val, y_val) for name, m in models.items()}}]
    step, start = 0, time.perf_counter()
    while True:
        chunk = cfg.eval_every if cfg.steps is None else min(cfg.eval_every, cfg.steps - step)
        if chunk <= 0:
            break
        batches = [adding_problem(cfg.batch_size, cfg.length, gen) for _ in range(chunk)]
        for name, model in models.items():
            seconds[name] += _train(model, optimizers[name], batches, cfg.clipnorm)
        step += chunk
        curves.append({"step": step, **{name: _val_mse(m, x_val, y_val) for name, m in models.items()}})
        if len(curves) % 10 == 1 or (cfg.steps is not None and step >= cfg.steps):
            print_fn(f"  step {step:6d}  validation MSE  " + "  ".join(f"{n} {curves[-1][n]:.4f}" for n in CELLS))
        if cfg.steps is None:
            spent = time.perf_counter() - start
            # stop before a round that would end past the budget (a round costs about the mean round so far)
            if spent + spent / (len(curves) - 1) > cfg.seconds:
                break
    after = {name: _flow(m, x_flow, y_flow) for name, m in models.items()}

    metrics: dict[str, Any] = {"baseline_mse": BASELINE_MSE, "length": cfg.length, "units": cfg.units,
                               "solved_mse": cfg.solved_mse, "models": {}}
    for name in CELLS:
        dh_before, dh_after = before[name].dh[name.lower()], after[name].dh[name.lower()]
        val = curves[-1][name]
        metrics["models"][name] = {"val_mse": val, "solved": bool(val < cfg.solved_mse), "steps": step,
                                   "seconds": round(seconds[name], 3), "steps_per_second": step / seconds[name]
                                   if seconds[name] > 0 else None,
                                   "before": _ratios(dh_before), "after": _ratios(dh_after)}
    _write_files(run, cfg, curves, before, after)
    metrics["report"] = str(run / "report.html")
    write_json(run / "metrics.json", metrics)
    page = write_page(run, cfg, metrics, curves, before, after)
    for line in summary_table(metrics):
        print_fn(line)
    print_fn(f"report: {page}   figures: {run / 'metrics.json'}")
    if open_browser:
        webbrowser.open(page.resolve().as_uri())
    return metrics


def _val_mse(model: Sequential, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x), y))


def _train(model: Sequential, optimizer: torch.optim.Optimizer, batches: list, clipnorm: float) -> float:
    """One turn of ``model``: a step per batch; returns the seconds it took."""
    model.train()
    start = time.perf_counter()
    for x, y in batches:
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clipnorm)
        optimizer.step()
    return time.perf_counter() - start


def summary_table(metrics: dict[str, Any]) -> list[str]:
    """The terminal table: per model the final validation MSE against the baseline, solved, and the gradient ratios.

    >>> m = {"baseline_mse": 1 / 6, "models": {"GRU": {"val_mse": 0.001, "solved": True, "steps": 10,
    ...      "seconds": 1.0, "before": {"back_10": 0.5, "back_25": 0.01, "back_50": 1e-4, "reach": 1e-8},
    ...      "after": {"back_10": 0.9, "back_25": 0.8, "back_50": 0.7, "reach": 0.3}}}}
    >>> print("\\n".join(summary_table(m)))  # doctest: +NORMALIZE_WHITESPACE
    model      val MSE  / 0.167  solved   |dL/dh| k steps back / last step, before -> after training
                                          k=10            k=25            k=50            reach (k=T-1)
    GRU         0.0010    0.006  yes      0.50 -> 0.90    0.01 -> 0.80    1e-04 -> 0.70   1e-08 -> 0.30
    """
    lines = [(f"{'model':<10} val MSE  / {metrics['baseline_mse']:.3f}  solved   "
              "|dL/dh| k steps back / last step, before -> after training"),
             f"{'':<38}" + "".join(f"{f'k={k}':<16}" for k in STEPS_BACK) + "reach (k=T-1)"]
    for name, m in metrics["models"].items():
        pairs = [f"{_fmt_ratio(m['before'][key])} -> {_fmt_ratio(m['after'][key])}"
                 for key in [f"back_{k}" for k in STEPS_BACK] + ["reach"]]
        lines.append(f"{name:<10} {m['val_mse']:7.4f}  {m['val_mse'] / metrics['baseline_mse']:7.3f}  "
                     f"{'yes' if m['solved'] else 'no':<8} " + "".join(f"{p:<16}" for p in pairs[:-1]) + pairs[-1])
    return lines


def _write_files(run: Path, cfg: VanishingConfig, curves: list[dict[str, float]], before: dict[str, GradientFlow],
                 after: dict[str, GradientFlow]) -> None:
    """``curves.csv``, ``gradient_flow.csv`` and the PNG plots."""
    write_csv(run / "curves.csv", ["step", *[f"val_mse:{n}" for n in CELLS]],
              [[row["step"], *[row[n] for n in CELLS]] for row in curves])
    rows = []
    for k in range(cfg.length):  # k steps back from the loss: input step T - k
        t = cfg.length - 1 - k
        rows.append([k, *[float(flows[n].dh[n.lower()][t]) for flows in (before, after) for n in CELLS]])
    write_csv(run / "gradient_flow.csv",
              ["steps_back", *[f"{when}:{n}" for when in ("before", "after") for n in CELLS]], rows)
    steps = [row["step"] for row in curves]
    plot_series(run / "curves.png", {**{n: [row[n] for row in curves] for n in CELLS},
                                     "baseline (predict 1)": [BASELINE_MSE] * len(steps)},
                x=steps, title=f"Adding problem, T = {cfg.length}: validation MSE", xlabel="training step (each model)",
                ylabel="validation MSE")
    for when, flows in (("before", before), ("after", after)):
        plot_gradient_flow(_joined(flows), run / f"gradient_flow_{when}.png",
                           title=f"|dL/dh_t| {when} training (T = {cfg.length}, {cfg.flow_size} validation examples)")


def _joined(flows: dict[str, GradientFlow]) -> GradientFlow:
    """One GradientFlow holding the |dL/dh_t| of the three models (one line each, named by the model)."""
    names = list(flows)
    unit = {n: flows[n].layers[0] for n in names}
    return GradientFlow(loss=math.nan, layers=names, dh={n: flows[n].dh[unit[n]] for n in names}, dc={},
                        paths={n: flows[n].paths[unit[n]] for n in names},
                        deviation={n: flows[n].deviation[unit[n]] for n in names},
                        backwards={n: False for n in names})



# ---------------------------------------------------------------- the page
_COLORS = dict(zip(CELLS, PALETTE))


def _story(metrics: dict[str, Any]) -> str:
    """What the figures say, in sentences written from the figures (no claim the run did not measure)."""
    models = metrics["models"]
    solved = [n for n, m in models.items() if m["solved"]]
    unsolved = [n for n, m in models.items() if not m["solved"]]
    parts = []
    if solved:
        parts.append(f"{' and '.join(solved)} solved the task (final validation MSE below {fmt(metrics['solved_mse'])}).")
    if unsolved:
        parts.append(f"{' and '.join(unsolved)} did not: " + ", ".join(
            f"{n} ended at {models[n]['val_mse']:.3f}, {models[n]['val_mse'] / metrics['baseline_mse']:.0%} of the "
            "baseline" for n in unsolved) + ".")
    parts.append("Gradient reach |dL/dh_1| / |dL/dh_T|, before -> after training: " + "; ".join(
        f"{n} {_fmt_ratio(m['before']['reach'])} -> {_fmt_ratio(m['after']['reach'])}" for n, m in models.items()) + ".")
    return " ".join(parts)


def write_page(run: Path, cfg: VanishingConfig, metrics: dict[str, Any], curves: list[dict[str, float]],
               before: dict[str, GradientFlow], after: dict[str, GradientFlow]) -> Path:
    """``run/report.html``: the table, the curves overlaid, the gradient flow before and after, the task, the config."""
    baseline = metrics["baseline_mse"]
    keys = [f"back_{k}" for k in STEPS_BACK] + ["reach"]
    header = ["model", "val MSE", "/ baseline", "solved", "steps", "seconds", "steps/s",
              *[f"|dL/dh| {k} back / last (before → after)" for k in STEPS_BACK], "reach (before → after)"]
    rows = [[name, m["val_mse"], m["val_mse"] / baseline, "yes" if m["solved"] else "no", m["steps"], m["seconds"],
             m["steps_per_second"], *[f"{_fmt_ratio(m['before'][k])} → {_fmt_ratio(m['after'][k])}" for k in keys]]
            for name, m in metrics["models"].items()]
    result = (f'<p class="note">{esc(_story(metrics))}</p>' + table(header, rows)
              + '<pre>' + esc("\n".join(summary_table(metrics))) + "</pre>")

    steps = [row["step"] for row in curves]
    curve_chart = line_chart(
        "validation MSE (log scale)",
        [Series(n, steps, [row[n] for row in curves], _COLORS[n]) for n in CELLS]
        + [Series("baseline: predict 1 (0.167)", [steps[0], steps[-1]], [baseline, baseline], PALETTE[7], dashed=True)],
        x_label="training step (each model)", log=True)
    curves_body = (f'<p class="note">The three models trained in turns on the same batches, {cfg.eval_every} steps '
                   f'each per round; validation on {cfg.val_size} fixed examples after every round.</p>'
                   f'<div class="charts">{curve_chart}</div>')

    back = list(range(cfg.length))  # k steps back from the loss: input step T - k

    def flow_chart(title: str, flows: dict[str, GradientFlow]) -> str:
        return line_chart(title, [Series(n, back, [float(v) for v in flows[n].dh[n.lower()][::-1]], _COLORS[n])
                                  for n in CELLS], x_label="steps back from the loss (T - t)", log=True)

    flow_body = (
        '<p class="note">|∂L/∂h<sub>t</sub>|, the norm of the loss gradient with respect to the hidden state t '
        f"steps back, mean over {cfg.flow_size} validation examples (rnnkit.diagnostics.gradient_flow). "
        "It is a product of one Jacobian per later step, so a line that falls by orders of magnitude is a "
        "gradient that cannot tell the network what the first marked value was.</p>"
        f'<div class="charts">{flow_chart("before training", before)}{flow_chart("after training", after)}</div>')

    task = (
        f"<p>Each example has T = {cfg.length} steps of two features: a value u<sub>t</sub> ~ U(0, 1) and a marker "
        "m<sub>t</sub>, 1 at exactly two steps, one in each half, else 0. The target is the sum of the two marked "
        "values, y = u<sub>i</sub> + u<sub>j</sub>. Predicting the mean, 1, scores MSE Var(u<sub>i</sub> + "
        "u<sub>j</sub>) = 2/12 ≈ 0.167: the baseline. Beating it needs u<sub>i</sub> carried across up to T - 1 "
        "steps. The adding problem of Hochreiter &amp; Schmidhuber (1997), in the variant of Arjovsky, Shah &amp; "
        "Bengio (2016).</p>"
        f"<p>Models: Sequential([SimpleRNN | GRU | LSTM({cfg.units}), Dense(1)]), rnnkit's default initialisation; "
        f"Adam (learning rate {fmt(cfg.learning_rate)}), gradients clipped to norm {fmt(cfg.clipnorm)}, batches of "
        f"{cfg.batch_size}.</p>")
    config = table(["setting", "value"], [[k, v] for k, v in cfg.to_dict().items()])
    subtitle = [(f"SimpleRNN, GRU and LSTM ({cfg.units} units) on the adding problem at T = {cfg.length}, "
                 f"{metrics['models']['GRU']['steps']:,} steps each · run folder <code>{esc(run)}</code>")]
    html = document("rnnkit demo vanishing: the vanishing gradient", subtitle, [
        ("result", "Result", result),
        ("curves", "Learning curves", curves_body),
        ("flow", "Gradient flow", flow_body),
        ("task", "The task", task),
        ("config", "Configuration", config),
    ])
    path = run / "report.html"
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(html)
    return path
