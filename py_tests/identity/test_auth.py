"""Registration, login (JSON and OAuth2 form), token claims, refresh rotation with reuse
detection, and logout."""

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from app.platform.config import Settings
from py_tests.fixtures.clients import ApiClient, Member, Tenant
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_problem, assert_unauthorized
from py_tests.support.factories import RegistrationFactory
from py_tests.support.routes import LOGIN, LOGOUT, REFRESH, REGISTER, USERS
from py_tests.support.tokens import MISSING, bearer, claims_of, refresh, without_missing

pytestmark = pytest.mark.auth


# --- registration -------------------------------------------------------------------

INVALID_REGISTRATIONS = [
    pytest.param({"tenant_name": "ab"}, "tenant_name", id="tenant-name-too-short"),
    pytest.param({"tenant_name": "  ab  "}, "tenant_name", id="tenant-name-short-once-stripped"),
    pytest.param({"tenant_name": "x" * 51}, "tenant_name", id="tenant-name-too-long"),
    pytest.param({"admin_username": "ab"}, "admin_username", id="username-too-short"),
    pytest.param({"admin_username": "has space"}, "admin_username", id="username-with-space"),
    pytest.param({"admin_email": "not-an-email"}, "admin_email", id="email-without-at"),
    pytest.param({"admin_password": "Sh0rt!x"}, "admin_password", id="password-of-7-chars"),
    pytest.param({"admin_email": MISSING}, "admin_email", id="email-missing"),
    pytest.param({"admin_password": MISSING}, "admin_password", id="password-missing"),
    pytest.param(
        dict.fromkeys(("tenant_name", "admin_email", "admin_username", "admin_password"), MISSING),
        "tenant_name",
        id="empty-object",
    ),
    pytest.param({"is_admin": True}, "is_admin", id="unknown-extra-field"),
    pytest.param({"tenant_id": str(uuid.uuid4())}, "tenant_id", id="client-chosen-tenant-id"),
    pytest.param({"tenant_name": 12345}, "tenant_name", id="tenant-name-is-a-number"),
    pytest.param({"admin_username": ["alice"]}, "admin_username", id="username-is-a-list"),
    pytest.param({"admin_password": None}, "admin_password", id="password-is-null"),
]


@pytest.mark.parametrize(("overrides", "field"), INVALID_REGISTRATIONS)
def test_register_rejects_invalid_input(
    anonymous: ApiClient, overrides: dict[str, Any], field: str
) -> None:
    payload = without_missing({**RegistrationFactory.build(), **overrides})
    response = anonymous.post(REGISTER, json=payload)
    body = assert_problem(response, 422)
    assert field in {error["loc"][-1] for error in body["errors"]}
    assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])
    if isinstance(payload.get("admin_password"), str):
        assert payload["admin_password"] not in response.text


@pytest.mark.security
@pytest.mark.parametrize(
    "password_of",
    [
        pytest.param(lambda p: p["admin_username"], id="password-is-username"),
        pytest.param(lambda p: p["admin_username"].upper(), id="password-is-username-uppercased"),
        pytest.param(lambda p: p["admin_email"], id="password-is-email"),
    ],
)
def test_register_rejects_password_equal_to_identity(
    anonymous: ApiClient, password_of: Callable[[dict[str, Any]], str]
) -> None:
    payload = RegistrationFactory.build()
    payload["admin_password"] = password_of(payload)
    body = assert_problem(anonymous.post(REGISTER, json=payload), 422)
    assert body["errors"][0]["loc"][-1] in {"password", "admin_password"}


@pytest.mark.parametrize(
    ("field", "taken"),
    [
        pytest.param("tenant_name", lambda t: t.name.swapcase(), id="tenant-name-other-case"),
        pytest.param("admin_username", lambda t: t.admin.username, id="username-taken"),
        pytest.param("admin_username", lambda t: t.admin.username.upper(), id="username-upper"),
        pytest.param("admin_email", lambda t: t.admin.email.upper(), id="email-other-case"),
        pytest.param("admin_email", lambda t: t.make_user().email, id="email-of-member-elsewhere"),
    ],
)
def test_register_conflicts_with_taken_identity(
    anonymous: ApiClient, tenant_a: Tenant, field: str, taken: Callable[[Tenant], str]
) -> None:
    payload = RegistrationFactory.build(**{field: taken(tenant_a)})
    body = assert_problem(anonymous.post(REGISTER, json=payload), 409)
    assert field in body["detail"]


def test_register_creates_tenant_and_its_admin(client: httpx.Client, anonymous: ApiClient) -> None:
    payload = RegistrationFactory.build()
    response = anonymous.post(REGISTER, json=payload)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"tenant_id", "admin_user_id", "message"}
    assert body["message"] == "Tenant registered successfully"  # clients compare it
    assert payload["admin_password"] not in response.text
    logged_in = login(client, payload["admin_username"], payload["admin_password"])
    assert logged_in.status_code == 200, logged_in.text
    claims = claims_of(logged_in.json()["access_token"])
    assert (claims["sub"], claims["tid"], claims["role"]) == (
        str(uuid.UUID(body["admin_user_id"])),
        str(uuid.UUID(body["tenant_id"])),
        "admin",
    )


