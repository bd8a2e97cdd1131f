"""The training processes of the kill soak (``test_kill_soak.py``); not a test module itself.

Started once as ``python soak_worker.py``, it imports torch, rnnkit and matplotlib
and then forks one training process per request read from its standard input, so
that each of the soak's many starts costs milliseconds instead of the seconds an
import of torch takes.  Nothing has run a torch operation in this process before it
forks (only imports), so the children start with no thread pool to inherit.

Protocol, one JSON object per line (the worker first says ``{"ready": true}``):

* request ``{"job": "model" | "textgen", "args": {...}, "log": path, "progress": path, "target": name,
  "keep": null | folder, "inject": null | {"point": "write" | "replace" | "renamed", "nth": k}}``;
* answer ``{"pid": N}`` as soon as the child is forked (the test may SIGKILL it),
  then ``{"pid": N, "code": c}`` when it ended: its exit code, or ``-signal``.

Each child records where it is in ``progress`` (one fixed-size record overwritten
in place: ``setup``, ``batch E B``, ``epoch-end E``, ``after-fit``), so the test can
say where a kill landed.  ``keep`` gets a hard link ``kept-<n>`` to each complete
save of the file named ``target`` (the reference run's checkpoint of every epoch).
``inject`` kills the child itself at a chosen point of its ``nth`` save of that
file: half way through writing the
temporary file's data (``write``), with the temporary file complete but not yet
renamed (``replace``), or just after the rename, before the folder is synced
(``renamed``).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback

_RECORD = 64  # bytes of the progress record


def _progress(path: str):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)

    def mark(text: str) -> None:
        os.pwrite(fd, text.encode().ljust(_RECORD)[:_RECORD], 0)

    return mark


def _watch_callbacks(mark) -> None:
    """Record each batch, epoch end and the end of training (one ``pwrite`` each)."""
    from rnnkit.training.callbacks.base import CallbackList

    dispatch = CallbackList._dispatch
    epoch = [0]

    def watched(self, hook, numbered, args):
        if hook == "on_epoch_begin":
            epoch[0] = args[0]
        elif hook == "on_train_batch_begin":
            mark(f"batch {epoch[0]} {args[0]}")
        elif hook == "on_epoch_end":
            mark(f"epoch-end {args[0]}")
        elif hook == "on_train_end":
            mark("after-fit")
        return dispatch(self, hook, numbered, args)

    CallbackList._dispatch = watched


def _watch_saves(target: str, keep: str | None, inject: dict | None) -> None:
    """Patch ``os.write``/``os.replace`` for the saves of files named ``target``: keep a hard link to each
    complete one in ``keep`` (``kept-<n>``), and SIGKILL this process where ``inject`` says."""
    prefix = f".{target}."
    point, nth = (inject["point"], inject["nth"]) if inject else (None, 0)
    saves = [0]

    def is_temp(name: str) -> bool:
        base = os.path.basename(name)
        return base.startswith(prefix) and base.endswith(".tmp")

    real_write, real_replace = os.write, os.replace
    writes = {}

    def write(fd, data):
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            name = ""
        if is_temp(name):
            count = writes[name] = writes.get(name, 0) + 1
            if point == "write" and saves[0] + 1 == nth and count == 2:  # the data section, after the header
                real_write(fd, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)

    def replace(src, dst, *args, **kwargs):
        if not is_temp(os.fspath(src)):
            return real_replace(src, dst, *args, **kwargs)
        saves[0] += 1
        if saves[0] == nth and point == "replace":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, *args, **kwargs)
        if saves[0] == nth and point == "renamed":
            os.kill(os.getpid(), signal.SIGKILL)
        if keep:
            os.link(dst, os.path.join(keep, f"kept-{len(os.listdir(keep)):04d}"))
        return None

    os.write, os.replace = write, replace


def model_job(args: dict) -> None:
    """An LSTM regressor: shuffled batches, dropout, Adam, validation, a learning-rate schedule on plateaus,
    a checkpoint each epoch; resumed from the checkpoint when there is one; the final weights saved to ``out``."""
    import numpy as np

    import rnnkit
    from rnnkit.layers import LSTM, Dense, Dropout
    from rnnkit.models import Sequential
    from rnnkit.training.callbacks import ModelCheckpoint, ReduceLROnPlateau

    checkpoint = args["checkpoint"]
    rnnkit.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 7, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None].astype(np.float32)
    model = Sequential([LSTM(8), Dropout(0.3), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    callbacks = [ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
                 ModelCheckpoint(checkpoint, monitor="loss", save_weights_only=False)]
    model.fit(x, y, epochs=args["epochs"], batch_size=8, verbose=0, validation_split=0.2, callbacks=callbacks,
              resume_from=checkpoint if os.path.exists(checkpoint) else None)
    model.save_weights(args["out"])


def textgen_job(args: dict) -> int:
    """``rnnkit textgen train ... [--resume]``, as its command line."""
    from rnnkit.cli import main

    return main(args["argv"])


def _child(request: dict) -> int:
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    mark = _progress(request["progress"])
    mark("setup")
    _watch_callbacks(mark)
    _watch_saves(request["target"], request.get("keep"), request.get("inject"))
    job = {"model": model_job, "textgen": textgen_job}[request["job"]]
    return job(request["args"]) or 0


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (imported once here, not in every child)
    import torch
    import torch._dynamo  # noqa: F401  (torch.optim imports it when the first optimizer is made)

    import rnnkit.apps.textgen  # noqa: F401
    import rnnkit.cli  # noqa: F401
    from rnnkit.models import Sequential  # noqa: F401

    torch.set_num_threads(1)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            except BaseException:  # noqa: BLE001  (the child reports any failure in its log and its exit code)
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"pid": pid, "code": code}), flush=True)


if __name__ == "__main__":
    main()
