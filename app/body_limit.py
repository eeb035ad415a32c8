"""A ceiling on request bodies other than uploads.

JSON bodies here are small (a bulk of 50 users is about 15 KB), so a body over
`MAX_JSON_BODY_BYTES` is refused with a 413 problem and the connection closed: at once
when Content-Length says so, otherwise as soon as the streamed bytes pass the ceiling.
Below it the body is buffered and handed on unchanged; a body that has not arrived
whole within `BODY_TIMEOUT_SECONDS` is answered 408 and the connection closed. The
upload route is exempt; its streaming reader holds files to MAX_FILE_SIZE_MB and has
deadlines of its own (app/uploads.py).
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import DomainError, PayloadTooLarge, RequestTimeout, problem

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
        declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_JSON_BODY_BYTES:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        timeout = scope["app"].state.settings.body_timeout_seconds
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                too_slow = RequestTimeout(f"The request body did not arrive within {timeout:g} s")
                await _answer(too_slow, scope, receive, send)
                return
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > MAX_JSON_BODY_BYTES:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(
            f"The request body is larger than the limit of {MAX_JSON_BODY_BYTES} bytes"
        )
        await _answer(error, scope, receive, send)


async def _answer(error: DomainError, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem(
        error.status, error.detail, slug=error.slug, title=error.title, headers=error.headers
    )
    await response(scope, receive, send)
