"""The session-state cache (app/db/state_cache.py): bounded in time, emptied by any
revocation, unable to keep a state whose read raced a revocation, and on SQLite ended
by any commit."""

import sqlite3
import uuid
from pathlib import Path

import pytest

from app.identity.state_cache import StateCache
from app.platform.db.sqlite import DataVersion
from py_tests.support.assertions import wait_for

pytestmark = [pytest.mark.auth, pytest.mark.inprocess]

KEY = (uuid.uuid4(), uuid.uuid4())


def test_a_state_is_answered_until_its_time_runs_out() -> None:
    cache: StateCache[str] = StateCache(ttl=0.2)
    cache.put(KEY, "active", cache.stamp())
    assert cache.get(KEY, cache.stamp()) == "active"
    assert (
        cache.get((KEY[0], uuid.uuid4()), cache.stamp()) is None
    )  # another user of the same session id
    wait_for(lambda: cache.get(KEY, cache.stamp()) is None, deadline_s=2, interval_s=0.02)


def test_revocation_empties_the_cache() -> None:
    cache: StateCache[str] = StateCache(ttl=60)
    cache.put(KEY, "active", cache.stamp())
    cache.invalidate()
    assert cache.get(KEY, cache.stamp()) is None


def test_a_read_that_raced_a_revocation_is_not_kept() -> None:
    cache: StateCache[str] = StateCache(ttl=60)
    started = cache.stamp()  # a request begins reading the state...
    cache.invalidate()  # ...another revokes the session and commits...
    cache.put(KEY, "active as read before the commit", started)
    assert cache.get(KEY, cache.stamp()) is None


def test_zero_seconds_turns_the_cache_off() -> None:
    cache: StateCache[str] = StateCache(ttl=0)
    cache.put(KEY, "active", cache.stamp())
    assert cache.get(KEY, cache.stamp()) is None


def test_a_commit_by_another_connection_ends_a_kept_state(tmp_path: Path) -> None:
    """On SQLite the database's change counter is checked on every answer."""
    path = str(tmp_path / "states.db")
    sqlite3.connect(path).close()
    probe = DataVersion(path)
    try:
        cache: StateCache[str] = StateCache(ttl=60, version=probe)
        cache.put(KEY, "active", cache.stamp())
        assert cache.get(KEY, cache.stamp()) == "active"
        other = sqlite3.connect(path, isolation_level=None)  # another worker, or the CLI
        other.execute("CREATE TABLE elsewhere (x INTEGER)")
        other.close()
        assert cache.get(KEY, cache.stamp()) is None
    finally:
        probe.close()


def test_a_state_read_when_the_version_could_not_be_is_not_kept(tmp_path: Path) -> None:
    probe = DataVersion(str(tmp_path / "missing" / "states.db"))  # cannot be opened
    cache: StateCache[str] = StateCache(ttl=60, version=probe)
    cache.put(KEY, "active", cache.stamp())
    assert cache.get(KEY, cache.stamp()) is None
