"""Logins as sessions: issuing, rotating and revoking token pairs, and authenticating.

A login creates an `AuthSession`. Its refresh token is single-use: rotation is a
compare-and-set on the session's live refresh jti, so two concurrent refreshes of
one token give at most one new pair, and presenting a used token revokes the session
(reuse detection). Every authenticated call re-reads the session, the user and the
tenant, so logout, soft delete and deactivation take effect on the next call.
"""

import uuid
from datetime import UTC, datetime

from app.identity.models import AuthSession
from app.identity.passwords import Passwords
from app.identity.repository import Sessions, SessionState
from app.identity.schemas import TokenPair
from app.identity.state_cache import StateCache
from app.identity.tokens import TokenClaims, Tokens, TokenType, new_jti
from app.platform.db.database import Database
from app.platform.errors import Forbidden, Unauthorized
from app.platform.permissions import Principal
from app.users.repository import Accounts

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
        db: Database,
        tokens: Tokens,
        passwords: Passwords,
        states: StateCache[SessionState] | None = None,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._passwords = passwords
        self._states = states

    async def login(self, username: str, password: str) -> TokenPair:
        async with self._db.session() as session:
            user = await Accounts(session).login_view(username)
        # The hash is verified outside any transaction: logins run side by side.
        valid, new_hash = await self._passwords.verify(
            password, user.password_hash if user else None
        )
        if user is None or not valid:
            raise Unauthorized(INVALID_LOGIN)
        if not user.is_active:
            raise Forbidden("This account is deactivated")
        if user.tenant_active is False:  # None: a platform operator, of no tenant
            raise Forbidden("This tenant is deactivated")
        jti = new_jti()
        auth_session = AuthSession(
            id=uuid.uuid4(),
            user_id=user.id,
            refresh_jti=jti,
            expires_at=datetime.now(UTC) + self._tokens.refresh_ttl,
        )
        async with self._db.transaction() as session:
            Sessions(session, self._states).add(auth_session)
            if new_hash:
                await Accounts(session).replace_hash(user.id, user.password_hash, new_hash)
        return self._pair(user.id, user.tenant_id, user.role, auth_session.id, jti)

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self._tokens.decode(refresh_token, expected_type="refresh")
        new = new_jti()
        async with self._db.transaction() as session:
            sessions = Sessions(session, self._states)
            state = await sessions.state(claims.session_id, claims.user_id)
            if state is None or state.revoked:
                raise Unauthorized("The session has ended")
            if not (state.user_active and state.tenant_active):
                raise Unauthorized("The account is deactivated")
            rotated = await sessions.rotate(claims.session_id, claims.jti, new)
            if not rotated:
                # A used (or concurrently used) refresh token: assume it was stolen.
                await sessions.revoke(claims.session_id)
        if not rotated:
            raise Unauthorized("The refresh token was already used; the session is revoked")
        return self._pair(claims.user_id, state.tenant_id, state.role, claims.session_id, new)

    async def logout(self, principal: Principal) -> None:
        """Ends the caller's session."""
        async with self._db.transaction() as session:
            await Sessions(session, self._states).revoke(principal.session_id)

    async def end_other_session(self, principal: Principal, refresh_token: str) -> None:
        """Ends the login of this refresh token when it is another login of the same
        user; any other token (malformed, expired, someone else's) changes nothing."""
        try:
            claims = self._tokens.decode(refresh_token, expected_type="refresh")
        except Unauthorized:
            return
        if claims.user_id == principal.user_id and claims.session_id != principal.session_id:
            async with self._db.transaction() as session:
                await Sessions(session, self._states).revoke(claims.session_id)

    async def authenticate(self, access_token: str) -> Principal:
        claims = self._tokens.decode(access_token, expected_type="access")
        async with self._db.session() as session:
            state = await Sessions(session, self._states).state(claims.session_id, claims.user_id)
        return principal_from(claims, state)

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

    async def purge_expired(self) -> int:
        """Deletes sessions past their lifetime; returns how many."""
        async with self._db.transaction() as session:
            return await Sessions(session, self._states).purge_expired()
