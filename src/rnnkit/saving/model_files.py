"""Model files: safetensors for tensors, JSON for architecture and training state.

One file holds a whole model: its weights, its config (to rebuild the layers
through the registry, :func:`~rnnkit.saving.deserialize`), its compile settings
and the optimizer's state; a weights file holds the weights only.  Nothing is
pickled, so loading a file from a stranger runs no code; writes are crash-safe
(temporary file, fsync, rename) through :mod:`rnnkit.saving.checkpoint`.

Nothing here knows a model class: a model is anything with ``get_config``,
``state_dict`` / ``load_state_dict`` (and ``compile`` for a compiled one), so
this module sits below :mod:`rnnkit.models`, which re-exports its functions.

>>> import os, tempfile, torch
>>> from rnnkit.layers import Dense
>>> from rnnkit.models import Sequential
>>> model = Sequential([Dense(2, input_size=3)])
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> save_model(model, path)
>>> again = load_model(path)
>>> x = torch.randn(4, 3)
>>> type(again).__name__, torch.equal(again(x), model(x))
('Sequential', True)
"""
from __future__ import annotations

import os
from typing import Any

import torch

from ..errors import CheckpointError, NotBuiltError
from ..random import get_rng_state, set_rng_state
from . import checkpoint
from ._guards import allocation_budget, file_errors
from .registry import deserialize

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "load_weights_from", "restore_training_state"]

_MODEL, _WEIGHTS = "rnnkit.model", "rnnkit.weights"


def _optimizer_parts(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"class": type(opt).__name__, "param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer/"):
            _, pid, key = name.split("/", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, entries in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(entries)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def _rebuild(blueprint: dict[str, Any], weights: dict[str, torch.Tensor], custom_objects: Any, size: int,
             what: str) -> Any:
    """The model of ``blueprint`` (a serialized config) holding ``weights``, from a file of ``size`` bytes.

    It is built within :func:`~rnnkit.saving._guards.allocation_budget`: a config claiming more than the file
    can hold (a 40-GB layer in a file of a few KB) is refused before anything is allocated.
    """
    with allocation_budget(size, what):
        model = deserialize(blueprint, custom_objects)
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc)]
            raise CheckpointError(f"{what}: its tensors do not fit the model its config describes "
                                  f"({lines[0][:200]}); the file is damaged") from None
    return model


def _keras_suffix(path: Any) -> str | None:
    name = os.fspath(path).lower() if isinstance(path, (str, os.PathLike)) else ""
    return next((s for s in (".keras", ".h5", ".hdf5") if name.endswith(s)), None)


