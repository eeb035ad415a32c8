"""Assertions every area shares: the shape of problem documents, waiting for a
condition with a deadline."""

import time
from collections.abc import Callable
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith(("http://", "https://", "about:blank"))
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    return body


def assert_invalid(response: httpx.Response, field: str) -> None:
    """A 422 whose `errors` name the field."""
    errors = assert_problem(response, 422)["errors"]
    assert any(field in error["loc"] for error in errors), errors


def wait_for(condition: Callable[[], bool], deadline_s: float, interval_s: float = 0.1) -> None:
    """Polls until `condition()` holds; fails once `deadline_s` has passed."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(interval_s)
