"""Start-up and shutdown in-process: the cleanup that start-up begins in the background
never outlives the app's event loop."""

import sqlite3
import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from py_tests.assertions import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.inprocess]
OPEN_DELAY_S = 0.2


def aiosqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


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
        return open_now(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", open_slowly)
    before = aiosqlite_threads()
    with TestClient(app) as client:
        # Served without the database; meanwhile the cleanup starts opening a connection.
        assert client.get("/health").status_code == 200
    wait_for(
        lambda: not aiosqlite_threads() - before, deadline_s=10 * OPEN_DELAY_S, interval_s=0.02
    )
    assert failures == []
