"""Optimizers by Keras name with Keras' defaults, built as ``torch.optim`` optimizers.

An optimizer here is a *spec*: the Keras-style object ``Adam(learning_rate=0.01)``
holds the hyper-parameters, knows its JSON config, and builds the real
``torch.optim`` optimizer once the model's parameters exist
(``spec.build(model.parameters())``).  The fit loop calls :func:`resolve` at
``compile`` time (names are checked early; layers may not be built yet) and
:func:`get` / :meth:`OptimizerSpec.build` when training starts.  A
``torch.optim.Optimizer`` instance passes through untouched.

=========  =======  ==============================================================
name       lr       other defaults (Keras 3)
=========  =======  ==============================================================
sgd        0.01     momentum 0, nesterov False
adam       0.001    beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad False
adamw      0.001    weight_decay 0.004, beta_1 0.9, beta_2 0.999, epsilon 1e-7
rmsprop    0.001    rho 0.9, momentum 0, epsilon 1e-7, centered False
adagrad    0.001    initial_accumulator_value 0.1, epsilon 1e-7
=========  =======  ==============================================================

**Where epsilon goes.**  The optimizers built are PyTorch's own (fast multi-tensor
kernels, the usual ``state_dict``), so epsilon sits where PyTorch puts it, which
differs from Keras for three of them.  With :math:`v` the running mean of
squared gradients (RMSprop) or their sum (Adagrad):

* RMSprop, Adagrad: here :math:`\\Delta w = -\\eta\\, g / (\\sqrt{v} + \\epsilon)`;
  Keras computes :math:`-\\eta\\, g / \\sqrt{v + \\epsilon}`.  The two agree when
  :math:`v \\gg \\epsilon` (gradients much larger than :math:`\\sqrt{10^{-7}} \\approx 3\\cdot10^{-4}`);
  for smaller gradients Keras' steps are smaller.
* Adam, AdamW: here :math:`\\epsilon` is added to :math:`\\sqrt{\\hat v_t}`; Keras adds it to
  :math:`\\sqrt{v_t}`, i.e. uses :math:`\\epsilon / \\sqrt{1-\\beta_2^t}` in PyTorch's terms, a
  difference of order :math:`10^{-7}` that matters only for vanishing gradients.

SGD momentum is PyTorch's form (:math:`b \\leftarrow \\mu b + g,\\ w \\leftarrow w - \\eta b`),
equal to Keras' (:math:`v \\leftarrow \\mu v - \\eta g,\\ w \\leftarrow w + v`) while the learning
rate is constant.  AdamW's decay is decoupled and scaled by the learning rate in both.

>>> import torch
>>> from rnnkit.training import optimizers
>>> layer = torch.nn.Linear(3, 1)
>>> opt = optimizers.get("adam", layer.parameters())
>>> type(opt).__name__, opt.defaults["lr"], opt.defaults["eps"]
('Adam', 0.001, 1e-07)
>>> optimizers.Adam(learning_rate=0.01).build(layer.parameters()).defaults["lr"]
0.01
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Iterable, Sequence

import torch

from ..errors import ConfigError
from .ema import WeightAverage

__all__ = ["OptimizerSpec", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "resolve", "serialize", "deserialize",
           "available", "discriminative_groups"]


def _real(owner: str, name: str, value: Any, low: float, high: float = math.inf, *, high_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and low <= value
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        bracket = ")" if high_open else "]"
        raise ConfigError(f"{owner}: `{name}` must be a float in [{low}, {high}{bracket}, got {value!r} ({type(value).__name__})")
    return float(value)


def _flag(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}: `{name}` must be True or False, got {value!r} ({type(value).__name__})")
    return value


def _params(owner: str, params: Any) -> list:
    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    if isinstance(params, torch.Tensor) or not isinstance(params, Iterable):
        raise ConfigError(
            f"{owner}: expected an iterable of parameters (model.parameters()) or of parameter groups, "
            f"got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise ConfigError(
            f"{owner}: got an empty list of parameters; build the model first (call it on a batch, or give "
            "its layers input_size=) so that its weights exist"
        )
    return params


def _fusable(params: list) -> bool:
    """Every tensor of ``params`` (or of its groups) is a floating-point tensor on the CPU or a CUDA device."""
    if any(isinstance(p, dict) and not isinstance(p.get("params"), (list, tuple)) for p in params):
        return False  # a group's parameters given as an iterator: not read here, so torch still gets them
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(tensors) and all(isinstance(t, torch.Tensor) and t.is_floating_point() and t.device.type in ("cpu", "cuda")
                                 for t in tensors)


class OptimizerSpec:
    """Base of the Keras-style optimizer specs: hyper-parameters now, a ``torch.optim`` optimizer on :meth:`build`.

    Subclasses set ``torch_class`` and map their Keras arguments to PyTorch's in
    :meth:`_torch_kwargs`.  ``get_config()`` gives the constructor arguments.

    Every optimizer also takes Keras' moving-average arguments (keyword only; they
    appear in ``get_config()`` when ``use_ema`` is on):

    Args:
        learning_rate: the step size :math:`\\eta` (>= 0).
        use_ema: keep the exponential moving average of the weights
            (:mod:`rnnkit.training.ema`): ``fit`` ends with the weights set to it, and
            :class:`~rnnkit.training.callbacks.SwapEMAWeights` validates with it.  Default False.
        ema_momentum: :math:`\\mu` of :math:`\\bar w \\leftarrow \\mu \\bar w + (1-\\mu) w`, in [0, 1), default 0.99.
        ema_overwrite_frequency: copy the average into the weights every this many steps
            (default None: only when ``fit`` ends).

    >>> spec = SGD(learning_rate=0.1, momentum=0.9)
    >>> spec.get_config()
    {'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': False}
    >>> SGD.from_config(spec.get_config()).momentum
    0.9
    """

    torch_class: type[torch.optim.Optimizer] = torch.optim.Optimizer
    #: PyTorch has a fused kernel of this optimizer (one pass over each tensor instead of one per operation)
    fusable = False

    def __init__(self, learning_rate: float, *, use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None):
        owner = type(self).__name__
        self.learning_rate = _real(owner, "learning_rate", learning_rate, 0.0)
        self.use_ema = _flag(owner, "use_ema", use_ema)
        self.ema_momentum = _real(owner, "ema_momentum", ema_momentum, 0.0, 1.0, high_open=True)
        if ema_overwrite_frequency is not None and (isinstance(ema_overwrite_frequency, bool) or not isinstance(
                ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
            raise ConfigError(f"{owner}: `ema_overwrite_frequency` must be a whole number >= 1 or None, got "
                              f"{ema_overwrite_frequency!r}")
        self.ema_overwrite_frequency = ema_overwrite_frequency

    def _torch_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def build(self, params: Any) -> torch.optim.Optimizer:
        """The ``torch.optim`` optimizer over ``params`` (an iterable, parameter groups, or a module).

        Adam and AdamW use PyTorch's fused kernel where every parameter allows it
        (floating point, on the CPU or a GPU): the same update, about four times
        faster than the per-operation loop on the CPU for large embeddings.
        """
        params = _params(type(self).__name__, params)
        # a group with an ``lr_scale`` (discriminative_groups) and no ``lr`` of its own runs at learning_rate x lr_scale
        params = [{**p, "lr": self.learning_rate * p["lr_scale"]} if isinstance(p, dict) and "lr_scale" in p
                  and "lr" not in p else p for p in params]
        kwargs = self._torch_kwargs()
        if self.fusable and _fusable(params):
            kwargs["fused"] = True
        optimizer = self.torch_class(params, lr=self.learning_rate, **kwargs)
        if self.use_ema:
            optimizer.rnnkit_ema = WeightAverage(optimizer, self.ema_momentum, self.ema_overwrite_frequency)
        return optimizer

    def get_config(self) -> dict[str, Any]:
        """A JSON-safe dict of constructor arguments (the moving-average ones only when ``use_ema`` is on)."""
        names = _arguments(type(self)) if self.use_ema else _arguments(type(self))[:-len(_EMA_ARGS)]
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "OptimizerSpec":
        """Rebuild the spec from :meth:`get_config`'s output."""
        return _construct(cls, dict(config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(OptimizerSpec):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    .. math::

        b \\leftarrow \\mu b + g,\\qquad
        w \\leftarrow w - \\eta\\,(g + \\mu b \\text{ if nesterov else } b)

    Args:
        learning_rate: :math:`\\eta`, default 0.01.
        momentum: :math:`\\mu` in [0, 1), default 0.
        nesterov: Nesterov momentum (needs momentum > 0), default False.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = SGD().build([w])
    >>> w.grad = torch.tensor([2.0]); opt.step()
    >>> w.data   # 1 - 0.01 * 2
    tensor([0.9800])
    """

    torch_class = torch.optim.SGD

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **ema: Any):
        super().__init__(learning_rate, **ema)
        self.momentum = _real("SGD", "momentum", momentum, 0.0, 1.0, high_open=True)
        self.nesterov = _flag("SGD", "nesterov", nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ConfigError("SGD: `nesterov=True` needs a momentum > 0, got momentum=0.0; pass e.g. momentum=0.9")

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(OptimizerSpec):
    """Adam: per-weight steps from bias-corrected running moments of the gradient.

    .. math::

        m \\leftarrow \\beta_1 m + (1-\\beta_1) g,\\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2,\\quad
        w \\leftarrow w - \\eta\\,\\frac{m / (1-\\beta_1^t)}{\\sqrt{v / (1-\\beta_2^t)} + \\epsilon}

    Args:
        learning_rate: :math:`\\eta`, default 0.001.
        beta_1, beta_2: moment decay rates in [0, 1), defaults 0.9 and 0.999.
        epsilon: default 1e-7 (Keras'; PyTorch's own default is 1e-8).
        amsgrad: use the running maximum of :math:`\\hat v`, default False.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = Adam(learning_rate=0.1).build([w])
    >>> w.grad = torch.tensor([0.5]); opt.step()
    >>> round(w.item(), 4)   # the first Adam step moves by about lr
    0.9
    """

    torch_class = torch.optim.Adam
    fusable = True

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **ema: Any,
    ):
        super().__init__(learning_rate, **ema)
        owner = type(self).__name__
        self.beta_1 = _real(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _real(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _real(owner, "epsilon", epsilon, 0.0)
        self.amsgrad = _flag(owner, "amsgrad", amsgrad)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: before the Adam step, :math:`w \\leftarrow w\\,(1 - \\eta\\lambda)`.

    Args:
        learning_rate: :math:`\\eta`, default 0.001.
        weight_decay: :math:`\\lambda`, default 0.004 (Keras 3; PyTorch's default is 0.01).
        beta_1, beta_2, epsilon, amsgrad: as :class:`Adam`.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5).build([w])
    >>> w.grad = torch.tensor([0.0]); opt.step()
    >>> round(w.item(), 4)   # zero gradient: only the decay, 1 * (1 - 0.1 * 0.5)
    0.95
    """

    torch_class = torch.optim.AdamW

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **ema: Any,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, **ema)
        self.weight_decay = _real("AdamW", "weight_decay", weight_decay, 0.0)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {**super()._torch_kwargs(), "weight_decay": self.weight_decay}


class RMSprop(OptimizerSpec):
    """RMSprop: divide the gradient by a running root mean square of recent gradients.

    .. math::

        v \\leftarrow \\rho v + (1-\\rho) g^2,\\qquad
        w \\leftarrow w - \\eta\\, \\frac{g}{\\sqrt{v - \\bar g^2 \\text{ (if centered)}} + \\epsilon}

    with momentum :math:`\\mu > 0` applied to that step.  Epsilon is outside the root
    (PyTorch's placement; Keras puts it inside, see the module notes).

    Args:
        learning_rate: :math:`\\eta`, default 0.001.
        rho: decay of the running mean, in [0, 1), default 0.9.
        momentum: in [0, 1), default 0.
        epsilon: default 1e-7.
        centered: subtract the running mean gradient :math:`\\bar g`, default False.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = RMSprop().build([w])
    >>> w.grad = torch.tensor([1.0]); opt.step()
    >>> round(w.item(), 6)   # 1 - 0.001 * 1 / (sqrt(0.1) + 1e-7)
    0.996838
    """

    torch_class = torch.optim.RMSprop

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **ema: Any,
    ):
        super().__init__(learning_rate, **ema)
        self.rho = _real("RMSprop", "rho", rho, 0.0, 1.0, high_open=True)
        self.momentum = _real("RMSprop", "momentum", momentum, 0.0, 1.0, high_open=True)
        self.epsilon = _real("RMSprop", "epsilon", epsilon, 0.0)
        self.centered = _flag("RMSprop", "centered", centered)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"alpha": self.rho, "eps": self.epsilon, "momentum": self.momentum, "centered": self.centered}


