"""Rate limits: the seed's example on every limited route, bucket independence, header
values, window edges on a controlled clock, and exactness under concurrency."""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import time_machine

from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.fixtures.clients import ApiClient, Tenant, register_tenant
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_problem
from py_tests.support.factories import RegistrationFactory, UserPayloadFactory, user_payloads
from py_tests.support.routes import (
    BULK,
    FILE,
    FILES,
    LIMITED_PREFIXES,
    LOGIN,
    LOGOUT,
    REFRESH,
    REGISTER,
    STATS,
    TENANTS,
    UPLOAD,
    USER,
    USERS,
    route_table,
)
from py_tests.support.samples import text

pytestmark = pytest.mark.rate_limit
LIMIT = 10

Attempt = Callable[[int], httpx.Response]


@dataclass
class Env:
    client: httpx.Client
    made: dict[str, Any] = field(default_factory=dict)

    def tenant(self) -> Tenant:
        if "tenant" not in self.made:
            self.made["tenant"] = register_tenant(self.client)
        tenant: Tenant = self.made["tenant"]
        return tenant

    def admin(self) -> ApiClient:
        return self.tenant().admin.api

    def registered(self) -> dict[str, Any]:
        """A tenant registered without logging in, so /auth/login starts unspent."""
        payload: dict[str, Any] = RegistrationFactory.build()
        assert self.client.post(REGISTER, json=payload).status_code == 201
        return payload

    def uploads(self, count: int) -> list[str]:
        files = [("n.txt", text(), "text/plain") for _ in range(count)]
        return [self.admin().post(UPLOAD, files={"file": f}).json()["id"] for f in files]


def _login(env: Env) -> Attempt:
    """Logins without a device cookie: counted by the client's address."""
    p = env.registered()
    creds = p["admin_username"], p["admin_password"]

    def attempt(i: int) -> httpx.Response:
        env.client.cookies.clear()
        return login(env.client, *creds)

    return attempt


def _refresh(env: Env) -> Attempt:
    p = env.registered()
    creds = p["admin_username"], p["admin_password"]
    tokens = [login(env.client, *creds).json()["refresh_token"]]

    def attempt(i: int) -> httpx.Response:
        response = env.client.post(REFRESH, json={"refresh_token": tokens[-1]})
        if response.status_code == 200:
            tokens.append(response.json()["refresh_token"])
        return response

    return attempt


def _logout(env: Env) -> Attempt:
    p = env.registered()
    creds = p["admin_username"], p["admin_password"]
    # Logouts count against their user (a session of its own each time).
    sessions = [login(env.client, *creds).json() for _ in range(LIMIT + 1)]
    return lambda i: env.client.post(
        LOGOUT, headers={"Authorization": f"Bearer {sessions[i]['access_token']}"}
    )


def _delete_users(env: Env) -> Attempt:
    created = env.admin().post(BULK, json=user_payloads(LIMIT + 1)).json()
    return lambda i: env.admin().delete(f"{USERS}/{created[i]['id']}")


def _delete_files(env: Env) -> Attempt:
    # Ten uploads spend the upload bucket exactly; the eleventh id is never looked up.
    ids = [*env.uploads(LIMIT), str(uuid.uuid4())]
    return lambda i: env.admin().delete(f"{FILES}/{ids[i]}")


def _get_file(env: Env) -> Attempt:
    file_id = env.uploads(1)[0]
    return lambda i: env.admin().get(f"{FILES}/{file_id}")


def _upload(env: Env) -> Attempt:
    return lambda i: env.admin().post(UPLOAD, files={"file": ("n.txt", text(), "text/plain")})


# (method, route template) -> (build the attempts, the status each allowed attempt gets)
SCENARIOS: dict[tuple[str, str], tuple[Callable[[Env], Attempt], int]] = {
    ("POST", REGISTER): (
        lambda env: lambda i: env.client.post(REGISTER, json=RegistrationFactory.build()),
        201,
    ),
    ("POST", LOGIN): (_login, 200),
    ("POST", REFRESH): (_refresh, 200),
    ("POST", LOGOUT): (_logout, 204),
    ("GET", USERS): (lambda env: lambda i: env.admin().get(USERS), 200),
    ("POST", USERS): (
        lambda env: lambda i: env.admin().post(USERS, json=UserPayloadFactory.build()),
        201,
    ),
    ("POST", BULK): (
        lambda env: lambda i: env.admin().post(BULK, json=user_payloads(2)),
        201,
    ),
    ("GET", USER): (
        lambda env: lambda i: env.admin().get(f"{USERS}/{env.tenant().admin.id}"),
        200,
    ),
    ("PUT", USER): (
        lambda env: (
            lambda i: env.admin().put(
                f"{USERS}/{env.tenant().admin.id}", json={"full_name": f"Name {i}"}
            )
        ),
        200,
    ),
    ("DELETE", USER): (_delete_users, 204),
    ("POST", UPLOAD): (_upload, 201),
    ("GET", FILES): (lambda env: lambda i: env.admin().get(FILES), 200),
    ("GET", FILE): (_get_file, 200),
    ("DELETE", FILE): (_delete_files, 204),
    ("GET", TENANTS): (
        lambda env: lambda i: env.admin().get(TENANTS),
        200,
    ),
    ("GET", STATS): (
        lambda env: lambda i: env.admin().get(STATS),
        200,
    ),
}


def test_every_limited_route_has_a_scenario(client: httpx.Client) -> None:
    assert route_table(client, *LIMITED_PREFIXES) == set(SCENARIOS)