# --- login --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"json": {"username": "someone"}}, id="json-without-password"),
        pytest.param({"json": {"password": "Passw0rd!long"}}, id="json-without-username"),
        pytest.param({"json": {}}, id="json-empty-object"),
        pytest.param({"json": {"username": "a", "password": "b", "x": 1}}, id="json-extra-field"),
        pytest.param({"json": {"username": 1, "password": "b"}}, id="json-number-username"),
        pytest.param(
            {"content": b'{"username": "a",', "headers": {"content-type": "application/json"}},
            id="invalid-json",
        ),
        pytest.param({"data": {"username": "someone"}}, id="form-without-password"),
    ],
)
def test_login_rejects_malformed_body(anonymous: ApiClient, request_kwargs: dict[str, Any]) -> None:
    body = assert_problem(anonymous.post(LOGIN, **request_kwargs), 422)
    assert body["errors"]


@pytest.mark.security
def test_login_unknown_user_and_wrong_password_answer_identically(
    anonymous: ApiClient, tenant_a: Tenant
) -> None:
    unknown = login(anonymous, f"ghost-{uuid.uuid4().hex}", "Wr0ng-pass!")
    wrong = login(anonymous, tenant_a.admin.username, "Wr0ng-pass!")
    assert assert_unauthorized(unknown) == assert_unauthorized(wrong)
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_login_of_deactivated_user_is_forbidden(
    client: httpx.Client, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    deleted = tenant_a.admin.api.delete(f"{USERS}/{tenant_a_member.id}")
    assert deleted.status_code == 204, deleted.text
    assert_problem(login(client, tenant_a_member.username, tenant_a_member.password), 403)
    # Without the right password nothing tells that the account exists but is deactivated.
    wrong = login(client, tenant_a_member.username, "Wr0ng-pass!")
    assert_unauthorized(wrong)


@pytest.mark.parametrize(
    "as_form",
    [pytest.param(False, id="json-body"), pytest.param(True, id="oauth2-password-form")],
)
def test_login_returns_bearer_token_pair(
    anonymous: ApiClient, tenant_a: Tenant, as_form: bool
) -> None:
    credentials = {"username": tenant_a.admin.username, "password": tenant_a.admin.password}
    if as_form:
        response = anonymous.post(LOGIN, data={**credentials, "grant_type": "password"})
    else:
        response = login(anonymous, tenant_a.admin.username, tenant_a.admin.password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert anonymous.get(USERS, headers=bearer(body["access_token"])).status_code == 200


@pytest.mark.security
def test_tokens_carry_the_contract_claims(tenant_a: Tenant, settings: Settings) -> None:
    access = claims_of(tenant_a.admin.tokens["access_token"])
    renewal = claims_of(tenant_a.admin.tokens["refresh_token"])
    for claims in (access, renewal):
        assert {"sub", "tid", "role", "type", "jti", "iat", "exp", "iss", "aud"} <= set(claims)
        assert claims["role"] == "admin"
        assert (claims["sub"], claims["tid"]) == (tenant_a.admin.id, tenant_a.id)
        assert (claims["iss"], claims["aud"]) == (settings.jwt_issuer, settings.jwt_audience)
    assert (access["type"], renewal["type"]) == ("access", "refresh")
    assert access["exp"] - access["iat"] == 30 * 60
    assert renewal["exp"] - renewal["iat"] == 7 * 24 * 3600
    assert access["jti"] != renewal["jti"]
    assert jwt.get_unverified_header(tenant_a.admin.tokens["access_token"])["alg"] == "HS256"


# --- refresh ------------------------------------------------------------------------


def test_refresh_rejects_missing_or_garbage_token(anonymous: ApiClient) -> None:
    assert_problem(anonymous.post(REFRESH, json={}), 422)
    assert_unauthorized(refresh(anonymous, "not-a-jwt"))


@pytest.mark.security
def test_refresh_rejects_access_token(anonymous: ApiClient, tenant_a: Tenant) -> None:
    body = assert_unauthorized(refresh(anonymous, tenant_a.admin.tokens["access_token"]))
    assert body["detail"] == "An access token cannot be used here"


@pytest.mark.security
def test_refresh_token_is_rejected_as_bearer(anonymous: ApiClient, tenant_a: Tenant) -> None:
    token = tenant_a.admin.tokens["refresh_token"]
    assert_unauthorized(anonymous.get(USERS, headers=bearer(token)))


def test_refresh_rotates_the_token_pair(anonymous: ApiClient, tenant_a: Tenant) -> None:
    old = tenant_a.admin.tokens
    response = refresh(anonymous, old["refresh_token"])
    assert response.status_code == 200, response.text
    new = response.json()
    assert (new["token_type"], new["expires_in"]) == ("bearer", 30 * 60)
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert claims_of(new["refresh_token"])["sid"] == claims_of(old["refresh_token"])["sid"]
    assert anonymous.get(USERS, headers=bearer(new["access_token"])).status_code == 200


@pytest.mark.security
def test_refresh_token_reuse_revokes_session(
    client: httpx.Client, anonymous: ApiClient, tenant_a: Tenant
) -> None:
    other_session = login(client, tenant_a.admin.username, tenant_a.admin.password).json()
    old = tenant_a.admin.tokens
    rotated = refresh(anonymous, old["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()

    assert_unauthorized(refresh(anonymous, old["refresh_token"]))

    assert_unauthorized(anonymous.get(USERS, headers=bearer(new["access_token"])))
    assert_unauthorized(refresh(anonymous, new["refresh_token"]))
    assert_unauthorized(tenant_a.admin.api.get(USERS))
    assert anonymous.get(USERS, headers=bearer(other_session["access_token"])).status_code == 200


# --- logout -------------------------------------------------------------------------


def test_logout_requires_a_bearer_token(anonymous: ApiClient) -> None:
    assert_unauthorized(anonymous.post(LOGOUT))


def test_logout_ends_only_that_session(
    client: httpx.Client, anonymous: ApiClient, tenant_a: Tenant
) -> None:
    other_session = login(client, tenant_a.admin.username, tenant_a.admin.password).json()
    response = tenant_a.admin.api.post(LOGOUT)
    assert response.status_code == 204
    assert response.content == b""

    assert_unauthorized(tenant_a.admin.api.get(USERS))
    assert_unauthorized(refresh(anonymous, tenant_a.admin.tokens["refresh_token"]))
    assert anonymous.get(USERS, headers=bearer(other_session["access_token"])).status_code == 200
    assert refresh(anonymous, other_session["refresh_token"]).status_code == 200


def test_logout_with_another_session_refresh_token_ends_both(
    client: httpx.Client, anonymous: ApiClient, tenant_a: Tenant
) -> None:
    other = login(client, tenant_a.admin.username, tenant_a.admin.password).json()
    body = {"refresh_token": other["refresh_token"]}
    assert tenant_a.admin.api.post(LOGOUT, json=body).status_code == 204
    assert_unauthorized(tenant_a.admin.api.get(USERS))
    assert_unauthorized(anonymous.get(USERS, headers=bearer(other["access_token"])))
    assert_unauthorized(refresh(anonymous, other["refresh_token"]))


BAD_LOGOUT_BODIES: list[Any] = [
    pytest.param(lambda _: {"refresh_token": "garbage"}, 204, id="garbage-token"),
    pytest.param(lambda own: {"refresh_token": own["access_token"]}, 204, id="access-token"),
    pytest.param(lambda _: {"refresh_token": "x", "extra": 1}, 422, id="unknown-field"),
    pytest.param(lambda _: [1, 2], 422, id="not-an-object"),
    pytest.param(lambda _: {"refresh_token": "x" * 2_000_000}, 413, id="too-large"),
]


@pytest.mark.security
@pytest.mark.parametrize(("body", "status"), BAD_LOGOUT_BODIES)
def test_logout_with_a_bad_body_still_ends_the_session(
    anonymous: ApiClient,
    tenant_a: Tenant,
    body: Callable[[dict[str, Any]], Any],
    status: int,
) -> None:
    tokens = tenant_a.admin.tokens
    response = tenant_a.admin.api.post(LOGOUT, json=body(tokens))
    assert response.status_code == status, response.text
    assert_unauthorized(tenant_a.admin.api.get(USERS))
    assert_unauthorized(refresh(anonymous, tokens["refresh_token"]))


def test_logout_with_another_users_refresh_token_ends_only_the_callers(
    anonymous: ApiClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    foreign = {"refresh_token": tenant_b.admin.tokens["refresh_token"]}
    assert tenant_a.admin.api.post(LOGOUT, json=foreign).status_code == 204
    assert_unauthorized(tenant_a.admin.api.get(USERS))
    assert tenant_b.admin.api.get(USERS).status_code == 200
    assert refresh(anonymous, tenant_b.admin.tokens["refresh_token"]).status_code == 200


# --- timing -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.security
@pytest.mark.settings(
    rate_limit_per_minute=1000, password_hash_time_cost=2, password_hash_memory_kib=19_456
)
def test_unknown_user_and_wrong_password_take_the_same_time(
    client: httpx.Client, tenant_a: Tenant
) -> None:
    """With the production hash parameters, the two failures differ by less than the
    noise: an unknown user is verified against a dummy hash, not answered early."""
    members = [tenant_a.make_user() for _ in range(5)]

    def timed(username: str) -> float:
        started = time.perf_counter()
        response = login(client, username, "nope-x1")
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    wrong, unknown = [], []
    for round_ in range(4):  # four failures per account stay under the lockout
        for member in members:
            wrong.append(timed(member.username))
            unknown.append(timed(f"ghost_{round_}_{uuid.uuid4().hex[:8]}"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(
        f"median unknown {statistics.median(unknown) * 1000:.1f} ms, "
        f"wrong password {statistics.median(wrong) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 0.75 <= ratio <= 1.33
