"""Streaming metrics by Keras name, and the rule that resolves ``'accuracy'``.

A metric accumulates over batches with ``update_state(y_true, y_pred, mask=None)``
and reports with ``result()``; ``reset_state()`` starts over (the fit loop does it
each epoch).  Every metric keeps a running **sum** of per-step values and a
running **count** of valid steps, so the result over an epoch equals the metric
computed on all examples at once, weighted by valid steps, and not an average of
per-batch averages:

.. math::

    \\text{result} = g\\!\\left(\\frac{\\sum_{\\text{batches}} \\sum_{b,t} m_{bt}\\, v_{bt}}
                              {\\sum_{\\text{batches}} \\sum_{b,t} m_{bt}}\\right)

with ``g`` the identity, ``sqrt`` (rmse) or ``exp`` (perplexity).  The sums stay on
the tensors' device and are read only by :meth:`Metric.result`, so updating a metric
never waits for the accelerator.  Masks and target shapes follow
:mod:`rnnkit.training.losses`.

Names (:func:`available`): ``accuracy``/``acc`` (see :func:`resolve`),
``binary_accuracy``, ``categorical_accuracy``, ``sparse_categorical_accuracy``,
``mae``, ``mse``, ``rmse``, ``perplexity``.
Keras' functions :func:`binary_accuracy` (one value per output),
:func:`categorical_accuracy` and :func:`sparse_categorical_accuracy` (one per
prediction) give the unreduced values, as Keras 3 does.

The error rates of recognisers over decoded sequences, :func:`edit_distance`,
:func:`token_error_rate`, :func:`word_error_rate` and :func:`character_error_rate`,
are plain functions (defined in :mod:`rnnkit.training.error_rates`): they read
token sequences and strings, not a batch of tensors.

>>> import torch
>>> from rnnkit.training import metrics
>>> m = metrics.get("sparse_categorical_accuracy")
>>> m.update_state(torch.tensor([0, 1]), torch.tensor([[0.9, 0.1], [0.8, 0.2]]))   # 1 of 2 right
>>> m.update_state(torch.tensor([1]), torch.tensor([[0.3, 0.7]]))                 # 1 of 1 right
>>> round(m.result(), 4)   # 2 of 3, not the mean of 0.5 and 1.0
0.6667
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .._validation import as_tensor, check_bool, check_real
from ..errors import ConfigError, ShapeError
from .classification import classification_report, confusion_matrix
from .error_rates import character_error_rate, edit_distance, token_error_rate, word_error_rate
from .losses import CTC, BinaryCrossentropy, CategoricalCrossentropy, Loss, SparseCategoricalCrossentropy
from .losses import get as get_loss
from .targets import align_dense, class_ids, log_probs, masked_sum_count, prepare_inputs, sparse_cross_entropy

__all__ = [
    "classification_report",
    "confusion_matrix",
    "Metric",
    "MeanMetricWrapper",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "RootMeanSquaredError",
    "Perplexity",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "edit_distance",
    "token_error_rate",
    "word_error_rate",
    "character_error_rate",
    "get",
    "resolve",
    "serialize",
    "deserialize",
    "available",
]


class Metric:
    """Base class of streaming metrics: a running sum of per-step values over a running count.

    Subclasses define :meth:`values`, one value per prediction, and may override
    :meth:`_finish` to transform the mean (``sqrt``, ``exp``).

    Args:
        name: the key in logs and ``History`` (defaults to the Keras name).

    >>> import torch
    >>> class MaxAbs(Metric):
    ...     def values(self, y_true, y_pred):
    ...         return (y_pred - y_true).abs().amax(dim=-1)
    >>> m = MaxAbs(name="max_abs")
    >>> m.update_state(torch.zeros(2, 2), torch.tensor([[1.0, -3.0], [0.5, 0.0]]))
    >>> m.result()
    1.75
    """

    default_name = "metric"

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"{type(self).__name__}: `name` must be a string, got {name!r} ({type(name).__name__})")
        self.name = name or self.default_name
        self.reset_state()

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Per-element or per-prediction values whose (masked) mean the metric reports."""
        raise NotImplementedError(f"{type(self).__name__} must implement values(y_true, y_pred)")

    def _finish(self, mean: float) -> float:
        return mean

    @torch.no_grad()
    def update_state(self, y_true: Any, y_pred: Any, mask: Any = None) -> None:
        """Add one batch; with ``mask`` (e.g. ``(batch, time)`` bool) only valid steps count."""
        y_true, y_pred = prepare_inputs(type(self).__name__, y_true, y_pred)
        vals = self.values(y_true, y_pred.detach()).detach().to(torch.float64)
        total, count = masked_sum_count(type(self).__name__, vals, mask)
        if self._total is None:
            self._total, self._count = total, count
        else:
            self._total = self._total + total.to(self._total.device)
            self._count = self._count + count.to(self._count.device)

    def result(self) -> float:
        """The metric over everything seen since the last reset (0.0 before any valid step)."""
        if self._total is None:
            return self._finish(0.0)
        count = float(self._count)
        return self._finish(float(self._total) / count if count else 0.0)

    def reset_state(self) -> None:
        """Forget every batch seen so far."""
        self._total: torch.Tensor | None = None
        self._count: torch.Tensor | None = None

    def get_config(self) -> dict[str, Any]:
        """A JSON-safe dict of constructor arguments."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Metric":
        """Rebuild the metric (with empty state) from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class BinaryAccuracy(Metric):
    """Share of binary predictions on the right side of ``threshold``.

    .. math:: v = [\\,(\\hat y > \\theta) = (y > 0.5)\\,]

    Targets are read as classes with ``y > 0.5``, so smoothed labels (0.9/0.1) still
    count as 1/0.  For logits (a ``from_logits=True`` loss) use ``threshold=0.0``,
    which :func:`resolve` does for you.

    Args:
        threshold: decision threshold on ``y_pred`` (default 0.5).
        name: default ``"binary_accuracy"``.

    >>> import torch
    >>> m = BinaryAccuracy()
    >>> m.update_state(torch.tensor([[1.0], [0.0], [1.0]]), torch.tensor([[0.7], [0.6], [0.2]]))
    >>> round(m.result(), 4)
    0.3333
    """

    default_name = "binary_accuracy"

    def __init__(self, threshold: float = 0.5, name: str | None = None):
        self.threshold = check_real("BinaryAccuracy", "threshold", threshold)
        super().__init__(name)

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true = align_dense("BinaryAccuracy", y_true, y_pred)
        return ((y_pred > self.threshold) == (y_true > 0.5)).to(y_pred.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """Share of predictions whose arg-max class equals the one-hot target's: :math:`[\\arg\\max \\hat y = \\arg\\max y]`.

    Works for probabilities and logits alike (softmax keeps the arg-max).

    Args:
        name: default ``"categorical_accuracy"``.

    >>> import torch
    >>> m = CategoricalAccuracy()
    >>> m.update_state(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[0.2, 0.8], [0.4, 0.6]]))
    >>> m.result()
    0.5
    """

    default_name = "categorical_accuracy"

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        if y_true.shape != y_pred.shape:
            raise ShapeError(
                f"CategoricalAccuracy: expected one-hot y_true with the shape of y_pred {tuple(y_pred.shape)}, got "
                f"{tuple(y_true.shape)}; integer class ids go with sparse_categorical_accuracy"
            )
        return (y_pred.argmax(dim=-1) == y_true.argmax(dim=-1)).to(y_pred.dtype)


class SparseCategoricalAccuracy(Metric):
    """Share of predictions whose arg-max class equals the integer target: :math:`[\\arg\\max \\hat y = y]`.

    ``y_true`` holds ids of shape ``y_pred.shape[:-1]`` (or with a trailing axis of 1).

    Args:
        name: default ``"sparse_categorical_accuracy"``.

    >>> import torch
    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state(torch.tensor([[2, 0]]), torch.tensor([[[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]]))
    >>> m.result()
    1.0
    """

    default_name = "sparse_categorical_accuracy"

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        ids = class_ids("SparseCategoricalAccuracy", y_true, y_pred)
        return (y_pred.argmax(dim=-1) == ids).to(y_pred.dtype)


class MeanAbsoluteError(Metric):
    """Mean absolute error over all elements seen: :math:`\\overline{|y - \\hat y|}`.

    >>> import torch
    >>> m = MeanAbsoluteError()
    >>> m.update_state(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 0.0]))
    >>> m.result()
    1.25
    """

    default_name = "mean_absolute_error"

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_pred - align_dense("MeanAbsoluteError", y_true, y_pred)).abs()


