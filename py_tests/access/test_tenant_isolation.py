"""One tenant never sees or touches another tenant's data.

The cross-tenant matrix is derived from the app's own route table: every route with a
path parameter, for each of its methods, is called by tenant A's admin with tenant B's
resource id and must answer 404 exactly like an unknown id, leaving B's data as it was.
"""

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Executable
from sqlalchemy.exc import StatementError
from sqlalchemy.sql import ClauseElement

from app.files.repository import TenantFiles
from app.platform.config import Settings
from app.platform.db.database import Database
from app.platform.pagination import PageQuery
from app.users.repository import TenantUsers
from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.fixtures.clients import ApiClient, Tenant
from py_tests.html_report import record_cell
from py_tests.support.factories import UserPayloadFactory, user_payloads
from py_tests.support.routes import BULK, FILES, STATS, TENANTS, UPLOAD, USER, USERS, route_table

pytestmark = pytest.mark.tenant_isolation

PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
HOSTILE_BODY = {"full_name": "Changed by tenant A", "is_active": False}
B_FILE = b"tenant B's private notes\n"


def id_routes(client: httpx.Client) -> list[tuple[str, str]]:
    """(method, path template) of every API route with a path parameter."""
    return sorted(route for route in route_table(client, "/") if PATH_PARAM.search(route[1]))


def upload_text(api: ApiClient, content: bytes) -> dict[str, Any]:
    response = api.post(UPLOAD, files={"file": ("notes.txt", content, "text/plain")})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def tenant_b_resources(tenant_b: Tenant) -> dict[str, str]:
    """One resource of tenant B per path parameter name of the API."""
    created = tenant_b.admin.api.post(USERS, json=UserPayloadFactory.build())
    assert created.status_code == 201, created.text
    return {
        "user_id": created.json()["id"],
        "file_id": upload_text(tenant_b.admin.api, B_FILE)["id"],
    }


def call(api: ApiClient, method: str, path: str, ids: dict[str, str]) -> tuple[int, Any]:
    url = PATH_PARAM.sub(lambda m: ids[m.group(1)], path)
    body = HOSTILE_BODY if method in {"POST", "PUT", "PATCH"} else None
    response = api.request(method, url, json=body)
    is_json = response.headers.get("content-type", "").endswith("json")
    return response.status_code, response.json().get("detail") if is_json else response.content


@pytest.mark.parametrize("role", ["admin", "user"])
def test_every_id_route_hides_other_tenants_resources(
    request: pytest.FixtureRequest,
    client: httpx.Client,
    tenant_a: Tenant,
    tenant_b: Tenant,
    role: str,
) -> None:
    """Tenant A's admin and member try tenant B's ids on every route and method: each
    answer is exactly the answer to an unknown id (404 for the admin; for the member,
    whatever its role gets there), and B's data is unchanged."""
    caller: ApiClient = request.getfixturevalue(f"tenant_a_{role}")
    routes = id_routes(client)
    assert ("GET", USER) in routes
    assert ("DELETE", USER) in routes
    foreign = tenant_b_resources(tenant_b)
    missing = {p for _, path in routes for p in PATH_PARAM.findall(path)} - set(foreign)
    assert not missing, f"add a tenant-B resource for the path parameters {missing}"
    unknown = {name: str(uuid.uuid4()) for name in foreign}
    b_admin = tenant_b.admin.api
    b_user_before = b_admin.get(f"{USERS}/{foreign['user_id']}").json()

    answers = {f"{m} {p}": call(caller, m, p, foreign) for m, p in routes}
    expected = {f"{m} {p}": call(caller, m, p, unknown) for m, p in routes}
    for route, (status, body) in expected.items():
        observed, observed_body = answers[route]
        agrees = (status, body) == (observed, observed_body)
        record_cell(request, "Cross-tenant matrix", route, role, status, observed, agrees)
    statuses = {key: status for key, (status, _) in expected.items()}
    if role == "admin":
        assert statuses == dict.fromkeys(expected, 404)
    else:
        assert set(statuses.values()) <= {403, 404}, statuses
    assert answers == expected

    b_user_after = b_admin.get(f"{USERS}/{foreign['user_id']}").json()
    assert b_user_after == b_user_before
    assert b_user_after["is_active"] is True
    download = b_admin.get(f"{FILES}/{foreign['file_id']}")
    assert (download.status_code, download.content) == (200, B_FILE)


