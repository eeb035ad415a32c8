"""Liveness and readiness, the headers every answer carries, problem documents for
unknown routes and methods, and the error statuses the OpenAPI document declares."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.platform.config import Settings
from app.platform.health import Health
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_problem
from py_tests.support.routes import (
    BULK,
    FILE,
    HEALTH,
    LOGIN,
    LOGOUT,
    OPENAPI,
    READY,
    REFRESH,
    REGISTER,
    STATS,
    TENANTS,
    USER,
    USERS,
)

pytestmark = pytest.mark.smoke

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def rate_limit_headers(response: httpx.Response) -> set[str]:
    return {name for name in response.headers if "ratelimit" in name.lower()}


# --- errors outside any route -------------------------------------------------------


def test_unknown_route_is_a_404_problem(client: httpx.Client) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert_problem(response, 404)
    assert "traceback" not in response.text.lower()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        pytest.param("DELETE", HEALTH, "GET", id="delete-health"),
        pytest.param("POST", READY, "GET", id="post-ready"),
        pytest.param("GET", LOGIN, "POST", id="get-login"),
    ],
)
def test_wrong_method_is_a_405_problem(
    client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)
    assert_problem(response, 405)
    assert allowed in response.headers["allow"]


# --- headers on every answer --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", HEALTH, 200, id="success"),
        pytest.param("GET", "/nowhere", 404, id="unknown-route"),
        pytest.param("DELETE", HEALTH, 405, id="wrong-method"),
        pytest.param("GET", USERS, 401, id="unauthenticated"),
        pytest.param("POST", REGISTER, 422, id="invalid-body"),
    ],
)
def test_every_answer_carries_request_id_and_nosniff(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert SANE_REQUEST_ID.match(response.headers["x-request-id"])


@pytest.mark.security
@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("a" * 300, id="300-chars"),
        pytest.param("a" * 129, id="one-char-too-long"),
        pytest.param("two words", id="space"),
        pytest.param("id;drop table", id="semicolon"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param('{"json":1}', id="json"),
    ],
)
def test_insane_request_id_is_replaced(client: httpx.Client, request_id: str) -> None:
    response = client.get(HEALTH, headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    echoed = response.headers["x-request-id"]
    assert echoed != request_id
    assert SANE_REQUEST_ID.match(echoed)


def test_fresh_request_ids_differ_between_requests(client: httpx.Client) -> None:
    first, second = client.get(HEALTH), client.get(HEALTH)
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_fresh_request_ids_cannot_be_foretold(client: httpx.Client) -> None:
    """Random throughout, not a prefix and a counter: a client that has seen some ids
    cannot send the next one ahead of the request that will get it."""
    ids = [client.get(HEALTH).headers["x-request-id"] for _ in range(40)]
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in ids)
    assert len({rid[:16] for rid in ids}) == len(ids)
    assert len({rid[16:] for rid in ids}) == len(ids)


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("3f2b9c1e-7a44-4d0e-9a1c-0b6f5d2e8c11", id="uuid"),
        pytest.param("req.42:edge_7-a", id="dots-colons-underscores"),
        pytest.param("x" * 128, id="128-chars"),
    ],
)
def test_sane_request_id_is_echoed(client: httpx.Client, request_id: str) -> None:
    response = client.get(HEALTH, headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id


# --- probes -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [HEALTH, READY, OPENAPI, "/docs"])
def test_probes_and_docs_are_never_rate_limited(client: httpx.Client, path: str) -> None:
    responses = [client.get(path) for _ in range(15)]
    assert [r.status_code for r in responses] == [200] * 15
    assert all(not rate_limit_headers(r) for r in responses)
    # The control: a limited endpoint does carry the headers on the same client.
    limited = login(client, "nobody", "Wr0ng-pass!")
    assert limited.status_code == 401
    assert "x-ratelimit-limit" in rate_limit_headers(limited)


def test_health_reports_status_environment_version_and_time(
    client: httpx.Client, settings: Settings
) -> None:
    response = client.get(HEALTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "timestamp", "environment", "version"}
    Health.model_validate_json(response.content)  # the documented response model
    assert body["status"] == "healthy"
    assert body["environment"] == "dev"
    assert body["version"] == settings.version
    timestamp = datetime.fromisoformat(body["timestamp"])
    assert timestamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - timestamp) < timedelta(minutes=1)


def test_health_needs_no_token(client: httpx.Client) -> None:
    response = client.get(HEALTH, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


def test_ready_when_the_database_answers(client: httpx.Client) -> None:
    response = client.get(READY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"


# --- the OpenAPI document -----------------------------------------------------------

DECLARED_ERRORS = [
    ("get", USERS, {"401", "422", "429"}),
    ("post", USERS, {"401", "403", "409", "422", "429"}),
    ("post", BULK, {"401", "403", "409", "422", "429"}),
    ("get", USER, {"401", "404", "429"}),
    ("put", USER, {"401", "403", "404", "409", "422", "429"}),
    ("delete", USER, {"401", "403", "404", "409", "429"}),
    ("get", TENANTS, {"401", "403", "429"}),
    ("get", STATS, {"401", "403", "429"}),
    ("post", REGISTER, {"409", "422", "429"}),
    ("post", LOGIN, {"401", "403", "422", "429"}),
    ("post", REFRESH, {"401", "422", "429"}),
    ("post", LOGOUT, {"401", "429"}),
    ("get", READY, {"503"}),
]


@pytest.fixture
def openapi(client: httpx.Client) -> dict[str, Any]:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in DECLARED_ERRORS],
)
def test_openapi_declares_error_statuses(
    openapi: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    responses = openapi["paths"][path][method]["responses"]
    assert statuses <= set(responses)
    for status in statuses:
        assert "application/problem+json" in responses[status]["content"]


def test_openapi_login_accepts_json_and_oauth2_form(openapi: dict[str, Any]) -> None:
    content = openapi["paths"][LOGIN]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)
    schemes = openapi["components"]["securitySchemes"]
    assert any(
        s.get("flows", {}).get("password", {}).get("tokenUrl") == LOGIN for s in schemes.values()
    )


def _limits(max_page_size: int, *file_types: str) -> Any:
    """A case: the app runs with these limits, and its document must state them."""
    settings = pytest.mark.settings(max_page_size=max_page_size, allowed_file_types=file_types)
    return pytest.param(max_page_size, file_types, marks=settings)


@pytest.mark.inprocess
@pytest.mark.parametrize(
    ("page_size_maximum", "download_types"),
    [_limits(37, "text/plain"), _limits(250, "image/png", "application/pdf")],
)
def test_openapi_states_the_limits_of_the_settings_the_app_runs_with(
    openapi: dict[str, Any], page_size_maximum: int, download_types: tuple[str, ...]
) -> None:
    """The document is built once per app from its routes; each start-up's settings
    still write their own limits into it."""
    listing = openapi["paths"][USERS]["get"]["parameters"]
    page_size = next(p for p in listing if p["name"] == "page_size")["schema"]
    integers = [v for v in page_size.get("anyOf", [page_size]) if v.get("type") == "integer"]
    assert [v["maximum"] for v in integers] == [page_size_maximum]
    download = openapi["paths"][FILE]["get"]["responses"]["200"]
    assert set(download["content"]) == set(download_types)


@pytest.mark.security
def test_a_trailing_slash_is_not_redirected_to_the_callers_host(client: httpx.Client) -> None:
    response = client.get(f"{USERS}/", headers={"Host": "evil.example"})
    assert response.status_code in {401, 404}, response.status_code
    assert "location" not in response.headers
