"""Seeding and saving the random number generators a training run draws from.

:func:`set_seed` seeds Python's :mod:`random`, NumPy's global generator and
PyTorch's CPU and CUDA generators at once, so a CPU run repeats bit for bit.
:func:`get_rng_state` / :func:`set_rng_state` capture and restore those same
generators, so a resumed run continues the exact random sequence (dropout masks,
shuffling) of the run that was interrupted.

The state is a ``dict`` whose values are either JSON-safe or tensors, so that a
checkpoint stores it without pickles: tensors as safetensors tensors under their
key, everything else in the JSON metadata.

* ``"python"`` (JSON): ``{"version": int, "state": [625 ints], "gauss_next": float or None}``,
  Python's Mersenne Twister;
* ``"numpy"`` (JSON): ``{"bit_generator": "MT19937", "keys": [624 ints], "pos": int,
  "has_gauss": int, "cached_gaussian": float}``, NumPy's legacy global generator;
* ``"torch"`` (1-D uint8 CPU tensor): ``torch.get_rng_state()``;
* ``"torch_cuda_<i>"`` (1-D uint8 CPU tensor, one per CUDA device, only when CUDA is
  available): ``torch.cuda.get_rng_state(i)``.

Generators created by the user (``np.random.default_rng()``, ``torch.Generator()``)
are not global and are not covered.

>>> import torch
>>> from rnnkit.random import set_seed
>>> set_seed(7); a = torch.rand(3)
>>> set_seed(7); b = torch.rand(3)
>>> torch.equal(a, b)
True
"""
from __future__ import annotations

import numbers
import random as _pyrandom
from typing import Any

import numpy as np
import torch

from .errors import ConfigError

__all__ = ["set_seed", "get_rng_state", "set_rng_state"]

_MAX_SEED = 2**32 - 1
_CUDA_PREFIX = "torch_cuda_"


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and every CUDA device).

    Args:
        seed: an integer in [0, 2**32 - 1] (NumPy's range).

    Raises:
        ConfigError: if ``seed`` is not such an integer.

    >>> import random, numpy as np
    >>> set_seed(0); first = (random.random(), np.random.rand())
    >>> set_seed(0); first == (random.random(), np.random.rand())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= _MAX_SEED:
        raise ConfigError(f"set_seed: `seed` must be an integer in [0, {_MAX_SEED}], got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device (lazily if CUDA is not initialised yet)


def get_rng_state() -> dict[str, Any]:
    """The states of the global generators, as JSON-safe values and uint8 CPU tensors (format above).

    >>> state = get_rng_state()
    >>> sorted(k for k in state if not k.startswith("torch_cuda_"))
    ['numpy', 'python', 'torch']
    >>> state["torch"].dtype
    torch.uint8
    """
    version, mt, gauss_next = _pyrandom.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": [int(v) for v in mt], "gauss_next": gauss_next},
        "numpy": {
            "bit_generator": str(name),
            "keys": [int(k) for k in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state().clone(),
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            state[f"{_CUDA_PREFIX}{i}"] = torch.cuda.get_rng_state(i).cpu().clone()
    return state


def _byte_tensor(key: str, value: Any) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor) or value.dim() != 1 or value.dtype != torch.uint8:
        got = f"{value.dtype} tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ConfigError(f"set_rng_state: `{key}` must be a 1-D uint8 tensor from get_rng_state(), got {got}")
    return value.cpu().contiguous()


def _python_state(value: Any) -> tuple:
    try:
        mt = tuple(int(v) for v in value["state"])
        gauss = value["gauss_next"]
        return (int(value["version"]), mt, None if gauss is None else float(gauss))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"set_rng_state: `python` must be {{'version', 'state', 'gauss_next'}} from get_rng_state(), got an "
            f"unreadable value ({type(exc).__name__}: {exc})"
        ) from None


def _numpy_state(value: Any) -> tuple:
    try:
        keys = np.asarray(value["keys"], dtype=np.uint32)
        return (str(value["bit_generator"]), keys, int(value["pos"]), int(value["has_gauss"]), float(value["cached_gaussian"]))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(
            f"set_rng_state: `numpy` must be {{'bit_generator', 'keys', 'pos', 'has_gauss', 'cached_gaussian'}} "
            f"from get_rng_state(), got an unreadable value ({type(exc).__name__}: {exc})"
        ) from None


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from :func:`get_rng_state`'s dict (also after a JSON + safetensors round trip).

    Keys that are absent are left alone.  CUDA states are restored for the devices
    that exist here and skipped when CUDA is not available (a GPU checkpoint resumed on
    a CPU-only machine).

    Args:
        state: the dict, with the format described in the module docstring.

    Raises:
        ConfigError: for an unknown key or a value of the wrong form.

    >>> import torch
    >>> saved = get_rng_state(); a = torch.rand(2)
    >>> set_rng_state(saved); torch.equal(a, torch.rand(2))
    True
    """
    if not isinstance(state, dict):
        raise ConfigError(f"set_rng_state: expected the dict from get_rng_state(), got {type(state).__name__}")
    known = {"python", "numpy", "torch"}
    unknown = sorted(k for k in state if k not in known and not (isinstance(k, str) and k.startswith(_CUDA_PREFIX)))
    if unknown:
        raise ConfigError(
            f"set_rng_state: unknown key(s) {', '.join(map(repr, unknown))}; expected python, numpy, torch "
            f"and {_CUDA_PREFIX}<device index>"
        )
    # Validate everything before touching any generator, so a bad state changes nothing.
    python = _python_state(state["python"]) if "python" in state else None
    numpy = _numpy_state(state["numpy"]) if "numpy" in state else None
    cpu = _byte_tensor("torch", state["torch"]) if "torch" in state else None
    cuda = {}
    for key, value in state.items():
        if key.startswith(_CUDA_PREFIX):
            index = key[len(_CUDA_PREFIX):]
            if not index.isdigit():
                raise ConfigError(f"set_rng_state: bad key {key!r}; expected {_CUDA_PREFIX}<device index>")
            cuda[int(index)] = _byte_tensor(key, value)
    if python is not None:
        try:
            _pyrandom.setstate(python)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"set_rng_state: `python` is not a valid Python random state: {exc}") from None
    if numpy is not None:
        try:
            np.random.set_state(numpy)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"set_rng_state: `numpy` is not a valid NumPy MT19937 state: {exc}") from None
    if cpu is not None:
        try:
            torch.set_rng_state(cpu)
        except RuntimeError as exc:
            raise ConfigError(f"set_rng_state: `torch` is not a valid PyTorch CPU generator state: {exc}") from None
    if cuda and torch.cuda.is_available():
        for index, value in cuda.items():
            if index < torch.cuda.device_count():
                torch.cuda.set_rng_state(value, index)
