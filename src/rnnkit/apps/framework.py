"""The app framework: one config dataclass per app gives its options, checks, ``config.json`` and CLI.

An app declares its settings once, as a dataclass of :func:`setting` fields
(type from the annotation, default, help, bounds or choices, the CLI flag when it
differs from the field name).  From that one declaration come:

* validation (:meth:`AppConfig.check`, run at construction and again before
  training) with messages in the caller's vocabulary: ``--seq-len`` when the
  values came from the command line (:func:`cli_vocabulary`), `` `seq_len` `` when
  they came from Python;
* ``config.json`` (:meth:`AppConfig.to_dict` / :meth:`AppConfig.from_dict`) and
  ``--resume`` (the saved settings, with the budget raised);
* the command-line options (:func:`add_options` / :func:`options_from_args`);
  commands that are not training (``sample``, ``predict`` ...) declare their
  options the same way, so :mod:`rnnkit.cli` writes no option by hand.

Why a generator of our own over :func:`dataclasses.fields` (about 150 lines)
rather than tyro, simple-parsing or typer: the messages must name the flag *or*
the field depending on the caller, and the libraries validate in their own
words (typer/click) or not at all beyond types (tyro, simple-parsing); the
existing flag names (``--lr`` for ``learning_rate``, ``--tie``, ``--no-log``),
mutually exclusive budgets and one-line errors with exit code 2 would each need
a workaround; and rnnkit would gain a dependency for what ``argparse`` does.

:func:`train_run` is the training skeleton every app shares (run folder, seed,
``config.json`` and ``run.json``, compile, epochs or time budget, fit, timing,
best weights, the whole model, ``metrics.json``, the loss plot); an app supplies a
:class:`Recipe` (its data, model builder and evaluation).  :func:`open_run` is
the shared half of each app's ``load_run``.

>>> from dataclasses import dataclass
>>> @dataclass
... class ToyConfig(AppConfig):
...     steps: int = setting(10, help="training steps", min=1)
...     learning_rate: float = setting(0.1, help="step size", gt=0, flag="--lr")
>>> ToyConfig(steps=3).steps
3
>>> ToyConfig(learning_rate=-1.0)
Traceback (most recent call last):
rnnkit.errors.ConfigError: `learning_rate` must be positive, got -1.0
>>> with cli_vocabulary():
...     ToyConfig(learning_rate=-1.0)
Traceback (most recent call last):
rnnkit.errors.ConfigError: --lr must be positive, got -1.0
"""
from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import functools
import math
import shutil
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .._io import remove_stale_temps
from .._version import __version__
from ..diagnostics import GradientMonitor, gradient_flow, plot_gradient_flow, plot_states
from ..diagnostics._trace import first_examples, take
from ..errors import ConfigError, RnnkitError
from ..models import load_model
from ..plots import plot_histories, plot_history
from ..random import set_seed
from ..runs import new_run_dir, read_config, read_json, write_config, write_json
from ..training import distributed
from ..training.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TimeBudget

__all__ = ["setting", "setting_rules", "AppConfig", "TrainConfig", "cli_vocabulary", "option_name", "add_options", "options_from_args",
           "Command", "App", "Recipe", "ReportSection", "classification_sections", "Fitted", "RunClock",
           "cosine_schedule", "ema_momentum", "train_run", "open_run", "saved_config", "RUN_FILE", "Service"]

RUN_FILE = "run.json"
CHECKPOINT = "checkpoint.safetensors"  # a resumable run's last epoch: weights, optimizer, progress (--resume)
MEMBERS = "members"  # an ensemble's members, each a run folder of its own: RUN/members/1, RUN/members/2 ...
_FLAGS = contextvars.ContextVar("rnnkit_cli_flags", default=False)
_META = "rnnkit"


# ---------------------------------------------------------------- declaring settings
@dataclass(frozen=True)
class _Setting:
    help: str = ""
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    gt: float | None = None  # exclusive
    lt: float | None = None  # exclusive
    choices: tuple | None = None
    flag: str | None = None  # the CLI flag, default --field-name
    cli: bool = True  # offered on the command line
    positional: bool = False
    group: str | None = None  # settings of one group exclude each other on the command line
    parse: Callable[[Any], Any] | None = None  # turns a string (CLI, or Python) into the value
    several: bool = False  # a list given as values after the flag (--compare A B), not as comma-separated text


