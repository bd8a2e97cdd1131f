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
at fault.  Bodies over the limit are refused before they are parsed (by their
Content-Length, and by counting the bytes as they come), an unknown model is a
404, a request that outlasts ``timeout`` seconds a 503 (the model finishes or
stops on its own; the server stays up).
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
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import RnnkitError
from .batching import Busy, Job, Worker
from .loading import ServedRun
from .schema import error_text, request_model

__all__ = ["create_app", "Limits", "STATIC"]

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = ("/health",)  # the only routes that never need the API key
CHALLENGE = 'Basic realm="rnnkit serve (the API key as the password)", charset="UTF-8"'


@dataclass
class Limits:
    """The server's limits: body size (the app's ``Service.max_bytes`` for uploads), time per request, batching."""

    max_body: int = 1_000_000
    timeout: float = 30.0
    window: float = 0.005
    batch: int = 32
    queue: int = 1024


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _TooLarge(StarletteHTTPException):
    """A body that grew over the limit while it was read (413; FastAPI passes HTTP exceptions through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is over this route's limit of {limit:,} bytes")


class _Guard:
    """ASGI middleware, before any route reads a body: the API key, then the body's size limit."""

    def __init__(self, app: Any, api_key: str | None, limit_for: Callable[[str], int]) -> None:
        self.app, self.api_key, self.limit_for = app, api_key, limit_for

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
        path: str = scope["path"]
        headers = dict(scope.get("headers") or [])
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
                                         f"{limit:,} bytes")(scope, receive, send)
        seen = 0
        started = False

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge as exc:
            if not started:
                await _error(413, exc.detail)(scope, receive, send)


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

    app.add_middleware(_Guard, api_key=api_key, limit_for=limit_for)

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
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(exc).__name__}: {exc})"[:500])

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

    async def answer(run: ServedRun, data: dict[str, Any]) -> Any:
        try:
            request = await prepared(run, data)
        except RnnkitError as exc:
            return _error(422, str(exc))
        worker = workers[run.name]
        stream = bool(getattr(request, "stream", False)) and run.service.generate is not None
        try:
            job = worker.submit(request, stream=stream)
        except Busy as exc:
            return _error(503, str(exc), {"Retry-After": "1"})
        if stream:
            return StreamingResponse(_events(job), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            reply = await asyncio.wait_for(asyncio.shield(job.future), limits.timeout)
        except asyncio.TimeoutError:
            job.cancelled = True
            return _error(503, f"the request took longer than {limits.timeout:g} s and was cut off; ask for less "
                               "(fewer texts, a shorter length) or raise the server's --timeout")
        except RnnkitError as exc:
            return _error(422, str(exc))
        return JSONResponse(reply)

    async def _events(job: Job) -> AsyncIterator[bytes]:
        """The pieces of a generation as server-sent events (pieces ready together go as one), then ``done``."""
        deadline = job.queued + limits.timeout
        try:
            while True:
                left = deadline - time.perf_counter()
                try:
                    piece = await asyncio.wait_for(job.pieces.get(), max(left, 0.001))  # type: ignore[union-attr]
                except asyncio.TimeoutError:
                    job.cancelled = True
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
                yield _sse(None, {"text": "".join(text)})
            try:
                reply = await job.future
            except RnnkitError as exc:
                yield _sse("error", {"error": str(exc)})
                return
            yield _sse("done", reply)
        finally:
            job.cancelled = True  # the client went away (or the stream ended): a running generation stops

    def predict_route(run: ServedRun) -> Callable[..., Awaitable[Any]]:
        service = run.service
        if service.upload is None:
            model = request_model(service.request, f"{_ident(run.name)}Request")

            async def predict(body: Any) -> Any:
                return await answer(run, body.model_dump())

            predict.__annotations__ = {"body": model, "return": Any}
            return predict
        form_model = request_model(service.request, f"{_ident(run.name)}Form", strict=False, skip=(service.upload,))

        async def upload(request: Request) -> Any:
            kind = request.headers.get("content-type", "")
            if not kind.startswith("multipart/form-data"):
                return _error(415, f"send a multipart form with the audio file as `{service.upload}` "
                                   "(curl -F audio=@clip.wav ...)")
            try:
                form = await request.form(max_files=1, max_fields=20, max_part_size=service.max_bytes)
            except StarletteHTTPException:
                raise
            except Exception as exc:
                return _error(400, f"malformed multipart form: {exc}")
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
            return await answer(run, data)

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
        return FileResponse(path, media_type="image/png")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _ident(name: str) -> str:
    """A run name as an identifier (for schema and operation names)."""
    text = "".join(c if c.isalnum() else "_" for c in name)
    return text if text[:1].isalpha() else "run_" + text