@pytest.mark.parametrize("route", sorted(SCENARIOS), ids=[f"{m} {p}" for m, p in sorted(SCENARIOS)])
def test_tenth_call_passes_and_eleventh_is_limited(
    client: httpx.Client, route: tuple[str, str]
) -> None:
    build, allowed_status = SCENARIOS[route]
    attempt = build(Env(client))
    for i in range(LIMIT):
        response = attempt(i)
        assert response.status_code == allowed_status, (i, response.text)
        assert response.headers["X-RateLimit-Remaining"] == str(LIMIT - 1 - i)
    limited = attempt(LIMIT)
    assert_problem(limited, 429)
    assert "X-RateLimit-Reset" in limited.headers
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def exhaust(api: ApiClient, path: str) -> None:
    for _ in range(LIMIT):
        assert api.get(path).status_code == 200
    assert api.get(path).status_code == 429


def test_buckets_are_per_endpoint(tenant_a_admin: ApiClient) -> None:
    exhaust(tenant_a_admin, USERS)
    assert tenant_a_admin.get(FILES).status_code == 200
    assert tenant_a_admin.get(STATS).status_code == 200


@pytest.mark.tenant_isolation
def test_buckets_are_per_user_and_per_tenant(
    tenant_a_admin: ApiClient, tenant_a_user: ApiClient, tenant_b_admin: ApiClient
) -> None:
    exhaust(tenant_a_admin, USERS)
    assert tenant_a_user.get(USERS).status_code == 200
    assert tenant_b_admin.get(USERS).status_code == 200


@pytest.mark.security
def test_calls_a_role_may_not_make_are_limited_too(tenant_a_user: ApiClient) -> None:
    """Probing a forbidden route is paced like any other call: the limit comes first."""
    statuses = [tenant_a_user.get(TENANTS).status_code for _ in range(11)]
    assert statuses == [403] * LIMIT + [429]


@pytest.mark.security
def test_varying_the_id_does_not_open_new_buckets(tenant_a_admin: ApiClient) -> None:
    statuses = [tenant_a_admin.get(f"{USERS}/{uuid.uuid4()}").status_code for _ in range(11)]
    assert statuses == [404] * LIMIT + [429]


def test_headers_count_down_and_agree_with_the_window(tenant_a_admin: ApiClient) -> None:
    first_hit = time.time()
    responses = [tenant_a_admin.get(USERS) for _ in range(LIMIT + 1)]
    allowed, limited = responses[:-1], responses[-1]

    assert [r.headers["X-RateLimit-Remaining"] for r in allowed] == [
        str(n) for n in range(LIMIT - 1, -1, -1)
    ]
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == str(LIMIT)
        assert response.headers["RateLimit-Policy"] == f'"per-endpoint";q={LIMIT};w=60'
    # The window frees its first slot 60 s after the first admitted hit.
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert first_hit + 59 <= reset <= time.time() + 61
    retry_after = int(limited.headers["Retry-After"])
    assert abs((time.time() + retry_after) - reset) <= 2
    assert limited.headers["RateLimit"] == f'"per-endpoint";r=0;t={retry_after}'


def test_the_window_moves_and_admits_again(
    tenant_a_admin: ApiClient, controlled_clock: time_machine.Traveller
) -> None:
    clock = controlled_clock
    exhaust(tenant_a_admin, USERS)
    clock.shift(59)  # the first hits are still inside the last 60 s
    assert tenant_a_admin.get(USERS).status_code == 429
    clock.shift(2)
    recovered = tenant_a_admin.get(USERS)
    assert recovered.status_code == 200
    assert recovered.headers["X-RateLimit-Remaining"] == str(LIMIT - 1)


@pytest.mark.security
@pytest.mark.settings(trusted_proxies="127.0.0.0/8")
def test_logins_of_one_account_are_limited_per_address_only(client: httpx.Client) -> None:
    """Behind a trusted proxy each call comes from another address: the account's
    logins are limited per address, and what is counted per account is failures alone
    (test_login_guard.py), so its owner's logins from more addresses than the limit all
    pass."""
    account = RegistrationFactory.build()
    assert client.post(REGISTER, json=account).status_code == 201
    credentials = account["admin_username"], account["admin_password"]
    statuses = [
        login(client, *credentials, address=f"203.0.113.{n}").status_code for n in range(LIMIT + 1)
    ]
    assert statuses == [200] * (LIMIT + 1)


@pytest.mark.security
@pytest.mark.inprocess  # depends on the server's TRUSTED_PROXIES
def test_forwarded_for_is_ignored_from_untrusted_peers(client: httpx.Client) -> None:
    """Without trusted proxies, X-Forwarded-For cannot buy a fresh per-address bucket."""
    statuses = [
        client.post(
            REGISTER,
            json=RegistrationFactory.build(),
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        ).status_code
        for n in range(LIMIT + 1)
    ]
    assert statuses == [201] * LIMIT + [429]


@pytest.mark.asyncio
@pytest.mark.concurrency
async def test_concurrent_requests_admit_exactly_the_limit(async_tenant_a: AsyncTenant) -> None:
    responses = await asyncio.gather(*(async_tenant_a.admin.get(USERS) for _ in range(50)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == 50 - LIMIT


@pytest.mark.security
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="garbage-token"),
    ],
)
def test_failed_authentication_counts_against_the_client_address(
    anonymous: ApiClient, headers: dict[str, str]
) -> None:
    """Guessing tokens is limited like any call: by the client's address."""
    statuses = [anonymous.get(USERS, headers=headers).status_code for _ in range(LIMIT + 1)]
    assert statuses == [401] * LIMIT + [429]
    assert "Retry-After" in anonymous.get(USERS, headers=headers).headers