def setting(default: Any = None, *, help: str = "", min: float | None = None, max: float | None = None,
            gt: float | None = None, lt: float | None = None, choices: typing.Sequence | None = None,
            flag: str | None = None, cli: bool = True, positional: bool = False, group: str | None = None,
            parse: Callable[[Any], Any] | None = None, several: bool = False) -> Any:
    """A config field: its default, help, bounds (``min``/``max`` inclusive, ``gt``/``lt`` exclusive),
    ``choices``, CLI ``flag`` (default ``--field-name``), and ``parse`` for values given as text.
    A list is given on the command line as comma-separated text, or with ``several=True`` as the
    values after its flag (``--compare A B``); its ``min``/``max`` bound the number of items.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C(AppConfig):
    ...     cell: str = setting("lstm", choices=("lstm", "gru"))
    >>> C(cell="rnn")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `cell` must be one of lstm, gru, got 'rnn'
    """
    meta = {_META: _Setting(help, min, max, gt, lt, tuple(choices) if choices else None, flag, cli, positional,
                            group, parse, several)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _meta(f: dataclasses.Field) -> _Setting:
    return f.metadata.get(_META) or _Setting()


def setting_rules(f: dataclasses.Field) -> _Setting:
    """What :func:`setting` declared of field ``f``: ``help``, ``min``, ``max``, ``gt``, ``lt``, ``choices`` ...
    (for code that turns a settings dataclass into another schema, such as ``rnnkit serve``'s request models)."""
    return _meta(f)


@contextlib.contextmanager
def _named_by_flags(on: bool) -> Iterator[None]:
    token = _FLAGS.set(on)
    try:
        yield
    finally:
        _FLAGS.reset(token)


def cli_vocabulary() -> contextlib.AbstractContextManager[None]:
    """Within it, messages name settings by their command-line flags (the CLI runs every command inside it)."""
    return _named_by_flags(True)


def _flag(f: dataclasses.Field) -> str:
    """A setting's name on the command line: its flag, or a positional argument's name as the usage line shows it."""
    m = _meta(f)
    return f.name if m.positional else m.flag or "--" + f.name.replace("_", "-")


def option_name(cls: type, name: str) -> str:
    """How the caller knows setting ``name`` of ``cls``: ``--flag`` in the CLI, `` `name` `` from Python."""
    if _FLAGS.get():
        f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
        return _flag(f) if f is not None else "--" + name.replace("_", "-")
    return f"`{name}`"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a settings dataclass (once per class: every check reads them)."""
    return typing.get_type_hints(cls)


def _kind(hint: Any) -> tuple[type, bool]:
    """(base type, None allowed) of an annotation such as ``int | None`` or ``list[str]``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        base = [a for a in args if a is not type(None)]
        return _kind(base[0])[0], type(None) in args
    return (typing.get_origin(hint) or hint), False


def _item_kind(hint: Any) -> type | None:
    """The item type of a list annotation (``list[float]`` -> float; a bare ``list`` -> None)."""
    for arg in (hint, *typing.get_args(hint)):  # list[float], or list[float] | None
        if typing.get_origin(arg) is list and typing.get_args(arg):
            return typing.get_args(arg)[0]
    return None


def _number(text: str, kind: type, name: str) -> Any:
    try:
        return int(text) if kind is int else float(text)
    except ValueError:
        raise ConfigError(f"{name} must be {'a whole number' if kind is int else 'a number'}, got {text!r}") from None


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _bounds_text(m: _Setting, whole: bool) -> str:
    """The rule a value broke, e.g. 'a whole number >= 1', 'positive', 'in [0, 1)'."""
    if whole:
        low = m.min if m.min is not None else (m.gt + 1 if m.gt is not None else None)
        high = m.max if m.max is not None else (m.lt - 1 if m.lt is not None else None)
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        return "a whole number" + (f" >= {low}" if low is not None else "") + (f" <= {high}" if high is not None else "")
    if m.gt == 0 and m.max is None and m.lt is None:
        return "positive"
    low = f"[{_fmt(m.min)}" if m.min is not None else (f"({_fmt(m.gt)}" if m.gt is not None else "(-inf")
    high = f"{_fmt(m.max)}]" if m.max is not None else (f"{_fmt(m.lt)})" if m.lt is not None else "inf)")
    return f"a number in {low}, {high}"


def _check_field(cls: type, f: dataclasses.Field, hint: Any, value: Any) -> Any:
    """The value, parsed where given as text; a one-line ConfigError in the caller's vocabulary if it is bad."""
    m, (base, optional) = _meta(f), _kind(hint)
    if value is None:
        if optional or f.default is None:
            return None
        raise ConfigError(f"{option_name(cls, f.name)} needs a value")
    if m.parse is not None and isinstance(value, str) and base is not str:
        value = m.parse(value)
    name = option_name(cls, f.name)
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False, got {value!r}")
        return value
    if base is int or base is float:
        whole = base is int
        ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        if not ok or isinstance(value, bool) or (not whole and not math.isfinite(value)):
            raise ConfigError(f"{name} must be {_bounds_text(m, whole)}, got {value!r}")
        if ((m.min is not None and value < m.min) or (m.max is not None and value > m.max)
                or (m.gt is not None and not value > m.gt) or (m.lt is not None and not value < m.lt)):
            raise ConfigError(f"{name} must be {_bounds_text(m, whole)}, got {value!r}")
    elif base is str and not isinstance(value, str):
        raise ConfigError(f"{name} must be text, got {value!r}")
    elif base is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        if (m.min is not None and len(value) < m.min) or (m.max is not None and len(value) > m.max):
            low, high = m.min if m.min is not None else 0, m.max
            rule = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name} must hold {rule} items, got {len(value)}")
        item = _item_kind(hint)
        if item in (int, float):  # list[int] / list[float]: every item a number of that kind
            for v in value:
                if isinstance(v, bool) or not isinstance(v, int if item is int else (int, float)) or (
                        item is float and not math.isfinite(v)):
                    raise ConfigError(f"{name} must hold {'whole numbers' if item is int else 'numbers'}, got {v!r}")
    if m.choices is not None and value not in m.choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, m.choices))}, got {value!r}")
    return list(value) if base is list else value


