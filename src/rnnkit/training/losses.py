"""Loss functions by Keras name, applied per time step and honouring masks.

A loss object is called as ``loss(y_true, y_pred, mask=None)`` and returns a
scalar tensor.  It first computes one value per element (regression and binary
losses) or per prediction (cross-entropies reduce the class axis), then:

* without a mask, returns the mean of all those values (equal to Keras' mean of
  per-example means, since every example has the same number of values);
* with a boolean ``mask`` whose shape is a prefix of the values' shape, usually
  ``(batch, time)`` for a model returning sequences, averages the trailing axes
  first and then takes the mean over the **valid** steps only:

  .. math::

      L = \\frac{\\sum_{b,t} m_{bt}\\,\\ell_{bt}}{\\max(1, \\sum_{b,t} m_{bt})}

  so padding neither adds to the loss nor dilutes it.  An all-False mask gives 0.

Half-precision predictions (``bf16`` mixed precision) are computed in float32.
``y_true`` and ``y_pred`` must have the same shape, except that a target
without the trailing axis of size 1 of ``y_pred`` is accepted (``(batch,)``
against ``(batch, 1)``); broadcasting any other pair is refused, because
``(batch,)`` against ``(batch, 1)`` would silently broadcast to ``(batch, batch)``.

The CTC loss (``'ctc'``, :class:`CTC`) is the exception: it scores a whole label
sequence per utterance, so the mask gives each utterance's number of valid frames
instead, and the loss is the mean over utterances (see :mod:`rnnkit.training.ctc`).

Names (:func:`available`): ``mse``/``mean_squared_error``, ``mae``/``mean_absolute_error``,
``huber``, ``binary_crossentropy``, ``categorical_crossentropy``,
``sparse_categorical_crossentropy``, ``ctc``.

Keras' loss *functions* of the same names (:func:`mean_squared_error`,
:func:`binary_crossentropy`, ...) give the unreduced values as Keras does: one
per example, the last axis averaged (regression, binary) or summed over the
classes (cross-entropies).

>>> import torch
>>> from rnnkit.training import losses
>>> loss = losses.get("sparse_categorical_crossentropy")
>>> probs = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]])       # (batch=1, time=2, classes=2)
>>> ids = torch.tensor([[0, 0]])
>>> round(loss(ids, probs, mask=torch.tensor([[True, False]])).item(), 4)  # only step 0 counts
0.6931
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .._validation import check_bool, check_real
from ..errors import ConfigError, ShapeError
from .ctc import ctc_loss, valid_frames
from .targets import EPSILON, align_dense, class_ids, log_probs, masked_mean, prepare_inputs, sparse_cross_entropy

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "CTC",
    "ctc_loss",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "LossFunctionWrapper",
    "EPSILON",
    "get",
    "serialize",
    "deserialize",
    "register",
    "available",
]

def _check_smoothing(owner: str, value: Any) -> float:
    return check_real(owner, "label_smoothing", value, minimum=0.0, maximum=1.0)


# ------------------------------------------------------------------ elementwise math
def _bce(y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    """Elementwise binary cross-entropy, -[y log p + (1 - y) log(1 - p)]."""
    if from_logits:
        # log sigma(z) = -softplus(-z), log(1 - sigma(z)) = -softplus(z): no overflow for large |z|.
        return y_true * F.softplus(-y_pred) + (1.0 - y_true) * F.softplus(y_pred)
    p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return -(y_true * torch.log(p) + (1.0 - y_true) * torch.log1p(-p))


# ------------------------------------------------------------------------ classes
class Loss:
    """Base class: subclasses define :meth:`call`, the unreduced values; ``__call__`` reduces them.

    Args:
        name: the name shown in logs and configs (defaults to the Keras name).

    >>> import torch
    >>> class Cubic(Loss):
    ...     def call(self, y_true, y_pred):
    ...         return (y_pred - y_true).abs() ** 3
    >>> Cubic()(torch.zeros(2, 1), torch.tensor([[1.0], [2.0]]))
    tensor(4.5000)
    """

    #: False: under a mask the loss is a mean over valid steps; True: over examples (rows) whatever the mask
    per_example = False

    default_name = "loss"

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"{type(self).__name__}: `name` must be a string, got {name!r} ({type(name).__name__})")
        self.name = name or self.default_name

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Unreduced loss values: one per element or, for cross-entropies, one per prediction."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def __call__(self, y_true: Any, y_pred: Any, mask: Any = None) -> torch.Tensor:
        """The scalar loss: mean over all values, or over the valid steps of ``mask``."""
        y_true, y_pred = prepare_inputs(type(self).__name__, y_true, y_pred)
        return masked_mean(type(self).__name__, self.call(y_true, y_pred), mask)

    def get_config(self) -> dict[str, Any]:
        """A JSON-safe dict of constructor arguments."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Loss":
        """Rebuild the loss from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """Mean squared error, :math:`\\ell = (y - \\hat y)^2` averaged.

    >>> import torch
    >>> MeanSquaredError()(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 3.0]]))
    tensor(2.5000)
    """

    default_name = "mean_squared_error"

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_pred - align_dense(type(self).__name__, y_true, y_pred)).square()


class MeanAbsoluteError(Loss):
    """Mean absolute error, :math:`\\ell = |y - \\hat y|` averaged.

    >>> import torch
    >>> MeanAbsoluteError()(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0]))
    tensor(1.5000)
    """

    default_name = "mean_absolute_error"

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_pred - align_dense(type(self).__name__, y_true, y_pred)).abs()


class Huber(Loss):
    """Huber loss: quadratic for small errors, linear for large ones.

    .. math::

        \\ell(e) = \\begin{cases} \\tfrac12 e^2 & |e| \\le \\delta \\\\
                   \\delta (|e| - \\tfrac12 \\delta) & |e| > \\delta \\end{cases},\\quad e = y - \\hat y

    Args:
        delta: where the quadratic part turns linear (default 1.0, as Keras).
        name: the name in logs (default ``"huber_loss"``).

    >>> import torch
    >>> Huber()(torch.zeros(2), torch.tensor([0.5, 3.0]))   # (0.125 + 2.5) / 2
    tensor(1.3125)
    """

    default_name = "huber_loss"

    def __init__(self, delta: float = 1.0, name: str | None = None):
        super().__init__(name)
        self.delta = check_real("Huber", "delta", delta, positive=True)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        err = (y_pred - align_dense("Huber", y_true, y_pred)).abs()
        quad = err.clamp(max=self.delta)
        return 0.5 * quad.square() + self.delta * (err - quad)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy for 0/1 (or soft) targets, one probability or logit per output unit.

    .. math::

        \\ell = -[\\,y \\log p + (1 - y) \\log(1 - p)\\,],\\qquad
        p = \\sigma(z) \\text{ if from\\_logits else } \\mathrm{clip}(\\hat y, \\epsilon, 1-\\epsilon)

    With ``from_logits=True`` it is computed as :math:`y\\,\\mathrm{softplus}(-z) + (1-y)\\,\\mathrm{softplus}(z)`,
    exact for any logit size.  ``label_smoothing`` ``s`` replaces ``y`` by ``y (1 - s) + s / 2``.

    Args:
        from_logits: ``y_pred`` holds logits rather than probabilities (default False, as Keras).
        label_smoothing: in [0, 1] (default 0).
        name: the name in logs (default ``"binary_crossentropy"``).

    >>> import torch
    >>> loss = BinaryCrossentropy(from_logits=True)
    >>> round(loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0])).item(), 4)   # log 2
    0.6931
    """

    default_name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name: str | None = None):
        super().__init__(name)
        self.from_logits = check_bool("BinaryCrossentropy", "from_logits", from_logits)
        self.label_smoothing = _check_smoothing("BinaryCrossentropy", label_smoothing)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true = align_dense("BinaryCrossentropy", y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return _bce(y_true, y_pred, self.from_logits)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """Cross-entropy for one-hot (or soft) targets over the last axis.

    .. math::

        \\ell = -\\sum_c y_c \\log p_c,\\qquad
        p = \\mathrm{softmax}(z) \\text{ if from\\_logits else }
        \\mathrm{clip}(\\hat y / \\textstyle\\sum_c \\hat y_c,\\ \\epsilon,\\ 1-\\epsilon)

    Logits go through ``log_softmax``.  ``label_smoothing`` ``s`` replaces ``y`` by
    ``y (1 - s) + s / C`` for ``C`` classes.

    Args:
        from_logits: ``y_pred`` holds logits rather than probabilities (default False).
        label_smoothing: in [0, 1] (default 0).
        name: the name in logs (default ``"categorical_crossentropy"``).

    >>> import torch
    >>> loss = CategoricalCrossentropy()
    >>> round(loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.75, 0.25]])).item(), 4)   # -log 0.25
    1.3863
    """

    default_name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name: str | None = None):
        super().__init__(name)
        self.from_logits = check_bool("CategoricalCrossentropy", "from_logits", from_logits)
        self.label_smoothing = _check_smoothing("CategoricalCrossentropy", label_smoothing)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        owner = "CategoricalCrossentropy"
        if y_true.shape != y_pred.shape:
            hint = (
                "; these look like integer class ids: use sparse_categorical_crossentropy"
                if y_true.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,)) else ""
            )
            raise ShapeError(
                f"{owner}: expected one-hot y_true with the shape of y_pred {tuple(y_pred.shape)}, "
                f"got {tuple(y_true.shape)}{hint}"
            )
        y_true = y_true.to(y_pred.dtype)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        return -(y_true * log_probs(y_pred, self.from_logits)).sum(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy for integer class ids: :math:`\\ell = -\\log p_{y}`.

    ``y_true`` holds ids of shape ``y_pred.shape[:-1]`` (a trailing axis of size 1 is
    accepted), e.g. ``(batch, time)`` ids against ``(batch, time, vocab)`` outputs.
    Logits go through ``log_softmax``; probabilities are renormalised and clipped to
    :math:`[\\epsilon, 1-\\epsilon]` as in Keras.  Ids outside ``[0, classes)`` raise
    :class:`~rnnkit.errors.ShapeError`.

    Args:
        from_logits: ``y_pred`` holds logits rather than probabilities (default False).
        name: the name in logs (default ``"sparse_categorical_crossentropy"``).

    >>> import torch
    >>> loss = SparseCategoricalCrossentropy(from_logits=True)
    >>> round(loss(torch.tensor([1]), torch.tensor([[0.0, 0.0, 0.0]])).item(), 4)   # log 3
    1.0986
    """

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, name: str | None = None):
        super().__init__(name)
        self.from_logits = check_bool("SparseCategoricalCrossentropy", "from_logits", from_logits)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        ids = class_ids("SparseCategoricalCrossentropy", y_true, y_pred)
        return sparse_cross_entropy(ids, y_pred, self.from_logits)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


class CTC(Loss):
    r"""Connectionist temporal classification: the mean over utterances of :math:`-\log p(y \mid x)`.

    .. math::

        L = \frac{1}{B} \sum_{b=1}^{B} -\log \sum_{a \in \mathcal{B}^{-1}(y_b)} \prod_{t=1}^{T_b} p(a_t \mid x_b, t)

    :math:`\mathcal{B}` merges repeated classes and then drops the blank, class 0;
    :math:`T_b` is the number of valid frames of utterance :math:`b`: the True
    entries of the ``(batch, time)`` ``mask`` that ``fit`` passes (the model's
    ``forward_with_mask``), wherever they are, or every frame when ``mask`` is None.
    Each utterance's value is not divided by its number of labels, and the batch
    mean counts every utterance once, as Keras 3's ``keras.losses.CTC`` (whose
    default reduction is ``sum_over_batch_size``).  See :mod:`rnnkit.training.ctc`
    for the conventions; :func:`~rnnkit.training.ctc.ctc_loss` gives the
    per-utterance values.

    Shape:
        * ``y_true``: ``(batch, max_label_len)`` integer labels in ``[1, classes)``
          padded with 0 (an utterance's labels are its non-zero entries, in order).
        * ``y_pred``: ``(batch, time, classes)``: class 0 is the blank, so a model
          emitting ``V`` labels ends in ``V + 1`` units.

    Args:
        from_logits: ``y_pred`` holds logits, e.g. a ``Dense`` layer without
            activation (default True, as Keras' CTC); log-probabilities give the
            same loss.  False: ``y_pred`` holds probabilities (a softmax output).
        zero_infinity: an utterance too short for its labels (fewer frames than
            labels plus repeated neighbours) counts 0 with no gradient, instead
            of making the loss inf (default False, as Keras and PyTorch: ``fit``
            then stops and names the step).
        name: the name in logs (default ``"ctc"``).

    >>> import math, torch
    >>> logits = torch.zeros(1, 3, 2)                  # 3 frames, blank and "a" equally likely
    >>> labels = torch.tensor([[1, 0]])                # "a", padded
    >>> loss = CTC()
    >>> # "a" in 3 frames: a--, -a-, --a, aa-, -aa, aaa: 6 of the 8 alignments
    >>> round(loss(labels, logits).item(), 4), round(-math.log(6 / 8), 4)
    (0.2877, 0.2877)
    >>> # with a mask of 1 valid frame: "a" is 1 of 2 alignments
    >>> round(loss(labels, logits, mask=torch.tensor([[True, False, False]])).item(), 4)
    0.6931
    """

    #: a mean over utterances, not over the mask's valid frames (data-parallel training weights ranks by rows)
    per_example = True

    default_name = "ctc"

    def __init__(self, from_logits: bool = True, zero_infinity: bool = False, name: str | None = None):
        super().__init__(name)
        self.from_logits = check_bool("CTC", "from_logits", from_logits)
        self.zero_infinity = check_bool("CTC", "zero_infinity", zero_infinity)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """The per-utterance losses ``(batch,)`` over every frame."""
        return ctc_loss(y_true, y_pred, from_logits=self.from_logits, zero_infinity=self.zero_infinity)

    def __call__(self, y_true: Any, y_pred: Any, mask: Any = None) -> torch.Tensor:
        """The mean over utterances; ``mask`` ``(batch, time)`` marks each utterance's valid frames."""
        y_true, y_pred = prepare_inputs("CTC", y_true, y_pred)
        frames, lengths = valid_frames("CTC", y_pred, mask)
        values = ctc_loss(y_true, frames, lengths, from_logits=self.from_logits, zero_infinity=self.zero_infinity)
        return values.mean()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits, "zero_infinity": self.zero_infinity}


class LossFunctionWrapper(Loss):
    """Wrap a plain function ``fn(y_true, y_pred) -> tensor`` (Keras order) as a loss.

    ``fn`` may return a scalar (used as is; a mask cannot then be applied and raises)
    or per-step values, which are reduced like the built-in losses.  To save it in a
    config, register it first with :func:`register`.

    Args:
        fn: the function.
        name: the name in logs (default ``fn.__name__``).

    >>> import torch
    >>> def max_error(y_true, y_pred):
    ...     return (y_true - y_pred).abs().amax(dim=-1)
    >>> LossFunctionWrapper(max_error)(torch.zeros(2, 2), torch.tensor([[1.0, 3.0], [2.0, 0.0]]))
    tensor(2.5000)
    """

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str | None = None):
        if not callable(fn):
            raise ConfigError(f"LossFunctionWrapper: `fn` must be callable, got {type(fn).__name__}")
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))
        self.fn = fn

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        out = self.fn(y_true, y_pred)
        if not isinstance(out, torch.Tensor):
            raise ShapeError(f"loss {self.name!r}: expected the function to return a tensor, got {type(out).__name__}")
        return out

    def __call__(self, y_true: Any, y_pred: Any, mask: Any = None) -> torch.Tensor:
        y_true, y_pred = prepare_inputs(self.name, y_true, y_pred)
        values = self.call(y_true, y_pred)
        if mask is not None and values.dim() == 0:
            raise ConfigError(
                f"loss {self.name!r}: the function returned a scalar, so the mask of padded steps cannot be applied; "
                "make it return one value per step, e.g. shape (batch, time)"
            )
        return masked_mean(self.name, values, mask)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "fn": _function_name(self.fn)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LossFunctionWrapper":
        config = dict(config)
        key = config.pop("fn")
        if key not in _CUSTOM:
            raise ConfigError(
                f"LossFunctionWrapper: no loss function registered as {key!r}; call "
                f"rnnkit.training.losses.register({key!r}, fn) before loading"
            )
        return cls(_CUSTOM[key], **config)


