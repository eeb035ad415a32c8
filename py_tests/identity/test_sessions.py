"""Sessions: revocation that survives a restart of the app on the same database,
concurrent refreshes, expiry purge, tenant deactivation and password rehashing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.identity.models import AuthSession
from app.identity.service import TokenService
from app.platform.config import Settings
from app.users.models import User
from py_tests.fixtures.app import restarted, runtime_of, session_count
from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.fixtures.clients import Member, Tenant
from py_tests.fixtures.inprocess import InProcessClient
from py_tests.fixtures.operators import RunCli
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_unauthorized, wait_for
from py_tests.support.routes import LOGOUT, REFRESH, USERS
from py_tests.support.tokens import bearer, claims_of, refresh

pytestmark = [pytest.mark.auth, pytest.mark.security]


# --- revocation across a restart -------------------------------------------------------

Revoke = Callable[[Tenant, Member], None]


def _logout(tenant: Tenant, member: Member) -> None:
    assert member.api.post(LOGOUT).status_code == 204


def _reuse_refresh_token(tenant: Tenant, member: Member) -> None:
    assert refresh(member.api, member.tokens["refresh_token"]).status_code == 200
    assert refresh(member.api, member.tokens["refresh_token"]).status_code == 401


def _deactivate(tenant: Tenant, member: Member) -> None:
    assert tenant.admin.api.delete(f"{USERS}/{member.id}").status_code == 204


def _promote(tenant: Tenant, member: Member) -> None:
    changed = tenant.admin.api.put(f"{USERS}/{member.id}", json={"role": "admin"})
    assert changed.status_code == 200


def _change_password(tenant: Tenant, member: Member) -> None:
    changed = tenant.admin.api.put(f"{USERS}/{member.id}", json={"password": "N3w-password!"})
    assert changed.status_code == 200


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(_logout, id="logout"),
        pytest.param(_reuse_refresh_token, id="refresh-reuse"),
        pytest.param(_deactivate, id="soft-delete"),
        pytest.param(_promote, id="role-change"),
        pytest.param(_change_password, id="password-change-by-admin"),
    ],
)
def test_revocation_survives_a_restart(
    settings: Settings, tenant_a: Tenant, tenant_a_member: Member, revoke: Revoke
) -> None:
    access, refresh_token = (tenant_a_member.tokens[k] for k in ("access_token", "refresh_token"))
    revoke(tenant_a, tenant_a_member)

    with restarted(settings) as fresh:
        assert_unauthorized(fresh.get(USERS, headers=bearer(access)))
        assert_unauthorized(fresh.post(REFRESH, json={"refresh_token": refresh_token}))
        # The admin's own session is untouched.
        assert fresh.get(USERS, headers=tenant_a.admin.api.headers).status_code == 200


# --- concurrent refresh ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.concurrency
@pytest.mark.settings(rate_limit_per_minute=100)
async def test_concurrent_refreshes_of_one_token_give_at_most_one_pair(
    async_client: httpx.AsyncClient, async_tenant_a: AsyncTenant
) -> None:
    # A second login of the admin, whose refresh token five callers present at once.
    second = await login(async_client, async_tenant_a.username, async_tenant_a.password)
    assert second.status_code == 200, second.text
    token = second.json()["refresh_token"]

    answers = await asyncio.gather(
        *(async_client.post(REFRESH, json={"refresh_token": token}) for _ in range(5))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) <= 1
    assert set(statuses) <= {200, 401}
    # Presenting the used token revoked the session, the winner's pair included.
    for winner in (a for a in answers if a.status_code == 200):
        follow = await async_client.get(USERS, headers=bearer(winner.json()["access_token"]))
        assert follow.status_code == 401


# --- purge, tenant deactivation, rehash ---------------------------------------------------


@pytest.mark.inprocess
def test_expired_sessions_are_purged_and_live_ones_kept(
    client: InProcessClient, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    db = runtime_of(client).db
    member_session = claims_of(tenant_a_member.tokens["access_token"])["sid"]

    async def expire_member_session() -> None:
        async with db.transaction() as session:
            row = await session.get(AuthSession, uuid.UUID(member_session))
            assert row is not None
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            await session.commit()

    client.call(expire_member_session)
    assert session_count(client) == 2
    sessions = TokenService(db, runtime_of(client).tokens, runtime_of(client).passwords)
    assert client.call(sessions.purge_expired) == 1
    assert session_count(client) == 1
    assert_unauthorized(tenant_a_member.api.get(USERS))
    assert tenant_a.admin.api.get(USERS).status_code == 200


def test_deactivated_tenant_loses_its_sessions_and_logins(
    settings: Settings,
    client: httpx.Client,
    run_cli: RunCli,
    tenant_a: Tenant,
    tenant_a_member: Member,
    tenant_b: Tenant,
) -> None:
    """The CLI is another process: the server may answer a session's state from its
    cache for SESSION_CACHE_SECONDS, and no longer."""
    assert tenant_a_member.api.get(USERS).status_code == 200  # the state is cached now
    assert run_cli("tenant", "deactivate", tenant_a.id) == 0

    wait_for(
        lambda: tenant_a_member.api.get(USERS).status_code == 401,
        deadline_s=settings.session_cache_seconds + 1,
    )
    assert_unauthorized(tenant_a_member.api.get(USERS))
    assert_unauthorized(tenant_a.admin.api.get(USERS))
    member = tenant_a_member.username, tenant_a_member.password
    assert login(client, *member).status_code == 403
    assert tenant_b.admin.api.get(USERS).status_code == 200

    assert run_cli("tenant", "activate", tenant_a.id) == 0
    assert login(client, *member).status_code == 200


@pytest.mark.inprocess
@pytest.mark.settings(session_cache_seconds=60)
def test_on_sqlite_a_deactivation_by_the_cli_applies_to_the_very_next_call(
    sqlite_path: str, run_cli: RunCli, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    """However long states are kept, a commit by another process ends them (the
    database's change counter, app/db/state_cache.py); elsewhere the time bound applies."""
    assert tenant_a_member.api.get(USERS).status_code == 200  # the state is cached now
    assert run_cli("tenant", "deactivate", tenant_a.id) == 0

    assert_unauthorized(tenant_a_member.api.get(USERS))


def test_login_rehashes_a_password_made_with_old_parameters(
    settings: Settings, client: InProcessClient, tenant_a_member: Member
) -> None:
    async def stored_hash(db: Any) -> str:
        async with db.session() as session:
            stmt = select(User.password_hash).where(User.username == tenant_a_member.username)
            return str(await session.scalar(stmt))

    before = client.call(stored_hash, runtime_of(client).db)
    assert ",t=1," in before

    with restarted(settings, password_hash_time_cost=2) as fresh:
        member = tenant_a_member.username, tenant_a_member.password
        assert login(fresh, *member).status_code == 200
        after = fresh.call(stored_hash, runtime_of(fresh).db)
    assert ",t=2," in after
    assert after != before
