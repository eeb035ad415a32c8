"""SQL of users: the users of one tenant (`TenantUsers`), and the service-wide lookups
that login and uniqueness need (`Accounts`). Names are compared by their keys
(`unique_key`), as the unique indexes compare them."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam as param
from sqlalchemy import or_, select, update

from app.platform.db.database import DbSession, ReadRow, entities
from app.platform.db.scoping import OWN_TENANT, TenantScoped
from app.platform.pagination import PageQuery
from app.platform.text import unique_key
from app.tenants.models import Tenant
from app.users.models import User

# What reads of users select: what an answer shows of a user, never the password hash.
USER_VIEW = (
    User.id,
    User.tenant_id,
    User.username,
    User.email,
    User.full_name,
    User.role,
    User.is_active,
    User.created_at,
    User.updated_at,
)


class TenantUsers(TenantScoped):
    """The users of one tenant (app/platform/db/scoping.py)."""

    _OWN = User.tenant_id == OWN_TENANT
    _BY_ID = select(User).where(_OWN, User.id == param("id"))
    _BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
    _VIEW_BY_ID = select(*USER_VIEW).where(_OWN, User.id == param("id"))
    _ACCOUNT_BY_ID = select(*USER_VIEW, User.email_key, User.password_hash).where(
        _OWN, User.id == param("id")
    )
    _ORDER = (User.created_at, User.id)
    _PAGE = PageQuery(User, USER_VIEW, [_OWN], _ORDER)
    _ACTIVE_PAGE = PageQuery(User, USER_VIEW, [_OWN, User.is_active.is_(True)], _ORDER)
    _ACTIVE_ADMINS = select(User.id).where(_OWN, User.role == "admin", User.is_active.is_(True))

    async def view(self, user_id: uuid.UUID) -> ReadRow | None:
        """The user as a read shows it (`USER_VIEW`)."""
        return (await self._session.execute(self._VIEW_BY_ID, self.values(id=user_id))).first()

    async def account(self, user_id: uuid.UUID) -> ReadRow | None:
        """The user's view with its email key and password hash, for the checks before
        a change."""
        values = self.values(id=user_id)
        return (await self._session.execute(self._ACCOUNT_BY_ID, values)).first()

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        """The entity, to change in a write. With `for_update`, concurrent writers of
        this row take turns (PostgreSQL)."""
        stmt = self._BY_ID_FOR_UPDATE if for_update else self._BY_ID
        return await entities(self._session).scalar(stmt, self.values(id=user_id))

    async def page(
        self, *, offset: int, limit: int, active_only: bool
    ) -> tuple[Sequence[ReadRow], int]:
        """(the page, how many users there are in all)."""
        query = self._ACTIVE_PAGE if active_only else self._PAGE
        return await query.run(self._session, offset=offset, limit=limit, **self.values())

    async def active_admin_ids(self) -> set[uuid.UUID]:
        """Locks the tenant row first (PostgreSQL), so concurrent demotions serialize."""
        await self._session.execute(
            select(Tenant.id).where(Tenant.id == self.tenant_id).with_for_update()
        )
        admins = await self._session.scalars(self._ACTIVE_ADMINS, self.values())
        return set(admins.all())


@dataclass(frozen=True, slots=True)
class TakenIdentity:
    """Keys (`unique_key`) of the usernames and emails asked about that exist."""

    usernames: frozenset[str]
    emails: frozenset[str]


class Accounts:
    """Service-wide user lookups: login names no tenant, and uniqueness is global.
    Names are compared by their keys (`unique_key`), as the unique indexes compare them."""

    def __init__(self, session: DbSession) -> None:
        self._session = session

    _LOGIN = (
        select(
            User.id,
            User.tenant_id,
            User.role,
            User.password_hash,
            User.is_active,
            Tenant.is_active.label("tenant_active"),  # NULL for a platform operator
        )
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
        .where(User.username_key == param("key"))
    )

    async def login_view(self, username: str) -> ReadRow | None:
        """What a login checks of an account, its tenant's state included."""
        values = {"key": unique_key(username)}
        return (await self._session.execute(self._LOGIN, values)).first()

    async def taken(self, usernames: Iterable[str], emails: Iterable[str]) -> TakenIdentity:
        """Which of these usernames and emails, by key, already exist anywhere."""
        names = {unique_key(u) for u in usernames}
        mails = {unique_key(e) for e in emails}
        if not names and not mails:
            return TakenIdentity(frozenset(), frozenset())
        stmt = select(User.username_key, User.email_key).where(
            or_(User.username_key.in_(names), User.email_key.in_(mails))
        )
        rows = (await self._session.execute(stmt)).all()
        return TakenIdentity(
            frozenset(r[0] for r in rows if r[0] in names),
            frozenset(r[1] for r in rows if r[1] in mails),
        )

    def add(self, user: User) -> None:
        entities(self._session).add(user)

    async def replace_hash(self, user_id: uuid.UUID, old: str | None, new: str) -> None:
        """A rehash with new parameters, unless the password changed meanwhile."""
        await self._session.execute(
            update(User)
            .where(User.id == user_id, User.password_hash == old)
            .values(password_hash=new)
        )
