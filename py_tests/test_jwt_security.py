"""Bearer tokens that must not authenticate: forged, expired, mis-typed, revoked.

Each case re-signs the caller's real claims with one change, and a control case shows
that re-signing without a change is accepted, so each 401 is explained by its change.
"""

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from app.config import Settings
from py_tests.assertions import assert_unauthorized
from py_tests.fixtures.clients import ApiClient, Member, Tenant
from py_tests.tokens import MISSING, bearer, claims_of, refresh, without_missing

pytestmark = [pytest.mark.auth, pytest.mark.security]

USERS = "/api/v1/users"
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


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
