"""The model a time budget buys: time each candidate on this machine, project the tokens, take the best curve.

With ``--time-budget`` at character level and no size given (``--cell``,
``--layers`` and ``--units`` all left out), :func:`train` first spends a few
seconds of the budget timing training steps of each candidate in
:data:`CANDIDATES` on the corpus itself (:func:`measure_speeds`), turns each
measured speed into the tokens the rest of the budget buys, and trains the
candidate whose measured loss curve is lowest at that many tokens (:func:`choose`).

Why tokens: for a given model, batch, sequence length and learning rate, the
loss after a cosine schedule stretched over a run of D training tokens depends
on D, not on the machine that trained them (same float32 arithmetic).  The
curves were measured once, below; the machine enters only through the speed,
which is measured at run time, so an AVX2 CPU, a two-thread AVX-512 one or a GPU
each get the candidate that is best for what *it* can train in the budget.

The candidates and their curves: validation nats/char on tinyshakespeare after a
run of ``time_budget`` seconds (cosine schedule over the run, 64-step chunks,
Adam, no dropout), by the millions of training tokens the run got.  Measured
with this module's runs in the AVX2 proxy (README: oneDNN, PyTorch and rnnkit's
kernels held to AVX2 on the AVX-512 machine, one thread) at budgets of 50-400 s;
one repeated run landed 0.009 from its curve, the size of the noise.

==================  ========  =====================================================
candidate           lr        (M tokens, val nats/char)
==================  ========  =====================================================
gru 2 x 192, b16    4e-3      (0.70, 1.726) (1.31, 1.570) (2.76, 1.500) (5.43, 1.473)
gru 2 x 256, b16    4e-3      (0.79, 1.649) (1.17, 1.535) (1.61, 1.508) (1.80, 1.487)
                              (3.57, 1.458) (5.59, 1.455)
gru 2 x 384, b16    3e-3      (0.86, 1.580) (1.46, 1.494) (3.23, 1.439)
==================  ========  =====================================================

Per token the larger model is always ahead (at 0.86M tokens: 2 x 384 1.580,
2 x 256 1.624, 2 x 192 1.675 by the curves), but it is slower: training tokens/s
on one thread, 2 x 192 26-29k, 2 x 256 14-18k, 2 x 384 7-8k in the proxy (30k,
19k, 9.6k natively), so the budget decides.  With :data:`MARGIN` the rule comes
to these thresholds:

* 2 x 256 replaces 2 x 192 once it is projected 0.01 lower, which at their
  speed ratio of about 1.6 (both CPU kinds) is when 2 x 192 would get ~2.85M
  tokens: budgets over ~105 s in the proxy (27k and 17k tokens/s), over ~55 s
  on a machine twice as fast.
* 2 x 384 replaces 2 x 256 once it gets ~2.96M tokens (1.445, while 2 x 256
  stays at 1.455 from 3.6M on: it starts to overfit): ~395 s in the proxy,
  ~200 s on a machine twice as fast.

What was measured and left out (same 100 s proxy runs unless said):

* batch size: 16 rows beat 32 and 64 at every size (GRU 2 x 192: 1.500, 1.518,
  1.564; LSTM 2 x 256: 1.534, 1.582, 1.744 for 16, 32, 64 rows) at the same
  tokens/s on one thread; 8 rows (1.513) is no better.  More updates win while
  tokens are few.  (2 x 384 with 32 rows: 1.509 at 1.6M tokens, 1.441 at 3.2M.)
* LSTM 2 x 256 (oneDNN's fused kernel): no better per token than GRU 2 x 256
  (1.534 at 1.36M, 1.475 at 2.27M tokens, where the GRU curve gives 1.522 and
  1.477) and 25-40% slower on both CPU kinds (11-14k tokens/s), so it is never
  the best buy; timing it would only spend budget.
* GRU 3 x 192 (1.506), 32-step chunks (1.516), learning rate 2.5e-3 (1.506) or
  6e-3 (1.517) instead of 4e-3 (1.500), minGRU 2 x 256 (1.677 although 3.5x
  faster): all behind.

A candidate's curve is interpolated linearly in log(tokens) between measured
points; below its first point it goes on along its first segment, beyond its
last point it stays at the last value (no gain assumed where none was
measured).  Budgets under :data:`MIN_BUDGET` seconds are not timed (a
candidate's warm-up step alone would take a large share): they get the first
candidate, the best one at the fewest tokens.  The figures are for a corpus
like tinyshakespeare (1.0M training characters); on a much smaller one the
projected epochs grow and the larger candidates may overfit, so give a size.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from rnnkit.data import LMStream
from rnnkit.optimizers import Adam, SGD
from rnnkit.training.callbacks import Callback
from rnnkit.training.losses import SparseCategoricalCrossentropy

from .model import build_model

__all__ = ["Candidate", "CANDIDATES", "SIZE_FIELDS", "MIN_BUDGET", "MARGIN", "Choice", "projected_loss", "choose",
           "measure_speeds", "size_for_budget"]

# the settings a candidate fixes; cell/layers/units are "the size" (any of them given: no choice is made)
SIZE_FIELDS = ("cell", "layers", "units")
MIN_BUDGET = 30.0  # seconds; shorter budgets take CANDIDATES[0] without timing anything
MARGIN = 0.01  # nats/char a larger candidate must gain to be chosen: the run-to-run noise (a repeat: 0.009)
_SHARE = 0.025  # of the budget spent timing, at most (plus one warm-up step per candidate)
_MAX_EACH = 1.0  # seconds of timed steps per candidate, at most
_MIN_STEPS = 3  # timed steps per candidate, at least (after the warm-up step)


@dataclass(frozen=True)
class Candidate:
    """A model and its training settings, with its measured curve: (million training tokens, val nats/char)."""

    name: str
    settings: Mapping[str, Any]  # cell, layers, units, batch_size, seq_len, learning_rate
    curve: tuple[tuple[float, float], ...]

    def describe(self) -> str:
        s = self.settings
        return f"{s['layers']} x {s['units']} {s['cell']}, batch {s['batch_size']} x {s['seq_len']}, lr {s['learning_rate']:g}"


def _gru(units: int, lr: float) -> dict[str, Any]:
    return dict(cell="gru", layers=2, units=units, batch_size=16, seq_len=64, learning_rate=lr)


# smallest first: the first is taken for budgets too short to time (best at the fewest tokens); see the docstring
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("gru-2x192", _gru(192, 4e-3), ((0.70, 1.726), (1.31, 1.570), (2.76, 1.500), (5.43, 1.473))),
    Candidate("gru-2x256", _gru(256, 4e-3), ((0.79, 1.649), (1.17, 1.535), (1.61, 1.508), (1.80, 1.487), (3.57, 1.458),
                                          (5.59, 1.455))),
    Candidate("gru-2x384", _gru(384, 3e-3), ((0.86, 1.580), (1.46, 1.494), (3.23, 1.439))),
)


@dataclass
class Choice:
    """What :func:`choose` picked and the figures it compared (one entry per candidate name)."""

    candidate: Candidate
    tokens: dict[str, float]  # training tokens the budget buys
    loss: dict[str, float]  # projected val nats/char
    speeds: dict[str, float] = field(default_factory=dict)  # measured tokens/s (empty: not timed)


def projected_loss(candidate: Candidate, tokens: float) -> float:
    """The candidate's val nats/char after a run of ``tokens`` training tokens (interpolated in log tokens)."""
    points = [(math.log(m * 1e6), loss) for m, loss in candidate.curve]
    x = math.log(max(tokens, 1.0))
    if x >= points[-1][0]:
        return points[-1][1]
    if len(points) == 1:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:  # also below the first point: the first segment, extended
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise AssertionError("unreachable")