class MeanSquaredError(Metric):
    """Mean squared error over all elements seen: :math:`\\overline{(y - \\hat y)^2}`.

    >>> import torch
    >>> m = MeanSquaredError()
    >>> m.update_state(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 0.0]))
    >>> m.result()
    2.125
    """

    default_name = "mean_squared_error"

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_pred - align_dense("MeanSquaredError", y_true, y_pred)).square()


class RootMeanSquaredError(MeanSquaredError):
    """Root of the mean squared error over everything seen: :math:`\\sqrt{\\overline{(y - \\hat y)^2}}`.

    The root is taken once, of the epoch's mean, not averaged over batches.

    >>> import torch
    >>> m = RootMeanSquaredError()
    >>> m.update_state(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
    >>> round(m.result(), 4)   # sqrt((9 + 16) / 2)
    3.5355
    """

    default_name = "root_mean_squared_error"

    def _finish(self, mean: float) -> float:
        return math.sqrt(mean)


class Perplexity(Metric):
    """Perplexity, the exponential of the mean token cross-entropy.

    .. math:: \\mathrm{PPL} = \\exp\\Big(-\\frac{1}{N} \\sum_{\\text{valid tokens}} \\log p(y_t)\\Big)

    Targets are integer ids (``y_pred.shape[:-1]``) or one-hot vectors (``y_pred``'s
    shape).  Padded tokens are excluded through ``mask``.

    Args:
        from_logits: ``y_pred`` holds logits (True) or probabilities (default False);
            :func:`resolve` copies it from a cross-entropy loss.
        name: default ``"perplexity"``.

    >>> import torch
    >>> m = Perplexity(from_logits=True)
    >>> m.update_state(torch.tensor([[0, 3]]), torch.zeros(1, 2, 4))   # uniform over 4 tokens
    >>> round(m.result(), 4)
    4.0
    """

    default_name = "perplexity"

    def __init__(self, from_logits: bool = False, name: str | None = None):
        self.from_logits = check_bool("Perplexity", "from_logits", from_logits)
        super().__init__(name)

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        if y_true.shape == y_pred.shape and y_pred.shape[-1] > 1:  # one-hot (float or integer)
            return -(y_true.to(y_pred.dtype) * log_probs(y_pred, self.from_logits)).sum(dim=-1)
        return sparse_cross_entropy(class_ids("Perplexity", y_true, y_pred), y_pred, self.from_logits)

    def _finish(self, mean: float) -> float:
        return math.exp(mean)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


