"""The in-process harness must behave like the ASGI servers the API runs under, or a
concurrency test could fail (or pass) for the harness's sake rather than the app's;
and tenant A copied from its seed must be as fresh as one registered for the test,
under the test's own settings."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.identity.models import AuthSession
from py_tests.fixtures.clients import SEEDED_TENANT, Tenant
from py_tests.fixtures.inprocess import asgi_client, started
from py_tests.support.routes import LOGOUT, REFRESH, USERS


@pytest.mark.concurrency
@pytest.mark.asyncio
async def test_concurrent_requests_get_their_own_copy_of_the_lifespan_state() -> None:
    both_wrote = asyncio.Barrier(2)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"started": True}

    async def echo(request: Request) -> JSONResponse:
        request.state.caller = request.query_params["caller"]
        await both_wrote.wait()  # the other request writes its own value meanwhile
        return JSONResponse({"caller": request.state.caller, "started": request.state.started})

    app = Starlette(routes=[Route("/echo", echo)], lifespan=lifespan)
    async with started(app) as served, asgi_client(served) as http:
        first, second = await asyncio.gather(
            http.get("/echo", params={"caller": "first"}),
            http.get("/echo", params={"caller": "second"}),
        )
    assert first.json() == {"caller": "first", "started": True}
    assert second.json() == {"caller": "second", "started": True}


async def _sessions(database_url: str) -> list[tuple[str, datetime | None]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(AuthSession.refresh_jti, AuthSession.revoked_at))
            return [(jti, revoked_at) for jti, revoked_at in rows]
    finally:
        await engine.dispose()


@pytest.mark.inprocess
def test_tenant_a_is_a_copy_of_the_seed_and_what_the_test_does_stays_in_it(
    request: pytest.FixtureRequest, tenant_a: Tenant, database_source: str | None
) -> None:
    assert database_source is not None, "tenant A was registered, not copied from the seed"
    assert request.node.stash[SEEDED_TENANT].id == tenant_a.id
    token = tenant_a.admin.tokens["refresh_token"]
    refresh = jwt.decode(token, options={"verify_signature": False})
    refreshed = tenant_a.admin.api.post(REFRESH, json={"refresh_token": token})
    assert refreshed.status_code == 200, refreshed.text
    tenant_a.admin.api.authenticate(refreshed.json()["access_token"])
    assert tenant_a.admin.api.post(LOGOUT).status_code == 204

    # The seed, which later tests are copied from, still holds the session unrotated.
    assert asyncio.run(_sessions(database_source)) == [(refresh["jti"], None)]


@pytest.mark.inprocess
@pytest.mark.settings(access_token_expire_minutes=5)
def test_tenant_a_is_seeded_under_the_settings_the_test_changes(
    request: pytest.FixtureRequest, tenant_a: Tenant, database_source: str | None
) -> None:
    assert database_source is not None, "tenant A was registered, not copied from a seed"
    assert request.node.stash[SEEDED_TENANT].id == tenant_a.id
    assert tenant_a.admin.tokens["expires_in"] == 300
    assert tenant_a.admin.api.get(USERS).status_code == 200