class _TorchLoss(Loss):
    """A ``torch.nn`` loss module, called in PyTorch order ``module(y_pred, y_true)``."""

    def __init__(self, module: torch.nn.Module):
        super().__init__(type(module).__name__)
        self.module = module

    def __call__(self, y_true: Any, y_pred: Any, mask: Any = None) -> torch.Tensor:
        y_true, y_pred = prepare_inputs(self.name, y_true, y_pred)
        out = self.module(y_pred, y_true)
        if mask is None:
            return out.mean()
        if getattr(self.module, "reduction", "none") != "none":
            raise ConfigError(
                f"loss {self.name}: a mask of padded steps was given but the module reduces its output "
                f"(reduction={self.module.reduction!r}); create it with reduction='none'"
            )
        return masked_mean(self.name, out, mask)

    def get_config(self) -> dict[str, Any]:
        raise ConfigError(
            f"loss {self.name}: a torch.nn loss module cannot be saved in a JSON config; use a loss name such as "
            "'sparse_categorical_crossentropy', or wrap a function and register it with losses.register"
        )


# ------------------------------------------------------------------ Keras' loss functions
def _per_example(loss: Loss, y_true: Any, y_pred: Any, mean_last: bool) -> torch.Tensor:
    y_true, y_pred = prepare_inputs(loss.name, y_true, y_pred)
    values = loss.call(y_true, y_pred)
    return values.mean(dim=-1) if mean_last else values


