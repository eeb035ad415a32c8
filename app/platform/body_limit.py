"""A ceiling on request bodies other than uploads.

JSON bodies here are small (a bulk of 50 users is about 15 KB), so a body over
`MAX_JSON_BODY_BYTES` is refused with a 413 problem and the connection closed: at once
when Content-Length says so, otherwise as soon as the streamed bytes pass the ceiling.
Below it the body is buffered and handed on unchanged; a body that has not arrived
whole within `BODY_TIMEOUT_SECONDS` is answered 408 and the connection closed. The
upload route is exempt: its streaming reader holds files to MAX_FILE_SIZE_MB and has
deadlines of its own (app/files/uploads.py). So is logout, which ends the session first and
then reads its body with `read_body`, the same rules at a smaller ceiling.
"""

import asyncio

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform.errors import DomainError, PayloadTooLarge, RequestTimeout
from app.platform.problems import problem_of

MAX_JSON_BODY_BYTES = 1024 * 1024
BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # their bodies are never read


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, exempt_paths: frozenset[str]) -> None:
        self.app = app
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in BODILESS_METHODS
            or scope["path"] in self.exempt_paths
        ):
            await self.app(scope, receive, send)
            return
        within_s = scope["app"].state.settings.body_timeout_seconds
        try:
            body = await read_body(scope, receive, limit=MAX_JSON_BODY_BYTES, within_s=within_s)
        except DomainError as error:
            await problem_of(error)(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def read_body(scope: Scope, receive: Receive, *, limit: int, within_s: float) -> bytes:
    """The whole request body: 413 past `limit` bytes (at once when Content-Length says
    so), 408 when it has not arrived within `within_s`; ClientDisconnect when the
    client goes away."""
    too_large = PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes")
    declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(within_s):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientDisconnect
                body += message.get("body", b"")
                if len(body) > limit:
                    raise too_large
                if not message.get("more_body", False):
                    return bytes(body)
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {within_s:g} s") from None
