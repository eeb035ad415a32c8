"""Engine and sessions of one app instance (nothing module-global).

On SQLite, a transaction that will write starts with ``BEGIN IMMEDIATE``: it takes the
write lock up front and waits for it (busy timeout) instead of failing when a deferred
read transaction tries to upgrade after another writer committed.

aiosqlite runs each driver call on the connection's own thread, and every call is a
round trip from the event loop to that thread and back: about 0.1 ms on an idle
machine, more on a busy one, against ~0.05 ms for SQLite to answer a typical query
here. So BEGIN is sent in one trip rather than SQLAlchemy's three (cursor, execute,
close), and a connection going back to the pool is rolled back only if a transaction
is still open (SQLAlchemy rolls back again after the session has already ended its
transaction).
"""

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from app.db.state_cache import StateCache

SQLITE_BUSY_TIMEOUT_S = 15


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's BEGIN below be the only transaction control.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        try:
            conn.connection.dbapi_connection.run_async(
                lambda driver: driver.execute_fetchall(statement)
            )
        except sqlite3.Error as error:  # a busy database, mostly: answered as unavailable
            raise OperationalError(statement, None, error) from error

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: ConnectionPoolEntry, state: PoolResetState) -> None:
        # Replaces the pool's own reset (pool_reset_on_return=None below).
        if state.asyncio_safe and dbapi_conn.driver_connection.in_transaction:
            dbapi_conn.rollback()


def ensure_sqlite_directory(url: str) -> None:
    """An SQLite file's folder is created on first use, so a fresh clone just runs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


class Database:
    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        state_cache_seconds: float = 0,
        timeout_seconds: float = 5.0,
    ) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {
            "echo": echo,
            "pool_pre_ping": not self.is_sqlite,
            "pool_timeout": timeout_seconds,
        }
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "asyncpg":
            # A database that is down or hanging costs a bounded wait, then a 503.
            kwargs["connect_args"] = {
                "timeout": timeout_seconds,
                "command_timeout": timeout_seconds,
            }
        if self.is_sqlite:
            ensure_sqlite_directory(url)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
            kwargs["pool_reset_on_return"] = None  # see _on_reset
        self.engine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        # Reached by the repositories through `session.info` (see app/db/state_cache.py).
        self.state_cache: StateCache[Any] = StateCache(state_cache_seconds)
        info = {"state_cache": self.state_cache}
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._writer = async_sessionmaker(
            self.engine.execution_options(sqlite_immediate=True),
            expire_on_commit=False,
            info=info,
        )

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        maker = self._writer if write else self._reader
        async with maker() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