class Adagrad(OptimizerSpec):
    """Adagrad: steps scaled by the root of each weight's accumulated squared gradients.

    .. math::

        s \\leftarrow s + g^2 \\;(s_0 = \\text{initial\\_accumulator\\_value}),\\qquad
        w \\leftarrow w - \\eta\\, g / (\\sqrt{s} + \\epsilon)

    Args:
        learning_rate: :math:`\\eta`, default 0.001.
        initial_accumulator_value: :math:`s_0 \\ge 0`, default 0.1.
        epsilon: default 1e-7 (outside the root, PyTorch's placement).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = Adagrad(learning_rate=0.1).build([w])
    >>> w.grad = torch.tensor([0.3]); opt.step()
    >>> round(w.item(), 4)   # 1 - 0.1 * 0.3 / sqrt(0.1 + 0.09)
    0.9312
    """

    torch_class = torch.optim.Adagrad

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 **ema: Any):
        super().__init__(learning_rate, **ema)
        self.initial_accumulator_value = _real("Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0)
        self.epsilon = _real("Adagrad", "epsilon", epsilon, 0.0)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "eps": self.epsilon}


# ------------------------------------------------------------------------ discriminative learning rates
def discriminative_groups(groups: Sequence[Any], factor: float = 2.6) -> list[dict[str, Any]]:
    r"""Parameter groups whose learning rates fall by ``factor`` from one group to the next, top layer first.

    ULMFiT's discriminative fine-tuning (Howard & Ruder 2018): the layers nearest the
    output learn fastest and each lower group at the rate of the one above divided
    by ``factor`` (2.6 in the paper), so what pretraining put in the lower layers
    changes least.  Group :math:`k` (0 = the top) gets

    .. math::
        \eta_k = \eta \cdot \mathit{factor}^{-k}

    as ``lr_scale`` :math:`= \mathit{factor}^{-k}`: an optimizer spec's :meth:`~OptimizerSpec.build`
    sets each group's ``lr`` to its learning rate times that, and the learning-rate
    schedules of the apps and :class:`~rnnkit.training.callbacks.LearningRateScheduler`
    keep the ratios (they set :math:`\eta_k` = the scheduled rate times ``lr_scale``).

    Args:
        groups: from the top (output) group down; each a module or an iterable of parameters.
        factor: the ratio between neighbouring groups' rates, >= 1 (default 2.6).

    >>> import torch
    >>> top, bottom = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> opt = Adam(learning_rate=0.01).build(discriminative_groups([top, bottom]))
    >>> [round(g["lr"], 6) for g in opt.param_groups]   # 0.01, 0.01 / 2.6
    [0.01, 0.003846]
    """
    factor = _real("discriminative_groups", "factor", factor, 1.0)
    out = []
    for k, group in enumerate(groups):
        params = list(group.parameters() if isinstance(group, torch.nn.Module) else group)
        if not params:
            raise ConfigError(f"discriminative_groups: group {k} holds no parameters; leave it out or merge it with "
                              "its neighbour")
        out.append({"params": params, "lr_scale": factor ** -k})
    if not out:
        raise ConfigError("discriminative_groups: got no groups; pass the model's layer groups, top first")
    return out