class MeanMetricWrapper(Metric):
    """Stream the mean of a function ``fn(y_true, y_pred)`` that returns per-step values.

    Args:
        fn: the function (Keras' argument order).
        name: the key in logs (default ``fn.__name__``).

    >>> import torch
    >>> def over(y_true, y_pred):
    ...     return (y_pred > y_true).float()
    >>> m = MeanMetricWrapper(over)
    >>> m.update_state(torch.zeros(4), torch.tensor([1.0, -1.0, 2.0, 3.0]))
    >>> m.name, m.result()
    ('over', 0.75)
    """

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str | None = None):
        if not callable(fn):
            raise ConfigError(f"MeanMetricWrapper: `fn` must be callable, got {type(fn).__name__}")
        self.fn = fn
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        out = self.fn(y_true, y_pred)
        if not isinstance(out, torch.Tensor):
            raise ShapeError(f"metric {self.name!r}: expected the function to return a tensor, got {type(out).__name__}")
        return out

    def get_config(self) -> dict[str, Any]:
        raise ConfigError(
            f"metric {self.name!r}: a metric wrapping a Python function cannot be saved in a JSON config; "
            "use a built-in metric name or subclass Metric"
        )


# ------------------------------------------------------------------ Keras' metric functions
def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> torch.Tensor:
    """Keras' function: 1.0 for each output on the right side of ``threshold``, 0.0 otherwise (not reduced, as Keras 3).

    >>> import torch
    >>> binary_accuracy(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.7, 0.6], [0.9, 0.8]]))
    tensor([[1., 0.],
            [1., 1.]])
    """
    y_true, y_pred = prepare_inputs("binary_accuracy", y_true, y_pred)
    return BinaryAccuracy(threshold).values(y_true, y_pred)


def categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Keras' function: 1.0 where the arg-max of ``y_pred`` is that of the one-hot ``y_true``, one value per prediction.

    >>> import torch
    >>> categorical_accuracy(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[0.2, 0.8], [0.4, 0.6]]))
    tensor([1., 0.])
    """
    y_true, y_pred = prepare_inputs("categorical_accuracy", y_true, y_pred)
    return CategoricalAccuracy().values(y_true, y_pred)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Keras' function: 1.0 where the arg-max of ``y_pred`` is the integer class ``y_true``, one value per prediction.

    >>> import torch
    >>> sparse_categorical_accuracy(torch.tensor([2, 0]), torch.tensor([[0.1, 0.2, 0.7], [0.4, 0.5, 0.1]]))
    tensor([1., 0.])
    """
    y_true, y_pred = prepare_inputs("sparse_categorical_accuracy", y_true, y_pred)
    return SparseCategoricalAccuracy().values(y_true, y_pred)