class AppConfig:
    """Base of an app's config dataclass: checks at construction, ``to_dict``/``from_dict``, ``option``.

    A subclass adds cross-field rules in :meth:`validate` (called by :meth:`check`).
    """

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Check every field against its declaration, then :meth:`validate`; values given as text are parsed."""
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check_field(type(self), f, hints[f.name], getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Rules between fields (override); raise ConfigError naming settings with :meth:`option`."""

    def option(self, name: str) -> str:
        """The caller's name of setting ``name`` (``--flag`` or `` `name` ``), for messages."""
        return option_name(type(self), name)

    def need_run(self, app: str) -> None:
        """Refuse options of a command on a trained run (predict, sample, ...) whose ``run`` is not given."""
        if not getattr(self, "run", None):
            raise ConfigError(f"{self.option('run')} is needed: a run folder written by `rnnkit {app} train`")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """The config saved in ``data`` (unknown keys, e.g. from a newer version, are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def of(cls, config: Any = None, **settings: Any) -> Any:
        """``config`` (default: the defaults) with ``settings`` replacing its fields: ``train(seq_len=32)``."""
        if config is not None and not isinstance(config, cls):
            raise ConfigError(f"expected a {cls.__name__}, got {type(config).__name__}")
        if config is None:
            return cls(**settings)
        return dataclasses.replace(config, **settings) if settings else config


@dataclass
class TrainConfig(AppConfig):
    """The settings every app's training shares, declared once: an app's config subclasses it.

    ``diagnostics``: every N training steps, record each recurrent layer's gradient
    norm and gradient reach into the run folder's ``diagnostics.csv``, and draw
    ``gradient_flow.png`` and ``gates.png`` at the end (:mod:`rnnkit.diagnostics`).

    ``nproc``: ``rnnkit APP train --nproc N`` starts N training processes on this
    machine with torchrun (``rnnkit.cli``); each trains data-parallel
    (:mod:`rnnkit.training.distributed`), rank 0 writes the run folder.

    >>> @dataclass
    ... class ToyTrainConfig(TrainConfig):
    ...     epochs: int = setting(3, help="epochs", min=1)
    >>> ToyTrainConfig(diagnostics=100).to_dict()
    {'diagnostics': 100, 'nproc': 1, 'epochs': 3}
    """

    diagnostics: int | None = setting(None, help="every N training steps, record per-layer gradient norms and the "
                                                  "gradient reach (diagnostics.csv, gradient_flow.png, gates.png)", min=1)
    nproc: int = setting(1, help="training processes on this machine, launched with torchrun (data-parallel: the "
                                 "batch size is the global batch, split among them)", min=1, max=1024)


# ---------------------------------------------------------------- the command line, from the same fields
def add_options(parser: argparse.ArgumentParser, cls: type, defaults: Mapping[str, Any] | None = None) -> None:
    """One option per CLI field of dataclass ``cls``; values are parsed and checked later (:func:`options_from_args`).

    Only the options given on the command line appear in the parsed namespace.
    """
    defaults = dict(defaults or {})
    hints, groups = _hints(cls), {}
    shared = {f.name for f in dataclasses.fields(TrainConfig)}
    # an app's own options first, then those every app shares (TrainConfig's)
    for f in sorted(dataclasses.fields(cls), key=lambda f: f.name in shared):
        m = _meta(f)
        if not m.cli:
            continue
        base, _ = _kind(hints[f.name])
        default = defaults.get(f.name, f.default if f.default is not dataclasses.MISSING else None)
        help_text = m.help + (f" (default {default})" if default not in (None, False, "") and base is not bool else "")
        if m.group and m.group not in groups:
            groups[m.group] = parser.add_mutually_exclusive_group()
        target = groups[m.group] if m.group else parser
        kwargs: dict[str, Any] = dict(help=help_text.replace("%", "%%"), default=argparse.SUPPRESS)
        if m.positional:
            target.add_argument(f.name, nargs="*" if base is list else "?", **kwargs)
            continue
        if base is bool:
            action = argparse.BooleanOptionalAction if f.default is None else "store_true"
            target.add_argument(_flag(f), dest=f.name, action=action, **kwargs)
        else:
            metavar = "{" + ",".join(map(str, m.choices)) + "}" if m.choices else f.name.upper()
            if m.several:  # --compare A B C: the values follow the flag (or the flag repeats: --run A --run B)
                kwargs.update(nargs="+", action="extend")
            target.add_argument(_flag(f), dest=f.name, metavar=metavar, **kwargs)


def _from_text(cls: type, f: dataclasses.Field, hint: Any, text: Any) -> Any:
    base, _ = _kind(hint)
    if not isinstance(text, str) or _meta(f).parse is not None:
        return text
    name = option_name(cls, f.name)
    if base is int or base is float:
        return _number(text, base, name)
    if base is list:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        item = _item_kind(hint)
        return [_number(part, item, name) for part in parts] if item in (int, float) else parts
    return text


def options_from_args(cls: type, args: argparse.Namespace, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings given on the command line, typed; giving one of a group resets the others to None."""
    hints, given = _hints(cls), {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, f in fields.items():
        if name in vars(args):
            given[name] = _from_text(cls, f, hints[name], getattr(args, name))
    values = dict(base or {})
    for name in given:
        group = _meta(fields[name]).group
        if group:
            values.update({other: None for other, f in fields.items() if _meta(f).group == group})
    values.update(given)
    return values


@dataclass
class Command:
    """One command of an app: ``options`` (a dataclass of settings) and ``run(options, **flags)``.

    ``defaults`` replace the dataclass's defaults (``rnnkit lm train``); ``train``
    commands get ``--quiet`` (``quiet`` is what it passes to ``run``) and, where
    ``resumable``, ``--resume``.
    """

    name: str | None
    help: str
    options: type
    run: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    quiet: dict[str, Any] | None = None
    resumable: bool = False


@dataclass
class App:
    """An app as the ``rnnkit`` command sees it: a name, a line of help and its commands."""

    name: str
    help: str
    commands: list[Command]


# ---------------------------------------------------------------- one clock, schedule and progress for every app
def cosine_schedule(learning_rate: float, floor: float = 0.1) -> Callable[[float, int], float]:
    """A :meth:`Recipe.schedule`: half a cosine from ``learning_rate`` down to ``floor`` times it over the run.

    >>> lr = cosine_schedule(1.0)
    >>> [round(lr(f, 0), 3) for f in (0.0, 0.5, 1.0)]
    [1.0, 0.55, 0.1]
    """
    # lr(f) = lr_0 (floor + (1 - floor) (1 + cos(pi f)) / 2),  f the fraction of the run done
    return lambda fraction, epoch: learning_rate * (floor + (1 - floor) * (1 + math.cos(math.pi * fraction)) / 2)


def ema_momentum(epochs: float, examples: int, batch_size: int) -> float:
    """The momentum :math:`\\mu` of a moving average of the weights (``use_ema``) that spans about ``epochs`` epochs
    of ``examples`` in batches of ``batch_size``.

    An average with momentum :math:`\\mu` spans about :math:`1 / (1 - \\mu)` steps, so
    :math:`\\mu = 1 - 1 / (\\text{epochs} \\cdot \\text{batches per epoch})`: the same share of an
    epoch on a file of 400 examples as on IMDB's 22,400.

    >>> round(ema_momentum(0.7, 22400, 32), 5)   # IMDB: 700 batches of 32
    0.99796
    """
    steps = epochs * max(1, -(-examples // batch_size))
    return 1.0 - 1.0 / max(steps, 1.0)  # an average over one step or less: the weights themselves (mu = 0)


class RunClock(TimeBudget):
    """The training clock and budget (:class:`TimeBudget`), the learning-rate schedule and progress lines.

    ``start`` seconds are already spent (a time budget's model choice) and count
    against the budget; ``schedule(fraction, epoch)`` gives the learning rate
    at each batch from the fraction of the run done (time, or epochs and
    steps), times each parameter group's ``lr_scale`` where it has one
    (:func:`rnnkit.training.optimizers.discriminative_groups`); ``print_fn`` prints
    about ten epoch lines per run.  Each epoch's logs get ``epoch_seconds``.
    """

    def __init__(self, seconds: float | None, epochs: int, *, start: float = 0.0,
                 schedule: Callable[[float, int], float] | None = None,
                 print_fn: Callable[[str], None] | None = None) -> None:
        super().__init__(seconds)
        self.epochs, self.start, self.schedule, self.print_fn = epochs, start, schedule, print_fn
        self._epoch, self._epoch_start = 0, 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.elapsed = self.start  # a resumed run then takes up its saved clock

    def fraction(self, step: int) -> float:
        """How much of the run is done: of the time budget left after ``start``, else of the epochs."""
        if self.seconds:
            return min((self.elapsed - self.start) / max(self.seconds - self.start, 1e-9), 1.0)
        steps = self.params.get("steps") or 1
        return min((self._epoch + step / steps) / self.epochs, 1.0)

    def rate(self, step: int) -> float:
        """The learning rate of batch ``step`` of the current epoch."""
        return self.schedule(self.fraction(step), self._epoch)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._epoch_start = epoch, self.elapsed

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.schedule is not None:
            rate = self.rate(batch)
            for group in self.model.optimizer.param_groups:  # a discriminative group keeps its share (lr_scale)
                group["lr"] = rate * group.get("lr_scale", 1.0)
        super().on_train_batch_begin(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if logs is None:
            return
        logs["epoch_seconds"] = round(self.elapsed - self._epoch_start, 2)
        every = max(1, self.epochs // 10) if not self.seconds else 10
        if self.print_fn and (epoch + 1 if not self.seconds else epoch) % every == 0:
            figures = "  ".join(f"{k} {logs[k]:.4g}" for k in ("loss", "val_loss") if k in logs)
            self.print_fn(f"  epoch {epoch + 1:4d}  {figures}  ({self.elapsed:.1f} s)")



# ---------------------------------------------------------------- the shared train skeleton
@dataclass
class ReportSection:
    """A section an app adds to its run's HTML report (:meth:`Recipe.report_sections`); the app writes no HTML.

    :mod:`rnnkit.report` renders, in this order: ``text`` (a paragraph), ``table``
    (its first row the header), ``pre`` (preformatted text: a sample, transcripts)
    and ``images`` (PNG files of the run folder, by name; missing ones are left
    out).  Every text is escaped there, so a section may hold any characters.
    """

    title: str
    text: str = ""
    table: list[list[Any]] | None = None
    pre: str | None = None
    images: list[str] = field(default_factory=list)


@dataclass
class Service:
    """How ``rnnkit serve`` answers requests to one run: each app's ``serve.service(run)`` returns one.

    The server (:mod:`rnnkit.serve`) knows no app.  It reads ``request``, an
    :class:`AppConfig` dataclass whose fields are the request's (type, default,
    help and bounds declared once, as every setting), into the route's schema and
    checks each body against it before anything reaches the model; ``check(request)``
    then checks what needs the run itself (a prompt's characters against the
    vocabulary ...), still on the way in.  Then either

    * ``predict(requests)``: the replies (JSON-ready dicts) to a list of requests, in
      order.  The server gathers concurrent requests to one model into one call of up
      to ``batch`` requests; or
    * ``generate(request, emit)``: the reply to one request, calling ``emit(piece)``
      with each piece of text as it is made (server-sent events when the request's
      ``stream`` field is true).  ``emit`` raises when the request was cut off, which
      ends the generation.  For models whose state lives in the model (a stateful
      language model), so that two requests never share it.

    The server calls either off its event loop, one call at a time per model.
    ``upload`` names the request field that holds an uploaded file's bytes (the
    request is then a multipart form: that file and the other fields), of at most
    ``max_bytes``.  ``example`` is a request body the web page and ``/docs`` start
    from; ``info`` is shown on the page (the classes, the vocabulary ...).
    """

    request: type
    predict: Callable[[list[Any]], list[dict[str, Any]]] | None = None
    generate: Callable[[Any, Callable[[str], None]], dict[str, Any]] | None = None
    check: Callable[[Any], None] | None = None
    batch: int = 64
    upload: str | None = None
    max_bytes: int = 1_000_000
    example: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.predict is None) == (self.generate is None):
            raise TypeError("a Service needs exactly one of predict and generate")


def classification_sections(metrics: Mapping[str, Any], classes: typing.Sequence[str], image: str) -> list[ReportSection]:
    """The report sections (classify, speech) of a classifier's ``test_confusion`` and ``test_per_class`` (none if not scored)."""
    if "test_confusion" not in metrics:
        return []
    confusion = [["true \\ predicted", *classes], *([c, *row] for c, row in zip(classes, metrics["test_confusion"]))]
    per_class = [["class", "precision", "recall", "F1", "support"],
                 *([c, m["precision"], m["recall"], m["f1"], m["support"]]
                   for c, m in metrics.get("test_per_class", {}).items())]
    return [ReportSection("Confusion matrix", f"Test accuracy {metrics['test_accuracy']:.2%}, macro F1 "
                          f"{metrics['test_macro_f1']:.4f}; rows: the true class, columns: the predicted one.",
                          table=confusion, images=[image]),
            ReportSection("Per-class figures", table=per_class)]


@dataclass
class Fitted:
    """What :func:`train_run` hands the recipe's ``evaluate``: the trained model (best weights) and the figures."""

    model: Any
    run: Path
    epochs: int
    best_epoch: int | None  # counted from 0; None for an ensemble (its members' best epochs differ)
    train_seconds: float
    wall_seconds: float
    parameters: int
    monitored: float | None = None  # the kept model's validation figure (Recipe.monitoring's); None unvalidated

    def figures(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "train_seconds": self.train_seconds, "wall_seconds": self.wall_seconds,
                "parameters": self.parameters}


class Recipe:
    """The hooks of an app's training (override them); :func:`train_run` does the rest.

    Attributes: ``name`` (the app), ``config`` (its config class), ``monitor`` and
    ``mode`` (the validation figure that picks the best weights), ``default_epochs``
    (with neither epochs nor a time budget), ``history_keys``/``history_plot`` (the
    curves of ``metrics.csv`` plotted), ``resumable`` (a ``checkpoint.safetensors``
    each epoch, for ``--resume``).
    """

    name = "app"
    config: type = AppConfig
    monitor, mode = "val_loss", "min"
    default_epochs = 10
    history_keys: list[str] = ["loss"]
    history_plot = "loss.png"
    resumable = False

    def prepare(self, cfg: Any, saved: Path | None, print_fn: Callable[[str], None]) -> tuple[Any, Any]:
        """Load the data; return (the config with every choice made, the data). ``saved``: the run resumed."""
        raise NotImplementedError

    def save_data(self, run: Path, cfg: Any, data: Any) -> None:
        """Write the preprocessing ``load_run`` needs (vocabulary, scaler ...) into the new run folder."""

    def build(self, cfg: Any, data: Any) -> Any:
        """The compiled (and built) model."""
        raise NotImplementedError

    def describe(self, cfg: Any, data: Any, parameters: int, run: Path) -> str:
        """The line printed before training."""
        return f"{self.name}: {parameters:,} parameters; run folder {run}"

    def fit_data(self, cfg: Any, data: Any) -> dict[str, Any]:
        """Keyword arguments of ``model.fit``: ``x``, ``y``, ``validation_data``, ``batch_size``, ``shuffle``."""
        raise NotImplementedError

    def schedule(self, cfg: Any) -> Callable[[float, int], float] | None:
        """The learning rate at (fraction of the run, epoch); None keeps the optimizer's."""
        return None

    def monitoring(self, cfg: Any) -> tuple[str, str]:
        """(the validation figure that picks the best weights, ``'min'`` or ``'max'``); the class's by default."""
        return self.monitor, self.mode

    def patience(self, cfg: Any) -> int | None:
        """Early stopping after this many epochs without a better ``monitor``; None: never."""
        return None

    def callbacks(self, cfg: Any, data: Any, print_fn: Callable[[str], None]) -> list:
        """Callbacks of the app's own; they run after the clock and before the framework's writers
        (CSV, checkpoints, early stopping), so a figure one adds to the epoch's logs is saved and can be monitored."""
        return []

    def progress_lines(self, cfg: Any) -> bool:
        """Print about ten epoch lines (for apps trained without a progress bar)."""
        return False

    def evaluate(self, cfg: Any, data: Any, fitted: Fitted, print_fn: Callable[[str], None]) -> dict[str, Any]:
        """Score the best model; return ``metrics.json``'s content (write other reports into ``fitted.run``)."""
        raise NotImplementedError

    def title(self, cfg: Any) -> str:
        return self.name

    def report_sections(self, run: Path, metrics: Mapping[str, Any]) -> list[ReportSection]:
        """What ``rnnkit report`` shows of this app beyond the config, metrics and curves every run has:
        samples, a confusion matrix, examples ... (``metrics``: the run's ``metrics.json``; may be partial)."""
        return []

    def ensemble(self, cfg: Any, members: list) -> Any:
        """The one model of an ensemble of ``members`` (trained models, as loaded from their run folders),
        compiled for ``evaluate`` (an :class:`~rnnkit.models.Ensemble`); an app that offers ``--ensemble``
        (an ``ensemble`` setting, and ``member`` for its members' configs) overrides it."""
        raise NotImplementedError

    def ensemble_size(self, cfg: Any) -> int:
        """How many models a run of ``cfg`` trains and averages (``ensemble``; 1 where the app has no such setting)."""
        return getattr(cfg, "ensemble", None) or 1

    def member_order(self, cfg: Any) -> list[int]:
        """The order in which the members of an ensemble of ``cfg`` train (1 .. N): an app whose quick members
        should go first, leaving the rest of a time budget to the slow ones, reorders them."""
        return list(range(1, self.ensemble_size(cfg) + 1))

    def member_label(self, cfg: Any) -> str:
        """What a member of an ensemble is, in a line of progress and in ``metrics.json`` (default: its title)."""
        return self.title(cfg)

    def member_config(self, cfg: Any, member: int, folder: Path, budget: float | None) -> Any:
        """The settings of member ``member`` (from 1) of an ensemble of ``cfg``, trained into ``folder``: one model
        (``ensemble`` 1) with ``budget`` seconds of training (:func:`member_budget`; None: no time budget);
        ``member`` N draws its weights and batches from seed ``seed + N - 1`` (``train_run``), while the data
        (splits, vocabulary) are the ensemble's."""
        return dataclasses.replace(cfg, ensemble=1, member=member, time_budget=budget, out=str(folder))

    def rebuild(self, cfg: Any, run: Path) -> Any:
        """The untrained model of a run folder written before ``run.json`` (rnnkit 0.1 saved weights only);
        None where the app has no such folders."""
        return None

    def spent(self, cfg: Any) -> float:
        """Seconds of the time budget spent before training (a model choice), counted in the clock."""
        return 0.0

    def clock(self, cfg: Any, epochs: int, print_fn: Callable[[str], None] | None = None) -> "RunClock":
        """The run's :class:`RunClock`: budget, schedule, progress lines."""
        return RunClock(cfg.time_budget, epochs, start=self.spent(cfg), schedule=self.schedule(cfg),
                        print_fn=print_fn if self.progress_lines(cfg) else None)


def _write_run_files(run: Path, recipe: Recipe, cfg: Any) -> None:
    write_config(run, recipe.name, cfg.to_dict())
    write_json(run / RUN_FILE, {"app": recipe.name, "rnnkit": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                "command": [_program(), *sys.argv[1:]], "model": "model.safetensors"})


def _program() -> str:
    """The command's name: ``rnnkit`` also when run as ``python -m rnnkit.cli`` (as ``--nproc`` runs it)."""
    name = Path(sys.argv[0]).name
    return "rnnkit" if name == "__main__.py" else name


def _resumed(recipe: Recipe, cfg: Any) -> tuple[Any, Path]:
    """The saved config of the run in ``cfg.out``, with the epochs or time budget given now."""
    if not recipe.resumable:
        raise ConfigError(f"{recipe.name} runs cannot be resumed (they write no checkpoint); start a new run")
    run = Path(cfg.out) if cfg.out else None
    if run is None:
        raise ConfigError(f"{cfg.option('out')} is needed with --resume: the run to continue")
    new_run_dir(recipe.name, run, resume=True)  # refuses a folder that holds no run
    saved = saved_config(recipe, run)
    saved.epochs = cfg.epochs or saved.epochs
    saved.time_budget = cfg.time_budget or saved.time_budget
    saved.out = str(run)
    return saved, run


@contextlib.contextmanager
def _removed_if_it_fails(run: Path, created: bool) -> Iterator[None]:
    """Removes the run folder ``run`` when the block fails, if this call ``created`` it and no weights were saved in
    it yet (a model that could not be built, a first epoch that failed): the same ``--out`` then starts afresh. A
    folder holding weights (a language model, a checkpoint) stays, for ``--resume``."""
    try:
        yield
    except Exception:
        if created and not any(run.rglob("*.safetensors")):
            shutil.rmtree(run, ignore_errors=True)
        raise


def train_run(recipe: Recipe, cfg: Any, *, resume: bool = False, print_fn: Callable[[str], None] | None = print,
              verbose: int = 1) -> dict[str, Any]:
    """Train ``recipe``'s app with settings ``cfg`` into a run folder; returns ``metrics.json``'s content.

    The run folder gets ``config.json``, ``run.json`` (app, rnnkit version,
    created, command line), ``metrics.csv``, ``metrics.json``, the loss plot, the
    whole model (``model.safetensors`` with its architecture, and ``model.json``:
    :func:`rnnkit.load_model` reopens it without the app) and what the recipe
    writes.  The best validation epoch's weights are kept; with no validation the
    last epoch's.

    With ``cfg.ensemble`` N > 1 (an app whose recipe has :meth:`Recipe.ensemble`), N models
    are trained one after the other on the same data, each into a run folder of its own,
    ``RUN/members/1`` ... ``RUN/members/N`` (:meth:`Recipe.member_config`: its own seed for
    the weights and batches, a share of a time budget), and ``RUN/model.safetensors`` is the
    :class:`~rnnkit.models.Ensemble` of their best weights; ``metrics.json`` scores the
    ensemble and lists each member's figures under ``members``.

    ``resume=True`` continues the run in ``cfg.out`` from its ``checkpoint.safetensors``
    (the last completed epoch), with its saved settings; one stopped before its
    first epoch ended is trained again from the start.  Either way it ends as an
    uninterrupted run would, and the temporary files of writes a kill cut short are
    removed from the folder.  (The apps that offer ensembles are not resumable.)
    """
    world = distributed.current(distributed.default_device())  # under torchrun: join the others before any work
    writer = world is None or world.rank == 0  # rank 0 writes the run folder and speaks for all
    if not writer:
        print_fn = None
    say = print_fn or (lambda line: None)
    if resume:
        cfg, saved = _resumed(recipe, cfg)
        if not (saved / CHECKPOINT).is_file():  # stopped before its first epoch ended: start it again, same settings
            say(f"--resume: {saved} has no {CHECKPOINT} yet (no epoch had finished); training it from the start "
                "with its saved settings")
            saved = None
    else:
        saved = None
        if cfg.out and (Path(cfg.out) / "config.json").is_file():
            new_run_dir(recipe.name, cfg.out)  # refuses a folder that holds a run, before any work
    cfg.check()
    if recipe.ensemble_size(cfg) > 1 and type(recipe).ensemble is Recipe.ensemble:
        raise ConfigError(f"{recipe.name} models cannot be averaged as an ensemble; train one model")
    cfg, data = recipe.prepare(cfg, saved, say)
    cfg.check()
    continuing = saved is not None  # from the run's checkpoint (else from the start)
    existed = cfg.out is not None and Path(cfg.out).exists()  # a folder this call makes is removed if nothing trains
    if writer:
        run = new_run_dir(recipe.name, cfg.out, resume=resume)
        if resume:  # the temporary files of writes a kill interrupted (no other process writes in a run folder)
            remove_stale_temps(run)
    if world is not None:  # the folder rank 0 made (its default name holds rank 0's clock)
        run = Path(world.broadcast(str(run) if writer else None))
    cfg.out = str(run)
    with _removed_if_it_fails(run, created=writer and not resume and not existed):
        if writer and not continuing:
            _write_run_files(run, recipe, cfg)
            recipe.save_data(run, cfg, data)
        if recipe.ensemble_size(cfg) > 1:
            return _train_ensemble(recipe, cfg, data, run, world, print_fn, verbose)
        fitted = _train_model(recipe, cfg, data, run, continuing, writer, print_fn, verbose)
    return _scored(recipe, cfg, data, fitted, say) if fitted is not None else {}


def _training_seed(cfg: Any) -> int:
    """The seed of a model's weights and batches: ``seed``, or ``seed + N - 1`` for member N of an ensemble."""
    return cfg.seed + (getattr(cfg, "member", None) or 1) - 1


def _train_model(recipe: Recipe, cfg: Any, data: Any, run: Path, continuing: bool, writer: bool,
                 print_fn: Callable[[str], None] | None, verbose: int) -> "Fitted | None":
    """Build and fit one model into ``run`` (from its checkpoint when ``continuing``); save its best weights as the
    whole model.  Returns what :meth:`Recipe.evaluate` needs (None on a process other than rank 0)."""
    say = print_fn or (lambda line: None)
    set_seed(_training_seed(cfg))  # after prepare, whose trial models (a budget's size choice) draw from the generators
    # built after the run folder is made: a --pretrain-lm classifier trains its language model into RUN/lm here
    model = recipe.build(cfg, data)
    params = sum(p.numel() for p in model.parameters())
    say(recipe.describe(cfg, data, params, run))
    fit = recipe.fit_data(cfg, data)
    epochs = cfg.epochs or (100_000 if cfg.time_budget else recipe.default_epochs)
    clock = recipe.clock(cfg, epochs, print_fn)
    best_file = run / "model.safetensors"
    validated = fit.get("validation_data") is not None
    monitor, mode = recipe.monitoring(cfg)
    callbacks = [clock, *recipe.callbacks(cfg, data, say), CSVLogger(str(run / "metrics.csv"), append=continuing)]
    if validated:  # the best epoch's whole model, so that even an interrupted run reopens with load_model
        callbacks.append(ModelCheckpoint(str(best_file), monitor=monitor, mode=mode, save_best_only=True))
        patience = recipe.patience(cfg)
        if patience is not None:
            callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=patience))
    if recipe.resumable:
        callbacks.append(ModelCheckpoint(str(run / CHECKPOINT), save_weights_only=False))
    every = getattr(cfg, "diagnostics", None)
    gradients = GradientMonitor(every, run / "diagnostics.csv", append=continuing) if every else None
    began = time.perf_counter()
    model.fit(**fit, epochs=epochs, callbacks=callbacks, verbose=verbose,
              resume_from=str(run / CHECKPOINT) if continuing else None, diagnostics=gradients)
    wall = time.perf_counter() - began
    if writer and validated and not best_file.exists():
        raise ConfigError("training stopped before the first epoch finished (time budget too short?); nothing was "
                          "saved")
    if not writer:
        return None  # rank 0 scores the model and writes the rest of the run folder
    if validated:
        model.load_weights(str(best_file))
    history = model.history.history.get(monitor) if validated else None
    best = (max if mode == "max" else min)(range(len(history)), key=history.__getitem__) if history else None
    model.save(str(best_file))  # the whole model: architecture, best weights, compile settings
    write_json(run / "model.json", {"class_name": type(model).__name__, "config": model.get_config()})
    if gradients is not None:
        _diagnostic_plots(model, fit, run, say)
    offset = model.epochs_done - len(history) if history else 0  # epochs of a resumed run before this fit
    return Fitted(model, run, model.epochs_done, (offset + best) if best is not None else model.epochs_done - 1,
                  clock.elapsed, wall, params, monitored=history[best] if best is not None else None)


def _scored(recipe: Recipe, cfg: Any, data: Any, fitted: "Fitted", say: Callable[[str], None],
            extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The recipe's evaluation of the kept model, written as ``metrics.json`` (with ``extra``), and the training
    curves' plot."""
    metrics = {**recipe.evaluate(cfg, data, fitted, say), **(extra or {})}
    write_json(fitted.run / "metrics.json", metrics)
    if (fitted.run / "metrics.csv").is_file():
        plot_history(fitted.run / "metrics.csv", fitted.run / recipe.history_plot, title=recipe.title(cfg),
                     keys=recipe.history_keys)
    return metrics


def member_budget(budget: float | None, spent: float, members: int, left: int) -> float | None:
    """The time budget of the next member of an ensemble: an equal share of what ``budget`` has left after
    ``spent`` seconds, among the ``left`` members still to train, and never below half of an equal share of the
    whole (``members`` in all), so that a member that ran over does not starve the next ones.

    >>> member_budget(900.0, 0.0, 3, 3), member_budget(900.0, 60.0, 3, 2), member_budget(900.0, 880.0, 3, 1)
    (300.0, 420.0, 150.0)
    """
    if budget is None:
        return None
    return max((budget - spent) / left, budget / members / 2)


def _train_ensemble(recipe: Recipe, cfg: Any, data: Any, run: Path, world: Any,
                    print_fn: Callable[[str], None] | None, verbose: int) -> dict[str, Any]:
    """Train the members of an ensemble one after the other (:meth:`Recipe.member_order`), each into a run folder
    ``RUN/members/K`` of its own with its share of a time budget (:func:`member_budget`), then score their
    :meth:`Recipe.ensemble` as the run's model."""
    say = print_fn or (lambda line: None)
    writer = world is None or world.rank == 0
    size, spent = recipe.ensemble_size(cfg), 0.0
    folders = {k: run / MEMBERS / str(k) for k in range(1, size + 1)}
    configs, models, figures = {}, {}, {}
    for done, k in enumerate(recipe.member_order(cfg)):
        member = configs[k] = recipe.member_config(cfg, k, folders[k], member_budget(cfg.time_budget, spent, size,
                                                                                     size - done))
        if writer:
            folders[k].mkdir(parents=True, exist_ok=True)
            _write_run_files(folders[k], recipe, member)
            recipe.save_data(folders[k], member, data)
        say(f"{recipe.name}: member {k} of {size} ({recipe.member_label(member)}) into {folders[k]}")
        fitted = _train_model(recipe, member, data, folders[k], False, writer, print_fn, verbose)
        if fitted is not None:
            _scored(recipe, member, data, fitted, say)
            models[k] = load_model(str(folders[k] / "model.safetensors"), compile=False)
            figures[k] = read_json(folders[k] / "metrics.json")
        seconds = fitted.train_seconds if fitted is not None else None
        spent += world.broadcast(seconds) if world is not None else seconds  # every rank: rank 0's clock
    if not writer:
        return {}
    numbers = range(1, size + 1)
    plot_histories({f"member {k} ({recipe.member_label(configs[k])})": folders[k] / "metrics.csv" for k in numbers},
                   run / recipe.history_plot, title=f"{recipe.title(cfg)}: {size} members", keys=recipe.history_keys)
    model = recipe.ensemble(cfg, [models[k] for k in numbers])
    model.save(str(run / "model.safetensors"))
    write_json(run / "model.json", {"class_name": type(model).__name__, "config": model.get_config()})
    monitor, _ = recipe.monitoring(cfg)
    valid, monitored = recipe.fit_data(cfg, data).get("validation_data"), None  # (x, y) as fit takes it, or batches
    if valid is not None:
        scored = model.evaluate(*(valid if isinstance(valid, tuple) else (valid,)), return_dict=True)
        monitored = scored.get(monitor.removeprefix("val_"))
    # the members' Fitted.figures(), as their metrics.json holds them (apps with ensembles write them there)
    total = {key: sum(figures[k].get(key) or 0 for k in numbers)
             for key in ("epochs", "train_seconds", "wall_seconds", "parameters")}
    fitted = Fitted(model, run, total["epochs"], None, total["train_seconds"], total["wall_seconds"],
                    total["parameters"], monitored=monitored)
    scalars = [{"member": k, "folder": f"{MEMBERS}/{k}", "model": recipe.member_label(configs[k]),
                "seed": _training_seed(configs[k]),
                **{key: v for key, v in figures[k].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}}
               for k in numbers]
    return _scored(recipe, cfg, data, fitted, say, {"ensemble": size, "members": scalars})


def _diagnostic_plots(model: Any, fit: Mapping[str, Any], run: Path, say: Callable[[str], None]) -> None:
    """``gradient_flow.png`` (8 validation examples, else training ones) and ``gates.png`` (the first of them)."""
    data = fit.get("validation_data")
    if data is None:
        data = (fit["x"], fit.get("y")) if fit.get("y") is not None else fit["x"]
    try:
        x, y = first_examples(data, 8)
        plot_gradient_flow(gradient_flow(model, x, y), run / "gradient_flow.png")
        plot_states(model, take(x, 1), run / "gates.png")
    except (RnnkitError, ValueError, TypeError, IndexError) as exc:
        say(f"diagnostics: no gradient_flow.png / gates.png ({exc})")


def saved_config(recipe: Recipe, run: str | Path) -> Any:
    """The settings saved in run folder ``run`` (its ``config.json``), checked as when they were given.

    A value that breaks its rule (the file was edited or damaged) is named as the
    file names it (`` `units` ``, not ``--units``: no flag gave it), with the file.
    """
    data = read_config(run, recipe.name)
    try:
        with _named_by_flags(False):
            return recipe.config.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{Path(run) / 'config.json'} does not hold valid settings ({exc}); restore the file or "
                          "train the run again") from None


def open_run(run: str | Path, recipe: Recipe, needs: typing.Sequence[str] = ()) -> tuple[Any, Any, Path]:
    """(the whole model of run folder ``run``, ready for inference; its config; the folder), for an app's ``load_run``.

    Refuses a folder of another app, and one missing ``model.safetensors`` or a
    file of ``needs`` (training did not finish an epoch).
    """
    run = Path(run)
    cfg = saved_config(recipe, run)
    for name in (*needs, "model.safetensors"):
        if not (run / name).exists():
            raise ConfigError(f"--run {run} has no {name}; its training did not finish an epoch")
    if (run / RUN_FILE).exists():
        model = load_model(str(run / "model.safetensors"), compile=False)
    else:  # a run folder of rnnkit 0.1: weights only, the model rebuilt from its settings
        model = recipe.rebuild(cfg, run)
        if model is None:
            raise ConfigError(f"--run {run} has no {RUN_FILE}; it was not written by `rnnkit {recipe.name} train`")
        model.load_weights(str(run / "model.safetensors"))
    model.eval()
    return model, cfg, run
