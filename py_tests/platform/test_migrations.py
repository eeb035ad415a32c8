"""The Alembic migrations build exactly the schema the models describe, both ways, and
carry existing rows along (0003 fills the unique keys of the rows it finds)."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.platform.db.base import Base
from app.platform.db.migrate import alembic_config, upgrade
from py_tests.support.spellings import fullwidth, nfc, nfd

pytestmark = pytest.mark.integration


async def _inspect(database_url: str, check: Callable[[Connection], Any]) -> Any:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(check)
    finally:
        await engine.dispose()


async def _write(database_url: str, work: Callable[[Connection], Any]) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(work)
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


# The tables as revision 0002 has them, as far as this test writes them, and the keys
# that 0003 adds.
TIMESTAMP = sa.DateTime(timezone=True)
TENANTS = sa.table(
    "tenants",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("is_active", sa.Boolean()),
    sa.column("created_at", TIMESTAMP),
)
USERS = sa.table(
    "users",
    *(sa.column(name, sa.Uuid()) for name in ("id", "tenant_id")),
    *(sa.column(name, sa.String()) for name in ("username", "email", "full_name", "role")),
    sa.column("is_active", sa.Boolean()),
    *(sa.column(name, TIMESTAMP) for name in ("created_at", "updated_at")),
)
SESSIONS = sa.table(
    "auth_sessions",
    *(sa.column(name, sa.Uuid()) for name in ("id", "user_id")),
    sa.column("refresh_jti", sa.String()),
    *(sa.column(name, TIMESTAMP) for name in ("created_at", "expires_at")),
)
TENANT_KEYS = sa.table("tenants", sa.column("id", sa.Uuid()), sa.column("name_key", sa.Text()))
USER_KEYS = sa.table("users", sa.column("username_key"), sa.column("email_key"))


@pytest.mark.asyncio
async def test_upgrade_to_0003_fills_the_keys_of_existing_rows_and_downgrade_drops_them(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows written under 0002, two of them one name by the new rule (a precomposed
    and a decomposed `Ä`, which `lower(...)` let through on both databases), get their
    keys; the older of the two keeps the plain key, the other a key of its own. A user's
    session survives the copy SQLite makes of the users table."""
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0002")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    older, newer, greek, user = (uuid.uuid4() for _ in range(4))

    def tenant(tenant_id: uuid.UUID, name: str, created_at: datetime) -> dict[str, Any]:
        return {"id": tenant_id, "name": name, "is_active": True, "created_at": created_at}

    def write_0002_rows(conn: Connection) -> None:
        conn.execute(
            sa.insert(TENANTS),
            [
                tenant(older, nfc("Ärzte Praxis"), start),
                tenant(newer, nfd("Ärzte Praxis"), start + timedelta(days=1)),
                tenant(greek, "ΣΊΣΥΦΟΣ Λtd", start),
            ],
        )
        conn.execute(
            sa.insert(USERS),
            {
                "id": user,
                "tenant_id": greek,
                "username": "Sisyphus_Admin",
                "email": f"{fullwidth('Sisyphus')}@Example.org",
                "full_name": "",
                "role": "admin",
                "is_active": True,
                "created_at": start,
                "updated_at": start,
            },
        )
        conn.execute(
            sa.insert(SESSIONS),
            {
                "id": uuid.uuid4(),
                "user_id": user,
                "refresh_jti": "jti",
                "created_at": start,
                "expires_at": start + timedelta(days=7),
            },
        )

    await _write(database_url, write_0002_rows)
    with caplog.at_level("WARNING", logger="alembic"):
        await asyncio.to_thread(upgrade, database_url)
    # The clash is named by id only: names and emails stay out of the log.
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"tenants {newer} has the same name_key as an older row; "
        "it keeps its value under a key of its own"
    ]

    def read_keys(conn: Connection) -> tuple[dict[uuid.UUID, str], tuple[str, str], int]:
        names = dict(conn.execute(sa.select(TENANT_KEYS.c.id, TENANT_KEYS.c.name_key)).all())
        username_key, email_key = conn.execute(sa.select(USER_KEYS)).one()
        sessions = conn.scalar(sa.select(sa.func.count()).select_from(SESSIONS))
        return names, (username_key, email_key), sessions or 0

    names, user_keys, sessions = await _inspect(database_url, read_keys)
    assert names == {
        older: "ärzte praxis",
        newer: f"ärzte praxis\x1f{newer}",
        greek: "σίσυφοσ λtd",
    }
    assert user_keys == ("sisyphus_admin", "sisyphus@example.org")
    assert sessions == 1

    await asyncio.to_thread(command.downgrade, config, "0002")
    columns = await _inspect(
        database_url, lambda conn: {c["name"] for c in inspect(conn).get_columns("users")}
    )
    assert not {"username_key", "email_key"} & columns

    def register_in_other_case(conn: Connection) -> None:
        conn.execute(sa.insert(TENANTS), tenant(uuid.uuid4(), "Acme Works", start))
        conn.execute(sa.insert(TENANTS), tenant(uuid.uuid4(), "ACME works", start))

    # The lower(...) indexes of 0002 are back.
    with pytest.raises(sa.exc.IntegrityError):
        await _write(database_url, register_in_other_case)
