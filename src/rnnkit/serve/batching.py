"""One model's worker: micro-batching of concurrent requests, or one generation at a time, off the event loop.

Each served model has one :class:`Worker`: an asyncio queue and one task that
takes the requests in order.  For a :class:`~rnnkit.apps.framework.Service`
with ``predict``, it waits up to ``window`` seconds after the first request for
others and answers up to ``batch`` of them in one call; with ``generate``, it
answers one request at a time (a language model's state lives in its layers, so
two requests must never run on it at once).  Every model call runs in the
server's thread pool, never on the event loop, and a model never runs two calls
at once.  A request cut off (timed out, or its client gone) is marked
``cancelled``: a queued one is skipped, a generation stops at its next piece.
A generation's pieces reach the event loop at once when it is idle, else at
most every ``PACE`` seconds, merged: waking the loop and sending an event for
every character halved the characters per second a stream got.
"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ..apps.framework import Service

__all__ = ["Job", "Worker", "Busy", "Cut"]


PACE = 0.02  # seconds between two hand-overs of a generation's pieces to the event loop (the first goes at once)


class Busy(Exception):
    """The model's queue is full: the server answers 503 at once instead of queueing without end."""


class Cut(Exception):
    """Raised inside a generation whose request was cut off (timed out or disconnected): it stops there."""


@dataclass
class Job:
    """One request on its way through a worker: its future, and for a generation the pieces made so far."""

    request: Any
    future: asyncio.Future
    pieces: asyncio.Queue | None = None  # a generation's pieces, as they are made (None: not streamed)
    cancelled: bool = False
    queued: float = field(default_factory=time.perf_counter)


def _fail(job: Job, exc: Exception) -> None:
    """``exc`` as ``job``'s answer; a job cut off has nobody waiting, so its future is only cancelled (an exception
    nobody retrieves would be logged by asyncio, a traceback for a fault already logged once)."""
    if job.future.done():
        return
    if job.cancelled:
        job.future.cancel()
    else:
        job.future.set_exception(exc)


class Worker:
    """The queue and task of one model (see the module docstring)."""

    def __init__(self, service: Service, executor: Executor, *, window: float = 0.005, batch: int = 32,
                 queue_size: int = 1024) -> None:
        self.service = service
        self.executor = executor
        self.window = window
        self.batch = max(1, min(batch, service.batch)) if service.predict is not None else 1
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_size)
        self.task: asyncio.Task | None = None
        self.calls = 0  # model calls made, and requests answered by them (batch sizes: answered / calls)
        self.answered = 0

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    def submit(self, request: Any, *, stream: bool = False) -> Job:
        """Queue ``request``; its job's future gets the reply (or the model's exception)."""
        loop = asyncio.get_running_loop()
        job = Job(request, loop.create_future(), asyncio.Queue() if stream else None)
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Busy(f"the model has {self.queue.qsize()} requests waiting; try again shortly") from None
        self.start()
        return job

    async def _run(self) -> None:
        while True:
            job = await self.queue.get()
            if job.cancelled:
                continue
            if self.service.generate is not None:
                await self._generate(job)
            else:
                await self._predict(await self._gather(job))

    async def _gather(self, first: Job) -> list[Job]:
        """``first`` and the requests that come within the window, up to the batch cap (cut-off ones skipped)."""
        jobs = [first]
        deadline = asyncio.get_running_loop().time() + self.window
        while len(jobs) < self.batch:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), left)
                except asyncio.TimeoutError:
                    break
            if not job.cancelled:
                jobs.append(job)
        return jobs

    async def _predict(self, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        try:
            replies = await loop.run_in_executor(self.executor, self.service.predict, [j.request for j in jobs])
        except Exception as exc:  # the model's failure is each request's answer; the worker goes on
            for job in jobs:
                _fail(job, exc)
            return
        self.calls += 1
        self.answered += len(jobs)
        for job, reply in zip(jobs, replies):
            if not job.future.done():
                job.future.set_result(reply)

    async def _generate(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        made: list[str] = []  # pieces made in the model's thread, not yet handed to the event loop
        lock = threading.Lock()
        pending = False  # a hand-over is on its way (under the lock)
        last = -PACE  # when the loop last took the pieces (the loop's clock)

        def hand_over() -> None:  # on the event loop: everything made since the last hand-over, as one piece
            nonlocal pending, last
            with lock:
                text = "".join(made)
                made.clear()
                pending = False
            last = loop.time()
            if text:
                job.pieces.put_nowait(text)  # type: ignore[union-attr]

        def arm() -> None:  # on the event loop: hand over now, or PACE after the last hand-over
            delay = last + PACE - loop.time()
            if delay > 0:
                loop.call_later(delay, hand_over)
            else:
                hand_over()

        def emit(piece: str) -> None:  # in the model's thread
            nonlocal pending
            if job.cancelled:
                raise Cut()
            if job.pieces is not None:
                with lock:
                    made.append(piece)
                    wake, pending = not pending, True
                if wake:  # the loop is woken once per hand-over, not once per piece
                    loop.call_soon_threadsafe(arm)

        try:
            reply = await loop.run_in_executor(self.executor, self.service.generate, job.request, emit)
        except Exception as exc:
            _fail(job, exc)
        else:
            self.calls += 1
            self.answered += 1
            if not job.future.done():
                job.future.set_result(reply)
        if job.pieces is not None:
            hand_over()  # whatever is left (a hand-over still scheduled finds nothing)
            job.pieces.put_nowait(None)  # the end of the pieces
