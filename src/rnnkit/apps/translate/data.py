"""The translation app's data: sentence pairs, a split that cannot leak, vocabularies and batches.

* :func:`load_pairs`: a registered dataset (``tatoeba-fra-eng``, ``tatoeba-cmn-eng``)
  or a TSV file of ``source<TAB>target`` lines (a third column, such as Tatoeba's
  attribution, is ignored), turned to the direction asked for.
* :func:`split_by_source`: validation and test parts made of whole groups of
  pairs sharing a source sentence, so no test or validation source is ever
  seen in training — Tatoeba translates one English sentence many ways, and a
  random split of pairs would test on training sources.  Groups are ordered by
  a keyed hash of their source, so the split depends only on the data and
  the split seed, not on the model or the file's order.
* :class:`PairBatches`: ``(pairs (B, 2, L), target_out (B, T))`` batches of
  similar lengths for :meth:`rnnkit.models.Seq2Seq.fit`.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from rnnkit.data import BucketBatchSampler, Vocab
from rnnkit import datasets
from rnnkit._io import decode_utf8
from rnnkit.errors import DatasetError


__all__ = ["DATASETS", "read_pairs", "load_pairs", "Pairs", "split_by_source", "PairBatches"]

#: registered datasets of sentence pairs and the languages of their two columns
DATASETS = {"tatoeba-fra-eng": ("en", "fr"), "tatoeba-cmn-eng": ("en", "zh")}


@dataclass
class Pairs:
    """Sentence pairs in the direction of training: ``sources[i]`` translates to ``targets[i]``."""

    sources: list[str]
    targets: list[str]
    source_lang: str
    target_lang: str
    skipped: int = 0  # lines with an empty side

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, index: Sequence[int]) -> "Pairs":
        return Pairs([self.sources[i] for i in index], [self.targets[i] for i in index], self.source_lang,
                     self.target_lang)


def read_pairs(path: str | Path) -> tuple[list[tuple[str, str]], int]:
    """(the ``(first, second)`` columns of every line of a TSV file, lines skipped for an empty side).

    Raises DatasetError naming the line for bytes that are not UTF-8 or a line without a TAB.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"--data {path} is a folder; give one TSV file of source<TAB>target lines")
    if not path.is_file():
        other = str(path) in datasets.available()  # a registered dataset of another kind (imdb ...)
        raise DatasetError(f"--data {path}: " + ("not a dataset of sentence pairs" if other else "no such file")
                           + f" (registered pairs: {', '.join(DATASETS)}; or a TSV file of source<TAB>target lines)")
    text = decode_utf8(path.read_bytes(), path)
    pairs, skipped = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise DatasetError(f"{path}: line {number} has no TAB; each line must be 'source<TAB>target' "
                               f"(got {line[:60]!r})")
        source, target = parts[0].strip(), parts[1].strip()
        if not source or not target:
            skipped += 1
            continue
        pairs.append((source, target))
    if not pairs:
        raise DatasetError(f"{path}: no sentence pairs found; each line must be 'source<TAB>target'")
    return pairs, skipped


def load_pairs(data: str, source: str | None, target: str | None) -> Pairs:
    """The pairs of ``data`` from language ``source`` to ``target``.

    A registered dataset knows its languages (``--source``/``--target`` pick the
    direction; default English to the other); in a file the first column is the
    source and the second the target, and ``source``/``target`` only name their
    languages (default ``src``/``tgt``).
    """
    if data in DATASETS:
        langs = DATASETS[data]
        src = source or (langs[0] if target != langs[0] else langs[1])
        tgt = target or (langs[1] if src == langs[0] else langs[0])
        for flag, lang in (("--source", src), ("--target", tgt)):
            if lang not in langs:
                raise DatasetError(f"{flag} {lang}: {data} holds {langs[0]} and {langs[1]}; choose one of them")
        if src == tgt:
            raise DatasetError(f"--source and --target are both {src}; translate between {langs[0]} and {langs[1]}")
        rows = datasets.load(data, "all")
        skipped = 0
        if src != langs[0]:
            rows = [(b, a) for a, b in rows]
    else:
        rows, skipped = read_pairs(data)
        src, tgt = source or "src", target or "tgt"
    rows = [(a.strip(), b.strip()) for a, b in rows]
    kept = [(a, b) for a, b in rows if a and b]
    return Pairs([a for a, _ in kept], [b for _, b in kept], src, tgt, skipped + len(rows) - len(kept))


def _key(seed: int, text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()


def split_by_source(groups: Sequence[str], seed: int = 0, valid: float = 0.05, test: float = 0.05,
                    min_test: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, valid, test) of pairs whose source is ``groups[i]``; a source lies in one part only.

    Groups are taken in the order of a keyed hash of the source (``seed`` the
    key) into the test part until it holds ``test`` of the pairs (and at least
    ``min_test`` pairs when that leaves four fifths for the rest), then into the
    validation part until it holds ``valid``; the rest is for training.

    >>> train, valid, test = split_by_source(["a", "b", "a", "c", "d", "b"] * 5, valid=0.2, test=0.2, min_test=0)
    >>> sorted(set(np.array(["a", "b", "a", "c", "d", "b"] * 5)[test]) & set(np.array(["a", "b", "a", "c", "d", "b"] * 5)[train]))
    []
    """
    n = len(groups)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    order = sorted(members, key=lambda g: _key(seed, g))
    want_test = max(math.ceil(test * n), min(min_test, n // 5))
    want_valid = math.ceil(valid * n)
    parts: list[list[int]] = [[], [], []]  # test, valid, train
    for g in order:
        part = 0 if len(parts[0]) < want_test else 1 if len(parts[1]) < want_valid else 2
        parts[part].extend(members[g])
    test_idx, valid_idx, train_idx = (np.array(sorted(p), dtype=np.int64) for p in parts)
    return train_idx, valid_idx, test_idx


class PairBatches:
    """``(pairs (B, 2, L), target_out (B, T))`` batches of similar lengths, right-padded with 0.

    ``pairs[:, 0]`` holds the source ids, ``pairs[:, 1]`` the decoder's input
    (``<bos>`` then the target), ``target_out`` the target then ``<eos>``.
    Reshuffled on every pass (from ``seed``) unless ``shuffle`` is False.
    """

    def __init__(self, sources: list[np.ndarray], targets: list[np.ndarray], batch_size: int, shuffle: bool,
                 seed: int = 0) -> None:
        self.sources, self.targets = sources, targets
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        # sorted by target length, then source length, within each bucket
        lengths = [len(t) * 1000 + len(s) for s, t in zip(sources, targets)]
        self.sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, generator=generator)

    def __len__(self) -> int:
        return len(self.sampler)

    def batch(self, index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        src = [self.sources[i] for i in index]
        tgt = [self.targets[i] for i in index]
        width_t = max(len(t) for t in tgt) + 1
        width = max(max(len(s) for s in src), width_t)
        pairs = np.zeros((len(index), 2, width), dtype=np.int64)  # (B, 2, L)
        out = np.zeros((len(index), width_t), dtype=np.int64)  # (B, T)
        for row, (s, t) in enumerate(zip(src, tgt)):
            pairs[row, 0, : len(s)] = s
            pairs[row, 1, 0] = Vocab.bos_id
            pairs[row, 1, 1 : len(t) + 1] = t
            out[row, : len(t)] = t
            out[row, len(t)] = Vocab.eos_id
        return torch.from_numpy(pairs), torch.from_numpy(out)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for index in self.sampler:
            yield self.batch(index)