# ------------------------------------------------------------------------ registry
#: the keyword-only arguments every spec takes (OptimizerSpec's), after its own
_EMA_ARGS = ("use_ema", "ema_momentum", "ema_overwrite_frequency")


def _arguments(cls: type[OptimizerSpec]) -> list[str]:
    """The constructor arguments of ``cls`` by name: its own, then the moving-average ones."""
    own = [name for name, p in inspect.signature(cls.__init__).parameters.items()
           if name != "self" and p.kind not in (p.VAR_KEYWORD, p.KEYWORD_ONLY)]
    return [*own, *_EMA_ARGS]


_CLASSES: dict[str, type[OptimizerSpec]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
_BY_CLASS_NAME = {c.__name__: c for c in _CLASSES.values()}


def _construct(cls: type[OptimizerSpec], kwargs: dict[str, Any]) -> OptimizerSpec:
    if "lr" in kwargs:  # Keras 2 spelling
        if "learning_rate" in kwargs:
            raise ConfigError(f"{cls.__name__}: got both `lr` and `learning_rate`; pass only learning_rate")
        kwargs["learning_rate"] = kwargs.pop("lr")
    valid = _arguments(cls)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown argument(s) {', '.join(unknown)}; expected some of {', '.join(valid)}"
        )
    return cls(**kwargs)


