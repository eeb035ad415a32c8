"""The database of one app instance: its engine and its units of work.

Sessions are short units of work, never as long as a request: a connection (and on
SQLite the write lock) is held from a unit's first statement to its end, so nothing
inside one may wait on a client's bytes, a password hash or object storage. Services
read what they need in a `session()`, do the slow work, then write in one
`transaction()`. On SQLite a transaction takes the write lock as it begins
(app/platform/db/sqlite.py); a read never does.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.engine import Result, ScalarResult, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.platform.db import sqlite
from app.platform.db.loop_reads import LoopConnection

# Connections per process on PostgreSQL: at most 10 for reads and 10 for writes, so
# that 4 workers stay within the server's default max_connections of 100. A pool keeps
# what it opens (reads have no overflow), so a burst does not open and close
# connections per request; past its size, a unit of work waits for one (`pool_timeout`).
READ_POOL_SIZE = 10
WRITE_POOL_SIZE = 5
WRITE_POOL_OVERFLOW = 5


class PooledReads:
    """A read on a pooled connection in autocommit mode (no BEGIN and ROLLBACK round
    trips around it), taken at the read's first statement: a read that a cache answers
    (the session state's, app/identity/state_cache.py) takes no connection at all."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def execute(self, statement: Any, parameters: Any = None) -> Result[*tuple[Any, ...]]:
        if self._connection is None:
            self._connection = await self._engine.connect().start()
        return await self._connection.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Any, parameters: Any = None) -> ScalarResult[Any]:
        return (await self.execute(statement, parameters)).scalars()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


# What a read is given: a connection that answers rows of columns (Core), never
# entities. On an SQLite file its statements run on the loop
# (app/platform/db/loop_reads.py); elsewhere on a pooled connection.
Reader = PooledReads | LoopConnection
# A row a read answers: columns by name (`row.username`), as pydantic reads attributes.
ReadRow = Row[*tuple[Any, ...]]
# What a repository is built on: a read's connection or a write's ORM session.
DbSession = AsyncSession | Reader


def entities(session: DbSession) -> AsyncSession:
    """The ORM session of a write. Entities are loaded, added and deleted only inside
    `Database.transaction()`; a read selects columns."""
    if not isinstance(session, AsyncSession):
        raise TypeError("entities are loaded and changed only in Database.transaction()")
    return session


class Database:
    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        timeout_seconds: float = 5.0,
    ) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {
            "echo": echo,
            # Errors and logs name the statement, never the values (names, emails, hashes).
            "hide_parameters": True,
            "pool_pre_ping": not self.is_sqlite,
            "pool_timeout": timeout_seconds,
        }
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "asyncpg":
            # A database that is down or hanging costs a bounded wait, then a 503.
            kwargs["connect_args"] = {
                "timeout": timeout_seconds,
                "command_timeout": timeout_seconds,
                # A transaction left idle (a stalled process) is ended by the server
                # rather than holding its locks and the vacuum horizon.
                "server_settings": {
                    "idle_in_transaction_session_timeout": str(int(timeout_seconds * 1000)),
                },
            }
        self.engine: AsyncEngine
        # Whether anything was committed since an earlier read; SQLite files only.
        self.data_version: sqlite.DataVersion | None = None
        self._loop_reads: LoopConnection | None = None
        if self.is_sqlite:
            sqlite.ensure_directory(url)
            self.engine = sqlite.sqlite_engine(parsed, **kwargs)
            if sqlite.counts_commits(parsed):
                self.data_version = sqlite.DataVersion(parsed.database or "")
                self._loop_reads = LoopConnection(parsed)
        else:
            self.engine = create_async_engine(
                url, **kwargs, pool_size=WRITE_POOL_SIZE, max_overflow=WRITE_POOL_OVERFLOW
            )
        self._read_engine = self.engine  # SQLite in memory: our BEGIN, then a rollback
        if not self.is_sqlite:
            # Reads have a pool of their own, whose connections stay in autocommit mode:
            # no BEGIN and ROLLBACK around a read, and a checkout's ping is one round
            # trip.
            self._read_engine = create_async_engine(
                url,
                **kwargs,
                isolation_level="AUTOCOMMIT",
                pool_size=READ_POOL_SIZE,
                max_overflow=0,
            )
        self._writer = async_sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Reader]:
        """A read, of columns: on SQLite it never takes the write lock, and runs on
        the loop."""
        if self._loop_reads is not None:
            yield self._loop_reads
            return
        reads = PooledReads(self._read_engine)
        try:
            yield reads
        finally:
            await reads.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write, committed when the block ends without error, rolled back otherwise.
        The block holds the write lock (SQLite) or a pooled connection (PostgreSQL)
        from its first statement: prepare everything slow before entering it."""
        async with self._writer() as session:
            yield session
            await session.commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.data_version is not None:
            self.data_version.close()
        if self._loop_reads is not None:
            self._loop_reads.dispose()
        await self.engine.dispose()
        if self._read_engine is not self.engine:
            await self._read_engine.dispose()
