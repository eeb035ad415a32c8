"""Bulk user creation: request order, all-or-nothing conflicts, size limits, concurrency."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from py_tests.fixtures.app import MakeAsyncClient
from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_problem
from py_tests.support.factories import UserPayloadFactory, strong_password, user_payloads
from py_tests.support.routes import BULK, USERS

pytestmark = [pytest.mark.users, pytest.mark.asyncio]

MakeAsyncTenant = Callable[..., Awaitable[AsyncTenant]]


async def user_total(admin: httpx.AsyncClient) -> int:
    response = await admin.get(USERS, params={"page_size": 1})
    assert response.status_code == 200, response.text
    total: int = response.json()["total_count"]
    return total


async def test_bulk_without_token_is_unauthorized(async_client: httpx.AsyncClient) -> None:
    response = await async_client.post(BULK, json=user_payloads(2))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_bulk_by_member_is_forbidden(
    async_client: httpx.AsyncClient,
    make_async_client: MakeAsyncClient,
    async_tenant_a: AsyncTenant,
) -> None:
    payload = UserPayloadFactory.build(password=strong_password())
    assert (await async_tenant_a.admin.post(USERS, json=payload)).status_code == 201
    token = (await login(async_client, payload["username"], payload["password"])).json()[
        "access_token"
    ]
    member = make_async_client(headers={"Authorization": f"Bearer {token}"})
    assert_problem(await member.post(BULK, json=user_payloads(2)), 403)
    assert await user_total(async_tenant_a.admin) == 2


@pytest.mark.parametrize(
    ("items", "loc"),
    [
        pytest.param([], ["body"], id="empty-list"),
        pytest.param(user_payloads(51), ["body"], id="51-items"),
        pytest.param(
            [*user_payloads(2), UserPayloadFactory.build(email="not-an-email")],
            ["body", 2, "email"],
            id="one-invalid-item",
        ),
        pytest.param({"users": user_payloads(2)}, ["body"], id="object-instead-of-list"),
    ],
)
async def test_bulk_rejects_invalid_batches(
    async_tenant_a: AsyncTenant, items: Any, loc: list[Any]
) -> None:
    body = assert_problem(await async_tenant_a.admin.post(BULK, json=items), 422)
    assert body["errors"]
    assert any(error["loc"][: len(loc)] == loc for error in body["errors"]), body["errors"]
    assert await user_total(async_tenant_a.admin) == 1


async def test_bulk_creates_users_in_request_order(async_tenant_a: AsyncTenant) -> None:
    items = user_payloads(12)
    response = await async_tenant_a.admin.post(BULK, json=items)
    assert response.status_code == 201, response.text
    created = response.json()
    assert [u["username"] for u in created] == [i["username"] for i in items]
    assert [u["email"] for u in created] == [i["email"] for i in items]
    assert {u["tenant_id"] for u in created} == {async_tenant_a.id}
    assert all(u["is_active"] and "password" not in u for u in created)
    assert len({u["id"] for u in created}) == 12
    assert await user_total(async_tenant_a.admin) == 13


CONFLICTS = [
    pytest.param("username", False, id="existing-username"),
    pytest.param("email", False, id="existing-email"),
    pytest.param("username", True, id="username-of-other-tenant"),
    pytest.param("email", True, id="email-of-other-tenant"),
]


@pytest.mark.parametrize(("field", "other_tenant"), CONFLICTS)
async def test_bulk_conflict_with_existing_user_creates_nothing(
    async_tenant_a: AsyncTenant, amake_tenant: MakeAsyncTenant, field: str, other_tenant: bool
) -> None:
    owner = (await amake_tenant()) if other_tenant else async_tenant_a
    existing = UserPayloadFactory.build()
    assert (await owner.admin.post(USERS, json=existing)).status_code == 201
    items = user_payloads(4)
    items[2][field] = existing[field].upper()
    body = assert_problem(await async_tenant_a.admin.post(BULK, json=items), 409)
    assert body["conflicts"] == [{"index": 2, "field": field, "reason": "exists"}]
    assert "item 2" in body["detail"]
    assert await user_total(async_tenant_a.admin) == (1 if other_tenant else 2)


async def test_bulk_duplicate_inside_batch_creates_nothing(async_tenant_a: AsyncTenant) -> None:
    items = user_payloads(4)
    items[3]["username"] = items[1]["username"].upper()
    body = assert_problem(await async_tenant_a.admin.post(BULK, json=items), 409)
    assert body["conflicts"] == [{"index": 3, "field": "username", "reason": "duplicate of item 1"}]
    assert await user_total(async_tenant_a.admin) == 1


async def test_bulk_users_with_passwords_can_log_in(
    async_client: httpx.AsyncClient, async_tenant_a: AsyncTenant
) -> None:
    items = user_payloads(3)
    for item in items:
        item["password"] = strong_password()
    assert (await async_tenant_a.admin.post(BULK, json=items)).status_code == 201
    for item in items:
        response = await login(async_client, item["username"], item["password"])
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "bearer"


@pytest.mark.concurrency
@pytest.mark.settings(rate_limit_per_minute=1000)
async def test_concurrent_creates_of_one_username_let_exactly_one_win(
    async_tenant_a: AsyncTenant,
) -> None:
    username = UserPayloadFactory.build()["username"]
    payloads = [UserPayloadFactory.build(username=username) for _ in range(5)]
    responses = await asyncio.gather(
        *(async_tenant_a.admin.post(USERS, json=payload) for payload in payloads)
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
    listed = (await async_tenant_a.admin.get(USERS)).json()["data"]
    assert [u["username"] for u in listed].count(username) == 1


@pytest.mark.concurrency
@pytest.mark.settings(rate_limit_per_minute=1000)
async def test_concurrent_disjoint_bulk_calls_all_succeed(async_tenant_a: AsyncTenant) -> None:
    batches = [user_payloads(5) for _ in range(4)]
    responses = await asyncio.gather(
        *(async_tenant_a.admin.post(BULK, json=batch) for batch in batches)
    )
    assert [r.status_code for r in responses] == [201] * 4
    for batch, response in zip(batches, responses, strict=True):
        assert [u["username"] for u in response.json()] == [i["username"] for i in batch]
    assert len({u["id"] for r in responses for u in r.json()}) == 20
    assert await user_total(async_tenant_a.admin) == 21
