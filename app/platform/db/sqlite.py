"""SQLite, the embedded default: one writer at a time, readers beside it (WAL).

A transaction that will write starts with ``BEGIN IMMEDIATE``: it takes the write lock
up front and waits for it (the busy timeout) instead of failing when a deferred read
transaction tries to upgrade after another writer committed. Transaction control
follows SQLAlchemy's documented recipe for the SQLite drivers: the driver's own
transaction handling is turned off on connect, and the engine's "begin" event emits
the BEGIN. Which transactions write is chosen by the caller, through the
`sqlite_immediate` execution option (app/platform/db/database.py).
"""

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

# How long a write waits for the write lock before it is answered 503.
BUSY_TIMEOUT_S = 15.0


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


def sqlite_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S}, **kwargs)
    event.listen(engine.sync_engine, "connect", _on_connect)
    event.listen(engine.sync_engine, "begin", _on_begin)
    return engine


def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # The driver sends no BEGIN of its own; `_on_begin` is the only transaction control.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class DataVersion:
    """Whether the database changed: SQLite's `PRAGMA data_version`, read on a
    connection of its own that never writes.

    SQLite changes that number whenever another connection commits, in this process or
    any other (another worker, the CLI), so a session state kept at one value is still
    the database's answer while the number is unchanged (app/identity/state_cache.py).
    A database that cannot answer at once (locked for a WAL reset, gone) answers None,
    and the caller reads the database instead.

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
                    timeout=0,  # never hold the event loop: a busy file is a cache miss
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
    other connections reach by path (not in memory, no URI options)."""
    return url.get_backend_name() == "sqlite" and file_of(url) is not None and not url.query
