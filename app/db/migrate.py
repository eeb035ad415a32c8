"""Alembic, driven from code: the CLI, the app's start-up in dev and the tests use it."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from app.db.sqlite import ensure_directory

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking (it runs its own event loop): call it from a thread inside async code."""
    ensure_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)
