"""SQLite's change counter (app/platform/db/sqlite.py, `DataVersion`): which databases
other connections reach by path, and how a probe of one sees their commits. The
session-state cache relies on it across workers."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.platform.db import sqlite
from app.platform.db.sqlite import DataVersion

pytestmark = [pytest.mark.integration, pytest.mark.inprocess]


@pytest.mark.parametrize(
    ("url", "separate"),
    [
        ("sqlite+aiosqlite:///data/app.db", True),
        ("sqlite+aiosqlite:///:memory:", False),  # another connection sees another database
        ("sqlite+aiosqlite:///file:app.db?mode=ro&uri=true", False),
    ],
)
def test_only_a_plain_database_file_counts_commits_of_other_connections(
    url: str, separate: bool
) -> None:
    assert sqlite.counts_commits(make_url(url)) is separate


def test_the_change_counter_moves_with_other_connections_commits(sqlite_path: str) -> None:
    probe = DataVersion(sqlite_path)
    try:
        before = probe.read()
        assert before is not None
        assert probe.read() == before  # nothing committed since
        other = sqlite3.connect(sqlite_path, isolation_level=None)
        other.execute("CREATE TABLE IF NOT EXISTS probe_check (x INTEGER)")
        other.close()
        moved = probe.read()
        assert moved is not None
        assert moved != before
        probe._disconnect()  # as after an error: the next read opens a new connection
        assert probe.read() not in (before, moved, None)  # and counts afresh
    finally:
        probe.close()
    assert probe.read() is None  # closed for good, never reopened


def test_a_probe_never_creates_the_database_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    assert DataVersion(str(missing)).read() is None
    assert not missing.exists()
