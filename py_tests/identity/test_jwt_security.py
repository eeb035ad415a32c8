"""Bearer tokens that must not authenticate: forged, expired, mis-typed, revoked.

Each case re-signs the caller's real claims with one change, and a control case shows
that re-signing without a change is accepted, so each 401 is explained by its change.
"""

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.main import create_app
from app.platform.config import Settings
from py_tests.fixtures.clients import ApiClient, MakeTenant, Member, Tenant, register_tenant
from py_tests.fixtures.inprocess import InProcessClient
from py_tests.support.assertions import assert_unauthorized
from py_tests.support.routes import USERS
from py_tests.support.tokens import MISSING, bearer, claims_of, refresh, without_missing

pytestmark = [pytest.mark.auth, pytest.mark.security]

OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


Headers = Callable[[dict[str, Any], str], dict[str, str]]
CLAIMS = ("sub", "tid", "role", "type", "jti", "sid", "iat", "exp", "iss", "aud")
SAME_SECRET: Any = object()
HOUR = 3600


def sent(headers: dict[str, str]) -> Headers:
    return lambda claims, secret: headers


def signed(
    key: str = SAME_SECRET, algorithm: str = "HS256", scheme: str = "Bearer", **changes: Any
) -> Headers:
    """Re-signs the caller's real claims with `changes` applied (MISSING drops a claim)."""

    def headers(claims: dict[str, Any], secret: str) -> dict[str, str]:
        payload = without_missing({**claims, **changes})
        token = jwt.encode(payload, secret if key is SAME_SECRET else key, algorithm=algorithm)
        return {"Authorization": f"{scheme} {token}"}

    return headers