def mean_squared_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Keras' function: :math:`(y - \\hat y)^2` averaged over the last axis, one value per example (not reduced).

    A target without ``y_pred``'s trailing axis of size 1 is accepted, as in the classes.

    >>> import torch
    >>> mean_squared_error(torch.tensor([[0.0, 1.0], [2.0, 2.0]]), torch.tensor([[1.0, 3.0], [2.0, 2.0]]))
    tensor([2.5000, 0.0000])
    """
    return _per_example(MeanSquaredError(), y_true, y_pred, mean_last=True)


def mean_absolute_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Keras' function: :math:`|y - \\hat y|` averaged over the last axis, one value per example.

    >>> import torch
    >>> mean_absolute_error(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 3.0]]))
    tensor([1.5000])
    """
    return _per_example(MeanAbsoluteError(), y_true, y_pred, mean_last=True)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> torch.Tensor:
    """Keras' function: the :class:`Huber` values averaged over the last axis, one value per example.

    >>> import torch
    >>> huber(torch.zeros(1, 2), torch.tensor([[0.5, 3.0]]))
    tensor([1.3125])
    """
    return _per_example(Huber(delta), y_true, y_pred, mean_last=True)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0) -> torch.Tensor:
    """Keras' function: the :class:`BinaryCrossentropy` values averaged over the last axis, one value per example.

    >>> import torch
    >>> binary_crossentropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), from_logits=True)
    tensor([0.6931])
    """
    return _per_example(BinaryCrossentropy(from_logits, label_smoothing), y_true, y_pred, mean_last=True)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> torch.Tensor:
    """Keras' function: :math:`-\\sum_c y_c \\log p_c`, one value per prediction (shape ``y_pred.shape[:-1]``).

    >>> import torch
    >>> categorical_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.75, 0.25]]))
    tensor([1.3863])
    """
    return _per_example(CategoricalCrossentropy(from_logits, label_smoothing), y_true, y_pred, mean_last=False)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> torch.Tensor:
    """Keras' function: :math:`-\\log p_y` for integer class ids, one value per prediction.

    >>> import torch
    >>> sparse_categorical_crossentropy(torch.tensor([0, 1]), torch.tensor([[0.5, 0.5], [0.8, 0.2]]))
    tensor([0.6931, 1.6094])
    """
    return _per_example(SparseCategoricalCrossentropy(from_logits), y_true, y_pred, mean_last=False)


