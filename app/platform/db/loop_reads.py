"""SQLite reads on the event loop.

A read of an SQLite file in WAL mode never waits for the writer and, on this
service's indexed queries, takes microseconds: less than handing each statement to
the driver's thread and back, which is what aiosqlite does for every call (cursor,
execute, fetch, close). So reads of an SQLite file run on the loop, through the
standard library's `sqlite3` driver under SQLAlchemy's synchronous engine; only
writes go through aiosqlite's thread, where waiting for the write lock cannot hold
the loop.

Reads share one connection, opened `query_only` (a write attempted through it fails
at once rather than taking the write lock on the loop) and in autocommit mode: each
statement reads the latest committed state, and no transaction is left open between
statements, so nothing the loop runs in between can see or hold a stale snapshot. A
read that cannot start at once (the file locked for recovery) waits at most
`READ_BUSY_TIMEOUT_S`.

Trade-off: a read's whole query time is spent on the loop. The queries here are
bounded (a page, a row by key, a tenant's count over an index); a tenant of hundreds
of thousands of rows makes the count a few milliseconds of loop time per page, which
is where PostgreSQL is the better home.
"""

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Result, ScalarResult
from sqlalchemy.pool import ConnectionPoolEntry

READ_BUSY_TIMEOUT_S = 0.1


def _read_only(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_conn.execute("PRAGMA query_only=ON")


class LoopConnection:
    """The part of SQLAlchemy's `AsyncConnection` that reads use, answered on the loop
    by one synchronous connection. Its coroutines finish without suspending."""

    def __init__(self, url: URL) -> None:
        self.engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": READ_BUSY_TIMEOUT_S, "check_same_thread": False},
            isolation_level="AUTOCOMMIT",
            hide_parameters=True,
        )
        event.listen(self.engine, "connect", _read_only)
        self._connection: Connection | None = None

    async def execute(self, statement: Any, parameters: Any = None) -> Result[*tuple[Any, ...]]:
        if self._connection is None:
            self._connection = self.engine.connect()
        try:
            return self._connection.execute(statement, parameters)
        except Exception:
            self.close()  # the next read opens a fresh connection
            raise

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Any, parameters: Any = None) -> ScalarResult[Any]:
        return (await self.execute(statement, parameters)).scalars()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def dispose(self) -> None:
        self.close()
        self.engine.dispose()
