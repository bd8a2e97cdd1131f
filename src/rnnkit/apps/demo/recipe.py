"""Recipe of ``rnnkit demo``: the Shakespeare quickstart, the alphabet, a sine-wave forecaster, the vanishing
gradient, MNIST read row by row.

:func:`demo` runs the one chosen (:class:`DemoOptions`); ``vanishing`` is
:func:`rnnkit.apps.demo.vanishing.vanishing` (SimpleRNN, GRU and LSTM on the adding problem); ``mnist`` and
``fashion-mnist`` are :func:`rnnkit.apps.demo.mnist.mnist` (an LSTM over the rows and a small CNN, side by side).  The sine demo
(:func:`run`) generates sine waves, trains an LSTM forecaster and reports;
everything it needs is generated, so it runs with no network and no datasets.
It uses only the public layers and a plain PyTorch loop, and shows that the fused
kernel and the reference path (the cell's own equations) compute the same numbers.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.layers import LSTM
from rnnkit.runs import parse_duration

from ..alphabet import AlphabetConfig, run as alphabet
from ..framework import AppConfig, setting
from ..textgen import TextgenConfig, sample, train
from .mnist import MnistConfig, mnist
from .vanishing import VanishingConfig, vanishing

__all__ = ["DemoConfig", "DemoOptions", "demo", "run"]


@dataclass
class DemoOptions(AppConfig):
    """The options of ``rnnkit demo``."""

    which: str = setting("shakespeare", help="the demo to run",
                         choices=("shakespeare", "alphabet", "sine", "vanishing", "mnist", "fashion-mnist"),
                         positional=True)
    seconds: float | None = setting(None, help="training time in seconds (default 120; sine: 20; vanishing: 180; "
                                               "mnist: 180 for the LSTM, a third of it for the CNN)", gt=0,
                                    group="budget")
    time_budget: float | None = setting(None, help="the training time as a duration, e.g. 90s, 3m (the same as "
                                                   "--seconds)", gt=0, group="budget", parse=parse_duration)
    seed: int = setting(0, help="seed of every generator")
    out: str | None = setting(None, help="run folder (default runs/textgen-<time>; vanishing: runs/vanishing-<time>; "
                                         "mnist: runs/mnist-<time>)")

    def validate(self) -> None:
        # what a demo would otherwise ignore: the alphabet trains a fixed 1500 epochs, neither it nor sine saves a run
        unused = {"alphabet": ("seconds", "time_budget", "out"), "sine": ("out",)}.get(self.which, ())
        for name in unused:
            if getattr(self, name) is not None:
                what = "trains a fixed number of epochs (about a second)" if name != "out" else "writes no run folder"
                raise ConfigError(f"{self.option(name)}: the {self.which} demo {what}; leave it out")


def demo(options: DemoOptions | None = None, print_fn: Callable[[str], None] = print) -> None:
    """Run the demo ``options.which``: a Shakespeare character model (``make demo``), the alphabet, or the sine."""
    options = options or DemoOptions()
    given = options.seconds or options.time_budget
    if options.which == "alphabet":
        alphabet(AlphabetConfig(seed=options.seed))
        return
    if options.which == "vanishing":
        vanishing(VanishingConfig(seconds=given or 180.0, seed=options.seed, out=options.out), print_fn)
        return
    if options.which == "sine":
        run(DemoConfig(seconds=given or 20.0, seed=options.seed), print_fn)
        return
    if options.which in ("mnist", "fashion-mnist"):
        mnist(MnistConfig(data=options.which, time_budget=given or 180.0, seed=options.seed, out=options.out), print_fn)
        return
    seconds = given or 120.0
    print_fn(f"rnnkit demo: a character-level recurrent network, sized for this machine, learns Shakespeare's plays "
             f"for {seconds:.0f} s (no network needed)")
    cfg = TextgenConfig(data="shakespeare-plays", time_budget=seconds, sample_prompt="ROMEO:\n", seed=options.seed,
                        out=options.out)
    train(cfg, verbose=1, print_fn=print_fn)
    print_fn("\nGenerated text (prompt 'ROMEO:'):\n")
    print("ROMEO:", end="", flush=True)
    sample(cfg.out, "ROMEO:", 400, seed=options.seed, stream=lambda piece: print(piece, end="", flush=True))
    print_fn(f"\n\nSample more with:  rnnkit textgen sample --run {cfg.out} --prompt 'JULIET:'")
    print_fn(f"Loss curve: {cfg.out}/loss.png   figures: {cfg.out}/metrics.json")


@dataclass
class DemoConfig:
    """Settings of the demo run (saved with it, printed at the start)."""

    seconds: float = 20.0  # training time budget
    units: int = 32
    lookback: int = 40
    batch_size: int = 64
    learning_rate: float = 0.01
    seed: int = 0


def _make_batch(cfg: DemoConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of sine waves with random frequency and phase: x (B, lookback, 1), y (B, 1) = next value."""
    freq = torch.rand(cfg.batch_size, 1, generator=gen) * 0.25 + 0.05
    phase = torch.rand(cfg.batch_size, 1, generator=gen) * 2 * math.pi
    t = torch.arange(cfg.lookback + 1, dtype=torch.float32)[None, :]
    wave = torch.sin(freq * t + phase)  # (B, lookback + 1)
    return wave[:, :-1, None], wave[:, -1:]


class _Forecaster(nn.Module):
    def __init__(self, units: int) -> None:
        super().__init__()
        self.rnn = LSTM(units, input_size=1)
        self.head = nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x))


def run(config: DemoConfig | None = None, print_fn: Callable[[str], None] = print) -> dict[str, float]:
    """Train for ``config.seconds`` and return the figures it printed."""
    cfg = config or DemoConfig()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    print_fn(f"rnnkit demo: an LSTM({cfg.units}) learns to continue sine waves  {asdict(cfg)}")
    model = _Forecaster(cfg.units)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    x_val, y_val = _make_batch(DemoConfig(batch_size=512, lookback=cfg.lookback), torch.Generator().manual_seed(cfg.seed + 1))
    baseline = float(((x_val[:, -1] - y_val) ** 2).mean())  # "tomorrow = today"
    start = time.perf_counter()
    next_report = start + cfg.seconds / 10  # about ten progress lines per run
    step = 0
    val_mse = float("nan")
    while time.perf_counter() - start < cfg.seconds:
        x, y = _make_batch(cfg, gen)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if time.perf_counter() >= next_report:
            next_report += cfg.seconds / 10
            with torch.no_grad():
                val_mse = float(nn.functional.mse_loss(model(x_val), y_val))
            print_fn(f"  step {step:5d}  train mse {loss.item():.2e}  validation mse {val_mse:.2e}  ({model.rnn.last_path} path)")
    model.eval()
    with torch.no_grad():
        val_mse = float(nn.functional.mse_loss(model(x_val), y_val))
        fused = model.rnn(x_val)
        model.rnn.use_fused = "reference"
        reference = model.rnn(x_val)
        model.rnn.use_fused = "auto"
    gap = float((fused - reference).abs().max())
    print_fn(f"validation mse {val_mse:.2e} after {step} steps (repeat-last-value baseline: {baseline:.2e})")
    print_fn(f"fused kernel and reference path agree to {gap:.1e} on the validation batch")
    return {"val_mse": val_mse, "baseline_mse": baseline, "steps": float(step), "path_gap": gap}
