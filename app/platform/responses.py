"""OpenAPI descriptions of the problem answers, so the document lists every status."""

from typing import Any

from app.platform.schemas import ResponseBody

# Every router spells its whole prefix, so a route's `path` is the full template that
# rate-limit buckets and logs name (FastAPI keeps an include's prefix out of it).
API_V1 = "/api/v1"


class Problem(ResponseBody):
    type: str
    title: str
    status: int
    detail: str


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "Missing, invalid, expired or revoked token",
        403: "The caller's role may not do this",
        404: "No such resource in the caller's tenant",
        408: "The client stopped sending the body",
        409: "Conflict with existing data",
        413: "Payload too large",
        415: "Unsupported media type",
        422: "Invalid input",
        429: "Rate limit exceeded",
        503: "A backing service is unavailable",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions[status],
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
