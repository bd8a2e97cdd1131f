"""Data-parallel training on ``torch.distributed``: the process group, DDP, each rank's share, rank 0 writes.

``Model.fit`` calls :func:`current` once; under ``torchrun`` (``RANK`` and
``WORLD_SIZE`` > 1 in the environment) it joins the process group, or uses the
one the caller initialised, and gets a :class:`World`.  With it, ``fit``:

* checks that every rank runs the same fit (:meth:`World.check_same`): a
  mismatch is a :class:`~rnnkit.errors.ConfigError` naming what differs, not a
  hang;
* wraps the model in :class:`torch.nn.parallel.DistributedDataParallel`, which
  averages the gradients of every backward pass over the ranks;
* reads every *global* batch on every rank, exactly as one process would (the
  same shuffling from the same seed), and keeps its share: rows
  ``[r*B/N, (r+1)*B/N)`` of a batch of ``B`` rows on rank ``r`` of ``N``
  (:meth:`World.share`).  A row stays on one rank from batch to batch, so a
  stateful layer's state and an :class:`~rnnkit.data.LMStream` row (a
  contiguous stretch of the corpus) stay with it, and every rank gets the same
  number of batches (length bucketing included);
* weights each rank's loss by its share of the batch's units (rows, or valid
  steps under a mask): DDP's mean of the ranks' gradients is then the gradient
  of the global batch's loss, and N ranks follow 1 process update for update,
  up to float summation order (:meth:`World.loss_weight`);
* agrees at each step whether every rank still has a batch and whether any
  callback stopped training (one small all-reduce), sums the epoch's loss and
  metrics over the ranks for the logs, and runs the callbacks that write
  (checkpoints, CSV, TensorBoard, progress) on rank 0 only, with a barrier
  after each epoch so no rank runs ahead of a checkpoint being written.

``batch_size`` is the global batch: each of N ranks takes ``batch_size / N``
rows (an error when it does not divide).  A DataLoader built with a
:class:`torch.utils.data.DistributedSampler` is already one rank's share: it is
read as it is, and its ``set_epoch`` is called each epoch.

A collective that fails (a rank died, or went silent for ``RNNKIT_DIST_TIMEOUT``
seconds, 60 by default) ends ``fit`` with one :class:`DistributedError` line;
checkpoints are written whole or not at all, so the last one resumes, on any
number of ranks (the optimizer state and the random generators are the same on
every rank).
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import gc
import logging
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist

from ..errors import ConfigError, RnnkitError
from .data import batch_rows

__all__ = ["World", "Share", "current", "wrap", "DistributedError", "rank_zero", "default_device", "launch", "TIMEOUT_ENV"]

TIMEOUT_ENV = "RNNKIT_DIST_TIMEOUT"


class DistributedError(RnnkitError, RuntimeError):
    """A collective failed: another rank died or stopped answering; training cannot go on."""


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "60")
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 60") from None
    if seconds <= 0:
        raise ConfigError(f"{TIMEOUT_ENV} must be > 0 seconds, got {raw}")
    return datetime.timedelta(seconds=seconds)


def current(device: torch.device | None = None) -> "World | None":
    """The :class:`World` this process trains in, or None when it trains alone.

    Uses the process group the caller initialised; else, under ``torchrun``
    (``RANK``, ``WORLD_SIZE`` > 1, ``MASTER_ADDR``/``MASTER_PORT`` set), joins it:
    ``gloo`` on CPU, ``nccl`` on CUDA.
    """
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if size <= 1 or "RANK" not in os.environ:
            return None
        cuda = device is not None and device.type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        import torch._dynamo  # noqa: F401 - before the group exists: see _leave
        try:
            dist.init_process_group("nccl" if cuda else "gloo", timeout=_timeout())
        except Exception as exc:  # noqa: BLE001 - any failure to meet the other ranks is one line
            raise DistributedError(f"could not join the {size} training processes "
                                   f"(MASTER_ADDR={os.environ.get('MASTER_ADDR')}, "
                                   f"MASTER_PORT={os.environ.get('MASTER_PORT')}): {_first_line(exc)}") from None
        atexit.register(_leave)
    if dist.get_world_size() <= 1:
        return None
    return World(dist.get_rank(), dist.get_world_size())


def _leave() -> None:
    """Destroy the process group :func:`current` joined, at interpreter exit, so its threads end first.

    A gloo group runs three threads of its own (``gloo_tcp_loop``, two
    ``pt_gloo_runloop``).  They used to run on into the interpreter's teardown,
    and there a rank that had trained well sometimes died with "terminate called
    without an active exception" (SIGABRT), so that ``torchrun`` reported the job
    failed.  Destroying the group stops them, once nothing else holds it: the
    DDP wrapper is dropped when ``fit`` ends, and ``torch._dynamo`` is imported
    before the group is made (DDP imports it; imported after the group exists,
    it keeps the group, and its threads, alive to the end).  A group the
    caller initialised is the caller's to destroy.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # a DDP wrapper in a reference cycle still holds the group
        dist.destroy_process_group()


