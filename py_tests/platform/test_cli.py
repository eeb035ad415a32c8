"""The service's CLI run in-process on the test's own database: `migrate` on a fresh
SQLite file, the configuration it refuses, and what `serve` sets up for its workers."""

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory

from app.platform.db.migrate import alembic_config
from py_tests.fixtures.operators import RunCli

pytestmark = pytest.mark.integration


# --- migrate and configuration ------------------------------------------------------


def test_cli_refuses_insecure_configuration_outside_dev(run_cli: RunCli) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli("migrate", API_ENV="prod")
    assert "JWT_SECRET" in str(exited.value.code)


def test_migrate_builds_fresh_sqlite_file_and_is_idempotent(
    run_cli: RunCli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "nested" / "fresh.db"
    url = f"sqlite+aiosqlite:///{database.as_posix()}"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()

    assert run_cli("migrate", DATABASE_URL=url) == 0
    assert run_cli("migrate", DATABASE_URL=url) == 0

    assert capsys.readouterr().out.count("latest revision") == 2
    with sqlite3.connect(database) as db:
        versions = db.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert versions == [(head,)]
    assert {"tenants", "users"} <= tables


@pytest.mark.parametrize(
    ("database_url", "cache_seconds"),
    [
        pytest.param("postgresql+asyncpg://saas@db.invalid/saas", "0", id="postgresql"),
        pytest.param("sqlite+aiosqlite:///{folder}/app.db", None, id="sqlite-file"),
    ],
)
def test_serve_with_workers_keeps_session_states_only_where_commits_are_visible(
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    cache_seconds: str | None,
) -> None:
    """Workers do not share memory: on PostgreSQL their state caches are off by default;
    an SQLite file's change counter shows each worker every commit, so there they stay."""
    monkeypatch.setenv("SESSION_CACHE_SECONDS", "")  # so that undoing it removes it again
    monkeypatch.delenv("SESSION_CACHE_SECONDS")
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: served.append(kwargs))

    url = database_url.format(folder=tmp_path)
    assert run_cli("serve", "--workers", "2", DATABASE_URL=url) == 0

    assert served[0]["workers"] == 2
    assert os.environ.get("SESSION_CACHE_SECONDS") == cache_seconds


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/0"], ids=["memory", "redis"])
def test_serve_with_workers_warns_when_rate_limits_would_count_per_worker(
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)

    assert run_cli("serve", "--workers", "3", REDIS_URL=redis_url) == 0

    warned = "up to 3 times each limit gets through" in capsys.readouterr().err
    assert warned == (not redis_url)