def test_user_list_shows_only_own_tenant(tenant_a: Tenant, tenant_b: Tenant) -> None:
    for tenant, count in ((tenant_a, 2), (tenant_b, 3)):
        response = tenant.admin.api.post(
            BULK, json=[UserPayloadFactory.build() for _ in range(count)]
        )
        assert response.status_code == 201, response.text
    page_a = tenant_a.admin.api.get(USERS).json()
    page_b = tenant_b.admin.api.get(USERS).json()
    assert (page_a["total_count"], page_b["total_count"]) == (3, 4)
    assert {u["tenant_id"] for u in page_a["data"]} == {tenant_a.id}
    assert {u["id"] for u in page_a["data"]}.isdisjoint(u["id"] for u in page_b["data"])


def test_file_list_shows_only_own_tenant(tenant_a_admin: ApiClient, tenant_b: Tenant) -> None:
    upload_text(tenant_b.admin.api, B_FILE)
    own = upload_text(tenant_a_admin, b"tenant A's notes\n")
    page = tenant_a_admin.get(FILES).json()
    assert [f["id"] for f in page["data"]] == [own["id"]]
    assert page["total_count"] == 1


def test_admin_tenants_list_only_own_tenant(tenant_a: Tenant, tenant_b: Tenant) -> None:
    for tenant in (tenant_a, tenant_b):
        response = tenant.admin.api.get(TENANTS)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 1
        assert [(t["id"], t["name"]) for t in body["tenants"]] == [(tenant.id, tenant.name)]


def test_admin_stats_count_only_own_tenant(tenant_a: Tenant, tenant_b: Tenant) -> None:
    bulk = tenant_b.admin.api.post(BULK, json=[UserPayloadFactory.build() for _ in range(4)])
    assert bulk.status_code == 201, bulk.text
    upload_text(tenant_b.admin.api, B_FILE)
    response = tenant_a.admin.api.get(STATS)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "total_tenants": 1,
        "total_users": 1,
        "total_files": 0,
        "total_storage_bytes": 0,
    }
    b_stats = tenant_b.admin.api.get(STATS).json()
    assert (b_stats["total_users"], b_stats["total_files"]) == (5, 1)
    assert b_stats["total_storage_bytes"] == len(B_FILE)


@pytest.mark.asyncio
@pytest.mark.concurrency
@pytest.mark.settings(rate_limit_per_minute=1000)
async def test_lists_stay_scoped_under_concurrent_bulk_creates(
    amake_tenant: Callable[..., Awaitable[AsyncTenant]],
) -> None:
    tenants = await asyncio.gather(*(amake_tenant() for _ in range(3)))

    async def create_and_list(tenant: AsyncTenant) -> list[dict[str, Any]]:
        for _ in range(3):
            created = await tenant.admin.post(BULK, json=user_payloads(5))
            assert created.status_code == 201, created.text
        page = await tenant.admin.get(f"{USERS}?page_size=100")
        return list(page.json()["data"])

    pages = await asyncio.gather(*(create_and_list(t) for t in tenants))
    for tenant, rows in zip(tenants, pages, strict=True):
        assert len(rows) == 16
        assert {row["tenant_id"] for row in rows} == {tenant.id}


# `users.tenant_id = :tenant_id`, `files.tenant_id = :tenant_id`, whichever the table.
BOUND_TENANT_FILTER = re.compile(r"\b\w+\.tenant_id = :tenant_id\b")


def scoped_statements() -> list[Any]:
    """Every statement the tenant-scoped repositories keep built (app/platform/db/scoping.py)."""
    found = []
    for scope in (TenantUsers, TenantFiles):
        for name, value in vars(scope).items():
            kept = value.statements if isinstance(value, PageQuery) else (value,)
            for number, statement in enumerate(kept):
                if isinstance(statement, Executable):
                    found.append(pytest.param(statement, id=f"{scope.__name__}.{name}.{number}"))
    return found


@pytest.mark.inprocess
@pytest.mark.parametrize("statement", scoped_statements())
def test_every_scoped_statement_is_filtered_by_a_bound_tenant(statement: ClauseElement) -> None:
    compiled = statement.compile()
    assert "tenant_id" in compiled.params, str(compiled)
    assert BOUND_TENANT_FILTER.search(str(compiled)), str(compiled)


@pytest.mark.asyncio
@pytest.mark.inprocess
async def test_a_scoped_statement_run_without_its_tenant_is_refused(settings: Settings) -> None:
    """Never answered with every tenant's rows: a bound parameter needs its value."""
    db = Database(settings.effective_database_url)
    try:
        page, _ = TenantUsers._PAGE.statements
        async with db.session() as session:
            with pytest.raises(StatementError, match="tenant_id"):
                await session.execute(page, {"offset": 0, "limit": 20})
    finally:
        await db.dispose()
