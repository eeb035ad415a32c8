"""Races, with `asyncio.gather`: concurrent writes to one row stay consistent, and the
rule that a tenant keeps an active admin holds when two admins are demoted at once."""

import asyncio

import httpx
import pytest

from py_tests.fixtures.app import MakeAsyncClient
from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.support.accounts import login
from py_tests.support.factories import UserPayloadFactory, strong_password
from py_tests.support.routes import USERS

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.concurrency,
    pytest.mark.users,
    pytest.mark.settings(rate_limit_per_minute=1000),
]


async def test_concurrent_updates_leave_one_consistent_row(async_tenant_a: AsyncTenant) -> None:
    admin = async_tenant_a.admin
    user = (await admin.post(USERS, json=UserPayloadFactory.build())).json()
    names = [f"Name number {n}" for n in range(8)]

    answers = await asyncio.gather(
        *(admin.put(f"{USERS}/{user['id']}", json={"full_name": name}) for name in names)
    )

    assert [a.status_code for a in answers] == [200] * len(names)
    final = (await admin.get(f"{USERS}/{user['id']}")).json()
    # The writers took turns: the last one's answer is the row, with the latest time.
    last = max((a.json() for a in answers), key=lambda body: body["updated_at"])
    assert (final["full_name"], final["updated_at"]) == (last["full_name"], last["updated_at"])
    assert {k: final[k] for k in ("username", "email", "role")} == {
        k: user[k] for k in ("username", "email", "role")
    }


async def test_demoting_two_admins_at_once_keeps_an_active_admin(
    async_client: httpx.AsyncClient,
    make_async_client: MakeAsyncClient,
    async_tenant_a: AsyncTenant,
) -> None:
    password = strong_password()
    second = UserPayloadFactory.build(role="admin", password=password)
    created = await async_tenant_a.admin.post(USERS, json=second)
    assert created.status_code == 201, created.text
    logged_in = await login(async_client, second["username"], password)
    second_admin = make_async_client(
        headers={"Authorization": f"Bearer {logged_in.json()['access_token']}"}
    )

    # Each admin demotes the other at the same moment: only one may win.
    answers = await asyncio.gather(
        async_tenant_a.admin.put(f"{USERS}/{created.json()['id']}", json={"role": "user"}),
        second_admin.put(f"{USERS}/{async_tenant_a.admin_id}", json={"role": "user"}),
    )

    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([200, 401], [200, 409]), [a.text for a in answers]
    demoted = next(a for a in answers if a.status_code == 200).json()
    # Demotion ends the demoted admin's sessions; the remaining admin reads the result.
    reads = [await c.get(f"{USERS}?page_size=100") for c in (async_tenant_a.admin, second_admin)]
    [listing] = [r.json()["data"] for r in reads if r.status_code == 200]
    admins = [u["id"] for u in listing if u["role"] == "admin" and u["is_active"]]
    assert len(admins) == 1
    assert admins != [demoted["id"]]
