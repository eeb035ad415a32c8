"""Which SQLite databases other connections reach by path (app/platform/db/sqlite.py):
only those can tell a worker that another one committed (its change counter), which the
session-state cache relies on across workers."""

import pytest
from sqlalchemy.engine import make_url

from app.platform.db import sqlite

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
