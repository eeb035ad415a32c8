"""Domain errors: what services raise, each with the status and problem type it is
answered with (app/platform/problems.py), and which failures mean a backing service is
unavailable (a 503, not a 500)."""

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import exc as sa


class DomainError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidInput(DomainError):
    """A 422 raised by our own checks, shaped like FastAPI's validation errors."""

    status, slug, title = 422, "validation-error", "Invalid input"

    def __init__(self, errors: Sequence[Mapping[str, Any]], detail: str = "") -> None:
        super().__init__(detail or summarize(errors), extra={"errors": [dict(e) for e in errors]})


class RateLimited(DomainError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "Payload too large"

    def __init__(self, detail: str) -> None:
        # Closing the connection stops the server from draining the rest of the body.
        super().__init__(detail, headers={"Connection": "close"})


class RequestTimeout(DomainError):
    status, slug, title = 408, "request-timeout", "Request timeout"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Connection": "close"})


# How soon a client may try again after a backing service failed.
RETRY_AFTER_UNAVAILABLE_S = 2


class ServiceUnavailable(DomainError):
    status, slug, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(
            detail, headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S), **(headers or {})}
        )


# Failures to reach or use the database: the driver's, SQLAlchemy's wrapping of them,
# its pool's timeout, and the operating system's (a refused or reset connection).
UNAVAILABLE = (
    sa.OperationalError,
    sa.InterfaceError,
    sa.InternalError,
    sa.TimeoutError,
    sa.DisconnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from or while handling, says a
    backing service could not be reached or used (an answer of 503, not 500)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UNAVAILABLE):
            return True
        if isinstance(current, sa.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def summarize(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
