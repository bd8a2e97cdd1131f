"""Kill soak: SIGKILL a training run at 20 seeded moments, resume it each time, end bit for bit where an uninterrupted run ends.

Two runs are soaked: ``Model.fit`` with a checkpoint each epoch and ``resume_from``
(shuffling, dropout, Adam, validation, ReduceLROnPlateau), and the command
``rnnkit textgen train ... --resume``.  Of the 20 kills of each, 14 are SIGKILLs
from outside at a seeded moment of what the restarted run has left to do (they
land wherever it then is: setup, a batch, validation, a checkpoint write, the
final saves, or after its end), and 6 are planted inside the checkpoint write:
half way through the temporary file's data, with the temporary file complete but
not renamed, or just after the rename (``soak_worker.py``).

After every kill the checkpoint on disk must load and equal, tensor for tensor
(weights, optimizer state, random generators), the uninterrupted run's checkpoint
of the same epoch, and every restart must succeed.  A run that ends between two
kills, and the last one, which runs to the end, must end as the uninterrupted run
did: final weights bit for bit (and for textgen metrics.csv, one row per epoch,
and metrics.json); a run that ended is then started anew.  The resumed runs must
have removed the temporary files the kills left of their checkpoint.  The table
of kills is printed (``pytest -s``).

The processes are forked by one worker that imported torch once (an import
costs seconds on a busy 2-core machine; a fork milliseconds).
"""
from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.saving.checkpoint import load_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc/self/fd"),
                       reason="the soak forks its training processes and names files through /proc (Linux)"),
]

WORKER = Path(__file__).with_name("soak_worker.py")
KILLS = 20
# kill number -> (point in the checkpoint write, which save of that process): planted, not timed
PLANTED = {2: ("write", 1), 4: ("replace", 1), 6: ("renamed", 2), 8: ("write", 2), 10: ("replace", 1), 12: ("write", 1)}
PLANTED_WORDS = {"write": "mid checkpoint write (half the data)", "replace": "checkpoint written, not yet renamed",
                 "renamed": "checkpoint renamed, folder not synced"}
TIMEOUT = 120.0  # seconds any one process may take


class Worker:
    """The forking worker: ``start`` a training process, ``wait`` for its exit code."""

    def __init__(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, bufsize=0)
        self._buffer = b""
        self.pid: int | None = None
        assert self._answer(timeout=900) == {"ready": True}  # its imports (minutes on a very busy machine)

    def ended(self) -> bool:
        """Whether the process has ended (its answer can be read without waiting)."""
        return b"\n" in self._buffer or bool(select.select([self.proc.stdout], [], [], 0)[0])

    def _answer(self, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([self.proc.stdout], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                if self.pid is not None:
                    os.kill(self.pid, signal.SIGKILL)
                pytest.fail(f"a soak process gave no answer in {timeout:.0f} s")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                pytest.fail("the soak worker ended unexpectedly")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self, job: str, args: dict, folder: Path, target: str, keep: Path | None = None,
              inject: dict | None = None) -> float:
        """Fork a training process; returns the moment it started (time.monotonic())."""
        request = {"job": job, "args": args, "log": str(folder / "log.txt"), "progress": str(folder / "progress"),
                   "target": target, "keep": keep and str(keep), "inject": inject}
        (folder / "progress").write_bytes(b"")
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        self.pid = self._answer()["pid"]
        return time.monotonic()

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # it had ended already
            pass

    def wait(self) -> int:
        code = self._answer()["code"]
        self.pid = None
        return code

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a very busy machine: it need not finish its shutdown
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _temps(folder: Path, name: str = "") -> set[str]:
    """The temporary files of interrupted atomic writes (of file ``name`` only, if given): ``.<name>.<random>.tmp``."""
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.name.startswith(f".{name}") and p.name.endswith(".tmp")}


def _where(folder: Path) -> str:
    """Where the last process was, from its progress record."""
    record = (folder / "progress").read_bytes().decode().strip()
    if not record:
        return "process start"
    kind, *numbers = record.split()
    if kind == "setup":
        return "setup (data, model, resume)"
    if kind == "batch":
        return f"epoch {int(numbers[0]) + 1}, batch {int(numbers[1]) + 1}"
    if kind == "epoch-end":
        return f"epoch {int(numbers[0]) + 1} end (validation, callbacks)"
    return "final saves (after fit)"


