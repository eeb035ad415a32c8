"""Request context: request ids, response headers every answer carries, JSON logs.

One pure ASGI middleware owns what happens around every request: it picks the
request id, adds `X-Request-ID`, `X-Content-Type-Options` and the rate-limit headers,
bounds how long sending the answer may wait on a client (`SEND_TIMEOUT_SECONDS`),
turns an unhandled exception into a bare 500 problem (logged with its trace, never
sent), and writes one JSON log line per request. Nothing secret is logged: the line
holds ids, the route template, status and duration, never headers or bodies.
"""

import asyncio
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform.errors import is_unavailable
from app.platform.problems import problem, unavailable_problem
from app.platform.request_context import RequestContext, request_context

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# A whole answer smaller than a transport's write buffer (64 KiB) never waits to be sent.
WHOLE_BODY_UNTIMED = 32 * 1024
# A generated request id: 128 random bits from the system's generator, as unguessable
# as a UUID4, drawn 256 ids at a time so that a request costs no call for randomness.
_ID_BYTES = 16
_id_pool = b""
_id_at = 0


def _random_id() -> str:
    global _id_pool, _id_at
    if _id_at >= len(_id_pool):
        _id_pool, _id_at = os.urandom(_ID_BYTES * 256), 0
    _id_at += _ID_BYTES
    return _id_pool[_id_at - _ID_BYTES : _id_at].hex()


def _forget_ids() -> None:
    global _id_pool
    _id_pool = b""  # a forked worker draws its own


os.register_at_fork(after_in_child=_forget_ids)
access_log = logging.getLogger("app.access")
logger = logging.getLogger("app")


class ClientTooSlow(Exception):
    """The client read nothing of the answer for `SEND_TIMEOUT_SECONDS`."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Idempotent: one JSON handler on the `app` logger, whatever runs the app."""
    # Records never carry thread or process names (the JSON has no place for them), so
    # building one skips looking them up: the logging module's documented switches.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logger.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_KEY:
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return _random_id()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        with request_context() as context:
            await self._serve(scope, receive, send, request_id, context, started)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        context: RequestContext,
        started: float,
    ) -> None:
        status = 500
        response_started = False
        streaming = False
        send_timeout = scope["app"].state.settings.send_timeout_seconds

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.body":
                nonlocal streaming
                # A client that stops reading holds the answer for this long at most. A
                # body sent whole and small goes straight to the socket's buffer and
                # cannot wait on the client; the timer is for the rest.
                streaming = streaming or message.get("more_body", False)
                if not streaming and len(message.get("body", b"")) < WHOLE_BODY_UNTIMED:
                    await send(message)
                    return
                try:
                    async with asyncio.timeout(send_timeout):
                        await send(message)
                except TimeoutError:
                    raise ClientTooSlow from None
                return
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                for name, value in context.rate_limit_headers.items():
                    headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            fields = {"request_id": request_id}
            if isinstance(exc, ClientDisconnect):  # nobody is left to answer
                logger.info("client disconnected mid-request", extra={"fields": fields})
                status = 499  # the log's name for it; never sent
                return
            if response_started:
                # Too late for an answer: the server closes the connection once this
                # returns, and the client sees the answer cut short.
                if isinstance(exc, ClientTooSlow) or is_unavailable(exc):
                    logger.warning(
                        "response cut short: %s", type(exc).__name__, extra={"fields": fields}
                    )
                else:
                    logger.exception("unhandled error mid-response", extra={"fields": fields})
                return
            if is_unavailable(exc):
                response = unavailable_problem(exc)
            else:
                logger.exception("unhandled error", extra={"fields": fields})
                response = problem(500, "An unexpected error occurred; it has been logged")
            await response(scope, receive, send_with_headers)
        finally:
            self._log(scope, request_id, context, status, started)

    @staticmethod
    def _log(
        scope: Scope, request_id: str, context: RequestContext, status: int, started: float
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        route = scope.get("route")
        access_log.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": getattr(route, "path", None) or "<unmatched>",
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "tenant": str(context.tenant_id) if context.tenant_id else None,
                    "user": str(context.user_id) if context.user_id else None,
                }
            },
        )