# ------------------------------------------------------------------------ registry
_CLASSES: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "perplexity": Perplexity,
}
_ALIASES = {"mae": "mean_absolute_error", "mse": "mean_squared_error", "rmse": "root_mean_squared_error"}
_ACCURACY = ("accuracy", "acc")
_BY_CLASS_NAME = {c.__name__: c for c in _CLASSES.values()}


def available() -> list[str]:
    """The names :func:`get` and :func:`resolve` accept.

    >>> "rmse" in available() and "accuracy" in available()
    True
    """
    return sorted({*_CLASSES, *_ALIASES, *_ACCURACY})


def _unknown(identifier: Any) -> ConfigError:
    return ConfigError(
        f"unknown metric {identifier!r}; expected one of {', '.join(available())}, a Metric object, "
        "or a function fn(y_true, y_pred) returning per-step values"
    )


def get(identifier: Any, **kwargs: Any) -> Metric:
    """A new metric by name, or a :class:`Metric` passed through, or a function wrapped.

    ``'accuracy'`` needs to know the model's outputs and targets: use :func:`resolve`
    for it.  Keyword arguments go to the metric's constructor, and ``name`` defaults to
    the identifier as given (so ``'mae'`` logs as ``mae``, as in Keras).

    Args:
        identifier: a name from :func:`available`, a :class:`Metric`, a serialized dict
            or a function ``fn(y_true, y_pred)``.
        **kwargs: constructor arguments, e.g. ``threshold=0.0`` or ``from_logits=True``.

    Raises:
        ConfigError: for an unknown name, listing the valid ones.

    >>> get("rmse")
    RootMeanSquaredError(name='rmse')
    >>> get("perplexity", from_logits=True).from_logits
    True
    """
    if isinstance(identifier, Metric):
        if kwargs:
            raise ConfigError(f"metrics.get: cannot apply {sorted(kwargs)} to the ready-made metric {identifier!r}")
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ACCURACY:
            raise ConfigError(
                f"metrics.get: {identifier!r} depends on the model's outputs and targets; use "
                "metrics.resolve(name, loss, y_true, y_pred) on the first batch, or name the variant "
                "('binary_accuracy', 'categorical_accuracy', 'sparse_categorical_accuracy')"
            )
        cls = _CLASSES.get(_ALIASES.get(key, key))
        if cls is not None:
            kwargs.setdefault("name", identifier)
            try:
                return cls(**kwargs)
            except TypeError as exc:
                raise ConfigError(f"metrics.get: bad arguments for {cls.__name__}: {exc}") from None
        raise _unknown(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric) and identifier is not Metric:
        return identifier(**kwargs)
    if callable(identifier):
        return MeanMetricWrapper(identifier, **kwargs)
    raise _unknown(identifier)


def _shape(x: Any) -> tuple[int, ...] | None:
    if x is None:
        return None
    if isinstance(x, (torch.Size, tuple, list)):
        return tuple(int(d) for d in x)
    return tuple(as_tensor("metrics.resolve", x).shape)


