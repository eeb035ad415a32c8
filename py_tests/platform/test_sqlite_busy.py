"""SQLite lets one writer at a time in. A write that cannot get the lock within the
busy timeout is answered 503, as any unavailable database is, and loses nothing."""

import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from app.platform.config import Settings
from app.platform.db import sqlite
from py_tests.fixtures.clients import ApiClient
from py_tests.support.assertions import assert_problem
from py_tests.support.factories import UserPayloadFactory
from py_tests.support.routes import USERS

pytestmark = [pytest.mark.integration, pytest.mark.inprocess]


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    if make_url(settings.effective_database_url).get_backend_name() != "sqlite":
        pytest.skip("SQLite's write lock; other databases lock rows, not the file")
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_S", 0.2)


@pytest.fixture
def write_lock_held(settings: Settings) -> Iterator[sqlite3.Connection]:
    other = sqlite3.connect(make_url(settings.effective_database_url).database or "")
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.close()


def test_a_write_that_cannot_get_the_lock_is_unavailable_and_can_be_retried(
    short_busy_timeout: None, tenant_a_admin: ApiClient, write_lock_held: sqlite3.Connection
) -> None:
    payload = UserPayloadFactory.build()
    assert_problem(tenant_a_admin.post(USERS, json=payload), 503)
    assert tenant_a_admin.get(USERS).status_code == 200  # reads go on meanwhile

    write_lock_held.execute("ROLLBACK")
    created = tenant_a_admin.post(USERS, json=payload)
    assert created.status_code == 201, created.text
    usernames = [u["username"] for u in tenant_a_admin.get(USERS).json()["data"]]
    assert usernames.count(payload["username"]) == 1
