"""Signed tokens: the access and refresh tokens of a session, and the login guard's
device cookies (JWT, HMAC or an asymmetric key pair, as configured)."""

import functools
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import jwt
from cryptography.hazmat.primitives import serialization

from app.platform.config import Settings
from app.platform.errors import Unauthorized

TokenType = Literal["access", "refresh"]
# `tid` is null for a platform operator, so its presence is checked separately.
REQUIRED_CLAIMS = ("sub", "role", "type", "jti", "sid", "iat", "exp", "iss", "aud")
TOKEN_TYPES = frozenset({"access", "refresh"})
T = TypeVar("T")
# A device cookie's value (app/identity/login_guard.py): signed like the session tokens, told
# apart by its type, so that neither can stand in for the other.
DEVICE_TOKEN_TYPE = "device"  # noqa: S105 - a token type, not a secret
DEVICE_CLAIMS = ("sub", "did", "type", "iat", "exp", "iss", "aud")
# What reading a signed token's claims raises when one has a type or value the claim
# cannot take (a list for an id, an expiry past the calendar): the token is invalid.
MALFORMED_CLAIMS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError)
# Tokens whose signature and claims were verified, kept per process (see Tokens.decode).
VERIFIED_TOKENS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None
    role: str
    type: TokenType
    jti: str
    session_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceClaims:
    login: str  # the account's login name, normalised (app/identity/login_guard.py)
    device_id: str


def _signing_keys(settings: Settings) -> tuple[Any, Any]:
    """(key that signs, key that verifies) for the configured algorithm."""
    if settings.uses_hmac:
        return settings.jwt_secret, settings.jwt_secret
    assert settings.jwt_private_key_file is not None  # checked by Settings
    private = serialization.load_pem_private_key(
        settings.jwt_private_key_file.read_bytes(), password=None
    )
    if settings.jwt_public_key_file is not None:
        public = serialization.load_pem_public_key(settings.jwt_public_key_file.read_bytes())
    else:
        public = private.public_key()
    return private, public


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self._signing_key, self._verifying_key = _signing_keys(settings)
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._leeway_delta = timedelta(seconds=settings.jwt_leeway_seconds)
        self._verified = functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)(self._verify)
        self.access_ttl = timedelta(minutes=settings.access_token_expire_minutes)
        self.refresh_ttl = timedelta(days=settings.refresh_token_expire_days)
        self.device_ttl = timedelta(days=settings.device_cookie_days)

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        role: str,
        session_id: uuid.UUID,
        type: TokenType,
        jti: str | None = None,
        now: datetime | None = None,
    ) -> str:
        issued = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "tid": str(tenant_id) if tenant_id else None,
            "role": role,
            "type": type,
            "jti": jti or new_jti(),
            "sid": str(session_id),
            "iat": issued,
            "exp": issued + (self.access_ttl if type == "access" else self.refresh_ttl),
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._signing_key, algorithm=self._algorithm)

    def decode(self, token: str, *, expected_type: TokenType) -> TokenClaims:
        """The token's claims, if its signature, issuer, audience and type are right and
        it has not expired.

        Checking the signature and claims is the costliest step of an authenticated
        call, and what it proves about a given token string never changes, so the last
        `VERIFIED_TOKENS_KEPT` verified tokens are remembered (a token that fails is
        not). Expiry is time, so it is checked on every call. Revocation is not a
        property of the token: the caller checks the session (TokenService).
        """
        claims = self._verified(token)
        if claims.type != expected_type:
            article = "An" if claims.type == "access" else "A"
            raise Unauthorized(f"{article} {claims.type} token cannot be used here")
        if datetime.now(UTC) >= claims.expires_at + self._leeway_delta:
            raise Unauthorized("The token has expired")
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            claims = self._checked_claims(token, REQUIRED_CLAIMS)
            if "tid" not in claims:
                raise jwt.MissingRequiredClaimError("tid")
            if claims["type"] not in TOKEN_TYPES:
                raise jwt.InvalidTokenError("unknown token type")
            tenant = claims["tid"]
            return TokenClaims(
                user_id=uuid.UUID(claims["sub"]),
                tenant_id=uuid.UUID(tenant) if tenant else None,
                role=str(claims["role"]),
                type=claims["type"],
                jti=str(claims["jti"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired") from exc
        except (jwt.InvalidTokenError, *MALFORMED_CLAIMS) as exc:
            raise Unauthorized("The token is invalid") from exc

    def _checked_claims(self, token: str, required: tuple[str, ...]) -> dict[str, Any]:
        # One algorithm, from settings: `alg` of the token never chooses the check,
        # and `jku`, `x5u`, `jwk` and `kid` headers are not read at all.
        claims: dict[str, Any] = jwt.decode(
            token,
            self._verifying_key,
            algorithms=[self._algorithm],
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": list(required)},
        )
        return claims

    def issue_device(self, *, login: str, device_id: str, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": login,
            "did": device_id,
            "type": DEVICE_TOKEN_TYPE,
            "iat": issued,
            "exp": issued + self.device_ttl,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._signing_key, algorithm=self._algorithm)

    def decode_device(self, token: str) -> DeviceClaims | None:
        """A device token's claims; None for anything else (forged, expired, another
        type of token, not a token at all): a device cookie only ever adds trust."""
        try:
            claims = self._checked_claims(token, DEVICE_CLAIMS)
        except (jwt.InvalidTokenError, *MALFORMED_CLAIMS):
            return None
        login, device_id = claims["sub"], claims["did"]
        if claims["type"] != DEVICE_TOKEN_TYPE or not isinstance(device_id, str):
            return None
        return DeviceClaims(login=str(login), device_id=device_id)


def new_jti() -> str:
    return secrets.token_urlsafe(24)
