"""The HTTP API and web page over loaded runs: :func:`create_app` (FastAPI; uvicorn runs it).

Routes (see :mod:`rnnkit.serve` for the command and the limits):

* ``GET /health`` -> ``{"status": "ok"}`` (never needs the API key);
* ``GET /models`` -> ``[{"name", "app", "created", "metrics", ...}]``;
* ``POST /models/{name}/predict`` -> the app's reply (one route per run, with its
  request's schema); with ``"stream": true`` a generation as server-sent events;
* ``GET /models/{name}/files/{png}`` -> a plot of the run (only the PNG files
  found in its folder at start, looked up by name: no client text becomes a path);
* ``GET /`` and ``/static/...`` -> the web page; ``/docs`` and ``/openapi.json``.

With an API key, every route but ``/health`` needs it: as the ``X-API-Key``
header, ``Authorization: Bearer KEY``, or (what a browser sends for the page
after asking its user) HTTP Basic with the key as the password.

Every error is ``{"error": "..."}`` with a 4xx or 5xx status, naming the field
at fault, and never a file path or a traceback (what went wrong inside is one
line of the server's log, the ``rnnkit.serve`` logger).  Bodies over the limit
are refused before they are parsed (by their Content-Length, and by counting the
bytes as they come), a body that has not arrived ``read_timeout`` seconds after
its head is a 408 (both close the connection), an unknown model is a 404, a
request that outlasts ``timeout`` seconds a 503 (the model finishes or stops on
its own; the server stays up).  A client that goes away before its reply (or in
the middle of a stream) has its request dropped: a queued one is skipped, a
generation stops at its next piece.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import RnnkitError
from .batching import Busy, Job, Worker
from .loading import ServedRun
from .schema import error_text, request_model
from .server import READ_TIMEOUT, log

__all__ = ["create_app", "Limits", "STATIC"]

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = ("/health",)  # the only routes that never need the API key
CHALLENGE = 'Basic realm="rnnkit serve (the API key as the password)", charset="UTF-8"'


@dataclass
class Limits:
    """The server's limits: body size (the app's ``Service.max_bytes`` for uploads), time per request, time to send
    a body (after its head), batching."""

    max_body: int = 1_000_000
    timeout: float = 30.0
    read_timeout: float = READ_TIMEOUT
    window: float = 0.005
    batch: int = 32
    queue: int = 1024


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # a client's text quoted back may hold lone surrogates ("\ud800" in its JSON), which UTF-8 cannot encode
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": message}, status_code=status, headers=headers)


CLOSE = {"Connection": "close"}  # a reply sent before the body was read: the rest of it is not waited for


class _BodyFault(StarletteHTTPException):
    """A body over the limit (413) or too slow (408), found while it was read (FastAPI passes these through)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail, headers=CLOSE)


def _peer(scope: dict) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"


class _Guard:
    """ASGI middleware, before any route reads a body: the API key, then the body's size limit."""

    def __init__(self, app: Any, api_key: str | None, limit_for: Callable[[str], int],
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.app, self.api_key, self.limit_for, self.read_timeout = app, api_key, limit_for, read_timeout

    def _key_ok(self, headers: dict[bytes, bytes]) -> bool:
        """Whether the request carries the key: X-API-Key, ``Authorization: Bearer KEY``, or Basic ``any:KEY``."""
        given = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if not given and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        elif not given and auth[:6].lower() == b"basic ":
            try:
                given = base64.b64decode(auth[6:].strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                given = b""
        return hmac.compare_digest(given, self.api_key.encode())  # type: ignore[union-attr]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # no partial replies: Starlette answers a malformed Range in plain text, and the page and plots are small
        scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers") or [] if k not in (b"range", b"if-range")])
        path: str = scope["path"]
        headers = dict(scope["headers"])
        if self.api_key and path not in OPEN_PATHS and not self._key_ok(headers):
            # the Basic challenge makes a browser ask its user (the key as the password) and send it from then on
            return await _error(401, "missing or wrong API key: send it as the X-API-Key header (or Authorization: "
                                     "Bearer KEY; in a browser, the key as the password)",
                                {"WWW-Authenticate": CHALLENGE})(scope, receive, send)
        limit = self.limit_for(path)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                return await _error(400, "Content-Length is not a number")(scope, receive, send)
            if too_big:
                return await _error(413, f"the body is {int(declared):,} bytes, over this route's limit of "
                                         f"{limit:,} bytes", CLOSE)(scope, receive, send)
        seen = 0
        started = False
        whole = False  # the body has come: from then on, receive() only waits for the client to go away
        deadline = asyncio.get_running_loop().time() + self.read_timeout

        async def counted() -> dict:
            nonlocal seen, whole
            if whole:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - asyncio.get_running_loop().time(), 0))
            except asyncio.TimeoutError:
                log.warning("%s sent %s bytes of a body to %s in %g s (a slow or stalled client); answered 408 and "
                            "closed", _peer(scope), f"{seen:,}", path, self.read_timeout)
                raise _BodyFault(408, f"the body did not arrive within {self.read_timeout:g} s of the request's "
                                      "head; the connection is closed") from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyFault(413, f"the body is over this route's limit of {limit:,} bytes")
                whole = not message.get("more_body", False)
            else:
                whole = True
            return message

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _BodyFault as exc:
            if not started:
                await _error(exc.status_code, exc.detail, CLOSE)(scope, receive, send)


