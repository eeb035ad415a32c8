"""The one mapping of errors to RFC 9457 problem documents.

Services raise the domain errors of app/platform/errors.py; nothing else builds an
error answer. A failure to reach or use the database is a 503 with `Retry-After`,
wherever it surfaces (here, or in the request middleware for one that escaped); a
unique violation is a 409. Other unknown exceptions become a bare 500 problem in the
request middleware (app/platform/observability.py): no stack trace or SQL reaches a
client.
"""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.platform.errors import UNAVAILABLE, DomainError, ServiceUnavailable, summarize

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://saas-api.dev/problems/"
logger = logging.getLogger("app.errors")


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


def _clean_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # FastAPI's errors carry `input` and `ctx`, which may echo a password back.
    # An optional field (`X | None`) that fails is reported by pydantic once per member
    # of its union, each with the member's internal name at the end of `loc`; the
    # client gets the field's own error at the field's own place.
    optional = {tuple(e["loc"][:-1]) for e in errors if e["type"] == "none_required"}
    cleaned = []
    for e in errors:
        loc = tuple(e["loc"])
        if loc[:-1] in optional:
            if e["type"] == "none_required":
                continue
            loc = loc[:-1]
        cleaned.append({"loc": list(loc), "msg": _readable(e), "type": e["type"]})
    return cleaned


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
        summarize(errors),
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
