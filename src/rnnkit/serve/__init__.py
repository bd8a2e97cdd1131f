"""``rnnkit serve``: any trained runs over HTTP, with a web page to try them.

``rnnkit serve --run RUN [--run RUN ...] [--host 127.0.0.1] [--port 8000] [--api-key KEY]``
loads each run folder once (its app found in ``config.json``, its model through
the app's ``load_run``: :func:`rnnkit.apps.service_for`) and serves it under the
folder's base name with FastAPI and uvicorn: ``GET /health``, ``GET /models``,
``POST /models/NAME/predict`` (each app's request and reply: its ``serve.py``),
the web page at ``/``, the schema at ``/openapi.json`` and ``/docs``
(:mod:`.app`).  Concurrent requests to one model are answered in micro-batches
(a few milliseconds' window, up to ``--max-batch``), a language model's
generations one at a time; model calls run in threads, never on the event loop
(:mod:`.batching`).  A client slower than ``--read-timeout`` to send its request
(head, then body) is cut off (408), one that leaves mid-request has its work
dropped (:mod:`.server`, :mod:`.app`); each such fault is one line on stderr.

Binding to anything but a loopback address needs ``--api-key`` (checked on
every route but ``/health``; a browser asks for it on the page, as the password).  Needs the ``[serve]``
extra (FastAPI, uvicorn, python-multipart); without it the command says so in
one line.  From Python: :func:`serve_command` with :class:`ServeOptions`, or
:func:`build_app` for the ASGI application itself.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable

from ..apps.framework import App, AppConfig, Command, setting
from ..errors import ConfigError

__all__ = ["ServeOptions", "serve_command", "build_app", "APP", "is_loopback"]

EXTRA = "pip install 'rnnkit[serve]'"


@dataclass
class ServeOptions(AppConfig):
    """The options of ``rnnkit serve``.

    >>> ServeOptions(run=["runs/a"], host="0.0.0.0")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `host` 0.0.0.0 is not a loopback address: anyone who can reach it could use the models, so give `api_key` (clients send it as the X-API-Key header), or serve on 127.0.0.1
    """

    run: list[str] = setting([], help="a run folder to serve, under its folder's name (repeat --run for more runs)",
                             several=True)
    host: str = setting("127.0.0.1", help="the address to listen on; anything but loopback needs --api-key")
    port: int = setting(8000, help="the port to listen on (0: any free port)", min=0, max=65535)
    api_key: str | None = setting(None, help="the key clients send as the X-API-Key header (or Authorization: Bearer); "
                                             "required off loopback, checked on every route but /health")
    timeout: float = setting(30.0, help="seconds a request may take before it is cut off with 503", gt=0, max=3600)
    read_timeout: float = setting(15.0, help="seconds a client may take to send a request's head, and again its body; "
                                             "a slower one is cut off (408) and the connection closed", gt=0, max=3600)
    max_body: int = setting(1_000_000, help="the largest JSON body in bytes (audio uploads: the app's own limit, "
                                            "10 MB)", min=1_000, max=1_000_000_000)
    max_batch: int = setting(32, help="the most requests to one model answered in one call (1: one at a time)", min=1,
                             max=4096)
    threads: int | None = setting(None, help="threads for the models' arithmetic (default: every core but one, which "
                                             "the HTTP loop keeps; at least 1)", min=1, max=1024)
    batch_window_ms: float = setting(5.0, help="how long the first request of a batch waits for others, in ms", min=0,
                                     max=1000)

    def validate(self) -> None:
        if not self.run:
            raise ConfigError(f"nothing to serve: give {self.option('run')} RUN (once per run folder)")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ConfigError(f"{self.option('api_key')} is too short to guard anything; use 8 characters or more")
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(f"{self.option('host')} {self.host} is not a loopback address: anyone who can reach it "
                              f"could use the models, so give {self.option('api_key')} (clients send it as the "
                              "X-API-Key header), or serve on 127.0.0.1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1, localhost).

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "192.168.1.5", "")]
    [True, True, True, False, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _need_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"rnnkit serve needs FastAPI, uvicorn and python-multipart ({exc.name} is missing): "
                          f"{EXTRA}") from None


def build_app(options: ServeOptions) -> Any:
    """The ASGI application (FastAPI) of ``options``: the runs loaded, the limits set."""
    _need_extra()
    from .app import Limits, create_app
    from .loading import load_runs

    runs = load_runs(options.run)
    limits = Limits(max_body=options.max_body, timeout=options.timeout, window=options.batch_window_ms / 1000,
                    batch=options.max_batch, read_timeout=options.read_timeout)
    return create_app(runs, api_key=options.api_key, limits=limits)


def model_threads(requested: int | None = None) -> int:
    """The threads the models' arithmetic gets: ``requested``, else every core this process may use but one.

    The event loop (HTTP, JSON, checks) needs a core of its own: with every core
    given to the model, its threads spin on the core the loop needs, and one
    request at a time on 2 cores ran at a sixth of the rate 1 thread gives
    (``benchmarks/serve.py``).
    """
    if requested is not None:
        return requested
    return max(1, len(os.sched_getaffinity(0)) - 1) if hasattr(os, "sched_getaffinity") else max(1, (os.cpu_count() or 2) - 1)


def serve_command(options: ServeOptions, print_fn: Callable[[str], None] = print) -> None:
    """``rnnkit serve``: load the runs, say where they are served and whether the key guards them, run until Ctrl-C."""
    import torch

    from .server import log, uvicorn_config

    if not log.handlers:  # the faults (a slow client cut off, a client gone, a model failing): one line each
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("serve: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    torch.set_num_threads(model_threads(options.threads))
    app = build_app(options)
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((options.host, options.port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {options.host}:{options.port} ({exc.strerror or exc}); choose another "
                              f"{options.option('port')} or {options.option('host')}") from None
    base = f"http://{'[' + options.host + ']' if ':' in options.host else options.host}:{options.port}"
    for run in app.state.runs.values():
        print_fn(f"serve: {run.name} ({run.app}) at {base}/models/{run.name}/predict")
    print_fn(f"serve: web page {base}/ , API docs {base}/docs; {torch.get_num_threads()} thread(s) for the models")
    if options.api_key:
        print_fn("serve: the API key is required on every route but /health (send it as the X-API-Key header; "
                 "in a browser, give it as the password)")
    else:
        print_fn("serve: no API key: listening on loopback only, so only this machine can connect")
    uvicorn.Server(uvicorn_config(app, options.host, options.port, read_timeout=options.read_timeout)).run()


#: the ``rnnkit serve`` command
APP = App("serve", "serve trained runs over HTTP, with a web page to try them", [
    Command(None, "serve runs", ServeOptions, serve_command,
            description="Serves each --run under its folder's name: GET /models, POST /models/NAME/predict, "
                        "the web page at /, the API docs at /docs. Needs the [serve] extra."),
])