def unsigned(alg: str) -> Headers:
    """The caller's claims under an `alg` of any spelling and no signature."""

    def headers(claims: dict[str, Any], secret: str) -> dict[str, str]:
        def part(value: dict[str, Any]) -> str:
            raw = json.dumps(value, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return bearer(f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}.")

    return headers


def attacker_signed(key: Any, algorithm: str, **jwt_headers: Any) -> Headers:
    """The caller's claims signed with the attacker's own key, maybe announced in headers."""

    def headers(claims: dict[str, Any], secret: str) -> dict[str, str]:
        return bearer(jwt.encode(claims, key, algorithm=algorithm, headers=jwt_headers or None))

    return headers


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_JWK = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
PAST = int(datetime.now(UTC).timestamp()) - HOUR
FUTURE = int(datetime.now(UTC).timestamp()) + HOUR
BASIC = "Basic " + base64.b64encode(b"user:Passw0rd!long").decode()
UNAUTHORIZED_HEADERS = [
    pytest.param(sent({}), id="no-header"),
    pytest.param(sent({"Authorization": "Bearer"}), id="bearer-without-token"),
    pytest.param(sent(bearer("garbage.not-a.jwt")), id="bearer-garbage"),
    pytest.param(sent({"Authorization": BASIC}), id="basic-scheme"),
    pytest.param(signed(scheme="Token"), id="valid-token-other-scheme"),
    pytest.param(signed(key=OTHER_SECRET), id="signed-with-another-secret"),
    pytest.param(signed(key="", algorithm="none"), id="alg-none"),
    *(pytest.param(unsigned(alg), id=f"alg-{alg}-unsigned") for alg in ("None", "NONE", "nOnE")),
    pytest.param(signed(algorithm="HS384"), id="other-hmac-size-hs384"),
    pytest.param(
        signed(algorithm="HS512"),
        id="other-hmac-size-hs512",
        marks=pytest.mark.filterwarnings("ignore:The HMAC key is"),
    ),
    pytest.param(attacker_signed(RSA_KEY, "RS256"), id="rs256-attacker-key"),
    pytest.param(attacker_signed(EC_KEY, "ES256"), id="es256-attacker-key"),
    pytest.param(attacker_signed(RSA_KEY, "RS256", jwk=RSA_JWK), id="embedded-jwk"),
    pytest.param(
        attacker_signed(OTHER_SECRET, "HS256", jku="http://127.0.0.1:9/keys.json"),
        id="jku-to-attacker-keys",
    ),
    pytest.param(
        attacker_signed(OTHER_SECRET, "HS256", x5u="http://127.0.0.1:9/cert.pem"),
        id="x5u-to-attacker-cert",
    ),
    pytest.param(signed(nbf=FUTURE), id="not-before-in-the-future"),
    pytest.param(signed(iat=PAST - HOUR, exp=PAST), id="expired"),
    pytest.param(signed(iss="someone-else"), id="wrong-issuer"),
    pytest.param(signed(aud="another-api"), id="wrong-audience"),
    pytest.param(signed(type="refresh"), id="refresh-type"),
    pytest.param(signed(sid=str(uuid.uuid4())), id="unknown-session"),
    pytest.param(signed(sub=str(uuid.uuid4())), id="other-subject"),
    *(pytest.param(signed(**{name: MISSING}), id=f"missing-{name}") for name in CLAIMS),
    # Signed with the right key, claims of types or values no token of ours holds.
    pytest.param(signed(exp=10**20), id="expiry-past-the-calendar"),
    pytest.param(signed(exp=1e300), id="expiry-float-overflow"),
    pytest.param(signed(sid=[1]), id="session-id-a-list"),
    pytest.param(signed(tid=5), id="tenant-id-a-number"),
    pytest.param(signed(sub={"id": 1}), id="subject-an-object"),
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


@pytest.mark.inprocess
def test_an_accepted_access_token_is_refused_once_it_expires(
    controlled_clock: time_machine.Traveller, make_tenant: MakeTenant, settings: Settings
) -> None:
    """Verified tokens are remembered per process (app/auth.py); expiry is still checked
    on every call, with the configured leeway and not a second more. The tenant is
    registered here, so that its token is issued on the controlled clock."""
    admin = make_tenant().admin.api
    assert admin.get(USERS).status_code == 200
    lifetime = settings.access_token_expire_minutes * 60 + settings.jwt_leeway_seconds
    controlled_clock.shift(lifetime - 1)
    assert admin.get(USERS).status_code == 200
    controlled_clock.shift(1)
    assert_unauthorized(admin.get(USERS))


def test_an_access_token_that_was_accepted_is_still_no_refresh_token(
    anonymous: ApiClient, tenant_a: Tenant
) -> None:
    access_token = tenant_a.admin.tokens["access_token"]
    assert anonymous.get(USERS, headers=bearer(access_token)).status_code == 200
    assert_unauthorized(refresh(anonymous, access_token))


@pytest.mark.security
def test_reforged_token_with_unchanged_claims_is_accepted(
    anonymous: ApiClient, tenant_a: Tenant, settings: Settings
) -> None:
    """The control for the matrix above: only the change it makes can explain its 401."""
    claims = claims_of(tenant_a.admin.tokens["access_token"])
    response = anonymous.get(USERS, headers=signed()(claims, settings.jwt_secret))
    assert response.status_code == 200, response.text
    assert response.json()["total_count"] == 1


@pytest.mark.parametrize(
    "odd_headers",
    [
        pytest.param({"kid": "../../../../etc/passwd"}, id="kid-path-traversal"),
        pytest.param({"kid": "' OR '1'='1"}, id="kid-sql"),
        pytest.param({"jku": "http://127.0.0.1:9/keys.json"}, id="jku"),
        pytest.param({"x5u": "http://127.0.0.1:9/cert.pem"}, id="x5u"),
    ],
)
def test_odd_key_headers_on_a_genuine_token_are_ignored(
    anonymous: ApiClient, tenant_a: Tenant, settings: Settings, odd_headers: dict[str, str]
) -> None:
    """The key is never chosen or fetched from the token: a genuine signature still
    verifies, and nothing the headers point at is used."""
    claims = claims_of(tenant_a.admin.tokens["access_token"])
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256", headers=odd_headers)
    assert anonymous.get(USERS, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "placement",
    [
        pytest.param({"params": "access_token"}, id="query-string"),
        pytest.param({"cookies": "access_token"}, id="cookie"),
        pytest.param({"headers": "X-Access-Token"}, id="other-header"),
    ],
)
def test_tokens_are_accepted_only_in_the_authorization_header(
    anonymous: ApiClient, tenant_a: Tenant, placement: dict[str, str]
) -> None:
    token = tenant_a.admin.tokens["access_token"]
    [(where, name)] = placement.items()
    if where == "cookies":
        response = anonymous.get(USERS, headers={"Cookie": f"{name}={token}"})
    else:
        response = anonymous.get(USERS, **{where: {name: token}})
    assert_unauthorized(response)


@pytest.fixture
def rs256_client(settings: Settings, tmp_path: Path) -> Iterator[InProcessClient]:
    """The same service configured for RS256 with a key file (the attacker's RSA_KEY
    above is a different key)."""
    key_file = tmp_path / "jwt-private.pem"
    key_file.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rs_settings = settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_private_key_file": key_file}
    )
    with InProcessClient(create_app(rs_settings)) as client:
        yield client


def hs256_with_key(claims: dict[str, Any], key: bytes) -> str:
    """HS256 over the claims with `key` as the HMAC secret, built by hand (PyJWT rightly
    refuses a PEM key as an HMAC secret)."""

    def part(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = part(json.dumps(claims).encode())
    signature = part(hmac.new(key, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + signature).decode()


def test_rs256_with_a_key_file_signs_and_refuses_key_confusion(
    rs256_client: InProcessClient, settings: Settings, tmp_path: Path
) -> None:
    tenant = register_tenant(rs256_client)
    token = tenant.admin.tokens["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert tenant.admin.api.get(USERS).status_code == 200

    public_pem = (
        load_pem_private_key((tmp_path / "jwt-private.pem").read_bytes(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = claims_of(token)
    confused = hs256_with_key(claims, public_pem)
    assert_unauthorized(rs256_client.get(USERS, headers=bearer(confused)))
    hmac_with_secret = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert_unauthorized(rs256_client.get(USERS, headers=bearer(hmac_with_secret)))
