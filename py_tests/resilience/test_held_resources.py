"""Nothing a request waits on holds the database: no transaction, write lock or pooled
connection is in use while the service reads a client's body, hashes or verifies a
password, or streams a file to a client. One slow client, or a burst of logins, then
cannot stall another tenant's requests.

The probes run inside the app (in-process only): they count the database connections
checked out of every pool at the moment the service waits.
"""

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.platform.db.database import Database
from app.platform.runtime import Runtime
from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.support.accounts import login
from py_tests.support.factories import RegistrationFactory, UserPayloadFactory, strong_password
from py_tests.support.routes import BULK, FILES, REGISTER, UPLOAD, USERS
from py_tests.support.samples import text

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.concurrency,
    pytest.mark.inprocess,
    pytest.mark.settings(rate_limit_per_minute=1000),
]


def connections_in_use(db: Database) -> int:
    return sum(engine.pool.checkedout() for engine in {db.engine})  # type: ignore[attr-defined]


def runtime(app: FastAPI) -> Runtime:
    found: Runtime = app.state.runtime
    return found


class HashProbe:
    """Wraps the runtime's password hashing and verification; records the connections
    in use each time one starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, app: FastAPI) -> None:
        self.seen: list[int] = []
        passwords, db = runtime(app).passwords, runtime(app).db
        for name in ("hash", "verify"):
            original = getattr(passwords, name)
            monkeypatch.setattr(passwords, name, self._probe(original, db))

    def _probe(self, original: Callable[..., Awaitable[Any]], db: Database) -> Any:
        async def probed(*args: Any) -> Any:
            self.seen.append(connections_in_use(db))
            return await original(*args)

        return probed


async def _login(http: httpx.AsyncClient, tenant: AsyncTenant) -> httpx.Response:
    return await login(http, tenant.username, tenant.password)


async def _register(http: httpx.AsyncClient, _: AsyncTenant) -> httpx.Response:
    return await http.post(REGISTER, json=RegistrationFactory.build())


async def _create(_: httpx.AsyncClient, tenant: AsyncTenant) -> httpx.Response:
    return await tenant.admin.post(USERS, json=UserPayloadFactory.build(password=strong_password()))


async def _bulk(_: httpx.AsyncClient, tenant: AsyncTenant) -> httpx.Response:
    payloads = [UserPayloadFactory.build(password=strong_password()) for _ in range(5)]
    return await tenant.admin.post(BULK, json=payloads)


async def _own_password(_: httpx.AsyncClient, tenant: AsyncTenant) -> httpx.Response:
    change = {"password": strong_password(), "current_password": tenant.password}
    return await tenant.admin.put(f"{USERS}/{tenant.admin_id}", json=change)


async def _reset_member(_: httpx.AsyncClient, tenant: AsyncTenant) -> httpx.Response:
    member = (await tenant.admin.post(USERS, json=UserPayloadFactory.build())).json()
    return await tenant.admin.put(f"{USERS}/{member['id']}", json={"password": strong_password()})


@pytest.mark.parametrize(
    ("call", "status"),
    [
        pytest.param(_login, 200, id="login"),
        pytest.param(_register, 201, id="register"),
        pytest.param(_create, 201, id="create-user"),
        pytest.param(_bulk, 201, id="bulk-create"),
        pytest.param(_own_password, 200, id="own-password"),
        pytest.param(_reset_member, 200, id="admin-resets-password"),
    ],
)
async def test_no_connection_is_held_while_a_password_is_hashed(
    monkeypatch: pytest.MonkeyPatch,
    local_app: FastAPI,
    async_client: httpx.AsyncClient,
    async_tenant_a: AsyncTenant,
    call: Callable[[httpx.AsyncClient, AsyncTenant], Awaitable[httpx.Response]],
    status: int,
) -> None:
    probe = HashProbe(monkeypatch, local_app)
    response = await call(async_client, async_tenant_a)
    assert response.status_code == status, response.text
    assert probe.seen, "no password was hashed or verified"
    assert probe.seen == [0] * len(probe.seen)


async def test_two_logins_verify_their_passwords_side_by_side(
    monkeypatch: pytest.MonkeyPatch,
    local_app: FastAPI,
    async_client: httpx.AsyncClient,
    amake_tenant: Callable[..., Awaitable[AsyncTenant]],
) -> None:
    """Each login waits in verification until the other one is verifying too: if one
    held the database while hashing, the other could not get there and both would
    time out (503), as logins did when they verified inside the write transaction."""
    first, second = await amake_tenant(), await amake_tenant()
    passwords = runtime(local_app).passwords
    original = passwords.verify
    verifying: set[int] = set()
    both = asyncio.Event()

    async def verify(password: str, stored: str | None) -> tuple[bool, str | None]:
        verifying.add(id(asyncio.current_task()))
        if len(verifying) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=5)
        return await original(password, stored)

    monkeypatch.setattr(passwords, "verify", verify)
    answers = await asyncio.gather(_login(async_client, first), _login(async_client, second))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]


async def test_no_connection_is_held_while_an_upload_body_arrives(
    local_app: FastAPI, async_tenant_a: AsyncTenant
) -> None:
    db = runtime(local_app).db
    boundary = uuid.uuid4().hex
    content = text()
    seen: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="slow.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        for byte in range(len(content)):
            seen.append(connections_in_use(db))  # the server waits on this client now
            yield content[byte : byte + 1]
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await async_tenant_a.admin.post(
        UPLOAD,
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 201, response.text
    assert len(seen) == len(content)
    assert seen == [0] * len(content)


async def test_no_connection_is_held_while_a_download_streams(
    monkeypatch: pytest.MonkeyPatch, local_app: FastAPI, async_tenant_a: AsyncTenant
) -> None:
    app_runtime = runtime(local_app)
    content = text() * 4096  # several chunks
    upload = await async_tenant_a.admin.post(
        UPLOAD, files={"file": ("big.txt", content, "text/plain")}
    )
    assert upload.status_code == 201, upload.text
    original = app_runtime.storage.open
    seen: list[int] = []

    async def probed_open(key: str) -> AsyncIterator[bytes]:
        async for chunk in original(key):
            seen.append(connections_in_use(app_runtime.db))  # handed on to the client
            yield chunk

    monkeypatch.setattr(app_runtime.storage, "open", probed_open)
    download = await async_tenant_a.admin.get(f"{FILES}/{upload.json()['id']}")
    assert download.status_code == 200
    assert download.content == content
    assert len(seen) > 1
    assert seen == [0] * len(seen)


async def test_a_flood_of_new_hashes_leaves_logins_a_lane(
    monkeypatch: pytest.MonkeyPatch,
    local_app: FastAPI,
    async_client: httpx.AsyncClient,
    amake_tenant: Callable[..., Awaitable[AsyncTenant]],
) -> None:
    """One tenant's bulk create holds every thread that makes new hashes (they wait
    here until released); another tenant's login is still verified meanwhile."""
    creator, other = await amake_tenant(), await amake_tenant()
    hasher = runtime(local_app).passwords._hash  # the argon2 hasher its lanes call
    release = threading.Event()
    original = hasher.hash

    def held_hash(password: str, **kwargs: Any) -> str:
        release.wait(timeout=30)
        return original(password, **kwargs)

    monkeypatch.setattr(hasher, "hash", held_hash)
    payloads = [UserPayloadFactory.build(password=strong_password()) for _ in range(8)]
    bulk = asyncio.create_task(creator.admin.post(BULK, json=payloads))
    try:
        logged_in = await asyncio.wait_for(_login(async_client, other), timeout=10)
        assert logged_in.status_code == 200, logged_in.text
        assert not bulk.done()  # the creates were still waiting for their hashes
    finally:
        release.set()
    assert (await bulk).status_code == 201
