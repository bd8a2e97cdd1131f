"""uvicorn as ``rnnkit serve`` runs it: its configuration, and the two connection rules uvicorn lacks.

uvicorn closes a kept-alive connection that stays silent for ``timeout_keep_alive``
seconds, but not one that sends its request head a byte at a time (a slow-loris
client): every byte resets that timer, and a new connection has none.  Here a
connection whose request head is not whole ``read_timeout`` seconds after it
opened (or after its previous reply) gets a JSON 408 and is closed, with one
log line; a silent one is closed without a word, as uvicorn does.  The body has
its own deadline, the app's (:class:`rnnkit.serve.app.Limits`): the same
seconds after the head.  And a request uvicorn cannot parse (bad framing, bad
header bytes) gets a JSON 400 like every other error, not uvicorn's plain text;
an ``Upgrade`` header is ignored (no WebSockets).
"""
from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["uvicorn_config", "guarded_protocol", "READ_TIMEOUT", "log"]

log = logging.getLogger("rnnkit.serve")

#: seconds a client may take to send a request's head, and again its body (``--read-timeout``'s default)
READ_TIMEOUT = 15.0


def _raw_json(status: str, message: str) -> bytes:
    """A whole HTTP/1.1 reply ``{"error": message}`` that closes the connection (written below h11)."""
    body = json.dumps({"error": message}).encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


def guarded_protocol(base: type, read_timeout: float) -> type:
    """uvicorn's HTTP protocol class ``base`` (h11 or httptools) with the head deadline and the JSON 400."""

    class Guarded(base):  # type: ignore[misc, valid-type]
        _head_timer: Any = None
        _heard = False  # bytes came since the deadline was set (a silent connection is only idle)

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._heard = True
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request's head has the same time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._heard = False
            self._head_timer = self.loop.call_later(read_timeout, self._head_late)

        def _head_late(self) -> None:
            self._head_timer = None
            cycle = self.cycle
            if self.transport.is_closing() or (cycle is not None and not cycle.response_complete):
                return  # closed already, or a request is being answered (its body has the app's deadline)
            if self._heard:
                peer = "%s:%d" % self.client if self.client else "a client"
                log.warning("%s sent no whole request head in %g s (a slow or stalled client); its connection was "
                            "closed", peer, read_timeout)
                self.transport.write(_raw_json("408 Request Timeout", f"the request head did not arrive within "
                                                                      f"{read_timeout:g} s; the connection is closed"))
            self.transport.close()

        def _unsupported_upgrade_warning(self) -> None:
            pass  # no WebSockets here: an Upgrade header is ignored and the request answered as any other

        def send_400_response(self, msg: str) -> None:  # uvicorn has logged its one line ("Invalid HTTP request")
            self.transport.write(_raw_json("400 Bad Request", "malformed HTTP request (its request line, headers or "
                                                              "framing); send HTTP/1.1"))
            self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 8000, *, read_timeout: float = READ_TIMEOUT,
                   **more: Any) -> Any:
    """The ``uvicorn.Config`` that ``rnnkit serve`` (and its tests) run ``app`` under: no access log, warnings only,
    no WebSockets (a handshake's failure would be a reply of the WebSocket library's, not JSON), the HTTP
    protocol uvicorn would pick (httptools if installed, else h11) with the head deadline."""
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    settings: dict[str, Any] = dict(log_level="warning", access_log=False, ws="none")
    settings.update(more)
    return uvicorn.Config(app, host=host, port=port, http=guarded_protocol(AutoHTTPProtocol, read_timeout),
                          **settings)