def default_device() -> torch.device:
    """The device a model compiled without one trains on (CUDA when there is one): it picks the backend."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def rank_zero() -> bool:
    """Whether this process is the one that writes: rank 0 of a process group, or a process on its own."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def is_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed (a rank gone, a timeout), not an error of the model's own."""
    if isinstance(exc, getattr(dist, "DistError", ())) and not isinstance(exc, DistributedError):
        return True
    text = str(exc)
    return any(mark in text for mark in ("gloo", "NCCL", "Connection closed", "Connection reset", "ProcessGroup",
                                         "timed out", "Timed out"))


def _first_line(exc: BaseException) -> str:
    """The gist of a failure: its first line, without gloo's source location and advice."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", lines[0]) if lines else type(exc).__name__
    return text.split(". This is typically")[0][:300]


@dataclass
class World:
    """This rank's place among the training processes, and the few collectives ``fit`` needs."""

    rank: int
    size: int

    # ------------------------------------------------------------------ collectives
    def _reduce(self, values: list[float], op: Any = None) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64)
        try:
            dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
        except Exception as exc:  # noqa: BLE001
            raise self.failure(exc) from None
        return tensor.tolist()

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the ranks."""
        return self._reduce(values)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every rank."""
        box = [value]
        try:
            dist.broadcast_object_list(box, src=0)
        except Exception as exc:  # noqa: BLE001
            raise self.failure(exc) from None
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
        try:
            dist.barrier()
        except Exception as exc:  # noqa: BLE001
            raise self.failure(exc) from None

    def failure(self, exc: BaseException) -> DistributedError:
        """The one-line error of a failed collective, on this rank."""
        return DistributedError(f"rank {self.rank} of {self.size}: another training process died or stopped "
                                f"answering ({_first_line(exc)}); training stopped here. Checkpoints are whole: "
                                "resume from the last one, on any number of processes")

    def check_same(self, facts: dict[str, Any]) -> None:
        """Raise a :class:`ConfigError` naming the first fact that differs between the ranks (before any training)."""
        gathered: list[Any] = [None] * self.size
        try:
            dist.all_gather_object(gathered, facts)
        except Exception as exc:  # noqa: BLE001
            raise self.failure(exc) from None
        for key in facts:
            values = [g.get(key) for g in gathered]
            if any(v != values[0] for v in values):
                shown = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
                raise ConfigError(f"fit: the {self.size} training processes differ in {key} ({shown}); every rank "
                                  "must run the same fit on the same data")

    def agree(self, has_batch: bool, stop: bool, step: int) -> tuple[bool, bool]:
        """(every rank has a batch, some rank stopped training) at the top of a step; ranks whose data ran out at
        different steps are an error, never a hang."""
        have, stops = self.sum([float(has_batch), float(stop)])
        if 0 < have < self.size:
            raise ConfigError(f"fit: the training processes' data ran out at different steps ({int(have)} of "
                              f"{self.size} ranks still had a batch at step {step + 1}); every rank must read the "
                              "same data")
        return have == self.size, stops > 0

    # ------------------------------------------------------------------ each rank's share
    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ConfigError(f"fit: batch_size {batch_size} is the global batch and must divide among the "
                              f"{self.size} processes; use a multiple of {self.size} (e.g. "
                              f"{max(self.size, batch_size - batch_size % self.size)})")

    def share(self, rows: int) -> tuple[int, int]:
        """This rank's rows ``[start, stop)`` of a global batch of ``rows``: contiguous, sizes differing by one at
        most (the first ``rows % size`` ranks take one more)."""
        base, extra = divmod(rows, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def shard(self, batches: Iterator[tuple]) -> Iterator[tuple[Any, Any, int, int]]:
        """``(x, y, rows, total)`` of each global batch: this rank's share, its rows and the batch's.

        A rank whose share is empty (a last batch with fewer rows than ranks)
        gets the batch's first row with ``rows = 0``: it still takes part in
        the step, with a loss weight of 0.
        """
        for x, y in batches:
            total = batch_rows(x)  # several inputs (a list or dict of tensors) share their rows
            start, stop = self.share(total)
            rows = stop - start
            if rows == 0:
                start, stop = 0, 1
            yield _rows(x, start, stop), (None if y is None else _rows(y, start, stop)), rows, total

    def loss_weight(self, units: float, even: bool) -> float:
        """The factor of this rank's loss (a mean over its ``units``) that makes DDP's gradient mean the gradient of
        the global batch's mean: ``size * units / sum of units``; 1 without a collective when the shares are ``even``."""
        if even:
            return 1.0
        (total,) = self.sum([float(units)])
        return self.size * units / total if total else 0.0


def _rows(y: Any, start: int, stop: int) -> Any:
    """Rows ``[start, stop)`` of a tensor, or of each tensor of a list, tuple or dict of them."""
    if isinstance(y, (tuple, list)):
        return type(y)(_rows(item, start, stop) for item in y)
    if isinstance(y, dict):
        return {key: _rows(item, start, stop) for key, item in y.items()}
    return y[start:stop]


class _WithMask(torch.nn.Module):
    """The model's ``forward_with_mask`` as a module's forward, for DDP to wrap."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any) -> Any:
        return self.model.forward_with_mask(x)


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.parallel.DistributedDataParallel:
    """``model`` in DDP (its ``forward_with_mask``): rank 0's weights broadcast to all, gradients averaged.

    Buffers are not broadcast: a stateful layer's state belongs to its rank's rows.
    """
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    try:
        with warnings.catch_warnings():  # broadcast_buffers=False is the one spelling that never syncs them, even at init
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
            return torch.nn.parallel.DistributedDataParallel(_WithMask(model), device_ids=ids, broadcast_buffers=False,
                                                             gradient_as_bucket_view=True)
    except RuntimeError as exc:
        raise DistributedError(f"could not set up data-parallel training: {_first_line(exc)}") from None


@contextlib.contextmanager
def own_randomness(world: "World", epoch: int, step: int, device: torch.device) -> Iterator[None]:
    """A training step's random draws (dropout masks ...) from this rank's own stream.

    Every rank keeps the same global generator, which shuffles the data alike on
    all of them; drawn from it, dropout would give rows ``i`` of every rank's
    share the same mask.  Under data-parallel training each step therefore draws
    from a generator seeded by (the run's seed, epoch, step, rank) and leaves the
    global one untouched: different masks per rank, the same again on a resume.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed((torch.initial_seed() * 1_000_003 + epoch * 1_000_033 + step * 101 + world.rank) % 2**63)
        yield


def distributed_sampler(data: Any) -> Any:
    """The :class:`~torch.utils.data.DistributedSampler` of a DataLoader (already one rank's share), or None."""
    from torch.utils.data import DistributedSampler

    for sampler in (getattr(data, "sampler", None), getattr(getattr(data, "batch_sampler", None), "sampler", None)):
        if isinstance(sampler, DistributedSampler):
            return sampler
    return None


@dataclass
class Share:
    """This rank's part of one global batch, as the train step needs it.

    ``rows``: the rows it holds (0: a stand-in row that only takes part);
    ``total``: the global batch's rows; ``even``: every rank holds as many rows;
    ``weight``: the factor its loss got (set by the step).
    """

    world: World
    rows: int
    total: int
    even: bool
    weight: float = 1.0


def launch(nproc: int, module_args: list[str]) -> int:
    """Run ``python -m MODULE_ARGS`` in ``nproc`` processes on this machine under torchrun's elastic agent.

    The processes get torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR`` ...) and ``OMP_NUM_THREADS`` of this machine's cores shared
    among them (unless set).  Returns 0 when every process succeeded; raises a
    one-line :class:`DistributedError` naming the first that failed (its own
    error is printed above by itself).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // nproc)))
    args = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", module_args[0]])
    args.training_script_args = list(module_args[1:])  # given as they are: torchrun's parser would take --nproc
    agent_log = logging.getLogger("torch.distributed.elastic")
    level = agent_log.level
    agent_log.setLevel(logging.CRITICAL)  # a failed process says why itself; the agent's log line would repeat it
    try:
        run(args)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        raise DistributedError(f"training process {rank} of {nproc} failed (exit code {failure.exitcode}); the "
                               "processes stopped, the run folder keeps its last checkpoint") from None
    finally:
        agent_log.setLevel(level)
    return 0
