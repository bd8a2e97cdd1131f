r"""The CTC loss as a function: per-utterance negative log-likelihoods over every alignment.

Connectionist temporal classification (Graves et al., 2006) scores a label
sequence :math:`y` (length :math:`U`) against :math:`T` frames of class scores
without knowing which frame emits which label: it sums the probabilities of all
*alignments* :math:`a \in \{0, \dots, C-1\}^T` that collapse to :math:`y` under
:math:`\mathcal{B}` (merge repeated classes, then drop the blank, class 0):

.. math::

    -\log p(y \mid x) = -\log \sum_{a \in \mathcal{B}^{-1}(y)} \prod_{t=1}^{T} p(a_t \mid x, t)

:func:`ctc_loss` computes it with :func:`torch.nn.functional.ctc_loss` (the
forward-backward recursion), one value per utterance, and
:class:`rnnkit.training.losses.CTC` is the loss object ``compile(loss='ctc')``
builds on it.  The conventions are those of Keras 3's ``keras.losses.ctc``:

* ``y_pred`` holds **logits** by default (``from_logits=True``): a ``log_softmax``
  over the class axis turns them into log-probabilities, so log-probabilities
  (the output of a ``log_softmax``) give the same value; probabilities (the output
  of a ``softmax``) need ``from_logits=False``;
* class 0 is the blank, so it is never a label: ``y_true`` is ``(batch, max_label_len)``
  of integer labels in ``[1, classes)`` padded with 0, and an utterance's labels are
  its non-zero entries, in order (Keras counts them as its target length and reads
  that many from the start, which is the same for labels padded at the end; here
  padding at the start works too);
* the value of an utterance is **not** divided by its target length (PyTorch's
  ``reduction='mean'`` divides, Keras does not); the loss object averages over
  the utterances of the batch, as Keras' ``sum_over_batch_size``.

>>> import torch
>>> from rnnkit.training.ctc import ctc_loss
>>> probs = torch.tensor([[[0.5, 0.5], [0.5, 0.5]]])   # (batch=1, time=2, classes=2): blank, "a"
>>> labels = torch.tensor([[1]])                       # "a": alignments a a, a -, - a
>>> round(ctc_loss(labels, probs.log()).exp().reciprocal().item(), 4)   # p = 3 * 0.25
0.75
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import as_tensor, check_ndim
from ..errors import ShapeError
from .targets import check_mask, log_probs, prepare_inputs

__all__ = ["BLANK", "ctc_loss", "ctc_labels", "ctc_input_lengths", "valid_frames"]

BLANK = 0
"""The blank class of the CTC loss (Keras' ``mask_index``): never a label, and the padding of ``y_true``."""


def _as_lengths(owner: str, name: str, value: Any, batch: int, most: int, device: torch.device,
                what: str) -> torch.Tensor:
    """``value`` as a LongTensor ``(batch,)`` of whole numbers in ``[0, most]``."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    lengths = as_tensor(owner, value, name)
    if lengths.is_floating_point():
        if bool((lengths != lengths.round()).any()):
            raise ShapeError(f"{owner}: `{name}` must hold whole numbers of {what}, got {lengths.tolist()}")
    elif lengths.dtype == torch.bool:
        raise ShapeError(f"{owner}: `{name}` must hold whole numbers of {what}, got a bool tensor; "
                         "a (batch, time) mask goes to the loss object's `mask` argument")
    if tuple(lengths.shape) != (batch,):
        raise ShapeError(f"{owner}: expected `{name}` of shape ({batch},), one per utterance, "
                         f"got shape {tuple(lengths.shape)}")
    lengths = lengths.to(device=device, dtype=torch.long)
    if batch and bool(((lengths < 0) | (lengths > most)).any()):
        raise ShapeError(f"{owner}: `{name}` must lie in [0, {most}] ({what}), got values from "
                         f"{int(lengths.min())} to {int(lengths.max())}")
    return lengths


def ctc_labels(owner: str, y_true: torch.Tensor, batch: int, classes: int,
               target_lengths: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels ``(batch, max_label_len)`` as a LongTensor, and their lengths ``(batch,)``.

    Without ``target_lengths`` an utterance's labels are its non-zero entries, in
    order: they are moved to the front of their row (a stable sort), so zeros may
    pad either end.  With ``target_lengths`` row ``b``'s labels are its first
    ``target_lengths[b]`` entries, as PyTorch reads them, and none of them may be 0.

    >>> import torch
    >>> labels, lengths = ctc_labels("demo", torch.tensor([[3, 1, 0], [0, 0, 2]]), 2, 4)
    >>> labels.tolist(), lengths.tolist()
    ([[3, 1, 0], [2, 0, 0]], [2, 1])
    """
    check_ndim(owner, y_true, 2, "(batch, max_label_len)", "y_true")
    if y_true.shape[0] != batch:
        raise ShapeError(f"{owner}: y_true has {y_true.shape[0]} rows of labels but y_pred {batch} utterances; "
                         "expected y_true of shape (batch, max_label_len)")
    if y_true.dtype == torch.bool:
        raise ShapeError(f"{owner}: expected y_true of integer labels, got a bool tensor")
    if y_true.is_floating_point():
        if bool((y_true != y_true.round()).any()):
            raise ShapeError(f"{owner}: expected y_true of integer labels, got fractional values; "
                             "CTC targets are class ids (batch, max_label_len), not one-hot vectors or probabilities")
    y_true = y_true.long()
    if y_true.numel() and bool(((y_true < 0) | (y_true >= classes)).any()):
        raise ShapeError(
            f"{owner}: labels must lie in [1, {classes}) for y_pred with {classes} classes (class 0 is the blank "
            f"and pads y_true), got values from {int(y_true.min())} to {int(y_true.max())}; pad labels with 0, "
            "not -1, and give the output layer one unit per label plus one for the blank"
        )
    width = y_true.shape[1]
    if target_lengths is None:
        is_label = y_true != BLANK                                                  # (B, S)
        lengths = is_label.sum(dim=1)                                               # (B,)
        # the non-zero entries first, in order (stable), the zeros after them
        order = torch.sort((~is_label).to(torch.uint8), dim=1, stable=True).indices  # (B, S)
        labels = y_true.gather(1, order)
    else:
        lengths = _as_lengths(owner, "target_lengths", target_lengths, batch, width, y_true.device, "labels")
        labels = y_true
        inside = torch.arange(width, device=y_true.device) < lengths[:, None]      # (B, S)
        if bool((inside & (labels == BLANK)).any()):
            raise ShapeError(f"{owner}: a label within `target_lengths` is 0, the blank; labels must lie in "
                             f"[1, {classes}), and 0 may only pad y_true after an utterance's labels")
    if width == 0:  # F.ctc_loss needs a column even when every target is empty
        labels = torch.zeros(batch, 1, dtype=torch.long, device=y_true.device)
    return labels, lengths


def ctc_input_lengths(owner: str, input_lengths: Any, batch: int, time: int, device: torch.device) -> torch.Tensor:
    """``input_lengths`` as a LongTensor ``(batch,)`` in ``[0, time]``; None: every utterance has ``time`` frames."""
    if input_lengths is None:
        return torch.full((batch,), time, dtype=torch.long, device=device)
    return _as_lengths(owner, "input_lengths", input_lengths, batch, time, device, "frames")


def valid_frames(owner: str, y_pred: torch.Tensor, mask: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``y_pred`` with each utterance's valid frames moved to the front (in order), and their number.

    ``mask`` is the ``(batch, time)`` bool mask of valid frames (None: all are
    valid, and the lengths are None).  A mask of frames padded at the end leaves
    ``y_pred`` as it is; one padded at the start (``pad_sequences``' default
    ``padding='pre'``) or anywhere else gets its valid frames gathered to the front.

    >>> import torch
    >>> y = torch.arange(3.0).view(1, 3, 1)
    >>> frames, lengths = valid_frames("demo", y, torch.tensor([[False, True, True]]))
    >>> frames.flatten().tolist(), lengths.tolist()
    ([1.0, 2.0, 0.0], [2])
    """
    if mask is None:
        return y_pred, None
    mask = check_mask(owner, mask, y_pred)
    if mask.dim() != 2:
        raise ShapeError(f"{owner}: expected a (batch, time) mask of valid frames for y_pred "
                         f"{tuple(y_pred.shape)}, got shape {tuple(mask.shape)}")
    lengths = mask.sum(dim=1)                                                       # (B,)
    prefix = torch.arange(mask.shape[1], device=mask.device) < lengths[:, None]     # (B, T)
    if not bool((prefix == mask).all()):
        order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices     # (B, T) valid frames first
        y_pred = y_pred.gather(1, order[:, :, None].expand(-1, -1, y_pred.shape[2]))
    return y_pred, lengths


def ctc_loss(y_true: Any, y_pred: Any, input_lengths: Any = None, target_lengths: Any = None, *,
             from_logits: bool = True, zero_infinity: bool = False) -> torch.Tensor:
    r"""The CTC loss of each utterance, :math:`-\log p(y \mid x)` summed over all alignments (not reduced).

    .. math::

        \ell_b = -\log \sum_{a \in \mathcal{B}^{-1}(y_b)} \prod_{t=1}^{T_b} p(a_t \mid x_b, t),
        \qquad p(\cdot \mid x_b, t) = \mathrm{softmax}(z_{bt}) \text{ if from\_logits else } \hat y_{bt}

    :math:`\mathcal{B}` merges repeated classes and then drops the blank (class 0);
    :math:`T_b` is ``input_lengths[b]``.  Computed by
    :func:`torch.nn.functional.ctc_loss` with ``reduction='none'``, so
    :math:`\ell_b` is not divided by the target length (as in Keras).

    Shape:
        * ``y_true``: ``(batch, max_label_len)`` integer labels in ``[1, classes)``,
          padded with 0 (see :func:`ctc_labels`).
        * ``y_pred``: ``(batch, time, classes)``, class 0 the blank.
        * output: ``(batch,)``, in ``y_pred``'s dtype (float32 for half precision).

    Args:
        y_true: the labels (tensor or NumPy array).
        y_pred: logits (default), log-probabilities, or probabilities with ``from_logits=False``.
        input_lengths: ``(batch,)`` valid frames per utterance, the first ones of
            its row (default None: all ``time`` frames).
        target_lengths: ``(batch,)`` labels per utterance, read from the start of
            its row (default None: the number of non-zero labels, wherever the zeros are).
        from_logits: ``y_pred`` holds logits or log-probabilities (default True, as
            Keras' CTC); False: probabilities, clipped to :math:`[\epsilon, 1-\epsilon]`
            before the log as the other losses do.
        zero_infinity: replace infinite losses (an utterance with fewer frames than
            its labels need: :math:`U` plus the number of repeated neighbours) and
            their gradients by 0 (default False, as PyTorch and Keras: the loss is inf).

    Example:
        >>> import torch
        >>> logits = torch.zeros(2, 3, 4)                 # uniform over 4 classes, 3 frames
        >>> labels = torch.tensor([[1, 2], [3, 0]])
        >>> ctc_loss(labels, logits).shape
        torch.Size([2])
        >>> # "3" in 3 frames: 3--, -3-, --3, 33-, -33, 333: 6 alignments of probability 4^-3, -log(6/64)
        >>> round(ctc_loss(labels, logits)[1].item(), 4)
        2.3671
    """
    owner = "ctc_loss"
    y_true, y_pred = prepare_inputs(owner, y_true, y_pred)
    check_ndim(owner, y_pred, 3, "(batch, time, classes)", "y_pred")
    batch, time, classes = y_pred.shape
    if classes < 2:
        raise ShapeError(f"{owner}: y_pred needs at least 2 classes (the blank 0 and one label), got shape "
                         f"{tuple(y_pred.shape)}")
    labels, label_lengths = ctc_labels(owner, y_true, batch, classes, target_lengths)
    frames = ctc_input_lengths(owner, input_lengths, batch, time, y_pred.device)
    # log p(k | x, t)                                                               (B, T, C)
    logp = log_probs(y_pred, from_logits)
    # ℓ_b = -log Σ_{a ∈ B⁻¹(y_b)} Π_t p(a_t | x_b, t), by the forward-backward recursion
    return F.ctc_loss(logp.transpose(0, 1), labels, frames, label_lengths, blank=BLANK, reduction="none",
                      zero_infinity=zero_infinity)
