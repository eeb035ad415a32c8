"""SQL of sessions: a login's row, its state as authentication reads it, rotation of
its refresh token and revocation."""

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, event, select, update
from sqlalchemy import bindparam as param

from app.identity.models import AuthSession
from app.identity.state_cache import StateCache
from app.platform.db.base import utcnow
from app.platform.db.database import DbSession, entities
from app.tenants.models import Tenant
from app.users.models import User


@dataclass(frozen=True, slots=True)
class SessionState:
    """What authenticating a token needs to know, read in one query."""

    revoked: bool
    user_active: bool
    tenant_active: bool
    role: str
    tenant_id: uuid.UUID | None
    refresh_jti: str


class Sessions:
    """Sessions, read through `cache` (app/identity/state_cache.py) when one is given;
    every revocation empties it."""

    def __init__(self, session: DbSession, cache: "StateCache[SessionState] | None") -> None:
        self._session = session
        self._cache = cache

    def add(self, auth_session: AuthSession) -> None:
        entities(self._session).add(auth_session)

    async def state(self, session_id: uuid.UUID, user_id: uuid.UUID) -> SessionState | None:
        cache = self._cache
        if cache is None:
            return await self._read_state(session_id, user_id)
        stamp = cache.stamp()
        cached = cache.get((session_id, user_id), stamp)
        if cached is not None:
            return cached
        state = await self._read_state(session_id, user_id)
        if state is not None and not state.revoked:
            cache.put((session_id, user_id), state, stamp)
        return state

    _STATE = (
        select(
            AuthSession.revoked_at,
            AuthSession.expires_at,
            AuthSession.refresh_jti,
            User.is_active,
            User.role,
            User.tenant_id,
            Tenant.is_active,
        )
        .join(User, User.id == AuthSession.user_id)
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
        .where(AuthSession.id == param("session_id"), AuthSession.user_id == param("user_id"))
    )

    async def _read_state(self, session_id: uuid.UUID, user_id: uuid.UUID) -> SessionState | None:
        values = {"session_id": session_id, "user_id": user_id}
        row = (await self._session.execute(self._STATE, values)).one_or_none()
        if row is None:
            return None
        revoked_at, expires_at, refresh_jti, user_active, role, tenant_id, tenant_active = row
        return SessionState(
            revoked=revoked_at is not None or expires_at <= utcnow(),
            user_active=user_active,
            tenant_active=tenant_active is not False,
            role=role,
            tenant_id=tenant_id,
            refresh_jti=refresh_jti,
        )

    async def rotate(self, session_id: uuid.UUID, old_jti: str, new_jti: str) -> bool:
        """Compare-and-set of the session's live refresh token; False if another won."""
        stmt = (
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.refresh_jti == old_jti,
                AuthSession.revoked_at.is_(None),
            )
            .values(refresh_jti=new_jti)
        )
        result = await self._session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def revoke_all_in_tenant(self, tenant_id: uuid.UUID) -> None:
        members = select(User.id).where(User.tenant_id == tenant_id).scalar_subquery()
        await self._revoke_where(AuthSession.user_id.in_(members))

    async def purge_expired(self) -> int:
        """Deletes sessions past their lifetime (revoked or not); their tokens are dead."""
        result = await self._session.execute(
            delete(AuthSession).where(AuthSession.expires_at < utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def revoke(self, session_id: uuid.UUID) -> None:
        await self._revoke_where(AuthSession.id == session_id)

    async def revoke_all_of(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
        condition = AuthSession.user_id == user_id
        if keep is not None:
            condition = condition & (AuthSession.id != keep)
        await self._revoke_where(condition)

    async def _revoke_where(self, condition: ColumnElement[bool]) -> None:
        cache = self._cache
        if cache is not None:  # now, and again once the revocation is committed
            cache.invalidate()
            sync_session = entities(self._session).sync_session
            if not event.contains(sync_session, "after_commit", cache.invalidate):
                event.listen(sync_session, "after_commit", cache.invalidate)
        stmt = (
            update(AuthSession)
            .where(condition, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        await self._session.execute(stmt)