def _state(path: Path) -> tuple[int, dict[str, torch.Tensor]] | None:
    """(completed epochs, tensors) of a checkpoint, or None where there is none yet."""
    if not path.exists():
        return None
    tensors, meta = load_file(path)  # raises if the file is damaged
    return meta["training"]["epoch"], tensors


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _soak(worker: Worker, job: str, folder: Path, args_for, checkpoint: Path, seed: int, same_end) -> list[dict]:
    """The reference run (in ``<folder>-reference``), then 20 kills and restarts in ``folder`` and a last run
    to the end; returns the table's rows.

    ``same_end(folder, reference)`` asserts that a run that ended in ``folder`` ended as the reference
    did; a run that ends between two kills is checked so and then started anew.
    """
    reference = folder.parent / f"{folder.name}-reference"
    kept = reference / "kept"  # a hard link to each checkpoint the reference run wrote
    kept.mkdir(parents=True)
    began = worker.start(job, args_for(reference), reference, checkpoint.name, keep=kept)
    while not (reference / "progress").read_bytes().startswith(b"batch") and not worker.ended():
        time.sleep(0.002)
    setup = time.monotonic() - began  # from the fork to the first batch
    code = worker.wait()
    length = time.monotonic() - began
    assert code == 0, (reference / "log.txt").read_text()
    expected = {}
    for path in sorted(kept.iterdir()):
        epoch, tensors = _state(path)
        expected[epoch] = tensors
    assert len(expected) >= 3, "the reference run kept too few checkpoints"

    folder.mkdir()
    rows: list[dict] = []
    try:
        _kill_and_resume(worker, job, folder, args_for, checkpoint, expected, (setup, length), random.Random(seed), rows,
                         same_end)
    finally:
        _print_table(job, rows, setup, length)
    assert _same(_state(checkpoint)[1], expected[max(expected)])
    same_end(folder, reference)
    return rows


def _kill_and_resume(worker: Worker, job: str, folder: Path, args_for, checkpoint: Path, expected: dict,
                     timing: tuple[float, float], rng: random.Random, rows: list[dict], same_end) -> None:
    """The 20 kills, each followed by a restart, then the last run to the end; fills ``rows``.

    ``timing``: the reference run's seconds to its first batch and in all.  A timed kill comes at a
    seeded 5% to 130% of what a restart has to do: its setup and the epochs not yet in the checkpoint,
    so the kills land all along the run (in setups, batches, checkpoint writes, the final saves) and
    some come too late: that run ended, is checked, and a new one starts.
    """
    setup, length = timing
    epochs = max(expected)
    for kill in range(1, KILLS + 1):
        before = _temps(checkpoint.parent)
        planted = PLANTED.get(kill)
        saved = _state(checkpoint)
        remaining = epochs - (saved[0] if saved else 0)
        if planted:  # in one of the saves still to come
            planted = (planted[0], min(planted[1], remaining))
        inject = planted and {"point": planted[0], "nth": planted[1]}
        began = worker.start(job, args_for(folder), folder, checkpoint.name, inject=inject)
        if planted:
            moment = f"planted in save {planted[1]}"
        else:
            delay = rng.uniform(0.05, 1.3) * (setup + remaining / epochs * (length - setup))
            time.sleep(max(0.0, delay - (time.monotonic() - began)))
            worker.kill()
            moment = f"{delay:.3f} s ({delay / length:.0%} of a run)"
        code = worker.wait()
        if rows:  # the previous kill's restart: this process, unless it failed
            rows[-1]["resumed_ok"] = code in (0, -signal.SIGKILL)
        assert code in (0, -signal.SIGKILL), (folder / "log.txt").read_text()[-3000:]
        left = _temps(checkpoint.parent) - before
        if code == 0:  # it ended before the kill came: it must end as the reference did; then a new run
            same_end(folder, folder.parent / f"{folder.name}-reference")
            landed = "after the run ended: its end checked, a new run started"
        elif planted:
            landed = f"{PLANTED_WORDS[planted[0]]}, {_where(folder)}"
        elif left:
            names = sorted({name[1:].rsplit(".", 2)[0] for name in left})
            landed = f"mid write of {', '.join(names)}, {_where(folder)}"
        else:
            landed = _where(folder)
        state = _state(checkpoint)  # a damaged checkpoint fails here
        equal = state is None or _same(state[1], expected[state[0]])
        rows.append({"kill": kill, "moment": moment, "landed": landed, "epochs_saved": state and state[0],
                     "temps_left": len(left), "equal": equal, "resumed_ok": None})
        if code == 0:
            for path in checkpoint.parent.iterdir():
                if path.is_file() and path.name not in ("log.txt", "progress"):
                    path.unlink()
        if planted and remaining:
            assert code == -signal.SIGKILL, f"kill {kill}: the planted kill did not happen ({planted})"
    worker.start(job, args_for(folder), folder, checkpoint.name)
    code = worker.wait()
    rows[-1]["resumed_ok"] = code == 0
    assert code == 0, (folder / "log.txt").read_text()[-3000:]
    assert all(r["equal"] for r in rows), [r for r in rows if not r["equal"]]
    assert all(r["resumed_ok"] for r in rows), [r for r in rows if not r["resumed_ok"]]
    # the resumed run removed the temporary files the kills left of its checkpoint
    assert not _temps(checkpoint.parent, checkpoint.name), sorted(_temps(checkpoint.parent))


