"""Alembic, driven from code: the CLI, the app's start-up in dev and the tests use it."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from app.platform.db import sqlite

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking (it runs its own event loop): call it from a thread inside async code.
    Several processes may call it at once on one database: they take turns, and the
    later ones find the schema already at `revision`."""
    sqlite.ensure_directory(database_url)
    with _one_at_a_time(database_url):
        command.upgrade(alembic_config(database_url), revision)


@contextmanager
def _one_at_a_time(database_url: str) -> Iterator[None]:
    """An SQLite file is locked with flock(2) on the file itself, which SQLite's own
    (fcntl) locks never see; PostgreSQL takes an advisory lock (migrations/env.py)."""
    url = make_url(database_url)
    path = sqlite.file_of(url) if url.get_backend_name() == "sqlite" else None
    if path is None:
        yield
        return
    with open(path, "ab") as database:
        fcntl.flock(database, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(database, fcntl.LOCK_UN)
