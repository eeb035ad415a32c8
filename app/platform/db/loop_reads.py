"""SQLite reads on the event loop.

A read of an SQLite file in WAL mode never waits for the writer and, on this
service's indexed queries, takes microseconds: less than handing each statement to
the driver's thread and back, which is what aiosqlite does for every call (cursor,
execute, fetch, close). So `Database.session()` runs reads on the loop through the
standard library's `sqlite3` driver (SQLAlchemy's synchronous engine), and only
writes go through aiosqlite's thread, where waiting for the write lock cannot hold
the loop.

The reading connections are opened `query_only`: a write attempted through one fails
at once instead of taking the write lock on the loop. A read that cannot start at
once (the file is locked for recovery) waits at most `READ_BUSY_TIMEOUT_S`. The
pool never makes the loop wait for a connection: past its idle ones it opens more.

Trade-off: a read's whole query time is spent on the loop. The queries here are
bounded (a page, a row by key, a tenant's count over an index); a tenant of
hundreds of thousands of rows makes the count a few milliseconds of loop time per
page, which is where PostgreSQL is the better home.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, Result
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

READ_BUSY_TIMEOUT_S = 0.1
IDLE_CONNECTIONS = 4


def loop_engine(url: URL) -> Engine:
    """A synchronous engine on the same file as `url`, for reads only."""
    engine = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": READ_BUSY_TIMEOUT_S, "check_same_thread": False},
        poolclass=QueuePool,
        pool_size=IDLE_CONNECTIONS,
        max_overflow=-1,  # never wait for a connection: waiting would hold the loop
        hide_parameters=True,
    )
    event.listen(engine, "connect", _read_only)
    event.listen(engine, "begin", _begin)
    return engine


def _read_only(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None  # `_begin` is the only transaction control
    dbapi_conn.execute("PRAGMA query_only=ON")


def _begin(conn: Any) -> None:
    # A read sees one snapshot of the database from its first statement to its end.
    conn.exec_driver_sql("BEGIN")


class LoopSession:
    """The part of `AsyncSession` that reads use, answered by a synchronous `Session`
    on the loop. Its coroutines finish without suspending."""

    def __init__(self, session: Session) -> None:
        self.sync_session = session

    async def execute(
        self, statement: Any, params: Any = None, **kw: Any
    ) -> Result[*tuple[Any, ...]]:
        return self.sync_session.execute(statement, params, **kw)

    async def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.scalar(statement, params, **kw)

    async def scalars(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.scalars(statement, params, **kw)

    async def get(self, entity: Any, ident: Any, **kw: Any) -> Any:
        return self.sync_session.get(entity, ident, **kw)

    def add(self, instance: object) -> None:
        self.sync_session.add(instance)  # fails at flush: the connection is query_only

    async def delete(self, instance: object) -> None:
        self.sync_session.delete(instance)


class LoopReads:
    def __init__(self, url: URL) -> None:
        self.engine = loop_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def session(self) -> Iterator[LoopSession]:
        with self._sessions() as session:
            yield LoopSession(session)

    def dispose(self) -> None:
        self.engine.dispose()
