"""User management in one tenant: create, read, partial update, soft delete, list.

Sections follow the suite's order: anonymous 401, other tenant 404, wrong role 403,
invalid input 422, then the valid cases per operation.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from py_tests.fixtures.clients import ApiClient, MakeTenant, Member, Tenant
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_invalid, assert_problem
from py_tests.support.factories import UserPayloadFactory, strong_password, unique_username
from py_tests.support.routes import USERS

pytestmark = pytest.mark.users

USER_FIELDS = {"id", "tenant_id", "username", "email", "full_name", "role", "is_active"} | {
    "created_at",
    "updated_at",
}


def utc_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), f"{value} is not UTC with an offset"
    return parsed


# --- anonymous, other tenant, wrong role ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "on_user", "body"),
    [
        pytest.param("GET", False, None, id="list"),
        pytest.param("POST", False, UserPayloadFactory.build(), id="create"),
        pytest.param("GET", True, None, id="get"),
        pytest.param("PUT", True, {"full_name": "Anon"}, id="update"),
        pytest.param("DELETE", True, None, id="delete"),
    ],
)
def test_user_routes_without_token_are_unauthorized(
    anonymous: ApiClient, tenant_a_member: Member, method: str, on_user: bool, body: Any
) -> None:
    url = f"{USERS}/{tenant_a_member.id}" if on_user else USERS
    response = anonymous.request(method, url, json=body)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "body"),
    [
        pytest.param("GET", None, id="get"),
        pytest.param("PUT", {"full_name": "Taken Over", "is_active": False}, id="update"),
        pytest.param("DELETE", None, id="delete"),
    ],
)
def test_user_of_other_tenant_is_not_found(
    tenant_a_admin: ApiClient, tenant_b: Tenant, method: str, body: Any
) -> None:
    url = f"{USERS}/{tenant_b.make_user().id}"
    before = tenant_b.admin.api.get(url).json()
    assert_problem(tenant_a_admin.request(method, url, json=body), 404)
    assert tenant_b.admin.api.get(url).json() == before


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        pytest.param("POST", None, UserPayloadFactory.build(), id="create-user"),
        pytest.param("PUT", "self", {"role": "admin"}, id="own-role"),
        pytest.param("PUT", "self", {"is_active": False}, id="own-is-active"),
        pytest.param("PUT", "admin", {"full_name": "Someone Else"}, id="other-users-profile"),
        pytest.param("DELETE", "admin", None, id="delete-user"),
    ],
)
def test_member_may_not_manage_users(
    tenant_a: Tenant, tenant_a_member: Member, method: str, target: str | None, body: Any
) -> None:
    ids = {None: "", "self": f"/{tenant_a_member.id}", "admin": f"/{tenant_a.admin.id}"}
    assert_problem(tenant_a_member.api.request(method, USERS + ids[target], json=body), 403)
    page = tenant_a.admin.api.get(USERS).json()
    assert page["total_count"] == 2
    assert {(u["role"], u["is_active"]) for u in page["data"]} == {("admin", True), ("user", True)}
    assert "Someone Else" not in {u["full_name"] for u in page["data"]}


# --- invalid input --------------------------------------------------------------------

TOO_LONG_PASSWORD = "Aa1!" * 32 + "x"
CREATE_INVALID = [
    pytest.param({"username": "ab"}, "username", id="username-too-short"),
    pytest.param({"username": "a" * 51}, "username", id="username-too-long"),
    pytest.param({"email": "not-an-email"}, "email", id="email-malformed"),
    pytest.param({"nickname": "bobby"}, "nickname", id="unknown-field"),
    pytest.param({"id": str(uuid.uuid4())}, "id", id="id-in-body"),
    pytest.param({"tenant_id": str(uuid.uuid4())}, "tenant_id", id="tenant-id-in-body"),
    pytest.param({"created_at": "2020-01-01T00:00:00Z"}, "created_at", id="created-at-in-body"),
    pytest.param({"role": "superuser"}, "role", id="role-superuser"),
    pytest.param({"password": "Sh0rt!x"}, "password", id="password-too-short"),
    pytest.param({"password": TOO_LONG_PASSWORD}, "password", id="password-over-128"),
    pytest.param({"full_name": 42}, "full_name", id="full-name-number"),
]


@pytest.mark.parametrize(("override", "field"), CREATE_INVALID)
def test_create_user_rejects_invalid_body(
    tenant_a_admin: ApiClient, override: dict[str, Any], field: str
) -> None:
    response = tenant_a_admin.post(USERS, json={**UserPayloadFactory.build(), **override})
    assert_invalid(response, field)
    assert str(override.get("password", "-no-password-")) not in response.text
    assert tenant_a_admin.get(USERS).json()["total_count"] == 1


UPDATE_INVALID = [
    pytest.param({"full_name": 42}, "full_name", id="full-name-number"),
    pytest.param({"is_active": "true"}, "is_active", id="is-active-string"),
    pytest.param({"role": "superuser"}, "role", id="role-superuser"),
    pytest.param({"email": "nope"}, "email", id="email-malformed"),
    pytest.param({"email": None}, "email", id="email-null"),
    pytest.param({"username": unique_username()}, "username", id="username-not-editable"),
    pytest.param({"tenant_id": str(uuid.uuid4())}, "tenant_id", id="tenant-id-in-body"),
    pytest.param({"password": "Sh0rt!x"}, "password", id="password-too-short"),
    pytest.param({"password": TOO_LONG_PASSWORD}, "password", id="password-over-128"),
]


@pytest.mark.parametrize(("change", "field"), UPDATE_INVALID)
def test_update_user_rejects_invalid_body(
    tenant_a_admin: ApiClient, tenant_a_member: Member, change: dict[str, Any], field: str
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    before = tenant_a_admin.get(url).json()
    response = tenant_a_admin.put(url, json=change)
    assert_invalid(response, field)
    # One error at the field's own place: not one per member of an optional field's
    # union, named by the validator's internals.
    assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
    assert tenant_a_admin.get(url).json() == before


# --- create ---------------------------------------------------------------------------


def test_create_user_returns_user_with_defaults(tenant_a: Tenant) -> None:
    payload = UserPayloadFactory.build()
    del payload["role"]
    response = tenant_a.admin.api.post(USERS, json={**payload, "password": strong_password()})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["tenant_id"] == tenant_a.id
    assert {k: body[k] for k in payload} == payload
    assert (body["role"], body["is_active"]) == ("user", True)
    assert utc_time(body["created_at"]) <= utc_time(body["updated_at"])
    assert "password" not in response.text


@pytest.mark.parametrize(
    ("with_password", "status"),
    [pytest.param(True, 200, id="with-password"), pytest.param(False, 401, id="without-password")],
)
def test_created_user_can_log_in_only_with_a_password(
    client: httpx.Client, tenant_a_admin: ApiClient, with_password: bool, status: int
) -> None:
    password = strong_password()
    payload = UserPayloadFactory.build(**({"password": password} if with_password else {}))
    assert tenant_a_admin.post(USERS, json=payload).status_code == 201
    response = login(client, payload["username"], password)
    assert response.status_code == status, response.text
    assert ("access_token" in response.json()) is with_password


@pytest.mark.parametrize("same_tenant", [True, False], ids=["same-tenant", "other-tenant"])
@pytest.mark.parametrize(
    ("field", "transform"),
    [
        pytest.param("username", str, id="username"),
        pytest.param("username", str.upper, id="username-other-case"),
        pytest.param("email", str, id="email"),
        pytest.param("email", str.upper, id="email-other-case"),
    ],
)
def test_create_user_with_taken_identity_conflicts(
    tenant_a: Tenant,
    make_tenant: MakeTenant,
    same_tenant: bool,
    field: str,
    transform: Callable[[str], str],
) -> None:
    existing = (tenant_a if same_tenant else make_tenant()).make_user()
    payload = UserPayloadFactory.build(**{field: transform(getattr(existing, field))})
    body = assert_problem(tenant_a.admin.api.post(USERS, json=payload), 409)
    assert body["conflicts"] == [{"index": 0, "field": field, "reason": "exists"}]
    assert tenant_a.admin.api.get(USERS).json()["total_count"] == (2 if same_tenant else 1)


# --- read -----------------------------------------------------------------------------


def test_member_reads_a_colleague(tenant_a: Tenant, tenant_a_user: ApiClient) -> None:
    response = tenant_a_user.get(f"{USERS}/{tenant_a.admin.id}")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["role"]) == (tenant_a.admin.id, "admin")


def test_malformed_and_unknown_ids_answer_the_same_404(tenant_a_admin: ApiClient) -> None:
    unknown = tenant_a_admin.get(f"{USERS}/{uuid.uuid4()}")
    malformed = tenant_a_admin.get(f"{USERS}/not-a-uuid")
    assert assert_problem(unknown, 404) == assert_problem(malformed, 404)


def test_get_user_includes_deactivated_users(
    tenant_a_admin: ApiClient, tenant_a_member: Member
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    assert tenant_a_admin.delete(url).status_code == 204
    response = tenant_a_admin.get(url)
    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["is_active"]) == (tenant_a_member.username, False)


# --- update ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"full_name": "Renamed Person"}, id="full-name"),
        pytest.param({"email": f"{unique_username()}@example.org"}, id="email"),
        pytest.param({"role": "admin"}, id="role"),
        pytest.param({"is_active": False}, id="is-active"),
    ],
)
def test_admin_updates_one_field_and_keeps_the_rest(
    tenant_a_admin: ApiClient, tenant_a_member: Member, change: dict[str, Any]
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    before = tenant_a_admin.get(url).json()
    response = tenant_a_admin.put(url, json=change)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after == {**before, **change, "updated_at": after["updated_at"]}
    assert utc_time(after["updated_at"]) > utc_time(before["updated_at"])
    assert tenant_a_admin.get(url).json() == after


def test_member_updates_own_profile_and_password(
    client: httpx.Client, tenant_a_member: Member
) -> None:
    password = strong_password()
    change = {"full_name": "Self Made", "email": f"{unique_username()}@example.org"}
    url = f"{USERS}/{tenant_a_member.id}"
    body = {**change, "password": password, "current_password": tenant_a_member.password}
    response = tenant_a_member.api.put(url, json=body)
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in change} == change
    assert tenant_a_member.api.get(url).status_code == 200  # its own session survives
    assert login(client, tenant_a_member.username, password).status_code == 200
    assert_problem(login(client, tenant_a_member.username, tenant_a_member.password), 401)


@pytest.mark.security
@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"password": "A-new-passphrase-42"}, id="password"),
        pytest.param({"email": "moved@example.org"}, id="email"),
    ],
)
@pytest.mark.parametrize("role", ["user", "admin"])
def test_own_credentials_change_needs_current_password(
    client: httpx.Client, tenant_a: Tenant, role: str, change: dict[str, str]
) -> None:
    """A stolen access token alone cannot take the account over: without the current
    password 422, with a wrong one 403, and nothing changes either way."""
    member = tenant_a.make_user(role=role)
    url = f"{USERS}/{member.id}"
    change = {k: f"{unique_username()}-{v}" if k == "email" else v for k, v in change.items()}
    assert_invalid(member.api.put(url, json=change), "current_password")
    wrong = {**change, "current_password": member.password + "-not"}
    assert_problem(member.api.put(url, json=wrong), 403)
    assert member.api.get(url).json()["email"] == member.email
    assert login(client, member.username, member.password).status_code == 200
    right = {**change, "current_password": member.password}
    assert member.api.put(url, json=right).status_code == 200


def test_own_name_change_needs_no_current_password(tenant_a_member: Member) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    unchanged_email = {"full_name": "Renamed Member", "email": tenant_a_member.email}
    response = tenant_a_member.api.put(url, json=unchanged_email)
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Renamed Member"


def test_admin_resets_member_password_without_current_and_ends_its_sessions(
    client: httpx.Client, tenant_a_admin: ApiClient, tenant_a_member: Member
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    password = strong_password()
    assert tenant_a_admin.put(url, json={"password": password}).status_code == 200
    assert_problem(tenant_a_member.api.get(url), 401)
    assert login(client, tenant_a_member.username, password).status_code == 200


def test_update_to_email_taken_in_any_case_conflicts(
    tenant_a_admin: ApiClient, tenant_b: Tenant, tenant_a_member: Member
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    assert_problem(tenant_a_admin.put(url, json={"email": tenant_b.admin.email.upper()}), 409)
    assert tenant_a_admin.get(url).json()["email"] == tenant_a_member.email


@pytest.mark.parametrize(
    ("method", "body"),
    [
        pytest.param("PUT", {"role": "user"}, id="demote"),
        pytest.param("PUT", {"is_active": False}, id="deactivate"),
        pytest.param("DELETE", None, id="delete"),
    ],
)
def test_last_active_admin_cannot_be_demoted_deactivated_or_deleted(
    tenant_a: Tenant, method: str, body: dict[str, Any] | None
) -> None:
    url = f"{USERS}/{tenant_a.admin.id}"
    assert_problem(tenant_a.admin.api.request(method, url, json=body), 409)
    admin = tenant_a.admin.api.get(url).json()
    assert (admin["role"], admin["is_active"]) == ("admin", True)


def test_admin_password_change_revokes_the_users_tokens(
    client: httpx.Client, tenant_a_admin: ApiClient, tenant_a_member: Member
) -> None:
    password = strong_password()
    url = f"{USERS}/{tenant_a_member.id}"
    assert tenant_a_admin.put(url, json={"password": password}).status_code == 200
    assert_problem(tenant_a_member.api.get(url), 401)
    assert login(client, tenant_a_member.username, password).status_code == 200


# --- delete ---------------------------------------------------------------------------


def test_delete_is_soft_and_ends_login_and_tokens(
    client: httpx.Client, tenant_a_admin: ApiClient, tenant_a_member: Member
) -> None:
    url = f"{USERS}/{tenant_a_member.id}"
    response = tenant_a_admin.delete(url)
    assert (response.status_code, response.content) == (204, b"")
    assert tenant_a_admin.get(url).json()["is_active"] is False
    assert_problem(login(client, tenant_a_member.username, tenant_a_member.password), 403)
    assert_problem(tenant_a_member.api.get(url), 401)


# --- list -----------------------------------------------------------------------------


def test_list_shows_own_tenant_in_stable_order(tenant_a: Tenant, tenant_b: Tenant) -> None:
    tenant_b.make_user()
    members = [tenant_a.make_user() for _ in range(3)]
    page = tenant_a.admin.api.get(USERS).json()
    assert [u["id"] for u in page["data"]] == [tenant_a.admin.id, *(m.id for m in members)]
    assert {u["tenant_id"] for u in page["data"]} == {tenant_a.id}
    assert page["total_count"] == 4
    keys = [(utc_time(u["created_at"]), u["id"]) for u in page["data"]]
    assert keys == sorted(keys)


def test_list_hides_deactivated_users_unless_active_only_false(
    tenant_a_admin: ApiClient, tenant_a_member: Member
) -> None:
    assert tenant_a_admin.delete(f"{USERS}/{tenant_a_member.id}").status_code == 204
    default = tenant_a_admin.get(USERS).json()
    active = tenant_a_admin.get(USERS, params={"active_only": "true"}).json()
    everyone = tenant_a_admin.get(USERS, params={"active_only": "false"}).json()
    assert tenant_a_member.id not in {u["id"] for u in default["data"]}
    assert default == active
    assert tenant_a_member.id in {u["id"] for u in everyone["data"]}
    assert (everyone["total_count"], active["total_count"]) == (2, 1)


@pytest.mark.security
@pytest.mark.settings(rate_limit_per_minute=1000)
def test_current_password_guesses_count_as_failed_logins(tenant_a_member: Member) -> None:
    """A stolen access token cannot guess the current password faster than a login
    could: ten wrong guesses (LOGIN_FAILURE_LIMIT) lock further checks, the right
    password included, with Retry-After."""
    url = f"{USERS}/{tenant_a_member.id}"
    change = {"password": strong_password()}
    for n in range(10):
        wrong = {**change, "current_password": f"not-it-{n}-{tenant_a_member.password}"}
        assert_problem(tenant_a_member.api.put(url, json=wrong), 403)
    right = {**change, "current_password": tenant_a_member.password}
    locked = tenant_a_member.api.put(url, json=right)
    assert_problem(locked, 429)
    assert int(locked.headers["Retry-After"]) > 60
