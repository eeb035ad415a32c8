"""The Alembic migrations build exactly the schema the models describe, both ways."""

import asyncio
import os
import subprocess
import sys
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


@pytest.mark.slow
def test_concurrent_migration_runs_take_turns(database_url: str) -> None:
    """Workers of one fresh deployment each migrate at start (`DB_AUTO_MIGRATE`): they
    take turns, every one succeeds, and the schema is built once."""
    command.downgrade(alembic_config(database_url), "base")
    env = {**os.environ, "DATABASE_URL": database_url, "API_ENV": "dev"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert asyncio.run(_inspect(database_url, _differences)) == []
