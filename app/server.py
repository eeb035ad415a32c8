"""The HTTP protocol `python -m app serve` runs uvicorn with: uvicorn's h11 protocol,
plus a deadline on each request's head.

uvicorn bounds an idle keep-alive connection, but not a client that opens a connection
and sends its request line and headers slowly (or not at all): one header line every
few seconds holds the connection, and enough of them hold every connection the server
has. Here a client has `HEADER_TIMEOUT_SECONDS` from the moment the connection opens,
or the previous answer ends, to send a complete request head; otherwise the connection
is closed. The body has its own bounds (uploads: app/uploads.py; other bodies are
small), and so does sending the answer (app/observability.py).
"""

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "HEADER_TIMEOUT_SECONDS"
DEFAULT_HEADER_TIMEOUT_S = 10.0


def header_timeout() -> float:
    """Read from the environment, which `app serve` fills from the validated settings
    before the workers start (each worker imports this module anew)."""
    return float(os.environ.get(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_S))


class HeadDeadlineProtocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = header_timeout()
        self._head_deadline: asyncio.TimerHandle | None = None
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
        super().connection_lost(exc)

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