def choose(speeds: Mapping[str, float], seconds: float, candidates: Sequence[Candidate] = CANDIDATES) -> Choice:
    """The candidate with the lowest projected loss for ``seconds`` of training at the measured ``speeds``.

    ``speeds`` maps candidate names to training tokens per second; candidates
    without a speed are left out.  A later (larger) candidate must be projected
    better than the best earlier one by more than :data:`MARGIN` nats: closer
    than that, the curves cannot tell them apart and the smaller one stays.
    """
    timed = [c for c in candidates if c.name in speeds]
    if not timed:
        raise ValueError("choose: no candidate has a measured speed")
    tokens = {c.name: speeds[c.name] * seconds for c in timed}
    loss = {c.name: projected_loss(c, tokens[c.name]) for c in timed}
    best = timed[0]
    for c in timed[1:]:
        if loss[c.name] < loss[best.name] - MARGIN:
            best = c
    return Choice(best, tokens, loss, dict(speeds))


class _StepTimer(Callback):
    """Time each training step; stop once ``seconds`` of steps after the first (warm-up) one are timed."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.times, self._t0 = seconds, [], 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter() - self._t0)
        timed = self.times[1:]
        if len(timed) >= _MIN_STEPS and sum(timed) >= self.seconds:
            self.model.stop_training = True


def measure_speeds(candidates: Sequence[Candidate], tokens: np.ndarray, vocab_size: int, budget: float, *,
                   overrides: Mapping[str, Any], embed_dim: int, dropout: float, optimizer: str,
                   clipnorm: float) -> dict[str, float]:
    """Training tokens per second of each candidate on this machine (median of a few timed steps).

    Each candidate is built and trained as the run would train it, on the first
    chunks of ``tokens``, for one warm-up step (oneDNN set-up, kernel loading)
    and then at least three steps and ``min(1 s, 2.5% of the budget / candidates)``
    of timed ones.  ``overrides`` are the user's batch_size/seq_len/learning_rate,
    which replace the candidates' own.  The models are thrown away afterwards.
    """
    speeds: dict[str, float] = {}
    each = min(_MAX_EACH, _SHARE * budget / max(len(candidates), 1))
    for cand in candidates:
        s = {**cand.settings, **overrides}
        model = build_model(vocab_size, cell=s["cell"], layers=s["layers"], units=s["units"], embed_dim=embed_dim,
                            dropout=dropout)
        lr = s["learning_rate"]
        model.compile(optimizer=Adam(learning_rate=lr) if optimizer == "adam" else SGD(learning_rate=lr),
                      loss=SparseCategoricalCrossentropy(from_logits=True), clipnorm=clipnorm)
        timer = _StepTimer(each)
        stream = LMStream(tokens, s["batch_size"], s["seq_len"])
        model.fit(stream, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
        timed = sorted(timer.times[1:]) or timer.times
        speeds[cand.name] = s["batch_size"] * s["seq_len"] / timed[len(timed) // 2]
    return speeds


def _million(x: float) -> str:
    return f"{x / 1e6:.1f}M"


def describe_choice(choice: Choice, seconds_left: float, train_tokens: int, spent: float) -> str:
    """The one line that says what was measured, projected and chosen."""
    chosen = f"{choice.candidate.name} ({choice.candidate.describe()})"
    if not choice.speeds:
        return f"a budget under {MIN_BUDGET:.0f} s is not timed; the candidate best at the fewest tokens: {chosen}"
    names = list(choice.loss)
    measured = ", ".join(f"{n} {choice.speeds[n] / 1e3:.1f}k" for n in names)
    bought = ", ".join(f"{_million(choice.tokens[n])} ({choice.tokens[n] / train_tokens:.1f} epochs)" for n in names)
    projected = ", ".join(f"{choice.loss[n]:.3f}" for n in names)
    return (f"measured {measured} tokens/s in {spent:.1f} s; the {seconds_left:.0f} s left buy {bought}; "
            f"projected val {projected} nats/char -> {chosen}")


def size_for_budget(budget: float, tokens: np.ndarray, vocab_size: int, *, overrides: Mapping[str, Any],
                    embed_dim: int, dropout: float, optimizer: str, clipnorm: float,
                    candidates: Sequence[Candidate] = CANDIDATES,
                    print_fn: Callable[[str], None] = print) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pick a candidate for ``budget`` seconds; returns its settings and the record kept in ``config.json``.

    The record holds ``seconds`` (time spent timing, which the run's clock
    starts from, so it counts against the budget), the measured speeds, the
    projected tokens and losses, the choice and the printed ``reason``.
    """
    start = time.perf_counter()
    if budget < MIN_BUDGET:
        choice = Choice(candidates[0], {}, {}, {})
    else:
        speeds = measure_speeds(candidates, tokens, vocab_size, budget, overrides=overrides, embed_dim=embed_dim,
                                dropout=dropout, optimizer=optimizer, clipnorm=clipnorm)
        choice = choose(speeds, max(budget - (time.perf_counter() - start), 0.0), candidates)
    spent = time.perf_counter() - start
    reason = describe_choice(choice, budget - spent, len(tokens), spent)
    print_fn(f"textgen: size for a {budget:.0f} s budget: {reason} (--cell/--layers/--units fix the size)")
    record = {
        "seconds": spent,
        "tokens_per_second": {k: round(v, 1) for k, v in choice.speeds.items()},
        "projected_tokens": {k: round(v) for k, v in choice.tokens.items()},
        "projected_val_loss": {k: round(v, 4) for k, v in choice.loss.items()},
        "choice": choice.candidate.name,
        "reason": reason,
    }
    return dict(choice.candidate.settings), record
