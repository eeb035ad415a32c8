"""Domain errors and their one mapping to RFC 9457 problem documents.

Services raise the exceptions below; nothing else builds an error response. A failure
to reach or use the database is a 503 with `Retry-After`, wherever it surfaces (here,
or in the request middleware for one that escaped); a unique violation is a 409. Other
unknown exceptions become a bare 500 problem in the request middleware
(observability.py): no stack trace or SQL reaches a client.
"""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://saas-api.dev/problems/"
logger = logging.getLogger("app.errors")


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
        super().__init__(detail or _summarize(errors), extra={"errors": [dict(e) for e in errors]})


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


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
        **(extra or {}),
    }
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def _summarize(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _clean_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # FastAPI's errors carry `input` and `ctx`, which may echo a password back.
    return [{"loc": list(e["loc"]), "msg": _readable(e), "type": e["type"]} for e in errors]


# Longer patterns (the display-text one lists every refused code point) are not
# repeated to a client; the OpenAPI document states them.
READABLE_PATTERN_CHARS = 200


def _readable(error: Mapping[str, Any]) -> str:
    pattern = (error.get("ctx") or {}).get("pattern", "")
    if error["type"] == "string_pattern_mismatch" and len(pattern) > READABLE_PATTERN_CHARS:
        return (
            "String holds characters not allowed here (control, format or invisible "
            "characters, or spaces at either end)"
        )
    return str(error["msg"])


def problem_of(error: DomainError) -> JSONResponse:
    return problem(
        error.status,
        error.detail,
        slug=error.slug,
        title=error.title,
        headers=error.headers,
        extra=error.extra,
    )


async def _on_domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_of(exc)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(exc.errors())
    return problem(
        422,
        _summarize(errors),
        slug="validation-error",
        title="Invalid input",
        extra={"errors": errors},
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot parse (not JSON, not UTF-8): for this API
        # that is invalid input like any other, so it gets the documented 422.
        error = {"loc": ["body"], "msg": "The body could not be parsed", "type": "json_invalid"}
        return problem(
            422,
            "body: The body could not be parsed",
            slug="validation-error",
            title="Invalid input",
            extra={"errors": [error]},
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
    return problem(exc.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> set[str]:
    """The methods of the path's resource (Starlette names only the first matching
    route's). A literal path (`/users/bulk`) is its own resource, not an id."""
    path = request.url.path
    literal: set[str] = set()
    templated: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        route = context.original_route
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            found = literal if "{" not in getattr(route, "path", "{") else templated
            found |= set(getattr(route, "methods", None) or ())
    return literal or templated


def unavailable_problem(exc: BaseException) -> JSONResponse:
    logger.error("database unavailable: %s", type(exc).__name__)
    return problem_of(ServiceUnavailable("The database is not reachable; try again shortly"))


async def _on_database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return unavailable_problem(exc)


async def _on_integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # Services answer the conflicts they foresee with what clashed; one that surfaces
    # anywhere else (a flush, a race the check could not see) is still the contract's 409.
    logger.info("unique or foreign key violation answered 409: %s", type(exc).__name__)
    return problem(
        409,
        "The change conflicts with existing data (taken meanwhile); nothing was changed",
        slug="conflict",
        title="Conflict",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(sa.IntegrityError, _on_integrity_error)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_database_unavailable)
