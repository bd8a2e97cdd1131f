"""Targets, predictions and masks as losses and metrics both read them: one shared home with public names.

:func:`prepare_inputs` turns ``(y_true, y_pred)`` into tensors on one device (float32
under mixed precision); :func:`align_dense` and :func:`class_ids` check and shape
dense targets and integer class ids; :func:`masked_sum_count` and :func:`masked_mean`
reduce per-step values over the valid steps of a ``(batch, time)`` mask;
:func:`log_probs` and :func:`sparse_cross_entropy` are the clipped log-probability
maths.  :mod:`rnnkit.training.losses` and :mod:`rnnkit.training.metrics` both use
them; neither imports the other's private helpers.

>>> import torch
>>> values = torch.tensor([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])
>>> mask = torch.tensor([[True, True, False], [True, False, False]])
>>> total, count = masked_sum_count("demo", values, mask)
>>> float(total), float(count), float(masked_mean("demo", values, mask))
(6.0, 3.0, 2.0)
"""
from __future__ import annotations

from typing import Any

import torch

from .._validation import as_tensor, check_floating
from ..errors import ShapeError

__all__ = [
    "EPSILON", "prepare_inputs", "align_dense", "class_ids", "check_mask", "per_step",
    "masked_sum_count", "masked_mean", "log_probs", "sparse_cross_entropy",
]

EPSILON = 1e-7
"""Clip applied to probabilities before taking logs (Keras' ``backend.epsilon()``)."""


def prepare_inputs(owner: str, y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
    y_true = as_tensor(owner, y_true, "y_true")
    y_pred = as_tensor(owner, y_pred, "y_pred")
    check_floating(owner, y_pred, "y_pred")
    if y_pred.dtype in (torch.float16, torch.bfloat16):
        y_pred = y_pred.float()  # losses and metrics in float32 under mixed precision
    if y_true.device != y_pred.device:
        y_true = y_true.to(y_pred.device)
    return y_true, y_pred


def align_dense(owner: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``y_true`` as a float tensor of ``y_pred``'s shape (only a trailing axis of size 1 may differ)."""
    if y_true.shape != y_pred.shape:
        if y_true.dim() == y_pred.dim() - 1 and y_pred.shape[-1] == 1 and y_true.shape == y_pred.shape[:-1]:
            y_true = y_true.unsqueeze(-1)
        elif y_true.dim() == y_pred.dim() + 1 and y_true.shape[-1] == 1 and y_true.shape[:-1] == y_pred.shape:
            y_true = y_true.squeeze(-1)
        else:
            raise ShapeError(
                f"{owner}: expected y_true with the shape of y_pred {tuple(y_pred.shape)}, got {tuple(y_true.shape)}; "
                "targets must match the model output (integer class ids go with sparse_categorical_crossentropy)"
            )
    return y_true.to(y_pred.dtype)


def class_ids(owner: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Integer class ids of shape ``y_pred.shape[:-1]``, checked to lie in ``[0, classes)``."""
    lead = y_pred.shape[:-1]
    if y_true.shape == lead + (1,) and y_true.shape != lead:
        y_true = y_true.squeeze(-1)
    if y_true.shape != lead:
        raise ShapeError(
            f"{owner}: expected y_true of integer class ids with shape {tuple(lead)} (y_pred {tuple(y_pred.shape)} "
            f"without its class axis), got shape {tuple(y_true.shape)}; one-hot targets go with "
            "categorical_crossentropy"
        )
    if y_true.is_floating_point() or y_true.dtype == torch.bool:
        y_true = y_true.long()
    classes = y_pred.shape[-1]
    if y_true.numel() and bool(((y_true < 0) | (y_true >= classes)).any()):
        raise ShapeError(
            f"{owner}: class ids must lie in [0, {classes}) for y_pred with {classes} classes, got values from "
            f"{int(y_true.min())} to {int(y_true.max())}; check the number of output units or the vocabulary size"
        )
    return y_true.long()


def check_mask(owner: str, mask: Any, values: torch.Tensor) -> torch.Tensor:
    mask = as_tensor(owner, mask, "mask")
    if mask.device != values.device:
        mask = mask.to(values.device)
    if mask.dim() > values.dim() or mask.shape != values.shape[: mask.dim()]:
        raise ShapeError(
            f"{owner}: expected a mask whose shape is a prefix of the per-step values {tuple(values.shape)} "
            f"(usually (batch, time)), got {tuple(mask.shape)}; pass a mask only when the model returns sequences"
        )
    return mask.bool()


def per_step(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """Mean of ``values`` over every axis after the first ``ndim``."""
    if values.dim() > ndim:
        return values.mean(dim=tuple(range(ndim, values.dim())))
    return values


def masked_sum_count(owner: str, values: torch.Tensor, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of per-step values over valid steps, number of valid steps); the count is a float tensor."""
    if mask is None:
        return values.sum(), torch.tensor(float(values.numel()), device=values.device)
    mask = check_mask(owner, mask, values)
    steps = per_step(values, mask.dim())
    total = torch.where(mask, steps, torch.zeros((), dtype=steps.dtype, device=steps.device)).sum()
    return total, mask.sum().to(steps.dtype)


def masked_mean(owner: str, values: torch.Tensor, mask: Any) -> torch.Tensor:
    if mask is None:
        return values.mean()
    total, count = masked_sum_count(owner, values, mask)
    return total / count.clamp_min(1.0)


def log_probs(y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    """log p over the last axis: log_softmax of logits, or log of renormalised, clipped probabilities."""
    if from_logits:
        return torch.log_softmax(y_pred, dim=-1)
    p = y_pred / y_pred.sum(dim=-1, keepdim=True)
    return torch.log(p.clamp(EPSILON, 1.0 - EPSILON))


def sparse_cross_entropy(y_true_ids: torch.Tensor, y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    """Per-prediction cross-entropy -log p[y] for integer ids."""
    return -log_probs(y_pred, from_logits).gather(-1, y_true_ids.unsqueeze(-1)).squeeze(-1)