def resolve(identifier: Any, loss: Any = None, y_true: Any = None, y_pred: Any = None) -> Metric:
    """The metric for ``identifier`` given the compiled loss and one batch's targets and outputs.

    The rule for ``'accuracy'`` (and ``'acc'``), first match wins:

    1. the loss names the task: binary cross-entropy gives ``binary_accuracy``
       (including multi-label outputs), sparse categorical cross-entropy gives
       ``sparse_categorical_accuracy``, categorical cross-entropy gives
       ``categorical_accuracy``, and the CTC loss is refused (its targets are
       label sequences: decode, then use :func:`token_error_rate`);
    2. otherwise the shapes decide, as in Keras: one output unit per prediction
       (``y_pred.shape[-1] == 1``, or a 1-D ``y_pred``) gives ``binary_accuracy``;
       targets with fewer dims than the outputs, or a last axis of 1 against several
       outputs, are class ids and give ``sparse_categorical_accuracy``; otherwise
       the targets are one-hot and it is ``categorical_accuracy``.

    The metric keeps the name the user gave (``'accuracy'``).  With a
    ``from_logits=True`` loss, ``binary_accuracy`` thresholds at 0 instead of 0.5 and
    ``perplexity`` reads logits; arg-max based accuracies need no change.  Any other
    identifier goes to :func:`get`.  A fit loop calls this once, on the first batch.

    Args:
        identifier: a metric name, object or function.
        loss: the compiled loss (name or :class:`~rnnkit.training.losses.Loss`), or None.
        y_true, y_pred: a batch of targets and outputs, or just their shapes.

    Raises:
        ConfigError: if ``'accuracy'`` cannot be decided (no loss and no shapes), or
            the loss is CTC.

    >>> import torch
    >>> resolve("accuracy", "sparse_categorical_crossentropy")
    SparseCategoricalAccuracy(name='accuracy')
    >>> resolve("accuracy", "mse", y_true=(8, 1), y_pred=(8, 1))
    BinaryAccuracy(name='accuracy', threshold=0.5)
    >>> from rnnkit.training.losses import BinaryCrossentropy
    >>> resolve("accuracy", BinaryCrossentropy(from_logits=True)).threshold
    0.0
    >>> resolve("acc", None, torch.zeros(4, 7, dtype=torch.long), torch.zeros(4, 7, 10))
    SparseCategoricalAccuracy(name='acc')
    """
    loss_obj = get_loss(loss) if loss is not None and not isinstance(loss, Loss) else loss
    from_logits = bool(getattr(loss_obj, "from_logits", False))
    if not isinstance(identifier, str):
        return get(identifier)
    key = identifier.lower()
    if key in _ACCURACY:
        if isinstance(loss_obj, CTC):
            raise ConfigError(
                f"metrics.resolve: {identifier!r} has no per-frame meaning for a CTC model (its targets are label "
                "sequences, not one class per frame); decode the outputs (rnnkit.decoding.ctc_greedy_decode) and "
                "score them with rnnkit.metrics.token_error_rate or word_error_rate"
            )
        if isinstance(loss_obj, BinaryCrossentropy):
            variant = "binary_accuracy"
        elif isinstance(loss_obj, SparseCategoricalCrossentropy):
            variant = "sparse_categorical_accuracy"
        elif isinstance(loss_obj, CategoricalCrossentropy):
            variant = "categorical_accuracy"
        else:
            true_shape, pred_shape = _shape(y_true), _shape(y_pred)
            if true_shape is None or pred_shape is None:
                raise ConfigError(
                    f"metrics.resolve: cannot tell which accuracy {identifier!r} means from the loss {loss!r}; "
                    "pass y_true and y_pred (or their shapes), or name 'binary_accuracy', "
                    "'categorical_accuracy' or 'sparse_categorical_accuracy'"
                )
            if len(pred_shape) <= 1 or pred_shape[-1] == 1:
                variant = "binary_accuracy"
            elif len(true_shape) < len(pred_shape) or true_shape[-1] == 1:
                variant = "sparse_categorical_accuracy"
            else:
                variant = "categorical_accuracy"
        metric = _CLASSES[variant](name=identifier)
        if variant == "binary_accuracy" and from_logits:
            metric.threshold = 0.0
        return metric
    canonical = _ALIASES.get(key, key)
    if canonical == "binary_accuracy" and from_logits:
        return get(identifier, threshold=0.0)
    if canonical == "perplexity":
        return get(identifier, from_logits=from_logits)
    return get(identifier)


def serialize(metric: Metric) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, JSON-safe, for :func:`deserialize`.

    >>> serialize(get("binary_accuracy"))
    {'class_name': 'BinaryAccuracy', 'config': {'name': 'binary_accuracy', 'threshold': 0.5}}
    """
    if not isinstance(metric, Metric):
        raise ConfigError(f"metrics.serialize: expected a Metric object, got {type(metric).__name__}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config: dict[str, Any]) -> Metric:
    """Rebuild a metric (with empty state) from :func:`serialize`'s output.

    >>> deserialize({"class_name": "Perplexity", "config": {"from_logits": True}}).from_logits
    True
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigError(f"metrics.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    cls = _BY_CLASS_NAME.get(config["class_name"])
    if cls is None:
        raise ConfigError(
            f"metrics.deserialize: unknown metric class {config['class_name']!r}; expected one of "
            f"{', '.join(sorted(_BY_CLASS_NAME))}"
        )
    return cls.from_config(config.get("config", {}))
