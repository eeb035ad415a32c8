"""Start-up and shutdown in-process: the cleanup that start-up begins in the background
does its work when it is on, and never outlives the app's event loop."""

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.identity.models import AuthSession
from app.platform.config import Settings
from app.platform.db.database import Database
from py_tests.fixtures.app import (
    plant_orphan,
    restarted,
    runtime_of,
    session_count,
    stored_keys,
)
from py_tests.fixtures.clients import Tenant
from py_tests.fixtures.inprocess import InProcessClient
from py_tests.support.assertions import wait_for
from py_tests.support.routes import HEALTH

pytestmark = [pytest.mark.integration, pytest.mark.inprocess]
OPEN_DELAY_S = 0.2


@pytest.fixture
def storage_overrides(tmp_path: Path) -> dict[str, Any]:
    """A blob directory of the test's own: the sweep removes whatever has no row here."""
    return {"storage_url": f"file://{tmp_path / 'blobs'}"}


async def expire_sessions(db: Database) -> None:
    async with db.transaction() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(AuthSession).values(expires_at=past))
        await session.commit()


@pytest.mark.parametrize("housekeeping", [True, False], ids=["on", "off"])
def test_start_up_sweeps_orphans_and_purges_expired_sessions_when_on(
    settings: Settings,
    client: InProcessClient,
    tenant_a: Tenant,
    tmp_path: Path,
    housekeeping: bool,
) -> None:
    """A blob without a row (a crashed upload) and a session past its lifetime are gone
    once an app started with STARTUP_HOUSEKEEPING has shut down (shutdown lets the
    cleanup finish), and still there after one started without it."""
    orphan = plant_orphan(client, tmp_path)
    client.call(expire_sessions, runtime_of(client).db)
    assert (stored_keys(client), session_count(client)) == ([orphan], 1)

    with restarted(settings, startup_housekeeping=housekeeping, orphan_grace_seconds=0) as fresh:
        assert fresh.get(HEALTH).status_code == 200

    left = (stored_keys(client), session_count(client))
    assert left == (([], 0) if housekeeping else ([orphan], 1))


def aiosqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


@pytest.mark.settings(startup_housekeeping=True)
def test_shutdown_during_the_start_up_cleanup_leaves_no_connection_behind(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shut down while the start-up cleanup is opening its connection (each open slowed
    to 0.2 s): that connection is finished and closed while the loop still runs, so no
    aiosqlite thread is left answering a loop that is gone."""
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("aiosqlite's connection threads: the embedded SQLite default")
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    open_now = sqlite3.connect

    def open_slowly(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        time.sleep(OPEN_DELAY_S)
        connection: sqlite3.Connection = open_now(*args, **kwargs)
        return connection

    monkeypatch.setattr(sqlite3, "connect", open_slowly)
    before = aiosqlite_threads()
    with InProcessClient(app) as client:
        # Served without the database; meanwhile the cleanup starts opening a connection.
        assert client.get(HEALTH).status_code == 200
    wait_for(
        lambda: not aiosqlite_threads() - before, deadline_s=10 * OPEN_DELAY_S, interval_s=0.02
    )
    assert failures == []
