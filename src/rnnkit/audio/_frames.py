"""Feature tensors and their valid frames, shared by the normalisers and SpecAugment."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import as_tensor
from ..errors import ConfigError, ShapeError


def as_features(owner: str, features: Any) -> tuple[torch.Tensor, bool]:
    """``features`` as a float ``(batch, frames, features)`` tensor, and whether it came as one utterance (2-D)."""
    x = as_tensor(owner, features, "features")
    if x.dim() not in (2, 3):
        raise ShapeError(
            f"{owner}: expected features of 2 or 3 dims (frames, features) or (batch, frames, features), "
            f"got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ShapeError(f"{owner}: expected floating-point features, got dtype {x.dtype}; convert them with .float()")
    return (x[None], True) if x.dim() == 2 else (x, False)


def valid_frames(owner: str, x: torch.Tensor, lengths: Any, mask: Any, single: bool) -> torch.Tensor | None:
    """The ``(batch, frames)`` bool mask of real (not padding) frames, or None when every frame is real."""
    if lengths is not None and mask is not None:
        raise ConfigError(f"{owner}: give `lengths` or `mask`, not both")
    if lengths is None and mask is None:
        return None
    if single:
        raise ConfigError(f"{owner}: `lengths` and `mask` are for a padded batch (batch, frames, features); "
                          f"got one utterance of shape {tuple(x.shape[1:])}")
    batch, frames = x.shape[0], x.shape[1]
    if mask is not None:
        m = as_tensor(owner, mask, "mask")
        if m.shape != (batch, frames) or m.dtype != torch.bool:
            raise ShapeError(f"{owner}: `mask` must be a bool tensor of shape (batch, frames) = {(batch, frames)} "
                             f"(True at real frames), got {m.dtype} of shape {tuple(m.shape)}")
        return m.to(x.device)
    if isinstance(lengths, (list, tuple)):
        lengths = np.asarray(lengths)
    n = as_tensor(owner, lengths, "lengths")
    if n.shape != (batch,) or n.is_floating_point() or n.dtype == torch.bool or n.is_complex():
        raise ShapeError(f"{owner}: `lengths` must be {batch} integer frame counts (one per utterance), "
                         f"got {n.dtype} of shape {tuple(n.shape)}")
    if batch and (int(n.min()) < 0 or int(n.max()) > frames):
        raise ConfigError(f"{owner}: `lengths` must lie in [0, {frames}] (the padded frames), "
                          f"got {int(n.min())} to {int(n.max())}")
    # mask[b, t] = t < lengths[b]
    return torch.arange(frames, device=x.device)[None, :] < n.to(x.device)[:, None]
