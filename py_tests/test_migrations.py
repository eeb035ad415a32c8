"""The Alembic migrations build exactly the schema the models describe, both ways."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import alembic_config, upgrade
from app.db.models import Base

pytestmark = [
    pytest.mark.integration,
    # SQLite cannot reflect expression indexes; Alembic says so and skips them.
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified:UserWarning"),
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
]


async def _inspect(database_url: str, check: Callable[[Connection], Any]) -> Any:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(check)
    finally:
        await engine.dispose()


def _differences(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


@pytest.mark.asyncio
async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await _inspect(database_url, _differences) == []


@pytest.mark.asyncio
async def test_migrations_downgrade_to_nothing_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    # Alembic runs its own event loop, so it goes to a thread from inside this test's loop.
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _inspect(database_url, _tables) == set()
    await asyncio.to_thread(upgrade, database_url)
    assert await _inspect(database_url, _tables) == set(Base.metadata.tables)
