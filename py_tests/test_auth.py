"""Registration, login (JSON and OAuth2 form), token claims, refresh rotation with reuse
detection, logout, and the matrix of bearer tokens that must answer 401."""

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from py_tests.factories import RegistrationFactory
from py_tests.fixtures.clients import ApiClient, Member, Tenant

pytestmark = pytest.mark.auth

USERS = "/api/v1/users"
MISSING: Any = object()  # an override that removes the field from the payload
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    return body


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, member: Member) -> httpx.Response:
    credentials = {"username": member.username, "password": member.password}
    return client.post("/auth/login", json=credentials)


def refresh(api: ApiClient, refresh_token: str) -> httpx.Response:
    return api.post("/auth/refresh", json={"refresh_token": refresh_token})


def without_missing(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if value is not MISSING}


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
    payload = without_missing({**RegistrationFactory(), **overrides})
    response = anonymous.post("/auth/register", json=payload)
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
    payload = RegistrationFactory()
    payload["admin_password"] = password_of(payload)
    body = assert_problem(anonymous.post("/auth/register", json=payload), 422)
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
    payload = RegistrationFactory(**{field: taken(tenant_a)})
    body = assert_problem(anonymous.post("/auth/register", json=payload), 409)
    assert field in body["detail"]


def test_register_creates_tenant_and_its_admin(client: TestClient, anonymous: ApiClient) -> None:
    payload = RegistrationFactory()
    response = anonymous.post("/auth/register", json=payload)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"tenant_id", "admin_user_id", "message"}
    assert body["message"]
    assert payload["admin_password"] not in response.text
    logged_in = client.post(
        "/auth/login",
        json={"username": payload["admin_username"], "password": payload["admin_password"]},
    )
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
    body = assert_problem(anonymous.post("/auth/login", **request_kwargs), 422)
    assert body["errors"]


@pytest.mark.security
def test_login_unknown_user_and_wrong_password_answer_identically(
    anonymous: ApiClient, tenant_a: Tenant
) -> None:
    unknown = anonymous.post(
        "/auth/login", json={"username": f"ghost-{uuid.uuid4().hex}", "password": "Wr0ng-pass!"}
    )
    wrong = anonymous.post(
        "/auth/login", json={"username": tenant_a.admin.username, "password": "Wr0ng-pass!"}
    )
    assert assert_unauthorized(unknown) == assert_unauthorized(wrong)
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_login_of_deactivated_user_is_forbidden(
    client: TestClient, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    deleted = tenant_a.admin.api.delete(f"{USERS}/{tenant_a_member.id}")
    assert deleted.status_code == 204, deleted.text
    assert_problem(login(client, tenant_a_member), 403)
    # Without the right password nothing tells that the account exists but is deactivated.
    wrong = client.post(
        "/auth/login", json={"username": tenant_a_member.username, "password": "Wr0ng-pass!"}
    )
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
        response = anonymous.post("/auth/login", data={**credentials, "grant_type": "password"})
    else:
        response = anonymous.post("/auth/login", json=credentials)
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
    assert_problem(anonymous.post("/auth/refresh", json={}), 422)
    assert_unauthorized(refresh(anonymous, "not-a-jwt"))


@pytest.mark.security
def test_refresh_rejects_access_token(anonymous: ApiClient, tenant_a: Tenant) -> None:
    assert_unauthorized(refresh(anonymous, tenant_a.admin.tokens["access_token"]))


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
    client: TestClient, anonymous: ApiClient, tenant_a: Tenant
) -> None:
    other_session = login(client, tenant_a.admin).json()
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
    assert_unauthorized(anonymous.post("/auth/logout"))


def test_logout_ends_only_that_session(
    client: TestClient, anonymous: ApiClient, tenant_a: Tenant
) -> None:
    other_session = login(client, tenant_a.admin).json()
    response = tenant_a.admin.api.post("/auth/logout")
    assert response.status_code == 204
    assert response.content == b""

    assert_unauthorized(tenant_a.admin.api.get(USERS))
    assert_unauthorized(refresh(anonymous, tenant_a.admin.tokens["refresh_token"]))
    assert anonymous.get(USERS, headers=bearer(other_session["access_token"])).status_code == 200
    assert refresh(anonymous, other_session["refresh_token"]).status_code == 200


