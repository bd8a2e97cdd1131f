"""One training process of the data-parallel tests: ``python worker.py SCENARIO OUT`` alone, or under torchrun.

Each scenario seeds everything, builds a model, fits it (``batch_size`` is the
global batch) and, on rank 0, saves the final weights to ``OUT/weights.pt``;
``OUT/pid-RANK`` holds each process id (for the kill test), and
``OUT/threads-RANK`` the names of the process's threads as the last exit
handler sees them (after rnnkit's own have run).  Used by
``test_distributed.py``; not a test module itself.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

import rnnkit
from rnnkit.data import LMStream
from rnnkit.layers import LSTM, Dense, Embedding, TimeDistributed
from rnnkit.models import Sequential
from rnnkit.training.callbacks import CSVLogger, ModelCheckpoint


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def lstm(out: Path) -> torch.nn.Module:
    """A Sequential LSTM regressor on arrays, shuffled, 2 epochs at global batch 32 (70 rows: a last batch of 6),
    validated on 21 rows."""
    rnnkit.set_seed(0)
    gen = np.random.default_rng(0)
    x = gen.normal(size=(91, 12, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] * 0.1
    model = Sequential([LSTM(16, name="lstm"), Dense(1, name="head")])
    model.compile("adam", "mse", metrics=["mae"], device="cpu")
    model.fit(x[:70], y[:70], batch_size=int(os.environ.get("BATCH", "32")), epochs=2, verbose=0,
              validation_data=(x[70:], y[70:]),  # 21 rows: 11 and 10 on 2 ranks
              callbacks=[CSVLogger(str(out / f"log-{_rank()}.csv")),
                         ModelCheckpoint(str(out / f"ckpt-{_rank()}.safetensors"), save_weights_only=False)])
    return model


def tbptt(out: Path) -> torch.nn.Module:
    """A stateful LSTM language model on an LMStream (16 rows of 25 steps), truncated BPTT of 5 steps, 2 epochs."""
    rnnkit.set_seed(1)
    gen = np.random.default_rng(1)
    tokens = np.empty(4000, dtype=np.int64)  # a learnable stream: each token mostly follows from the last
    tokens[0] = 1
    for i in range(1, len(tokens)):
        tokens[i] = (tokens[i - 1] * 7 + 3) % 29 + 1 if gen.random() < 0.8 else gen.integers(1, 30)
    stream = LMStream(tokens, batch_size=16, steps=25)
    model = Sequential([Embedding(30, 8, name="embed"), LSTM(16, return_sequences=True, stateful=True, name="lstm"),
                        TimeDistributed(Dense(30, activation="softmax"), name="head")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    model.fit(stream, batch_size=16, epochs=2, verbose=0, shuffle=False, tbptt_steps=5)
    return model


def _bucketed(n: int = 90, batch: int = 16, seed: int = 2):
    """Padded token batches of similar lengths (length bucketing), labels per step and per text."""
    gen = np.random.default_rng(seed)
    lengths = gen.integers(3, 20, size=n)
    order = np.argsort(lengths, kind="stable")
    batches = []
    for start in range(0, n, batch):
        idx = order[start:start + batch]
        width = int(lengths[idx].max())
        x = np.zeros((len(idx), width), dtype=np.int64)
        tags = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            x[row, :lengths[i]] = gen.integers(1, 25, size=lengths[i])
            tags[row, :lengths[i]] = x[row, :lengths[i]] % 3
        batches.append((torch.from_numpy(x), torch.from_numpy(tags)))
    return batches


class Batches:
    """Re-iterable bucketed batches, shuffled per epoch from torch's generator (as an app's batcher does)."""

    def __init__(self, batches, shuffle: bool = True):
        self.items, self.shuffle = batches, shuffle

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        order = torch.randperm(len(self.items)).tolist() if self.shuffle else range(len(self.items))
        for i in order:
            yield self.items[i]


def masked(out: Path) -> torch.nn.Module:
    """A masked tagger (a loss per valid step) on bucketed batches of different sizes and lengths, 2 epochs,
    validated on other bucketed batches."""
    rnnkit.set_seed(2)
    model = Sequential([Embedding(25, 8, mask_zero=True, name="embed"), LSTM(12, return_sequences=True, name="lstm"),
                        TimeDistributed(Dense(3, activation="softmax"), name="head")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    model.fit(Batches(_bucketed()), batch_size=16, epochs=2, verbose=0,
              validation_data=Batches(_bucketed(n=37, seed=12), shuffle=False))  # masked: a mean over valid steps
    return model


def classify(out: Path) -> torch.nn.Module:
    """A masked classifier (one label per text) on bucketed batches, 2 epochs."""
    rnnkit.set_seed(3)
    batches = [(x, (y[:, 0] > 0).long()) for x, y in _bucketed(seed=3)]
    model = Sequential([Embedding(25, 8, mask_zero=True, name="embed"), LSTM(12, name="lstm"), Dense(2, activation="softmax", name="head")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    model.fit(Batches(batches), batch_size=16, epochs=2, verbose=0)
    return model


def sampler(out: Path) -> torch.nn.Module:
    """A DataLoader with a DistributedSampler (each rank's share already, 16 rows a rank) against 1 process reading
    the same sampler with 1 replica at 32 rows; fit calls set_epoch, so epoch 2 is another order."""
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
    rnnkit.set_seed(6)
    gen = np.random.default_rng(6)
    x = torch.from_numpy(gen.normal(size=(96, 8, 3)).astype("float32"))
    y = x.sum(dim=(1, 2))[:, None] * 0.1
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dataset = TensorDataset(x, y)
    share = DistributedSampler(dataset, num_replicas=world, rank=_rank(), shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=32 // world, sampler=share)
    model = Sequential([LSTM(8, name="lstm"), Dense(1, name="head")])
    model.compile("adam", "mse", device="cpu")
    model.fit(loader, batch_size=32, epochs=2, verbose=0)
    assert share.epoch == 1, share.epoch
    return model


def long(out: Path) -> torch.nn.Module:
    """Many epochs of a checkpointed fit, slowed down, for the kill test; resumes from OUT/checkpoint if it exists."""
    rnnkit.set_seed(4)
    gen = np.random.default_rng(4)
    x = gen.normal(size=(64, 10, 3)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None]
    model = Sequential([LSTM(8, name="lstm"), Dense(1, name="head")])
    model.compile("adam", "mse", device="cpu")
    ckpt = out / "checkpoint.safetensors"
    resume = str(ckpt) if ckpt.exists() and os.environ.get("RESUME") else None
    slow = rnnkit.training.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: time.sleep(float(os.environ.get("SLEEP", "0.05"))))
    model.fit(x, y, batch_size=16, epochs=int(os.environ.get("EPOCHS", "40")), verbose=0, resume_from=resume,
              callbacks=[slow, ModelCheckpoint(str(ckpt), save_weights_only=False)])
    return model


def mismatch(out: Path) -> torch.nn.Module:
    """Rank 1 fits on fewer rows than rank 0: a clear error on both, not a hang."""
    rnnkit.set_seed(5)
    rows = 64 if _rank() == 0 else 48
    x = np.random.default_rng(5).normal(size=(rows, 6, 2)).astype("float32")
    model = Sequential([LSTM(4, name="lstm"), Dense(1, name="head")])
    model.compile("adam", "mse", device="cpu")
    model.fit(x, x[:, 0, :1], batch_size=16, epochs=1, verbose=0)
    return model


def dropout_masks(out: Path) -> torch.nn.Module:
    """Each rank records the dropout mask of its first row at each step: they must differ between the ranks."""
    from rnnkit.layers import Dropout
    rnnkit.set_seed(7)
    x = np.ones((32, 6), dtype="float32")
    drop = Dropout(0.5, name="drop")
    model = Sequential([drop, Dense(1, name="head")])
    model.compile("sgd", "mse", device="cpu")
    seen = []
    hook = drop.register_forward_hook(lambda module, args, output: seen.append((output[0] != 0).int().tolist()))
    model.fit(x, x[:, :1], batch_size=32, epochs=2, verbose=0, shuffle=False)
    hook.remove()
    (out / f"masks-{_rank()}.json").write_text(json.dumps(seen))
    return model


def _write_threads(out: Path) -> None:
    if not Path("/proc/self/task").is_dir():  # Linux only; the test skips the check elsewhere
        return
    names = [(Path("/proc/self/task") / task / "comm").read_text().strip() for task in os.listdir("/proc/self/task")]
    (out / f"threads-{_rank()}").write_text("\n".join(names))


if __name__ == "__main__":
    scenario, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pid-{_rank()}").write_text(str(os.getpid()))
    atexit.register(_write_threads, out)  # registered first, so it runs last
    torch.set_num_threads(1)
    try:
        trained = globals()[scenario](out)
    except rnnkit.errors.RnnkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if _rank() == 0:
        torch.save({k: v.detach().clone() for k, v in trained.state_dict().items()}, out / "weights.pt")
        (out / "history.json").write_text(json.dumps(trained.history.history))
