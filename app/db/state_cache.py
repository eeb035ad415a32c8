"""Session states read recently, kept for a bounded time.

Every authenticated call needs its session's state (revoked? user and tenant active?
role?). Reading it costs a database round trip per call; within one process this cache
answers instead for at most `ttl` seconds. Any revocation made through this process
empties it at once, and again when the revoking transaction commits, so a read that
raced the revocation cannot put the old state back (the generation guards that).

What changes outside this process (another worker, the CLI) is seen within `ttl`
seconds. `SESSION_CACHE_SECONDS=0` turns the cache off; `app serve --workers N` with
N > 1 turns it off unless the setting is given.
"""

import time
import uuid
from typing import Any, Generic, TypeVar

State = TypeVar("State")
Key = tuple[uuid.UUID, uuid.UUID]
MAX_ENTRIES = 100_000


class StateCache(Generic[State]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.generation = 0
        self._entries: dict[Key, tuple[float, State]] = {}

    def get(self, key: Key) -> State | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: Key, state: State, generation: int) -> None:
        """Keeps `state` if nothing was revoked since its read began (`generation`)."""
        if self.ttl <= 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, state)

    def invalidate(self, *_: Any) -> None:
        self.generation += 1
        self._entries.clear()
