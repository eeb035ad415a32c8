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
# Past either bound the cache starts again empty. Bytes count the pages' JSON and their
# query strings, which callers choose (unknown parameters are ignored, not refused).
MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 4096


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

    def get(self, key: Key, version: Version | None) -> bytes | None:
        """The page kept under `key`, if it was read at `version`, the database's version
        as read just now."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, kept_at, body = entry
        if expires_at > time.monotonic() and kept_at == version:
            return body
        self._drop(key)
        return None

    def put(self, key: Key, body: bytes, stamp: Version | None) -> None:
        if stamp is None:
            return
        self._drop(key)
        size = _size(key, body)
        if self._bytes + size > MAX_BYTES or len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._bytes = 0
        self._entries[key] = (time.monotonic() + self._ttl, stamp, body)
        self._bytes += size

    @property
    def size(self) -> tuple[int, int]:
        """(entries, bytes) kept."""
        return len(self._entries), self._bytes

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= _size(key, entry[2])


def _size(key: Key, body: bytes) -> int:
    return len(key[2]) + len(body)
