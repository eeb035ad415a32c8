"""SQLite, the embedded default: one writer at a time, readers beside it (WAL).

Writes go through aiosqlite, which runs every driver call on the connection's own
thread. A transaction that will write starts with ``BEGIN IMMEDIATE``: it takes the
write lock up front and waits for it (busy timeout) instead of failing when a deferred
read transaction tries to upgrade after another writer committed.

Reads run on the event loop's own thread. Every aiosqlite call is a round trip from
the event loop to the connection's thread and back, and under load that trip, not
SQLite, is what a read costs: a page of users took ~7 ms of CPU per request through
the thread and ~4.7 ms on the loop, where SQLite itself answers the count and the page
in ~0.1 ms. In WAL mode a reader never waits for the writer, so a read holds the loop
only for as long as SQLite computes its answer. Each read is a transaction of its
own (no BEGIN), as each statement is under PostgreSQL's default READ COMMITTED. Read
connections are opened with ``query_only``: a write sent to one fails at once instead
of waiting on the lock with the whole loop.
"""

import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

# How long a write waits for the write lock before it is answered 503.
BUSY_TIMEOUT_S = 15.0
# Readers in WAL mode wait only in rare moments (a WAL reset, recovery after a crash);
# such a wait holds the event loop, so it is short.
READER_BUSY_TIMEOUT_S = 1.0


def in_memory(url: URL) -> bool:
    """Whether an SQLite URL names an in-memory database, which each connection sees
    empty and alone."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def file_of(url: URL) -> str | None:
    """The database file an SQLite URL names; None for an in-memory database."""
    return None if in_memory(url) else url.database


def ensure_directory(url: str) -> None:
    """An SQLite file's folder is created on first use, so a fresh clone just runs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (path := file_of(parsed)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def has_separate_readers(url: URL) -> bool:
    """A file database with no URL options: one that a second set of connections opened
    by path reaches with the same meaning (not `:memory:`, not a URI with modes)."""
    return file_of(url) is not None and not url.query


def writer_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_S},
        pool_reset_on_return=None,  # see _on_reset
        **kwargs,
    )
    _install_listeners(engine)
    return engine


def reader_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    connect = partial(
        sqlite3.connect,
        url.database or "",
        timeout=READER_BUSY_TIMEOUT_S,
        check_same_thread=False,  # opened on aiosqlite's thread, used on the loop's
    )

    async def loop_connection() -> aiosqlite.Connection:
        return await LoopConnection(connect)

    engine = create_async_engine(
        url, async_creator=loop_connection, pool_reset_on_return=None, **kwargs
    )
    _install_listeners(engine, query_only=True)
    return engine


class LoopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose driver calls run on the calling (event loop) thread.

    aiosqlite sends every call through `_execute`; here it runs the call at once. The
    connection's thread still opens and closes the SQLite connection (aiosqlite's own
    connect and close paths), and stays idle in between. `test_sqlite_reads.py` checks
    that reads run on the loop, so an aiosqlite release that routes calls differently
    fails there, not in production.
    """

    def __init__(self, connector: Any) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


def _install_listeners(engine: AsyncEngine, *, query_only: bool = False) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let the BEGIN of `_begin` be the only transaction control.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if query_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if not query_only:
        # Readers send no BEGIN: each read is a transaction of its own, as every
        # statement is under PostgreSQL's READ COMMITTED. The page and its total are one
        # statement (repositories.PageQuery), so they always agree.
        event.listen(engine.sync_engine, "begin", _begin)

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: ConnectionPoolEntry, state: PoolResetState) -> None:
        # Replaces the pool's own reset (pool_reset_on_return=None), which rolls back
        # again a connection whose transaction the session has already ended.
        if state.asyncio_safe and dbapi_conn.driver_connection.in_transaction:
            dbapi_conn.rollback()


def _begin(conn: Any) -> None:
    # One trip to the driver instead of SQLAlchemy's three (cursor, execute, close).
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    try:
        conn.connection.dbapi_connection.run_async(
            lambda driver: driver.execute_fetchall(statement)
        )
    except sqlite3.Error as error:  # a busy database, mostly: answered as unavailable
        raise OperationalError(statement, None, error) from error


class DataVersion:
    """Whether the database changed: SQLite's `PRAGMA data_version`, read on a
    connection of its own that never writes.

    SQLite changes that number whenever another connection commits, in this process or
    any other (another worker, the CLI), so an answer cached at one value is still the
    database's answer while the number is unchanged (app/api/listings.py). Reading it
    costs a few microseconds on the loop. A database that cannot answer at once (locked
    for a WAL reset, gone) answers None, and the caller reads the database instead.

    The number is counted per connection, so a version is (connection, number): after
    the probe reopens its connection, no version read before it matches again.
    """

    def __init__(self, path: str) -> None:
        # Read-write, not create: a file that is gone is not made again, empty.
        self._uri = Path(path).resolve().as_uri() + "?mode=rw"
        self._connection: sqlite3.Connection | None = None
        self._opened = 0
        self._closed = False

    def read(self) -> tuple[int, int] | None:
        if self._closed:
            return None
        try:
            if self._connection is None:
                self._opened += 1
                self._connection = sqlite3.connect(
                    self._uri,
                    uri=True,
                    timeout=0,  # never hold the loop: a busy file is a cache miss
                    isolation_level=None,
                    check_same_thread=False,  # opened wherever the first request runs
                )
                self._connection.execute("PRAGMA query_only=ON")
            row = self._connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self._disconnect()
            return None
        return self._opened, int(row[0])

    def close(self) -> None:
        self._closed = True
        self._disconnect()

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def counts_commits(url: URL) -> bool:
    """Whether a `DataVersion` sees every commit to this database: an SQLite file that
    other connections reach by path."""
    return url.get_backend_name() == "sqlite" and has_separate_readers(url)
