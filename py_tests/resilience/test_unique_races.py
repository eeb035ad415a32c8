"""Races for one name, with `asyncio.gather`: registrations, user creates, bulk creates
and email updates that claim one tenant name, username or email at once, spelled in
ways that are one name by the contract's rule, let exactly one through. Every other
answer is a 409 problem, never a 500, wherever the database's unique index stops it."""

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.support.assertions import assert_problem
from py_tests.support.factories import (
    RegistrationFactory,
    UserPayloadFactory,
    unique_suffix,
    unique_username,
)
from py_tests.support.routes import BULK, REGISTER, USERS
from py_tests.support.spellings import EMAILS, TENANT_NAMES, Spellings

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.concurrency,
    pytest.mark.settings(rate_limit_per_minute=1000),
]
CLAIMS = 6


def assert_exactly_one_wins(responses: list[httpx.Response]) -> None:
    won = [r for r in responses if r.status_code in (200, 201)]
    assert len(won) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response not in won:
            assert_problem(response, 409)


def spelled(spellings: list[str], count: int = CLAIMS) -> list[str]:
    """`count` claims, cycling through the spellings."""
    return [spellings[i % len(spellings)] for i in range(count)]


def register(http: httpx.AsyncClient, **fields: Any) -> Awaitable[httpx.Response]:
    return http.post(REGISTER, json=RegistrationFactory.build(**fields))


def create(admin: httpx.AsyncClient, **fields: Any) -> Awaitable[httpx.Response]:
    return admin.post(USERS, json=UserPayloadFactory.build(**fields))


def bulk_create(admin: httpx.AsyncClient, **fields: Any) -> Awaitable[httpx.Response]:
    """A batch whose second item makes the claim."""
    return admin.post(BULK, json=[UserPayloadFactory.build(), UserPayloadFactory.build(**fields)])


@pytest.mark.auth
@pytest.mark.parametrize("spellings", TENANT_NAMES)
async def test_concurrent_registrations_of_one_tenant_name_let_exactly_one_win(
    async_client: httpx.AsyncClient, spellings: Spellings
) -> None:
    names = spelled(spellings(unique_suffix()))
    responses = await asyncio.gather(*(register(async_client, tenant_name=n) for n in names))
    assert_exactly_one_wins(list(responses))


@pytest.mark.users
async def test_concurrent_claims_of_one_username_let_exactly_one_win(
    async_client: httpx.AsyncClient, async_tenant_a: AsyncTenant
) -> None:
    """Usernames are ASCII, so their spellings differ in case only."""
    username = unique_username()
    spellings = [username, username.upper(), username.title()]
    admin = async_tenant_a.admin
    first, second, third, fourth, fifth, sixth = spelled(spellings)
    responses = await asyncio.gather(
        register(async_client, admin_username=first),
        register(async_client, admin_username=second),
        create(admin, username=third),
        create(admin, username=fourth),
        bulk_create(admin, username=fifth),
        bulk_create(admin, username=sixth),
    )
    assert_exactly_one_wins(list(responses))


@pytest.mark.users
@pytest.mark.parametrize("spellings", EMAILS)
async def test_concurrent_claims_of_one_email_let_exactly_one_win(
    async_client: httpx.AsyncClient, async_tenant_a: AsyncTenant, spellings: Spellings
) -> None:
    admin = async_tenant_a.admin
    members = [(await create(admin)).json()["id"] for _ in range(2)]
    first, second, third, fourth, fifth, sixth = spelled(spellings(unique_suffix()))
    responses = await asyncio.gather(
        register(async_client, admin_email=first),
        create(admin, email=second),
        bulk_create(admin, email=third),
        admin.put(f"{USERS}/{members[0]}", json={"email": fourth}),
        admin.put(f"{USERS}/{members[1]}", json={"email": fifth}),
        create(admin, email=sixth),
    )
    assert_exactly_one_wins(list(responses))
