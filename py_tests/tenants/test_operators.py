"""The platform operator, made by the service's CLI run in-process
(`create-platform-operator` against the test's own database; the app under `client`
then serves the operator): what it may be created with, and what it sees of every
tenant (`/api/v1/admin/tenants`, `/api/v1/admin/stats`)."""

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from py_tests.fixtures.clients import MakeTenant
from py_tests.fixtures.operators import RunCli, create_operator
from py_tests.support.accounts import login
from py_tests.support.factories import strong_password, unique_username
from py_tests.support.routes import STATS, TENANTS, USERS
from py_tests.support.spellings import fullwidth

pytestmark = pytest.mark.integration


def fresh_email() -> str:
    return f"{unique_username()}@operators.example.com"


def new_identity() -> tuple[str, str, str]:
    return unique_username(), fresh_email(), strong_password()


def operator_headers(client: httpx.Client, run_cli: RunCli) -> dict[str, str]:
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
    client: httpx.Client, run_cli: RunCli, password_for: Callable[[str], str]
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
    client: httpx.Client,
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


def test_operator_is_not_a_tenant_member(client: httpx.Client, run_cli: RunCli) -> None:
    response = client.get(USERS, headers=operator_headers(client, run_cli))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 403


def test_created_operator_logs_in_without_a_tenant(
    client: httpx.Client, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
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
    client: httpx.Client, run_cli: RunCli, make_tenant: MakeTenant
) -> None:
    tenants = [make_tenant(), make_tenant()]
    response = client.get(TENANTS, headers=operator_headers(client, run_cli))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    assert {t["id"] for t in body["tenants"]} == {t.id for t in tenants}
    assert {t["name"] for t in body["tenants"]} == {t.name for t in tenants}
    assert all(set(t) == {"id", "name", "created_at", "is_active"} for t in body["tenants"])
    # The control: a tenant admin on the same endpoint sees its own tenant only.
    own = tenants[0].admin.api.get(TENANTS).json()
    assert [t["id"] for t in own["tenants"]] == [tenants[0].id]


def test_operator_stats_span_every_tenant(
    client: httpx.Client, run_cli: RunCli, make_tenant: MakeTenant
) -> None:
    first, _ = make_tenant(), make_tenant()
    response = client.get(STATS, headers=operator_headers(client, run_cli))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "total_tenants": 2,
        "total_users": 2,  # the two admins; the operator belongs to no tenant
        "total_files": 0,
        "total_storage_bytes": 0,
    }
    own = first.admin.api.get(STATS).json()
    assert (own["total_tenants"], own["total_users"]) == (1, 1)
