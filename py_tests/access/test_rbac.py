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
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.platform.permissions import Action, allowed, declared_action
from py_tests.fixtures.clients import ApiClient, Tenant
from py_tests.html_report import record_cell
from py_tests.support.factories import UserPayloadFactory, user_payloads
from py_tests.support.matrices import MATRIX, ROLES
from py_tests.support.routes import (
    BULK,
    FILE,
    FILES,
    STATS,
    TENANTS,
    UPLOAD,
    USER,
    USERS,
    route_table,
)

pytestmark = pytest.mark.rbac

CALLERS = {
    "anonymous": "anonymous",
    "user": "tenant_a_user",
    "admin": "tenant_a_admin",
    "other_admin": "tenant_b_admin",
    "operator": "platform_operator",
}
FILE_BYTES = b"quarterly numbers, plain text\n"
RENAMED = "Renamed By Matrix"

# A member may do these to what is its own (itself, its uploads), not to the targets here.
OWN_ONLY = {("PUT", USER), ("DELETE", FILE)}
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
    ("POST", USERS): lambda: {"json": UserPayloadFactory.build()},
    ("POST", BULK): lambda: {"json": user_payloads(2)},
    ("PUT", USER): lambda: {"json": {"full_name": RENAMED}},
    ("POST", UPLOAD): lambda: {"files": {"file": ("a.txt", FILE_BYTES, "text/plain")}},
}
# What a successful answer must show; `own` is the caller's tenant id (None: operator).
SUCCEEDS: dict[tuple[str, str], Callable[[httpx.Response, Target, str | None], bool]] = {
    ("GET", USERS): lambda r, t, own: {u["tenant_id"] for u in r.json()["data"]} == {own},
    ("POST", USERS): lambda r, t, own: r.json()["tenant_id"] == own,
    ("POST", BULK): lambda r, t, own: [u["tenant_id"] for u in r.json()] == [own] * 2,
    ("GET", USER): lambda r, t, own: r.json()["id"] == t.user_id,
    ("PUT", USER): lambda r, t, own: (
        (r.json()["id"], r.json()["full_name"]) == (t.user_id, RENAMED)
    ),
    ("DELETE", USER): lambda r, t, own: r.content == b"",
    ("POST", UPLOAD): lambda r, t, own: r.json()["tenant_id"] == own,
    ("GET", FILES): lambda r, t, own: {f["tenant_id"] for f in r.json()["data"]} <= {own},
    ("GET", FILE): lambda r, t, own: r.content == FILE_BYTES,
    ("DELETE", FILE): lambda r, t, own: r.content == b"",
    ("GET", TENANTS): lambda r, t, own: (
        [x["id"] for x in r.json()["tenants"]] == [own]
        if own
        else t.tenant_id in {x["id"] for x in r.json()["tenants"]} and r.json()["total"] >= 2
    ),
    ("GET", STATS): lambda r, t, own: r.json()["total_tenants"] == (1 if own else 2),
}


def api_routes(client: httpx.Client) -> set[tuple[str, str]]:
    return route_table(client, "/api/v1/")


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
    user = tenant_a.admin.api.post(USERS, json=UserPayloadFactory.build())
    assert user.status_code == 201, user.text
    upload = tenant_a.admin.api.post(UPLOAD, **REQUESTS[("POST", UPLOAD)]())
    assert upload.status_code == 201, upload.text
    return Target(tenant_id=tenant_a.id, user_id=user.json()["id"], file_id=upload.json()["id"])


def test_every_api_route_has_a_row_per_role(client: httpx.Client) -> None:
    routes = api_routes(client)
    assert ("GET", USERS) in routes
    assert routes == set(MATRIX), "the auth matrix and the app's /api/v1 routes differ"
    assert set(SUCCEEDS) == set(MATRIX)


@pytest.mark.parametrize(
    ("method", "path", "role", "expected"),
    [
        pytest.param(
            method,
            path,
            role,
            status,
            id=f"{role}-{method}-{path}",
            # The operator is made with the service's CLI, on the server's own database.
            marks=[pytest.mark.inprocess] if role == "operator" else [],
        )
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
    own = {"user": target.tenant_id, "admin": target.tenant_id}.get(role)
    if role in ("other_admin", "operator"):  # two tenants: the operator must see both
        tenant_b = request.getfixturevalue("tenant_b")
        own = tenant_b.id if role == "other_admin" else None
    before = tenant_state(tenant_a_admin, target)
    url = path.format(user_id=target.user_id, file_id=target.file_id)
    response = caller.request(method, url, **REQUESTS.get((method, path), dict)())
    record_cell(request, "RBAC matrix", f"{method} {path}", role, expected, response.status_code)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == expected
        assert tenant_state(tenant_a_admin, target) == before
    else:
        assert SUCCEEDS[(method, path)](response, target, own), response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def declared_actions(app: FastAPI) -> dict[tuple[str, str], Action | None]:
    """The action each /api/v1 route declares with `require(...)` (None: not one)."""
    found: dict[tuple[str, str], Action | None] = {}
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        if isinstance(route, APIRoute) and path.startswith("/api/v1/"):
            declared = (declared_action(d.dependency) for d in route.dependencies if d.dependency)
            actions = [action for action in declared if action]
            for method in route.methods or ():
                found[(method, path)] = actions[0] if len(actions) == 1 else None
    return found


@pytest.mark.inprocess
def test_every_api_route_declares_one_action(app: FastAPI) -> None:
    actions = declared_actions(app)
    assert set(actions) == set(MATRIX)
    assert None not in actions.values(), actions
    assert set(actions.values()) == set(Action), "an action of the table has no route"


@pytest.mark.inprocess
@pytest.mark.parametrize("role", ["user", "admin", "operator"])
def test_role_table_in_the_code_agrees_with_the_matrix(app: FastAPI, role: str) -> None:
    """RULES (app/permissions.py) is what the routes enforce; the matrix is the contract.
    A role may take an action exactly where the matrix does not answer it 403, except
    where a member is refused only because the target is not its own."""
    column = ROLES.index(role)
    for route, action in declared_actions(app).items():
        assert action is not None, route
        by_role = MATRIX[route][column] != 403 or (role == "user" and route in OWN_ONLY)
        assert allowed(role, action) == by_role, (role, route)


def test_other_methods_on_admin_paths_answer_405(tenant_a_admin: ApiClient) -> None:
    for path in (TENANTS, STATS):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = tenant_a_admin.request(method, path)
            assert response.status_code == 405, (method, path)
            assert response.headers["content-type"].startswith("application/problem+json")


def test_tenant_admin_sees_only_own_tenant_on_admin_endpoints(tenant_a: Tenant) -> None:
    created = tenant_a.admin.api.post(BULK, json=user_payloads(3))
    assert created.status_code == 201, created.text
    tenants = tenant_a.admin.api.get(TENANTS)
    assert tenants.status_code == 200, tenants.text
    assert tenants.json()["total"] == 1
    [own] = tenants.json()["tenants"]
    assert (own["id"], own["name"], own["is_active"]) == (tenant_a.id, tenant_a.name, True)
    stats = tenant_a.admin.api.get(STATS)
    assert stats.status_code == 200, stats.text
    assert (stats.json()["total_tenants"], stats.json()["total_users"]) == (1, 4)