def available() -> list[str]:
    """The names :func:`get` and :func:`resolve` accept.

    >>> available()
    ['adagrad', 'adam', 'adamw', 'rmsprop', 'sgd']
    """
    return sorted(_CLASSES)


def resolve(identifier: Any, **overrides: Any) -> OptimizerSpec | torch.optim.Optimizer:
    """A spec for ``identifier`` without building it (compile time: the weights may not exist yet).

    Args:
        identifier: a name from :func:`available` (case-insensitive), an :class:`OptimizerSpec`,
            a serialized dict, or a ``torch.optim.Optimizer`` instance (returned as is).
        **overrides: hyper-parameters by their Keras names (``learning_rate``, ``momentum``...;
            ``lr`` is accepted for ``learning_rate``); for a spec, they give a modified copy.

    Raises:
        ConfigError: for an unknown name or argument, listing the valid ones.

    >>> resolve("RMSprop", learning_rate=0.01)
    RMSprop(learning_rate=0.01, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False)
    """
    if isinstance(identifier, torch.optim.Optimizer):
        if overrides:
            raise ConfigError(
                f"optimizers: cannot apply {', '.join(sorted(overrides))} to a ready-made {type(identifier).__name__}; "
                "set them when creating it, or pass a name such as 'adam'"
            )
        return identifier
    if isinstance(identifier, OptimizerSpec):
        return _construct(type(identifier), {**identifier.get_config(), **overrides}) if overrides else identifier
    if isinstance(identifier, dict):
        spec = deserialize(identifier)
        return resolve(spec, **overrides)
    if isinstance(identifier, type) and issubclass(identifier, OptimizerSpec) and identifier is not OptimizerSpec:
        return _construct(identifier, dict(overrides))
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _construct(_CLASSES[identifier.lower()], dict(overrides))
    raise ConfigError(
        f"unknown optimizer {identifier!r}; expected one of {', '.join(available())}, an optimizer such as "
        "rnnkit.optimizers.Adam(learning_rate=0.01), or a torch.optim optimizer"
    )