# --- bearer tokens that must not authenticate ---------------------------------------


Headers = Callable[[dict[str, Any], str], dict[str, str]]
CLAIMS = ("sub", "tid", "role", "type", "jti", "sid", "iat", "exp", "iss", "aud")
SAME_SECRET: Any = object()
HOUR = 3600


def sent(headers: dict[str, str]) -> Headers:
    return lambda claims, secret: headers


def signed(
    key: str | None = SAME_SECRET, algorithm: str = "HS256", scheme: str = "Bearer", **changes: Any
) -> Headers:
    """Re-signs the caller's real claims with `changes` applied (MISSING drops a claim)."""

    def headers(claims: dict[str, Any], secret: str) -> dict[str, str]:
        payload = without_missing({**claims, **changes})
        token = jwt.encode(payload, secret if key is SAME_SECRET else key, algorithm=algorithm)
        return {"Authorization": f"{scheme} {token}"}

    return headers


PAST = int(datetime.now(UTC).timestamp()) - HOUR
BASIC = "Basic " + base64.b64encode(b"user:Passw0rd!long").decode()
UNAUTHORIZED_HEADERS = [
    pytest.param(sent({}), id="no-header"),
    pytest.param(sent({"Authorization": "Bearer"}), id="bearer-without-token"),
    pytest.param(sent(bearer("garbage.not-a.jwt")), id="bearer-garbage"),
    pytest.param(sent({"Authorization": BASIC}), id="basic-scheme"),
    pytest.param(signed(scheme="Token"), id="valid-token-other-scheme"),
    pytest.param(signed(key=OTHER_SECRET), id="signed-with-another-secret"),
    pytest.param(signed(key=None, algorithm="none"), id="alg-none"),
    pytest.param(signed(algorithm="HS384"), id="algorithm-not-allow-listed"),
    pytest.param(signed(iat=PAST - HOUR, exp=PAST), id="expired"),
    pytest.param(signed(iss="someone-else"), id="wrong-issuer"),
    pytest.param(signed(aud="another-api"), id="wrong-audience"),
    pytest.param(signed(type="refresh"), id="refresh-type"),
    pytest.param(signed(sid=str(uuid.uuid4())), id="unknown-session"),
    pytest.param(signed(sub=str(uuid.uuid4())), id="other-subject"),
    *(pytest.param(signed(**{name: MISSING}), id=f"missing-{name}") for name in CLAIMS),
]


@pytest.mark.security
@pytest.mark.parametrize("headers_for", UNAUTHORIZED_HEADERS)
def test_users_rejects_unusable_bearer(
    anonymous: ApiClient, tenant_a: Tenant, settings: Settings, headers_for: Headers
) -> None:
    claims = claims_of(tenant_a.admin.tokens["access_token"])
    assert_unauthorized(anonymous.get(USERS, headers=headers_for(claims, settings.jwt_secret)))


@pytest.mark.security
def test_tokens_of_soft_deleted_user_stop_working(
    anonymous: ApiClient, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    assert tenant_a_member.api.get(USERS).status_code == 200
    assert tenant_a.admin.api.delete(f"{USERS}/{tenant_a_member.id}").status_code == 204
    assert_unauthorized(tenant_a_member.api.get(USERS))
    assert_unauthorized(refresh(anonymous, tenant_a_member.tokens["refresh_token"]))


@pytest.mark.security
def test_reforged_token_with_unchanged_claims_is_accepted(
    anonymous: ApiClient, tenant_a: Tenant, settings: Settings
) -> None:
    """The control for the matrix above: only the change it makes can explain its 401."""
    claims = claims_of(tenant_a.admin.tokens["access_token"])
    response = anonymous.get(USERS, headers=signed()(claims, settings.jwt_secret))
    assert response.status_code == 200, response.text
    assert response.json()["total_count"] == 1
