"""SQL of the service. Tenant-owned rows are reachable only through `TenantScope`.

`TenantScope` is built from an authenticated principal's tenant id and every query it
offers starts from a statement already filtered by that tenant, so a missing tenant
filter cannot be written by accident. The unscoped repositories (`Tenants`,
`Accounts`, `Sessions`) serve registration, authentication and the platform operator;
they expose no listing of another tenant's users.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, delete, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AuthSession, StoredFile, Tenant, User, utcnow
from app.db.state_cache import StateCache

Entity = TypeVar("Entity")


async def page_and_total(
    session: AsyncSession,
    entity: type[Entity],
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    *,
    offset: int,
    limit: int,
) -> tuple[Sequence[Entity], int]:
    """A page of the rows that match, and how many match, in one statement: the count
    rides on each row as an uncorrelated scalar subquery, which SQLite and PostgreSQL
    compute once. Only a page past the end, with no row to carry it, costs a second
    query. (A window `count(*) OVER ()` would sort every matching row first.)"""
    total = select(func.count()).select_from(entity).where(*conditions)
    carried = total.scalar_subquery().correlate(None)  # counts the table, not the row
    stmt = select(entity, carried).where(*conditions).order_by(*order_by)
    rows = (await session.execute(stmt.offset(offset).limit(limit))).all()
    if rows:
        return [row[0] for row in rows], rows[0][1]
    if offset == 0:
        return [], 0  # not even a first row: nothing matches
    return [], await session.scalar(total) or 0


class Tenants:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def name_taken(self, name: str) -> bool:
        stmt = select(Tenant.id).where(func.lower(Tenant.name) == func.lower(name))
        return (await self._session.scalar(stmt.limit(1))) is not None

    def add(self, tenant: Tenant) -> None:
        self._session.add(tenant)

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self._session.get(Tenant, tenant_id)

    async def all(self) -> Sequence[Tenant]:
        return (await self._session.scalars(select(Tenant).order_by(Tenant.created_at))).all()

    async def totals(self, tenant_id: uuid.UUID | None) -> tuple[int, int]:
        """(tenants, users) in one tenant, or platform-wide when tenant_id is None."""
        tenants = select(func.count()).select_from(Tenant)
        users = select(func.count()).select_from(User).where(User.tenant_id.is_not(None))
        if tenant_id is not None:
            tenants = tenants.where(Tenant.id == tenant_id)
            users = users.where(User.tenant_id == tenant_id)
        return (await self._session.scalar(tenants) or 0, await self._session.scalar(users) or 0)


@dataclass(frozen=True, slots=True)
class TakenIdentity:
    usernames: frozenset[str]
    emails: frozenset[str]


class Accounts:
    """Service-wide user lookups: login names no tenant, and uniqueness is global."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_username(self, username: str) -> User | None:
        stmt = select(User).where(func.lower(User.username) == func.lower(username))
        return await self._session.scalar(stmt)

    async def taken(self, usernames: Iterable[str], emails: Iterable[str]) -> TakenIdentity:
        """Which of these usernames and emails (lower-cased) already exist anywhere."""
        names = {u.lower() for u in usernames}
        mails = {e.lower() for e in emails}
        if not names and not mails:
            return TakenIdentity(frozenset(), frozenset())
        stmt = select(func.lower(User.username), func.lower(User.email)).where(
            or_(func.lower(User.username).in_(names), func.lower(User.email).in_(mails))
        )
        rows = (await self._session.execute(stmt)).all()
        return TakenIdentity(
            frozenset(r[0] for r in rows if r[0] in names),
            frozenset(r[1] for r in rows if r[1] in mails),
        )

    def add(self, user: User) -> None:
        self._session.add(user)


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
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, auth_session: AuthSession) -> None:
        self._session.add(auth_session)

    @property
    def _cache(self) -> StateCache[SessionState] | None:
        cache: StateCache[SessionState] | None = self._session.info.get("state_cache")
        return cache

    async def state(self, session_id: uuid.UUID, user_id: uuid.UUID) -> SessionState | None:
        cache = self._cache
        if cache is None:
            return await self._read_state(session_id, user_id)
        cached = cache.get((session_id, user_id))
        if cached is not None:
            return cached
        generation = cache.generation
        state = await self._read_state(session_id, user_id)
        if state is not None and not state.revoked:
            cache.put((session_id, user_id), state, generation)
        return state

    async def _read_state(self, session_id: uuid.UUID, user_id: uuid.UUID) -> SessionState | None:
        stmt = (
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
            .where(AuthSession.id == session_id, AuthSession.user_id == user_id)
        )
        row = (await self._session.execute(stmt)).one_or_none()
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
            sync_session = self._session.sync_session
            if not event.contains(sync_session, "after_commit", cache.invalidate):
                event.listen(sync_session, "after_commit", cache.invalidate)
        stmt = (
            update(AuthSession)
            .where(condition, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        await self._session.execute(stmt)


class ScopedUsers:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self._session = session
        self._tenant_id = tenant_id

    def _select(self) -> Select[User]:
        return select(User).where(User.tenant_id == self._tenant_id)

    def add(self, user: User) -> None:
        user.tenant_id = self._tenant_id
        self._session.add(user)

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        """With `for_update`, concurrent writers of this row take turns (PostgreSQL)."""
        stmt = self._select().where(User.id == user_id)
        return await self._session.scalar(stmt.with_for_update() if for_update else stmt)

    async def page(
        self, *, offset: int, limit: int, active_only: bool
    ) -> tuple[Sequence[User], int]:
        """(the page, how many users there are in all)."""
        conditions = [User.tenant_id == self._tenant_id]
        if active_only:
            conditions.append(User.is_active.is_(True))
        order = (User.created_at, User.id)
        return await page_and_total(
            self._session, User, conditions, order, offset=offset, limit=limit
        )

    async def active_admin_ids(self) -> set[uuid.UUID]:
        """Locks the tenant row first (PostgreSQL), so concurrent demotions serialize."""
        await self._session.execute(
            select(Tenant.id).where(Tenant.id == self._tenant_id).with_for_update()
        )
        stmt = self._select().where(User.role == "admin", User.is_active.is_(True))
        return {u.id for u in (await self._session.scalars(stmt)).all()}


class ScopedFiles:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self._session = session
        self._tenant_id = tenant_id

    def _select(self) -> Select[StoredFile]:
        return select(StoredFile).where(StoredFile.tenant_id == self._tenant_id)

    def add(self, stored: StoredFile) -> None:
        stored.tenant_id = self._tenant_id
        self._session.add(stored)

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        return await self._session.scalar(self._select().where(StoredFile.id == file_id))

    async def page(self, *, offset: int, limit: int) -> tuple[Sequence[StoredFile], int]:
        """(the page, how many files there are in all)."""
        conditions = [StoredFile.tenant_id == self._tenant_id]
        order = (StoredFile.uploaded_at, StoredFile.id)
        return await page_and_total(
            self._session, StoredFile, conditions, order, offset=offset, limit=limit
        )

    async def delete(self, stored: StoredFile) -> None:
        await self._session.delete(stored)


class Blobs:
    """Unscoped view of stored files, for totals and for the orphan sweep."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def totals(self, tenant_id: uuid.UUID | None) -> tuple[int, int]:
        """(files, bytes) of one tenant, or platform-wide when tenant_id is None."""
        stmt = select(func.count(), func.coalesce(func.sum(StoredFile.size_bytes), 0))
        if tenant_id is not None:
            stmt = stmt.where(StoredFile.tenant_id == tenant_id)
        files, size = (await self._session.execute(stmt)).one()
        return int(files), int(size)

    async def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(keys)
        if not wanted:
            return set()
        stmt = select(StoredFile.storage_key).where(StoredFile.storage_key.in_(wanted))
        return set((await self._session.scalars(stmt)).all())


class TenantScope:
    """The only door to tenant-owned rows: every repository here is bound to one tenant."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.users = ScopedUsers(session, tenant_id)
        self.files = ScopedFiles(session, tenant_id)