async def _gone(receive: Callable[[], Awaitable[dict]]) -> None:
    """Returns when the client has gone away (its body was read: nothing else can come)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _sse(event: str | None, data: dict) -> bytes:
    return ((f"event: {event}\n" if event else "") + f"data: {json.dumps(data)}\n\n").encode()


def create_app(runs: dict[str, ServedRun], *, api_key: str | None = None, limits: Limits | None = None) -> FastAPI:
    """The FastAPI application serving ``runs`` (:func:`rnnkit.serve.loading.load_runs`); run it with uvicorn."""
    limits = limits or Limits()
    executor = ThreadPoolExecutor(max_workers=max(1, len(runs)), thread_name_prefix="rnnkit-model")
    checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rnnkit-check")
    workers: dict[str, Worker] = {}

    def new_workers() -> None:  # at creation (an app driven without lifespan), and afresh on each start
        workers.update({name: Worker(run.service, executor, window=limits.window, batch=limits.batch,
                                     queue_size=limits.queue) for name, run in runs.items()})

    new_workers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        new_workers()
        yield
        for worker in workers.values():
            await worker.stop()

    app = FastAPI(title="rnnkit serve", version=__version__, lifespan=lifespan,
                  description="Recurrent models trained with rnnkit, over HTTP. Every error is {\"error\": \"...\"}.")
    app.state.workers, app.state.runs = workers, runs

    def limit_for(path: str) -> int:
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "models" and parts[2] == "predict" and parts[1] in runs:
            service = runs[parts[1]].service
            return service.max_bytes if service.upload else limits.max_body
        return limits.max_body

    app.add_middleware(_Guard, api_key=api_key, limit_for=limit_for, read_timeout=limits.read_timeout)

    # ------------------------------------------------------------ errors: always {"error": "..."}
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*error_text(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}; see /docs for the routes"
        return _error(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:  # the last resort: a fault of the server's
        return _error(500, f"internal error ({type(exc).__name__}) answering {request.method} {request.url.path}; "
                           "the server's log has the details")

    # ------------------------------------------------------------ answering
    async def prepared(run: ServedRun, data: dict[str, Any]) -> Any:
        """The app's request object, built and checked (off the event loop) before it reaches the model."""
        service = run.service
        request = service.request(**data)  # the dataclass's own checks (RnnkitError: a 422)
        if service.check is not None:
            loop = asyncio.get_running_loop()
            checked = await loop.run_in_executor(checks, service.check, request)
            request = checked if checked is not None else request
        return request

    def failed(run: ServedRun, exc: BaseException) -> str:
        """The client's line for a model that raised (the server's log gets the exception, once)."""
        log.warning("%s: the model failed on a request: %s: %s", run.name, type(exc).__name__, exc)
        return f"the model {run.name!r} failed on this request ({type(exc).__name__}); the server's log has the details"

    async def answer(run: ServedRun, data: dict[str, Any], receive: Callable[[], Awaitable[dict]]) -> Any:
        try:
            request = await prepared(run, data)
        except RnnkitError as exc:
            return _error(422, str(exc))
        except Exception as exc:  # a check that broke (a defect of the app's): the client is told no more than that
            return _error(500, failed(run, exc))
        worker = workers[run.name]
        stream = bool(getattr(request, "stream", False)) and run.service.generate is not None
        try:
            job = worker.submit(request, stream=stream)
        except Busy as exc:
            return _error(503, str(exc), {"Retry-After": "1"})
        if stream:
            return StreamingResponse(_events(run, job), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        gone = asyncio.ensure_future(_gone(receive))  # the client leaving drops its request
        try:
            await asyncio.wait((job.future, gone), timeout=limits.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not job.future.done():
            job.cancelled = True
            if gone.done() and not gone.cancelled():
                log.warning("%s: a client went away before its reply (after %.2f s); its request was dropped",
                            run.name, time.perf_counter() - job.queued)
                return _error(499, "the client went away")  # nobody reads it
            return _error(503, f"the request took longer than {limits.timeout:g} s and was cut off; ask for less "
                               "(fewer texts, a shorter length) or raise the server's --timeout")
        try:
            reply = job.future.result()
        except RnnkitError as exc:
            return _error(422, str(exc))
        except Exception as exc:
            return _error(500, failed(run, exc))
        return JSONResponse(reply)

    async def _events(run: ServedRun, job: Job) -> AsyncIterator[bytes]:
        """The pieces of a generation as server-sent events (pieces ready together go as one), then ``done``."""
        deadline = job.queued + limits.timeout
        sent, ended = 0, False
        try:
            while True:
                left = deadline - time.perf_counter()
                try:
                    piece = await asyncio.wait_for(job.pieces.get(), max(left, 0.001))  # type: ignore[union-attr]
                except asyncio.TimeoutError:
                    job.cancelled, ended = True, True
                    yield _sse("error", {"error": f"the generation took longer than {limits.timeout:g} s and was "
                                                  "cut off; ask for a shorter length"})
                    return
                if piece is None:
                    break
                text = [piece]
                while not job.pieces.empty():  # type: ignore[union-attr]
                    more = job.pieces.get_nowait()  # type: ignore[union-attr]
                    if more is None:
                        job.pieces.put_nowait(None)  # type: ignore[union-attr]
                        break
                    text.append(more)
                sent += 1
                yield _sse(None, {"text": "".join(text)})
            ended = True
            try:
                reply = await job.future
            except RnnkitError as exc:
                yield _sse("error", {"error": str(exc)})
                return
            except Exception as exc:
                yield _sse("error", {"error": failed(run, exc)})
                return
            yield _sse("done", reply)
        finally:
            job.cancelled = True  # the client went away (or the stream ended): a running generation stops
            if not ended:
                log.warning("%s: a client went away in the middle of a stream (after %d events, %.2f s); its "
                            "generation was stopped", run.name, sent, time.perf_counter() - job.queued)

    def predict_route(run: ServedRun) -> Callable[..., Awaitable[Any]]:
        service = run.service
        if service.upload is None:
            model = request_model(service.request, f"{_ident(run.name)}Request")

            async def predict(body: Any, request: Request) -> Any:
                return await answer(run, body.model_dump(), request.receive)

            predict.__annotations__ = {"body": model, "request": Request, "return": Any}
            return predict
        form_model = request_model(service.request, f"{_ident(run.name)}Form", strict=False, skip=(service.upload,))

        async def upload(request: Request) -> Any:
            kind = request.headers.get("content-type", "")
            if not kind.startswith("multipart/form-data"):
                return _error(415, f"send a multipart form with the audio file as `{service.upload}` "
                                   "(curl -F audio=@clip.wav ...)")
            try:
                form = await request.form(max_files=1, max_fields=20, max_part_size=service.max_bytes)
            except StarletteHTTPException:  # the parser's own one-line complaints (400), or the body's (408, 413)
                raise
            except Exception as exc:
                log.warning("%s: a multipart form could not be read: %s: %s", run.name, type(exc).__name__, exc)
                return _error(400, f"malformed multipart form ({type(exc).__name__}); send the audio file as the "
                                   f"form field `{service.upload}` (curl -F audio=@clip.wav ...)")
            try:
                file = form.get(service.upload)
                if file is None or isinstance(file, str):
                    return _error(422, f"`{service.upload}` is required: upload one file in the form field "
                                       f"`{service.upload}`")
                fields = {k: v for k, v in form.items() if k != service.upload}
                try:
                    data = form_model.model_validate(fields).model_dump()
                except ValidationError as exc:
                    return _error(*error_text(exc.errors()))
                data[service.upload] = await file.read()  # bytes: never a path
            finally:
                await form.close()  # the spooled upload's file, at once
            return await answer(run, data, request.receive)

        return upload

    # ------------------------------------------------------------ routes
    @app.get("/health", summary="Liveness (no API key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/models", summary="The served runs: name, app, created, metrics, and what the web page needs")
    async def models() -> list[dict[str, Any]]:
        return [run.describe() for run in runs.values()]

    for name, run in runs.items():
        multipart = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": [run.service.upload],
            "properties": {run.service.upload: {"type": "string", "format": "binary"},
                           **request_model(run.service.request, "F", strict=False,
                                           skip=(run.service.upload,)).model_json_schema()["properties"]}}}}}}
        app.add_api_route(f"/models/{name}/predict", predict_route(run), methods=["POST"], tags=[run.app],
                          summary=f"{run.app}: {name}", operation_id=f"predict_{_ident(name)}",
                          openapi_extra=multipart if run.service.upload else None)

    @app.post("/models/{name}/predict", include_in_schema=False)
    async def unknown_model(name: str) -> JSONResponse:
        return _error(404, f"no model {name!r}; served: {', '.join(runs) or 'none'} (GET /models lists them)")

    @app.get("/models/{name}/files/{file}", summary="A plot (PNG) of a run, by file name")
    async def run_file(name: str, file: str) -> Any:
        run = runs.get(name)
        if run is None:
            return _error(404, f"no model {name!r}; served: {', '.join(runs)}")
        path = run.images.get(file)  # a name looked up in what was listed at start, never joined to a path
        if path is None:
            return _error(404, f"{name} has no plot {file!r}; it has {', '.join(run.images) or 'none'}")
        try:  # read whole (plots are small): a file gone or unreadable is found here, not halfway through a reply
            data = await asyncio.get_running_loop().run_in_executor(checks, path.read_bytes)
        except OSError as exc:
            log.warning("%s: its plot %s cannot be read any more (%s)", name, path, exc.strerror or exc)
            return _error(404, f"{name}'s plot {file!r} is no longer in its run folder (it was there when the server "
                               "started)")
        return Response(data, media_type="image/png")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _ident(name: str) -> str:
    """A run name as an identifier (for schema and operation names)."""
    text = "".join(c if c.isalnum() else "_" for c in name)
    return text if text[:1].isalpha() else "run_" + text
