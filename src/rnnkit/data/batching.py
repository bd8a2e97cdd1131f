"""Batching for sequence data: a length-bucketing sampler and a language-model stream.

* :class:`BucketBatchSampler` groups examples of similar length into the same
  batch, so padded batches waste fewer time steps; :func:`padding_fraction`
  measures how much of a set of padded batches is padding.
* :class:`LMStream` turns one long token array (in memory, or a ``.npy`` file
  memory-mapped so a corpus larger than RAM trains) into contiguous
  ``(batch, steps)`` chunks for stateful truncated back-propagation through time;
  :func:`save_tokens` writes such a ``.npy`` file atomically.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from .._validation import check_bool, check_positive_int
from .._io import atomic_write
from ..errors import ConfigError, ShapeError

__all__ = ["BucketBatchSampler", "padding_fraction", "LMStream", "save_tokens"]


def _lengths_array(owner: str, lengths: Any) -> np.ndarray:
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    try:
        arr = np.asarray(lengths)
    except (TypeError, ValueError):
        raise ConfigError(f"{owner}: `lengths` must be a 1-D sequence of non-negative ints") from None
    if arr.ndim != 1 or arr.dtype == object or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise ConfigError(
            f"{owner}: `lengths` must be a 1-D sequence of non-negative ints, got dtype {arr.dtype} shape {arr.shape}"
        )
    if arr.size and arr.min() < 0:
        raise ConfigError(f"{owner}: `lengths` must be non-negative, got {int(arr.min())}")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------- bucketing


class BucketBatchSampler(Sampler):
    """Yield batches of indices whose examples have similar lengths, to cut padding.

    Each epoch: the indices are shuffled, cut into chunks of
    ``batch_size * bucket_size_multiplier`` examples, each chunk is sorted by length
    (stable, so equal lengths keep their random order) and cut into batches, and
    the order of all batches is shuffled.  Every index appears exactly once per
    epoch.  With ``shuffle=False`` the chunks follow the stored order and the
    batches are yielded in order (deterministic; useful for evaluation).  A larger
    multiplier gives tighter batches but less randomness in which examples meet.

    Use it as ``DataLoader(dataset, batch_sampler=BucketBatchSampler(lengths, 32),
    collate_fn=...)``.

    Args:
        lengths: length of every example, a 1-D sequence of non-negative ints.
        batch_size: examples per batch.
        shuffle: shuffle the examples and the batch order every epoch.
        bucket_size_multiplier: a chunk holds this many batches.
        drop_last: drop the last, incomplete batch (at most one per epoch).
        generator: a ``torch.Generator`` for reproducible shuffling; ``None`` uses
            torch's global random state.

    Example:
        >>> sampler = BucketBatchSampler([5, 1, 4, 2, 3, 1], batch_size=2, shuffle=False)
        >>> list(sampler)
        [[1, 5], [3, 4], [2, 0]]
        >>> len(sampler)
        3
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        bucket_size_multiplier: int = 100,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ):
        owner = "BucketBatchSampler"
        self.lengths = _lengths_array(owner, lengths)
        self.batch_size = check_positive_int(owner, "batch_size", batch_size)
        self.shuffle = check_bool(owner, "shuffle", shuffle)
        self.bucket_size_multiplier = check_positive_int(owner, "bucket_size_multiplier", bucket_size_multiplier)
        self.drop_last = check_bool(owner, "drop_last", drop_last)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ConfigError(f"{owner}: `generator` must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).numpy()
        else:
            order = np.arange(n)
        chunk = self.batch_size * self.bucket_size_multiplier
        batches: list[np.ndarray] = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size))
        # chunks hold whole batches, so only the very last batch can be short
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        for batch in batches:
            yield batch.tolist()


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of the padded ``(batch, max length)`` slots that are padding, over all ``batches``.

    Each batch is padded to its longest example; the result is
    ``(padded - real) / padded`` with ``padded = sum(len(batch) * max length in batch)``
    and ``real`` the sum of the lengths (0.0 when
    there is nothing to pad).  Compare a bucketed and a random batching of the
    same examples to see the padding saved.

    Args:
        lengths: length of every example.
        batches: batches of indices into ``lengths`` (e.g. ``list(sampler)``).

    Example:
        >>> padding_fraction([1, 3, 2, 2], [[0, 1], [2, 3]])  # 2 of 10 slots are padding
        0.2
    """
    arr = _lengths_array("padding_fraction", lengths)
    real = padded = 0
    for batch in batches:
        idx = np.asarray(list(batch), dtype=np.int64)
        if idx.size == 0:
            continue
        if idx.min() < -len(arr) or idx.max() >= len(arr):
            raise ConfigError(f"padding_fraction: batch index out of range for {len(arr)} lengths")
        sizes = arr[idx]
        real += int(sizes.sum())
        padded += int(sizes.max()) * idx.size
    return 0.0 if padded == 0 else (padded - real) / padded


# --------------------------------------------------------------------------- LM stream


def _token_array(owner: str, tokens: Any) -> np.ndarray:
    if isinstance(tokens, (str, os.PathLike)):
        path = Path(tokens)
        if not path.is_file():
            raise ConfigError(f"{owner}: token file {str(path)!r} does not exist")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{owner}: {str(path)!r} is not a readable .npy token file ({exc})") from None
    elif isinstance(tokens, torch.Tensor):
        arr = tokens.detach().cpu().numpy()
    else:
        arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ShapeError(f"{owner}: expected a 1-D token array, got {arr.ndim} dims with shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or (arr.size == 0 and arr.dtype == np.float64)):
        raise ShapeError(f"{owner}: expected integer token ids, got dtype {arr.dtype}")
    return arr


class LMStream:
    """Contiguous ``(batch, steps)`` chunks of a token array, for stateful truncated BPTT.

    The tokens are cut into ``batch_size`` contiguous rows of
    ``row_len = len(tokens) // batch_size`` tokens (the "batchify" of Zaremba et
    al.); the last ``len(tokens) % batch_size`` tokens, which cannot fill every
    row, are dropped.  Row ``b`` is ``tokens[b*row_len : (b+1)*row_len]``.  Chunk
    ``k`` is ``x = rows[:, k*steps : k*steps + s]`` and
    ``y = rows[:, k*steps + 1 : k*steps + 1 + s]`` (``y`` is ``x`` shifted by one
    token), where ``s = steps`` except for the last chunk, which is shorter when
    ``row_len - 1`` is not a multiple of ``steps`` (or dropped with
    ``drop_last=True``).  So row ``b`` of chunk ``k`` continues row ``b`` of chunk
    ``k - 1`` exactly and a recurrent state can be carried from one chunk to the
    next.

    ``tokens`` may be a path to a ``.npy`` file: it is opened with
    ``np.load(mmap_mode='r')`` and only the chunk being yielded is read into
    memory.  The stream can be iterated once per epoch, and passed straight to
    ``fit`` (it yields ``(x, y)`` int64 tensor pairs).

    Args:
        tokens: a 1-D integer array or tensor, or a path to a ``.npy`` file of one.
        batch_size: number of parallel rows (>= 1).
        steps: time steps per chunk (the BPTT length, >= 1).
        drop_last: drop a final chunk shorter than ``steps``.

    Example:
        >>> import numpy as np
        >>> stream = LMStream(np.arange(10), batch_size=2, steps=2)
        >>> len(stream)
        2
        >>> [(x.tolist(), y.tolist()) for x, y in stream]
        [([[0, 1], [5, 6]], [[1, 2], [6, 7]]), ([[2, 3], [7, 8]], [[3, 4], [8, 9]])]
    """

    def __init__(self, tokens: Any, batch_size: int, steps: int, drop_last: bool = False):
        owner = "LMStream"
        self.batch_size = check_positive_int(owner, "batch_size", batch_size)
        self.steps = check_positive_int(owner, "steps", steps)
        self.drop_last = check_bool(owner, "drop_last", drop_last)
        arr = _token_array(owner, tokens)
        self.num_tokens = int(arr.shape[0])
        self.row_len = self.num_tokens // self.batch_size
        if self.row_len < 2:
            raise ShapeError(
                f"{owner}: {self.num_tokens} tokens give rows of {self.row_len} tokens for batch_size="
                f"{self.batch_size}; each row needs at least 2 (an input and its next token), so give at least "
                f"{2 * self.batch_size} tokens or a smaller batch_size"
            )
        self.dropped_tokens = self.num_tokens - self.row_len * self.batch_size
        # a contiguous slice and a reshape are views: a memory map stays unread here
        self._rows = arr[: self.row_len * self.batch_size].reshape(self.batch_size, self.row_len)

    def __len__(self) -> int:
        pairs = self.row_len - 1  # positions that have a next token
        return pairs // self.steps if self.drop_last else math.ceil(pairs / self.steps)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Chunk ``k`` as ``(x, y)`` int64 tensors of shape ``(batch_size, s)``."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise ConfigError(f"LMStream: chunk index must be an int, got {type(k).__name__}")
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"LMStream: chunk {k} out of range for {n} chunks")
        start = k * self.steps
        size = min(self.steps, self.row_len - 1 - start)
        block = np.array(self._rows[:, start : start + size + 1], dtype=np.int64)  # one read, one copy
        return torch.from_numpy(block[:, :-1].copy()), torch.from_numpy(block[:, 1:].copy())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for k in range(len(self)):
            yield self[k]

    def __repr__(self) -> str:
        return (
            f"LMStream(num_tokens={self.num_tokens}, batch_size={self.batch_size}, steps={self.steps}, "
            f"chunks={len(self)}, dropped_tokens={self.dropped_tokens})"
        )


def save_tokens(path: str | os.PathLike, tokens: Any) -> Path:
    """Write a 1-D integer token array to a ``.npy`` file atomically, for :class:`LMStream`.

    The array goes to a temporary file in the same folder, is flushed to disk and
    then renamed over ``path`` with ``os.replace``, so a reader never sees a
    half-written file and an interrupted write leaves the old file (if any) intact.
    The name is used as given (no ``.npy`` is appended).

    Args:
        path: destination file.
        tokens: a 1-D integer array, tensor or list.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Example:
        >>> import numpy as np, tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> p = save_tokens(os.path.join(folder, "toks.npy"), np.arange(6))
        >>> np.load(p).tolist()
        [0, 1, 2, 3, 4, 5]
    """
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.detach().cpu().numpy()
    arr = np.asarray(tokens)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ShapeError(f"save_tokens: expected a 1-D integer array, got dtype {arr.dtype} shape {arr.shape}")
    with atomic_write(path) as fh:
        np.save(fh, arr, allow_pickle=False)
    return Path(path)