def _print_table(job: str, rows: list[dict], setup: float, length: float) -> None:
    print(f"\nkill soak of {job}: an uninterrupted run takes {length:.2f} s ({setup:.2f} s to its first batch)")
    print(f"{'kill':>4}  {'moment':<26} {'landed':<72} {'ckpt epochs':>11}  {'temp left':>9}  {'resumed ok':<10} "
          f"{'equal':<5}")
    for r in rows:
        print(f"{r['kill']:>4}  {r['moment']:<26} {r['landed']:<72} {str(r['epochs_saved']):>11}  "
              f"{r['temps_left']:>9}  {str(r['resumed_ok']):<10} {str(r['equal']):<5}")


def test_kill_soak_of_model_fit(worker, tmp_path):
    def args_for(folder: Path) -> dict:
        return {"checkpoint": str(folder / "ckpt.safetensors"), "out": str(folder / "final.safetensors"), "epochs": 10}

    def same_end(folder: Path, reference: Path) -> None:
        assert _same(load_file(folder / "final.safetensors")[0], load_file(reference / "final.safetensors")[0])

    folder = tmp_path / "run"
    _soak(worker, "model", folder, args_for, folder / "ckpt.safetensors", 21, same_end)
    # the comparison can fail: the weights of two epochs differ
    kept = sorted((tmp_path / "run-reference" / "kept").iterdir())
    assert not _same(load_file(kept[-2])[0], load_file(kept[-1])[0])


def _metrics_rows(run: Path) -> list[dict]:
    """metrics.csv without its clock columns."""
    import csv

    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("epoch_seconds", "seconds")} for row in csv.DictReader(f)]


def test_kill_soak_of_textgen_train_resume(worker, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 16, encoding="utf-8")

    def args_for(folder: Path) -> dict:
        run = folder / "run"
        if (run / "config.json").exists():  # what a supervisor does: continue a run that exists
            argv = ["textgen", "train", "--out", str(run), "--resume", "--quiet"]
        else:
            argv = ["textgen", "train", "--data", str(corpus), "--layers", "1", "--units", "16", "--embed-dim", "8",
                    "--seq-len", "16", "--batch-size", "4", "--sample-length", "0", "--quiet", "--epochs", "8",
                    "--out", str(run)]
        return {"argv": argv}

    def same_end(folder: Path, reference: Path) -> None:
        run, full = folder / "run", reference / "run"
        assert _same(load_file(run / "model.safetensors")[0], load_file(full / "model.safetensors")[0])
        assert _metrics_rows(run) == _metrics_rows(full)  # one row per epoch, the same figures
        a, b = (json.loads((r / "metrics.json").read_text()) for r in (run, full))
        assert a["val_loss"] == b["val_loss"] and a["epochs"] == b["epochs"] == 8
        assert (run / "loss.png").is_file() and (run / "vocab.json").read_bytes() == (full / "vocab.json").read_bytes()

    folder = tmp_path / "soak"
    _soak(worker, "textgen", folder, args_for, folder / "run" / "checkpoint.safetensors", 22, same_end)
