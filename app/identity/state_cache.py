"""Session states read recently, kept for a bounded time.

Every authenticated call needs its session's state (revoked? user and tenant active?
role?). Reading it costs a database round trip per call; within one process this cache
answers instead for at most `ttl` seconds. Any revocation made through this process
empties it at once, and again when the revoking transaction commits, so a read that
raced the revocation cannot put the old state back (the generation guards that).

On SQLite a kept state is also stamped with the database's change counter as it read
before the state was (app/platform/db/sqlite.py, `DataVersion`), and is answered only while the
counter reads the same: a commit anywhere, by another worker or the CLI too, means the
next call reads the state again. Elsewhere (PostgreSQL), what changes outside this
process is seen within `ttl` seconds. `SESSION_CACHE_SECONDS=0` turns the cache off;
`app serve --workers N` with N > 1 turns it off on PostgreSQL unless the setting is given.
"""

import time
import uuid
from typing import Any, Generic, TypeVar

from app.platform.db.sqlite import DataVersion

State = TypeVar("State")
Key = tuple[uuid.UUID, uuid.UUID]
# What a read began at: the cache's generation, and the database's version if it has one.
Stamp = tuple[int, tuple[int, int] | None]
MAX_ENTRIES = 100_000


class StateCache(Generic[State]):
    def __init__(self, ttl: float, version: DataVersion | None = None) -> None:
        self.ttl = ttl
        self.generation = 0
        self._version = version
        self._entries: dict[Key, tuple[float, tuple[int, int] | None, State]] = {}

    def stamp(self) -> Stamp:
        """Taken before the state is looked up (and read, on a miss): `get` answers only
        what was kept at the same version, `put` keeps the state only if it still holds."""
        return self.generation, self._version.read() if self._version else None

    def get(self, key: Key, stamp: Stamp) -> State | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        if self._version is not None and entry[1] != stamp[1]:
            return None
        return entry[2]

    def put(self, key: Key, state: State, stamp: Stamp) -> None:
        """Keeps `state` if nothing was revoked since its read began, and the database's
        version (where there is one) could be read then."""
        generation, version = stamp
        if self.ttl <= 0 or generation != self.generation:
            return
        if self._version is not None and version is None:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, version, state)

    def invalidate(self, *_: Any) -> None:
        self.generation += 1
        self._entries.clear()