def get(identifier: Any, params: Any = None, **overrides: Any) -> torch.optim.Optimizer:
    """Build the ``torch.optim`` optimizer for ``identifier`` over ``params``.

    Args:
        identifier: as :func:`resolve`; also a ``torch.optim.Optimizer`` subclass, called as
            ``cls(params, **overrides)`` with PyTorch's argument names.
        params: ``model.parameters()``, parameter groups, or a module; ignored (may be None)
            for a ready-made ``torch.optim.Optimizer``.
        **overrides: hyper-parameters by their Keras names.

    Raises:
        ConfigError: for an unknown name or argument, or an empty parameter list.

    >>> import torch
    >>> opt = get("sgd", torch.nn.Linear(2, 2), momentum=0.9)
    >>> opt.defaults["lr"], opt.defaults["momentum"]
    (0.01, 0.9)
    """
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        return identifier(_params(identifier.__name__, params), **overrides)
    spec = resolve(identifier, **overrides)
    if isinstance(spec, torch.optim.Optimizer):
        return spec
    return spec.build(params)


def serialize(spec: OptimizerSpec) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, JSON-safe, for :func:`deserialize`.

    >>> serialize(Adagrad())
    {'class_name': 'Adagrad', 'config': {'learning_rate': 0.001, 'initial_accumulator_value': 0.1, 'epsilon': 1e-07}}
    """
    if not isinstance(spec, OptimizerSpec):
        raise ConfigError(
            f"optimizers.serialize: expected an optimizer spec such as Adam(), got {type(spec).__name__}; "
            "a torch.optim optimizer has no JSON config (save its state_dict instead)"
        )
    return {"class_name": type(spec).__name__, "config": spec.get_config()}


def deserialize(config: dict[str, Any]) -> OptimizerSpec:
    """Rebuild a spec from :func:`serialize`'s output.

    >>> deserialize({"class_name": "SGD", "config": {"learning_rate": 0.5}})
    SGD(learning_rate=0.5, momentum=0.0, nesterov=False)
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigError(f"optimizers.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    cls = _BY_CLASS_NAME.get(config["class_name"])
    if cls is None:
        raise ConfigError(
            f"optimizers.deserialize: unknown optimizer class {config['class_name']!r}; expected one of "
            f"{', '.join(sorted(_BY_CLASS_NAME))}"
        )
    return cls.from_config(config.get("config", {}))
