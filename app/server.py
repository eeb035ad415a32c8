"""The HTTP protocol `python -m app serve` runs uvicorn with: uvicorn's h11 protocol,
plus deadlines on each request's head and on a client that stops reading.

uvicorn bounds an idle keep-alive connection, but not a client that opens a connection
and sends its request line and headers slowly (or not at all): one header line every
few seconds holds the connection, and enough of them hold every connection the server
has. Here a client has `HEADER_TIMEOUT_SECONDS` from the moment the connection opens,
or the previous answer ends, to send a complete request head; otherwise the connection
is closed. And when a client reads so little that the connection's write buffer
stays full (writing paused) for `SEND_TIMEOUT_SECONDS`, the connection is aborted,
whatever the answers were: the request middleware bounds a streamed or large answer
on any server (app/observability.py), this also bounds small answers that pile up
unread on one connection. Bodies have their own bounds (app/uploads.py,
app/body_limit.py).
"""

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "HEADER_TIMEOUT_SECONDS"
SEND_TIMEOUT_ENV = "SEND_TIMEOUT_SECONDS"


def _seconds(name: str, default: float) -> float:
    """Read from the environment, which `app serve` fills from the validated settings
    before the workers start (each worker imports this module anew)."""
    return float(os.environ.get(name, default))


class ClientDeadlinesProtocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = _seconds(HEADER_TIMEOUT_ENV, 10.0)
        self._send_timeout = _seconds(SEND_TIMEOUT_ENV, 30.0)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._waiting_cycle: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._await_head()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._waiting_cycle:  # a request's head arrived
            self._cancel_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._cancel_write_deadline()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self._send_timeout, self._reader_too_slow)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_write_deadline()

    def _cancel_write_deadline(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _reader_too_slow(self) -> None:
        self._write_deadline = None
        self.logger.info("aborting a connection whose client stopped reading")
        self.transport.abort()  # close() would wait to flush what the client does not read

    def _await_head(self) -> None:
        self._cancel_deadline()
        self._waiting_cycle = self.cycle
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