def _require_weights(model: Any, what: str) -> None:
    """A NotBuiltError naming the layers whose weights wait for the model's first call (a file would lose them)."""
    pending = [getattr(m, "name", type(m).__name__) for m in model.modules() if getattr(m, "weights_pending", False)]
    if pending:
        shown = ", ".join(repr(n) for n in pending[:3]) + (f" and {len(pending) - 3} more" if len(pending) > 3 else "")
        raise NotBuiltError(f"{what}: {shown} have no weights yet (their input size comes from the first call); call "
                            "the model on a batch, or start it with Input(shape=...), before saving")


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` (weights, config, compile settings, optimizer state) to one file.

    A path ending in ``.keras`` gets a Keras 3 model file instead
    (:func:`~rnnkit.saving.keras_files.save_keras`), which Keras itself loads.
    """
    if _keras_suffix(path) == ".keras":
        from .keras_files import save_keras

        return save_keras(model, path)
    if _keras_suffix(path) is not None:
        raise CheckpointError(f"save_model: rnnkit writes Keras files as .keras (Keras 3's format), not "
                              f"{_keras_suffix(path)}; or give another name for rnnkit's own format")
    _require_weights(model, "save_model")
    config = model.get_config()
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"format": _MODEL, "class_name": type(model).__name__, "config": config,
                            "compile": getattr(model, "_compiled", None)}
    if getattr(model, "optimizer", None) is not None:
        opt_tensors, meta["optimizer"] = _optimizer_parts(model.optimizer)
        tensors.update(opt_tensors)
    # where training stands: epochs completed and the random generators, for fit(resume_from=...)
    rng_json = {}
    for key, value in get_rng_state().items():
        if isinstance(value, torch.Tensor):
            tensors[f"rng/{key}"] = value
        else:
            rng_json[key] = value
    # the progress of the callbacks of the fit in progress (EarlyStopping's patience count ...)
    callback_states = [
        {"class": type(cb).__name__, "state": cb.get_state()} for cb in getattr(model, "_active_callbacks", [])
    ]
    meta["training"] = {"epoch": int(getattr(model, "epochs_done", 0)), "rng": rng_json, "callbacks": callback_states}
    checkpoint.save_file(path, tensors, meta)


def restore_training_state(model: Any, path: str | os.PathLike) -> tuple[int, list[dict[str, Any]]]:
    """Load weights, optimizer state and random-generator state saved by :func:`save_model`.

    Returns the number of epochs that were completed, where training resumes, and
    the saved callback states (``[{"class": name, "state": {...}}, ...]`` in the
    order of the interrupted fit's callbacks).  ``model`` must be compiled and
    built (``fit`` calls this after preparing it).
    """
    tensors, meta = checkpoint.load_file(path)
    if meta.get("format") != _MODEL or "training" not in meta:
        raise CheckpointError(
            f"resume_from: {os.fspath(path)!r} is not a training checkpoint; write one with model.save(path) "
            "or ModelCheckpoint(..., save_weights_only=False)"
        )
    load_weights_from(model, tensors, f"resume_from: {os.fspath(path)!r}")
    with file_errors("resume_from", repr(os.fspath(path))):
        if "optimizer" in meta and model.optimizer is not None:
            model.optimizer.load_state_dict(_optimizer_state(tensors, meta["optimizer"]))
        rng = dict(meta["training"]["rng"])
        rng.update({k[len("rng/"):]: v for k, v in tensors.items() if k.startswith("rng/")})
        set_rng_state(rng)
        return int(meta["training"]["epoch"]), list(meta["training"].get("callbacks", []))


def load_model(path: str | os.PathLike, custom_objects: dict[str, type] | None = None, compile: bool = True) -> Any:
    """Rebuild a model saved by :func:`save_model` (or ``model.save``), weights and optimizer included.

    ``custom_objects`` (name -> class) names classes of your own that are not
    registered with :func:`~rnnkit.saving.register_serializable`; ``compile=False``
    skips compiling (and the optimizer state).  ``path`` may also be an app's run
    folder (it holds ``run.json``): the whole model saved in it is loaded.  A Keras
    model file (``.keras``, ``.h5``) is read by :func:`~rnnkit.saving.keras_files.load_keras`.
    """
    if _keras_suffix(path) is not None:
        from .keras_files import load_keras

        return load_keras(path, compile=compile)
    if os.path.isfile(os.path.join(path, "run.json")):  # a run folder of rnnkit.apps: its whole model
        path = os.path.join(path, "model.safetensors")
    tensors, meta = checkpoint.load_file(path)
    if meta.get("format") != _MODEL:
        raise CheckpointError(
            f"load_model: {os.fspath(path)!r} holds {meta.get('format')!r}, not a whole model; "
            "for a weights file build the model and call model.load_weights(path)"
        )
    with file_errors("load_model", repr(os.fspath(path))):
        weights = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        model = _rebuild({"class_name": meta["class_name"], "config": meta["config"]}, weights, custom_objects,
                         os.path.getsize(path), f"load_model: {os.fspath(path)!r}")
        settings = meta.get("compile")
        if compile and settings and settings.get("loss"):
            extra = {"loss_weights": settings["loss_weights"]} if settings.get("loss_weights") else {}
            model.compile(optimizer=settings.get("optimizer") or "adam", loss=settings["loss"],
                          metrics=settings.get("metrics"), clipnorm=settings.get("clipnorm"),
                          clipvalue=settings.get("clipvalue"), precision=settings.get("precision"), **extra)
            if "optimizer" in meta:
                model.to(model.device)
                model.optimizer = model._build_optimizer()
                model.optimizer.load_state_dict(_optimizer_state(tensors, meta["optimizer"]))
    return model


def save_weights(model: Any, path: str | os.PathLike) -> None:
    """Write the weights only (``load_weights`` needs a model of the same architecture)."""
    _require_weights(model, "save_weights")
    checkpoint.save_file(path, dict(model.state_dict()), {"format": _WEIGHTS, "class_name": type(model).__name__})


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load weights written by :func:`save_weights` or :func:`save_model` (names and shapes must match)."""
    tensors, meta = checkpoint.load_file(path)
    if meta.get("format") not in (_MODEL, _WEIGHTS):
        raise CheckpointError(f"load_weights: {os.fspath(path)!r} is not an rnnkit weights or model file")
    load_weights_from(model, tensors, f"load_weights: {os.fspath(path)!r}")


def load_weights_from(model: Any, tensors: dict[str, torch.Tensor], source: str = "load_weights") -> None:
    """Load a weights dict, taking the ``model/`` entries of a whole-model file (``source`` starts an error)."""
    if any(k.startswith("model/") for k in tensors):
        tensors = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(tensors)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise CheckpointError(f"{source}: the file does not fit this model ({first[0].strip()[:200]})") from None
