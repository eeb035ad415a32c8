"""Logins as sessions: issuing, rotating and revoking token pairs, and authenticating.

A login creates an `AuthSession`. Its refresh token is single-use: rotation is a
compare-and-set on the session's live refresh jti, so two concurrent refreshes of
one token give at most one new pair, and presenting a used token revokes the session
(reuse detection). Every authenticated call re-reads the session, the user and the
tenant, so logout, soft delete and deactivation take effect on the next call.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Passwords, Principal, TokenClaims, Tokens, TokenType, new_jti
from app.db.models import AuthSession, User
from app.db.repositories import Accounts, Sessions, SessionState, Tenants
from app.db.session import Database
from app.errors import Forbidden, Unauthorized
from app.schemas import TokenPair

INVALID_LOGIN = "Invalid username or password"


def principal_from(claims: TokenClaims, state: SessionState | None) -> Principal:
    """Who a verified access token speaks for, given its session's state."""
    if state is None or state.revoked:
        raise Unauthorized("The session has ended")
    if not (state.user_active and state.tenant_active):
        raise Unauthorized("The account is deactivated")
    return Principal(
        user_id=claims.user_id,
        tenant_id=state.tenant_id,
        role=state.role,
        session_id=claims.session_id,
    )


class TokenService:
    def __init__(
        self,
        session: AsyncSession,
        tokens: Tokens,
        passwords: Passwords,
    ) -> None:
        self._db = session
        self._tokens = tokens
        self._passwords = passwords
        self._sessions = Sessions(session)

    async def login(self, username: str, password: str) -> TokenPair:
        user = await Accounts(self._db).by_username(username)
        valid, new_hash = await self._passwords.verify(
            password, user.password_hash if user else None
        )
        if user is None or not valid:
            raise Unauthorized(INVALID_LOGIN)
        if not user.is_active:
            raise Forbidden("This account is deactivated")
        if not await self._tenant_active(user):
            raise Forbidden("This tenant is deactivated")
        if new_hash:
            user.password_hash = new_hash
        jti = new_jti()
        auth_session = AuthSession(
            id=uuid.uuid4(),
            user_id=user.id,
            refresh_jti=jti,
            expires_at=datetime.now(UTC) + self._tokens.refresh_ttl,
        )
        self._sessions.add(auth_session)
        await self._db.commit()
        return self._pair(user.id, user.tenant_id, user.role, auth_session.id, jti)

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self._tokens.decode(refresh_token, expected_type="refresh")
        state = await self._sessions.state(claims.session_id, claims.user_id)
        if state is None or state.revoked:
            raise Unauthorized("The session has ended")
        if not (state.user_active and state.tenant_active):
            raise Unauthorized("The account is deactivated")
        new = new_jti()
        if not await self._sessions.rotate(claims.session_id, claims.jti, new):
            # A used (or concurrently used) refresh token: assume it was stolen.
            await self._sessions.revoke(claims.session_id)
            await self._db.commit()
            raise Unauthorized("The refresh token was already used; the session is revoked")
        await self._db.commit()
        return self._pair(claims.user_id, state.tenant_id, state.role, claims.session_id, new)

    async def logout(self, principal: Principal, refresh_token: str | None) -> None:
        await self._sessions.revoke(principal.session_id)
        if refresh_token:
            claims = self._tokens.decode(refresh_token, expected_type="refresh")
            if claims.user_id == principal.user_id:
                await self._sessions.revoke(claims.session_id)
        await self._db.commit()

    async def authenticate(self, access_token: str) -> Principal:
        claims = self._tokens.decode(access_token, expected_type="access")
        return principal_from(claims, await self._sessions.state(claims.session_id, claims.user_id))

    async def _tenant_active(self, user: User) -> bool:
        if user.tenant_id is None:  # a platform operator
            return True
        tenant = await Tenants(self._db).get(user.tenant_id)
        return tenant is not None and tenant.is_active

    def _pair(
        self,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        role: str,
        session_id: uuid.UUID,
        refresh_jti: str,
    ) -> TokenPair:
        def issue(type: TokenType, jti: str | None = None) -> str:
            return self._tokens.issue(
                user_id=user_id,
                tenant_id=tenant_id,
                role=role,
                session_id=session_id,
                type=type,
                jti=jti,
            )

        return TokenPair(
            access_token=issue("access"),
            refresh_token=issue("refresh", refresh_jti),
            expires_in=int(self._tokens.access_ttl.total_seconds()),
        )


async def purge_expired_sessions(db: Database) -> int:
    async with db.session(write=True) as session:
        purged = await Sessions(session).purge_expired()
        await session.commit()
    return purged
