"""Role-based access control as data: (method, route, role) -> status, for every /api/v1 route.

A route of the app without rows fails `test_every_api_route_has_a_row_per_role`, so a new
endpoint cannot ship without its permissions written down here. The platform operator
is created by the CLI and has its own tests; the roles here are a tenant's.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from py_tests.factories import UserPayloadFactory, user_payloads
from py_tests.fixtures.clients import ApiClient, Tenant
from py_tests.routes import routes

pytestmark = pytest.mark.rbac

ROLES = ("anonymous", "user", "admin")
CALLERS = {"anonymous": "anonymous", "user": "tenant_a_user", "admin": "tenant_a_admin"}
USERS, USER = "/api/v1/users", "/api/v1/users/{user_id}"
FILES, FILE = "/api/v1/files", "/api/v1/files/{file_id}"
TENANTS, STATS = "/api/v1/admin/tenants", "/api/v1/admin/stats"
FILE_BYTES = b"quarterly numbers, plain text\n"
RENAMED = "Renamed By Matrix"

# Expected status for (anonymous, user, admin); the target user and file are someone
# else's (a colleague of the caller, a file the tenant admin uploaded).
MATRIX: dict[tuple[str, str], tuple[int, int, int]] = {
    ("GET", USERS): (401, 200, 200),
    ("POST", USERS): (401, 403, 201),
    ("POST", f"{USERS}/bulk"): (401, 403, 201),
    ("GET", USER): (401, 200, 200),
    ("PUT", USER): (401, 403, 200),
    ("DELETE", USER): (401, 403, 204),
    ("POST", f"{FILES}/upload"): (401, 201, 201),
    ("GET", FILES): (401, 200, 200),
    ("GET", FILE): (401, 200, 200),
    ("DELETE", FILE): (401, 403, 204),
    ("GET", TENANTS): (401, 403, 200),
    ("GET", STATS): (401, 403, 200),
}
AUTH_TABLE = {
    (method, path, role): statuses[i]
    for (method, path), statuses in MATRIX.items()
    for i, role in enumerate(ROLES)
}


@dataclass
class Target:
    tenant_id: str
    user_id: str
    file_id: str


REQUESTS: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", USERS): lambda: {"json": UserPayloadFactory()},
    ("POST", f"{USERS}/bulk"): lambda: {"json": user_payloads(2)},
    ("PUT", USER): lambda: {"json": {"full_name": RENAMED}},
    ("POST", f"{FILES}/upload"): lambda: {"files": {"file": ("a.txt", FILE_BYTES, "text/plain")}},
}
SUCCEEDS: dict[tuple[str, str], Callable[[httpx.Response, Target], bool]] = {
    ("GET", USERS): lambda r, t: {u["tenant_id"] for u in r.json()["data"]} == {t.tenant_id},
    ("POST", USERS): lambda r, t: r.json()["tenant_id"] == t.tenant_id,
    ("POST", f"{USERS}/bulk"): lambda r, t: [u["tenant_id"] for u in r.json()] == [t.tenant_id] * 2,
    ("GET", USER): lambda r, t: r.json()["id"] == t.user_id,
    ("PUT", USER): lambda r, t: (r.json()["id"], r.json()["full_name"]) == (t.user_id, RENAMED),
    ("DELETE", USER): lambda r, t: r.content == b"",
    ("POST", f"{FILES}/upload"): lambda r, t: r.json()["size_bytes"] == len(FILE_BYTES),
    ("GET", FILES): lambda r, t: t.file_id in {f["id"] for f in r.json()["data"]},
    ("GET", FILE): lambda r, t: r.content == FILE_BYTES,
    ("DELETE", FILE): lambda r, t: r.content == b"",
    ("GET", TENANTS): lambda r, t: [x["id"] for x in r.json()["tenants"]] == [t.tenant_id],
    ("GET", STATS): lambda r, t: r.json()["total_tenants"] == 1,
}


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    return routes(client.app, "/api/v1/")


def tenant_state(admin: ApiClient, target: Target) -> tuple[Any, ...]:
    """What a refused call must leave as it was."""
    user = admin.get(f"{USERS}/{target.user_id}").json()
    return (
        user,
        admin.get(USERS).json()["total_count"],
        admin.get(f"{FILES}/{target.file_id}").status_code,
        admin.get(FILES).json()["total_count"],
    )


@pytest.fixture
def target(tenant_a: Tenant) -> Target:
    user = tenant_a.admin.api.post(USERS, json=UserPayloadFactory())
    assert user.status_code == 201, user.text
    upload = tenant_a.admin.api.post(f"{FILES}/upload", **REQUESTS[("POST", f"{FILES}/upload")]())
    assert upload.status_code == 201, upload.text
    return Target(tenant_id=tenant_a.id, user_id=user.json()["id"], file_id=upload.json()["id"])


def test_every_api_route_has_a_row_per_role(client: TestClient) -> None:
    routes = api_routes(client)
    assert ("GET", USERS) in routes
    assert routes == set(MATRIX), "the auth matrix and the app's /api/v1 routes differ"
    assert set(SUCCEEDS) == set(MATRIX)


@pytest.mark.parametrize(
    ("method", "path", "role", "expected"),
    [
        pytest.param(method, path, role, status, id=f"{role}-{method}-{path}")
        for (method, path, role), status in AUTH_TABLE.items()
    ],
)
def test_auth_matrix(
    request: pytest.FixtureRequest,
    tenant_a_admin: ApiClient,
    target: Target,
    method: str,
    path: str,
    role: str,
    expected: int,
) -> None:
    caller: ApiClient = request.getfixturevalue(CALLERS[role])
    before = tenant_state(tenant_a_admin, target)
    url = path.format(user_id=target.user_id, file_id=target.file_id)
    response = caller.request(method, url, **REQUESTS.get((method, path), dict)())
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == expected
        assert tenant_state(tenant_a_admin, target) == before
    else:
        assert SUCCEEDS[(method, path)](response, target), response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_tenant_admin_sees_only_own_tenant_on_admin_endpoints(tenant_a: Tenant) -> None:
    created = tenant_a.admin.api.post(f"{USERS}/bulk", json=user_payloads(3))
    assert created.status_code == 201, created.text
    tenants = tenant_a.admin.api.get(TENANTS)
    assert tenants.status_code == 200, tenants.text
    assert tenants.json()["total"] == 1
    [own] = tenants.json()["tenants"]
    assert (own["id"], own["name"], own["is_active"]) == (tenant_a.id, tenant_a.name, True)
    stats = tenant_a.admin.api.get(STATS)
    assert stats.status_code == 200, stats.text
    assert (stats.json()["total_tenants"], stats.json()["total_users"]) == (1, 4)
