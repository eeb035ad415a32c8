"""The HTTP protocol `python -m app serve` runs uvicorn with: uvicorn's httptools
protocol (the one it picks by itself), plus a deadline on each request's head and a
bound on requests sent ahead of their answers.

uvicorn bounds an idle keep-alive connection, but not a client that opens a connection
and sends its request line and headers slowly (or not at all): one header line every
few seconds holds the connection, and enough of them hold every connection the server
has. Here a client has `HEADER_TIMEOUT_SECONDS` from the moment the connection opens,
or the previous answer ends, to send a complete request head; otherwise the connection
is closed. A request head (request line and headers) larger than `MAX_HEAD_BYTES` is
answered 431 and the connection closed: the parser would otherwise keep however much a
client sends. And a connection that sends more than `MAX_PIPELINED` requests ahead of
their answers is closed: uvicorn's parser would queue them all in memory, however
little the client reads. Sending answers has its own bound (app/platform/observability.py),
and so have bodies (app/files/uploads.py, app/platform/body_limit.py).
"""

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_ENV = "HEADER_TIMEOUT_SECONDS"
# Requests a connection may send ahead of their answers (HTTP/1.1 pipelining).
MAX_PIPELINED = 32
# Largest request head (request line and headers) accepted, as common proxies allow.
MAX_HEAD_BYTES = 64 * 1024
# After a refusal, how long and how much of what the client still sends is read and
# dropped before the connection closes.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 4 * 1024 * 1024
_HEAD_TOO_LARGE = (
    b'{"type":"https://saas-api.dev/problems/request-header-fields-too-large",'
    b'"title":"Request header fields too large","status":431,'
    b'"detail":"The request line and headers exceed ' + str(MAX_HEAD_BYTES).encode() + b' bytes"}'
)


def _seconds(name: str, default: float) -> float:
    """Read from the environment, which `app serve` fills from the validated settings
    before the workers start (each worker imports this module anew)."""
    return float(os.environ.get(name, default))


class BoundedClientProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = _seconds(HEADER_TIMEOUT_ENV, 10.0)
        self._head_deadline: asyncio.TimerHandle | None = None
        # Bytes received since the current request head began, while it is incomplete.
        self._head_bytes: int | None = None
        # Bytes read and dropped since a refusal was sent (None: nothing refused).
        self._refused_bytes: int | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._refused_bytes is not None:
            self._drain(len(data))
            return
        # Counted once parsed: a chunk that completes a head, or begins one, is not
        # counted (it may hold a body); every chunk read while a head stays incomplete
        # is. So a head is cut off within one read past the limit.
        head_was_incomplete = self._head_bytes is not None
        super().data_received(data)
        if head_was_incomplete and self._head_bytes is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._cancel_deadline()  # a request's head arrived
        if self.transport.is_closing():
            return  # the rest of a chunk that arrived before the connection was closed
        if len(self.pipeline) >= MAX_PIPELINED:
            # Requests sent ahead of their answers queue here in memory, unbounded in
            # uvicorn itself: a client that sends without reading is let go.
            self.logger.info("closing a connection that pipelined too many requests")
            self.transport.abort()
            return
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._cancel_deadline()
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _cancel_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request head did not arrive in time")
            self.transport.close()

    def _refuse_head(self) -> None:
        """Answers 431, then reads and drops what the client still sends for a moment
        before closing: closing with unread bytes would reset the connection, and the
        client could lose the answer before reading it."""
        self._cancel_deadline()
        self._head_bytes = None
        if self.transport.is_closing():
            return
        self.logger.info("refusing a request head over %d bytes", MAX_HEAD_BYTES)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(_HEAD_TOO_LARGE)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _HEAD_TOO_LARGE
        )
        self.transport.write_eof()
        self._refused_bytes = 0
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _drain(self, size: int) -> None:
        assert self._refused_bytes is not None
        self._refused_bytes += size
        if self._refused_bytes > LINGER_MAX_BYTES and not self.transport.is_closing():
            self.transport.close()
