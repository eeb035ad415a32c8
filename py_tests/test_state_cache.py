"""The session-state cache (app/db/state_cache.py): bounded in time, emptied by any
revocation, and unable to keep a state whose read raced a revocation."""

import uuid

import pytest

from app.db.state_cache import StateCache
from py_tests.assertions import wait_for

pytestmark = [pytest.mark.auth, pytest.mark.inprocess]

KEY = (uuid.uuid4(), uuid.uuid4())


def test_a_state_is_answered_until_its_time_runs_out() -> None:
    cache: StateCache[str] = StateCache(ttl=0.2)
    cache.put(KEY, "active", cache.generation)
    assert cache.get(KEY) == "active"
    assert cache.get((KEY[0], uuid.uuid4())) is None  # another user of the same session id
    wait_for(lambda: cache.get(KEY) is None, deadline_s=2, interval_s=0.02)


def test_revocation_empties_the_cache() -> None:
    cache: StateCache[str] = StateCache(ttl=60)
    cache.put(KEY, "active", cache.generation)
    cache.invalidate()
    assert cache.get(KEY) is None


def test_a_read_that_raced_a_revocation_is_not_kept() -> None:
    cache: StateCache[str] = StateCache(ttl=60)
    started = cache.generation  # a request begins reading the state...
    cache.invalidate()  # ...another revokes the session and commits...
    cache.put(KEY, "active as read before the commit", started)
    assert cache.get(KEY) is None


def test_zero_seconds_turns_the_cache_off() -> None:
    cache: StateCache[str] = StateCache(ttl=0)
    cache.put(KEY, "active", cache.generation)
    assert cache.get(KEY) is None
