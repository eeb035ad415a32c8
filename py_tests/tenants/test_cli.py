"""The service's CLI run in-process: `create-platform-operator` against the test's own
database (the app under `client` then serves the operator), and `migrate` on a fresh
SQLite file."""

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from alembic.script import ScriptDirectory

from app.db.migrate import alembic_config
from py_tests.fixtures.clients import MakeTenant
from py_tests.fixtures.operators import RunCli, create_operator
from py_tests.http_types import HttpClient, HttpResponse
from py_tests.support.factories import strong_password, unique_username
from py_tests.support.spellings import fullwidth

pytestmark = pytest.mark.integration


def fresh_email() -> str:
    return f"{unique_username()}@operators.example.com"


def new_identity() -> tuple[str, str, str]:
    return unique_username(), fresh_email(), strong_password()


def login(client: HttpClient, username: str, password: str) -> HttpResponse:
    return client.post("/auth/login", json={"username": username, "password": password})


def operator_headers(client: HttpClient, run_cli: RunCli) -> dict[str, str]:
    username, email, password = new_identity()
    assert create_operator(run_cli, username, email, password) == 0
    response = login(client, username, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- create-platform-operator: refusals ---------------------------------------------


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")  # no terminal: the case
def test_create_operator_without_a_terminal_says_how_to_give_the_password(
    run_cli: RunCli,
) -> None:
    username, email, _ = new_identity()
    with pytest.raises(SystemExit) as exited:  # stdin is empty and no terminal is there
        run_cli("create-platform-operator", "--username", username, "--email", email)
    assert isinstance(exited.value.code, str)
    assert "--password-stdin" in exited.value.code


@pytest.mark.parametrize(
    "password_for",
    [
        pytest.param(lambda username: "Sh0rt!x", id="seven-chars"),
        pytest.param(lambda username: "", id="empty"),
        pytest.param(lambda username: "x" * 129, id="too-long"),
        pytest.param(lambda username: username, id="equal-to-username"),
    ],
)
def test_create_operator_refuses_weak_password(
    client: HttpClient, run_cli: RunCli, password_for: Callable[[str], str]
) -> None:
    username, email, _ = new_identity()
    password = password_for(username)
    with pytest.raises(SystemExit) as exited:
        create_operator(run_cli, username, email, password)
    assert isinstance(exited.value.code, str)  # a message, not a traceback or a bare code
    if password:
        assert password not in exited.value.code
    assert login(client, username, password or "irrelevant").status_code == 401


@pytest.mark.parametrize(
    "identity_of",
    [
        pytest.param(lambda t, op: (op[0], fresh_email()), id="username-of-an-operator"),
        pytest.param(lambda t, op: (op[0].upper(), fresh_email()), id="username-other-case"),
        pytest.param(lambda t, op: (t.admin.username, fresh_email()), id="username-of-an-admin"),
        pytest.param(lambda t, op: (unique_username(), op[1].upper()), id="email-of-an-operator"),
        pytest.param(lambda t, op: (unique_username(), t.admin.email), id="email-of-an-admin"),
        pytest.param(lambda t, op: (fullwidth(op[0]), fresh_email()), id="username-fullwidth"),
        pytest.param(
            lambda t, op: (unique_username(), fullwidth(t.admin.email)), id="email-fullwidth"
        ),
    ],
)
def test_create_operator_refuses_taken_identity(
    client: HttpClient,
    run_cli: RunCli,
    make_tenant: MakeTenant,
    identity_of: Callable[[Any, tuple[str, str]], tuple[str, str]],
) -> None:
    first = new_identity()
    assert create_operator(run_cli, *first) == 0
    username, email = identity_of(make_tenant(), first[:2])
    password = strong_password()
    with pytest.raises(SystemExit) as exited:
        create_operator(run_cli, username, email, password)
    assert "taken" in str(exited.value.code)
    assert login(client, username, password).status_code == 401


# --- create-platform-operator: the operator at work ---------------------------------


def test_operator_is_not_a_tenant_member(client: HttpClient, run_cli: RunCli) -> None:
    response = client.get("/api/v1/users", headers=operator_headers(client, run_cli))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 403


def test_created_operator_logs_in_without_a_tenant(
    client: HttpClient, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    username, email, password = new_identity()
    assert create_operator(run_cli, username, email, password) == 0
    assert username in capsys.readouterr().out
    response = login(client, username, password)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["role"] == "operator"
    assert claims["tid"] is None


def test_operator_sees_every_tenant(
    client: HttpClient, run_cli: RunCli, make_tenant: MakeTenant
) -> None:
    tenants = [make_tenant(), make_tenant()]
    response = client.get("/api/v1/admin/tenants", headers=operator_headers(client, run_cli))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    assert {t["id"] for t in body["tenants"]} == {t.id for t in tenants}
    assert {t["name"] for t in body["tenants"]} == {t.name for t in tenants}
    assert all(set(t) == {"id", "name", "created_at", "is_active"} for t in body["tenants"])
    # The control: a tenant admin on the same endpoint sees its own tenant only.
    own = tenants[0].admin.api.get("/api/v1/admin/tenants").json()
    assert [t["id"] for t in own["tenants"]] == [tenants[0].id]


def test_operator_stats_span_every_tenant(
    client: HttpClient, run_cli: RunCli, make_tenant: MakeTenant
) -> None:
    first, _ = make_tenant(), make_tenant()
    response = client.get("/api/v1/admin/stats", headers=operator_headers(client, run_cli))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "total_tenants": 2,
        "total_users": 2,  # the two admins; the operator belongs to no tenant
        "total_files": 0,
        "total_storage_bytes": 0,
    }
    own = first.admin.api.get("/api/v1/admin/stats").json()
    assert (own["total_tenants"], own["total_users"]) == (1, 1)


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
