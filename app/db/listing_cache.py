"""Answers kept in memory while the database is unchanged (see app/api/listings.py).

An entry is stamped with the database's version read before the query it keeps the
answer of, and is answered only while the version reads the same, for at most `ttl`
seconds. Without a version to read (PostgreSQL) the cache is off.
"""

import time
import uuid

from app.db.sqlite import DataVersion

Key = tuple[str, uuid.UUID, bytes]  # route path, tenant, raw query string
Version = tuple[int, int]
# The kept pages' JSON, in all; past it the cache starts again empty.
MAX_BYTES = 8 * 1024 * 1024


class ListingCache:
    def __init__(self, ttl: float, version: DataVersion | None) -> None:
        self.enabled = ttl > 0 and version is not None
        self._ttl = ttl
        self._version = version
        self._entries: dict[Key, tuple[float, Version, bytes]] = {}
        self._bytes = 0

    def stamp(self) -> Version | None:
        """The database's version, read before the query whose answer is kept."""
        return self._version.read() if self.enabled and self._version else None

    def get(self, key: Key) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, version, body = entry
        if expires_at > time.monotonic() and version == self.stamp():
            return body
        self._drop(key)
        return None

    def put(self, key: Key, body: bytes, stamp: Version | None) -> None:
        if stamp is None:
            return
        self._drop(key)
        if self._bytes + len(body) > MAX_BYTES:
            self._entries.clear()
            self._bytes = 0
        self._entries[key] = (time.monotonic() + self._ttl, stamp, body)
        self._bytes += len(body)

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[2])
