"""On SQLite, reads run on the event loop's thread and writes on aiosqlite's
(app/db/sqlite.py). A read connection refuses writes at once, so a write sent to one
by mistake fails loudly instead of holding the loop while it waits for the lock."""

import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db import sqlite
from app.db.models import Tenant
from app.db.session import Database

pytestmark = [pytest.mark.integration, pytest.mark.inprocess]


@pytest_asyncio.fixture
async def database(settings: Settings, sqlite_path: str) -> AsyncIterator[Database]:
    db = Database(settings.effective_database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def write_lock_held(sqlite_path: str) -> Iterator[None]:
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.close()


def report_driver_threads(db: Database) -> None:
    """`SELECT thread_ident()` answers the thread that SQLite runs the statement on."""

    def register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_ident", 0, threading.get_ident)

    for engine in {db.engine, db.read_engine}:
        event.listen(engine.sync_engine, "connect", register)


@pytest.mark.asyncio
async def test_reads_run_on_the_event_loop_thread_and_writes_do_not(database: Database) -> None:
    assert database.read_engine is not database.engine
    report_driver_threads(database)
    statement = text("SELECT thread_ident()")

    async with database.session() as session:
        read_on = await session.scalar(statement)
    async with database.session(write=True) as session:
        written_on = await session.scalar(statement)

    assert read_on == threading.get_ident()
    assert written_on != threading.get_ident()


@pytest.mark.asyncio
async def test_a_write_on_a_read_session_fails_at_once_while_another_writer_holds_the_lock(
    database: Database, write_lock_held: None
) -> None:
    started = time.monotonic()
    async with database.session() as session:
        with pytest.raises(OperationalError, match="readonly"):
            await session.execute(
                insert(Tenant).values(id=uuid.uuid4(), name="never written", name_key="-")
            )
        assert await session.scalar(select(Tenant.id).where(Tenant.name == "never written")) is None
    assert time.monotonic() - started < 0.5  # the busy timeout was never waited for


@pytest.mark.parametrize(
    ("url", "separate"),
    [
        ("sqlite+aiosqlite:///data/app.db", True),
        ("sqlite+aiosqlite:///:memory:", False),  # a second engine would see another database
        ("sqlite+aiosqlite:///file:app.db?mode=ro&uri=true", False),
    ],
)
def test_only_a_plain_database_file_gets_its_own_read_engine(url: str, separate: bool) -> None:
    assert sqlite.has_separate_readers(make_url(url)) is separate
