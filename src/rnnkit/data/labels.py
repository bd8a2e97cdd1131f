"""Class labels: one-hot arrays (Keras' :func:`to_categorical`), a stratified split, a natural label order.

>>> to_categorical([1, 0], num_classes=3).tolist()
[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._validation import check_positive_int
from ..errors import ConfigError

__all__ = ["to_categorical", "stratified_split", "label_sort_key", "containment_groups"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels; the output gains a trailing axis of size ``num_classes``.

    A trailing axis of size 1 in ``y`` (e.g. shape ``(n, 1)``) is dropped
    first, as Keras does.

    Args:
        y: integer labels in ``[0, num_classes)`` (any array-like).
        num_classes: the number of classes; ``None`` uses ``max(y) + 1``.
        dtype: the output dtype.

    >>> to_categorical([0, 2, 1]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    >>> to_categorical([[1], [0]], num_classes=2).shape
    (2, 2)
    """
    arr = np.asarray(y)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ConfigError(f"to_categorical: labels must be integers, got dtype {arr.dtype}")
    if arr.size and np.issubdtype(arr.dtype, np.floating) and not np.all(np.floor(arr) == arr):
        raise ConfigError("to_categorical: labels must be whole numbers (class indices), got fractional values")
    arr = arr.astype(np.int64)
    shape = arr.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = arr.ravel()
    if num_classes is None:
        if not flat.size:
            raise ConfigError("to_categorical: `y` is empty; pass `num_classes=` to fix the output width")
        num_classes = int(flat.max()) + 1
    else:
        num_classes = check_positive_int("to_categorical", "num_classes", num_classes)
    if flat.size:
        bad = np.flatnonzero((flat < 0) | (flat >= num_classes))
        if bad.size:
            k = int(bad[0])
            raise ConfigError(
                f"to_categorical: label {int(flat[k])} at flat position {k} is outside [0, {num_classes}); "
                "labels must be 0 .. num_classes - 1"
            )
    out = np.zeros((flat.size, num_classes), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(tuple(shape) + (num_classes,))


def label_sort_key(label: str) -> tuple:
    """Numbers in numeric order, then words in alphabetical order ('2' < '10' < 'neg' < 'pos')."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def stratified_split(labels: Sequence[str], fraction: float, seed: int,
                     groups: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): ``fraction`` of every class held out (at least one where it has two or more).

    With ``groups`` (a key per example: a movie, a speaker, an author), whole groups
    are held out, so no group has examples on both sides: each group counts for the
    class most of its examples have, and a class's groups are held out in random
    order until its share is reached (at least one group stays in training).

    >>> keep, held = stratified_split(["a"] * 8 + ["b"] * 4, 0.25, seed=0)
    >>> [str(v) for v in sorted(np.array(["a"] * 8 + ["b"] * 4)[held])]
    ['a', 'a', 'b']
    >>> keep, held = stratified_split(["a"] * 8, 0.25, seed=0, groups=[0, 0, 1, 1, 2, 2, 3, 3])
    >>> len(held), len({i // 2 for i in held})  # one whole group of two
    (2, 1)
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"a split fraction must be between 0 and 1, got {fraction!r}")
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    if groups is not None:
        return _grouped_split(y, groups, fraction, rng)
    kept, held = [], []
    for cls in sorted(set(labels), key=label_sort_key):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        else:
            n = 0
        held.append(idx[:n])
        kept.append(idx[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def _grouped_split(y: np.ndarray, groups: Sequence[Any], fraction: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if len(groups) != len(y):
        raise ConfigError(f"stratified_split: {len(groups)} group keys for {len(y)} labels; give one key per example")
    members: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    by_class: dict[str, list[Any]] = {}
    for g, idx in members.items():
        values, counts = np.unique(y[idx], return_counts=True)
        by_class.setdefault(values[counts.argmax()], []).append(g)
    held = []
    for cls in sorted(by_class, key=lambda c: label_sort_key(str(c))):
        names = by_class[cls]
        order = rng.permutation(len(names))
        target = int(round(sum(len(members[g]) for g in names) * fraction))
        taken = 0
        for k in order[: len(names) - 1]:  # at least one group stays in training
            if taken >= target:
                break
            held += members[names[k]]
            taken += len(members[names[k]])
    mask = np.zeros(len(y), dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def containment_groups(texts: Sequence[str]) -> list[int]:
    """A group per text: the index of the longest text that holds it as a run of whole words.

    Phrase-level datasets (SST-2's 67k training phrases come from 6.9k parsed
    sentences) hold each sentence and its sub-phrases; a random split puts a
    phrase in validation while its sentence is trained on.  Grouping each text
    with a text containing it (:func:`stratified_split`'s ``groups``) keeps a
    sentence and its phrases on one side.  Texts are compared as space-separated
    words, longest first; a text no longer text contains is a group of its own.

    >>> containment_groups(["a fine film", "fine film", "film", "dull"])
    [0, 0, 0, 3]
    """
    words = [" ".join(str(t).split()) for t in texts]
    counts: dict[str, int] = {}
    for w in words:
        for token in set(w.split()):
            counts[token] = counts.get(token, 0) + 1
    roots_with: dict[str, list[int]] = {}  # token -> the root texts holding it
    group = [0] * len(words)
    for i in sorted(range(len(words)), key=lambda k: (-len(words[k]), k)):
        tokens = words[i].split()
        padded = f" {words[i]} "
        rarest = min(tokens, key=lambda t: counts[t]) if tokens else ""
        # a root holding the text holds its rarest word: only those roots are searched
        found = next((r for r in roots_with.get(rarest, ()) if padded in f" {words[r]} "), None)
        if found is None:
            found = i
            for token in set(tokens):
                roots_with.setdefault(token, []).append(i)
        group[i] = found
    return group