# ------------------------------------------------------------------------ registry
_CLASSES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "ctc": CTC,
}
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber_loss": "huber"}
_BY_CLASS_NAME: dict[str, type[Loss]] = {c.__name__: c for c in _CLASSES.values()}
_BY_CLASS_NAME["LossFunctionWrapper"] = LossFunctionWrapper
_CUSTOM: dict[str, Callable] = {}


def _function_name(fn: Callable) -> str:
    for key, registered in _CUSTOM.items():
        if registered is fn:
            return key
    raise ConfigError(
        f"cannot save loss function {getattr(fn, '__name__', fn)!r} in a config: register it first with "
        "rnnkit.training.losses.register(name, fn)"
    )


def available() -> list[str]:
    """The names :func:`get` accepts (Keras names and their short aliases).

    >>> "mse" in available() and "huber" in available()
    True
    """
    return sorted({*_CLASSES, *_ALIASES})


def register(name: str, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable:
    """Register a loss function ``fn(y_true, y_pred)`` under ``name`` so configs using it can be rebuilt.

    Args:
        name: the key stored in configs.
        fn: the function; returned unchanged, so this works as a decorator via ``functools.partial``.

    >>> import torch
    >>> def l4(y_true, y_pred):
    ...     return (y_pred - y_true) ** 4
    >>> _ = register("l4", l4)
    >>> get("l4").get_config()
    {'name': 'l4', 'fn': 'l4'}
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"losses.register: `name` must be a non-empty string, got {name!r}")
    if name in _CLASSES or name in _ALIASES:
        raise ConfigError(f"losses.register: {name!r} is a built-in loss name; choose another name")
    if not callable(fn):
        raise ConfigError(f"losses.register: `fn` must be callable, got {type(fn).__name__}")
    _CUSTOM[name] = fn
    return fn


def serialize(loss: Loss) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, JSON-safe, for :func:`deserialize`.

    >>> serialize(get("huber"))
    {'class_name': 'Huber', 'config': {'name': 'huber_loss', 'delta': 1.0}}
    """
    if not isinstance(loss, Loss):
        raise ConfigError(f"losses.serialize: expected a Loss object, got {type(loss).__name__}; build it with losses.get")
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict[str, Any]) -> Loss:
    """Rebuild a loss from :func:`serialize`'s output.

    >>> deserialize({"class_name": "Huber", "config": {"delta": 2.0}}).delta
    2.0
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigError(f"losses.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    cls = _BY_CLASS_NAME.get(config["class_name"])
    if cls is None:
        raise ConfigError(
            f"losses.deserialize: unknown loss class {config['class_name']!r}; expected one of "
            f"{', '.join(sorted(_BY_CLASS_NAME))}"
        )
    return cls.from_config(config.get("config", {}))


def get(identifier: Any) -> Loss:
    """Resolve a loss: a name, a :class:`Loss`, a serialized dict, a ``torch.nn`` loss module or a function.

    * a name from :func:`available` (case-insensitive) builds that loss with defaults;
      a name given to :func:`register` wraps that function;
    * a :class:`Loss` passes through; a dict goes through :func:`deserialize`;
    * a ``torch.nn`` loss module (``nn.CrossEntropyLoss()``...) is called in PyTorch's
      argument order ``module(y_pred, y_true)``; to honour masks create it with
      ``reduction='none'``;
    * any other callable ``fn(y_true, y_pred)`` (Keras' order) is wrapped in
      :class:`LossFunctionWrapper`.

    Args:
        identifier: what to resolve.

    Raises:
        ConfigError: for an unknown name, listing the valid ones.

    >>> get("mse")
    MeanSquaredError(name='mean_squared_error')
    >>> get("binary_crossentropy").from_logits
    False
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        key = _ALIASES.get(key, key)
        if key in _CLASSES:
            return _CLASSES[key]()
        if identifier in _CUSTOM:
            return LossFunctionWrapper(_CUSTOM[identifier], name=identifier)
    elif isinstance(identifier, type) and issubclass(identifier, Loss) and identifier is not Loss:
        return identifier()
    elif isinstance(identifier, torch.nn.Module):
        return _TorchLoss(identifier)
    elif callable(identifier):
        return LossFunctionWrapper(identifier)
    custom = f" or a registered name ({', '.join(sorted(_CUSTOM))})" if _CUSTOM else ""
    raise ConfigError(
        f"unknown loss {identifier!r}; expected one of {', '.join(available())}{custom}, a Loss object, "
        "or a function fn(y_true, y_pred)"
    )
