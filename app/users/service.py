"""User management inside one tenant: who may change what, conflicts, atomic bulk."""

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.identity.login_guard import AddressGuesses
from app.identity.passwords import Passwords, ensure_password_allowed
from app.identity.repository import Sessions, SessionState
from app.identity.state_cache import StateCache
from app.platform.db.database import Database, ReadRow
from app.platform.db.scoping import not_found, parse_id
from app.platform.errors import Conflict, Forbidden, InvalidInput
from app.platform.pagination import Page, PageParams
from app.platform.permissions import Principal
from app.platform.text import unique_key
from app.users.models import User
from app.users.repository import Accounts, TenantUsers
from app.users.schemas import UserCreate, UserOut, UserUpdate
from app.users.uniqueness import raise_on_conflicts

# A page's rows validated in one call, rather than one model at a time.
_PAGE_OF_USERS = TypeAdapter(list[UserOut])
SELF_EDITABLE = frozenset({"email", "full_name", "password"})


class UserService:
    def __init__(
        self,
        db: Database,
        tenant_id: uuid.UUID,
        principal: Principal,
        passwords: Passwords,
        guard: AddressGuesses,
        states: StateCache[SessionState] | None = None,
    ) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._principal = principal
        self._passwords = passwords
        self._guard = guard
        self._states = states

    async def page(self, params: PageParams, *, active_only: bool) -> Page[UserOut]:
        async with self._db.session() as session:
            rows, total = await TenantUsers(session, self._tenant_id).page(
                offset=params.offset, limit=params.page_size, active_only=active_only
            )
        return params.of(_PAGE_OF_USERS.validate_python(rows, from_attributes=True), total)

    async def get(self, raw_id: str) -> ReadRow:
        async with self._db.session() as session:
            user = await TenantUsers(session, self._tenant_id).view(parse_id(raw_id))
        if user is None:
            raise not_found()
        return user

    async def create(self, body: UserCreate) -> User:
        return (await self.create_many([body]))[0]

    async def create_many(self, items: Sequence[UserCreate]) -> list[User]:
        """All or nothing. Conflicts, in the batch or with existing users, name the items.
        Passwords are hashed before the transaction, which then only checks and inserts."""
        for index, item in enumerate(items):
            if item.password is not None:
                try:
                    ensure_password_allowed(item.password, item.username, str(item.email))
                except InvalidInput as exc:
                    for error in exc.extra["errors"]:
                        error["loc"] = ["body", index, "password"]
                    raise
        async with self._db.session() as session:
            await raise_on_conflicts(Accounts(session), items)
        users = await asyncio.gather(*(self._build(item) for item in items))
        try:
            async with self._db.transaction() as session:
                await raise_on_conflicts(Accounts(session), items)
                scope = TenantUsers(session, self._tenant_id)
                for user in users:
                    scope.add(user)
        except IntegrityError as exc:
            raise Conflict("A username or email was taken meanwhile; nothing was created") from exc
        return list(users)

    async def update(self, raw_id: str, body: UserUpdate) -> User:
        changes = body.model_dump(exclude_unset=True)
        current_password = changes.pop("current_password", None)
        async with self._db.session() as session:
            seen = await TenantUsers(session, self._tenant_id).account(parse_id(raw_id))
        if seen is None:
            raise not_found()
        self._authorize_update(seen, changes)
        if "password" in changes:
            ensure_password_allowed(changes["password"], seen.username, seen.email)
        verified = seen.id == self._principal.user_id and _changes_credentials(seen, changes)
        if verified:
            await self._check_current_password(seen, current_password)
        # Slow work first: the transaction below only re-reads, checks and writes.
        new_hash = (
            await self._passwords.hash(changes["password"]) if "password" in changes else None
        )
        try:
            async with self._db.transaction() as session:
                user = await self._apply(session, seen, changes, new_hash, verified=verified)
        except IntegrityError as exc:
            raise Conflict("This email was taken meanwhile", extra={"fields": ["email"]}) from exc
        return user

    async def _apply(
        self,
        session: AsyncSession,
        seen: ReadRow,
        changes: dict[str, Any],
        new_hash: str | None,
        *,
        verified: bool,
    ) -> User:
        scope = TenantUsers(session, self._tenant_id)
        user = await scope.get(seen.id, for_update=True)
        if user is None:
            raise not_found()
        if verified and user.password_hash != seen.password_hash:
            raise Conflict("The password changed meanwhile; read the user again and retry")
        self._authorize_update(user, changes)
        sessions = Sessions(session, self._states)
        if "email" in changes:
            await _change_email(session, user, changes["email"])
        if "full_name" in changes:
            user.full_name = changes["full_name"]
        if new_hash is not None:
            user.password_hash = new_hash
            keep = self._principal.session_id if user.id == self._principal.user_id else None
            await sessions.revoke_all_of(user.id, keep=keep)
        await _change_access(scope, sessions, user, changes)
        return user

    async def deactivate(self, raw_id: str) -> None:
        user_id = parse_id(raw_id)
        async with self._db.transaction() as session:
            scope = TenantUsers(session, self._tenant_id)
            user = await scope.get(user_id, for_update=True)
            if user is None:
                raise not_found()
            if user.is_active:
                await _ensure_not_last_admin(scope, user)
                user.is_active = False
            await Sessions(session, self._states).revoke_all_of(user.id)

    async def _check_current_password(self, user: ReadRow, current_password: str | None) -> None:
        if current_password is None:
            raise InvalidInput(
                [
                    {
                        "loc": ["body", "current_password"],
                        "msg": "Changing your own password or email needs current_password",
                        "type": "missing",
                    }
                ]
            )
        # Guesses here count as failed logins of the account: a stolen access token
        # cannot try passwords faster than a login can.
        attempt = await self._guard.admit(user.username)
        valid, _ = await self._passwords.verify(current_password, user.password_hash)
        if not valid:
            raise Forbidden("current_password is not your password")
        await self._guard.withdraw(attempt)

    # --- rules ------------------------------------------------------------------------

    def _authorize_update(self, user: User | ReadRow, changes: dict[str, Any]) -> None:
        """Beyond the role table (the route's `require`): a member changes only itself,
        and only some fields."""
        if self._principal.is_tenant_admin:
            return
        if user.id != self._principal.user_id:
            raise Forbidden("Members may only change their own profile")
        if forbidden := sorted(set(changes) - SELF_EDITABLE):
            raise Forbidden(f"Members may not change: {', '.join(forbidden)}")

    async def _build(self, item: UserCreate) -> User:
        password_hash = await self._passwords.hash(item.password) if item.password else None
        return User(
            id=uuid.uuid4(),
            username=item.username,
            email=str(item.email),
            full_name=item.full_name,
            role=item.role,
            password_hash=password_hash,
        )


def _changes_credentials(user: ReadRow, changes: dict[str, Any]) -> bool:
    """Whether these changes touch what logs the user in or recovers the account."""
    new_email = changes.get("email")
    return "password" in changes or (
        new_email is not None and unique_key(new_email) != user.email_key
    )


async def _change_email(session: AsyncSession, user: User, email: str) -> None:
    moves = unique_key(email) != user.email_key
    if moves and (await Accounts(session).taken([], [email])).emails:
        raise Conflict("This email is already taken", extra={"fields": ["email"]})
    user.email = email  # as written, even if only its spelling changed


async def _change_access(
    scope: TenantUsers, sessions: Sessions, user: User, changes: dict[str, Any]
) -> None:
    """A new role or activity; a demoted or deactivated user's sessions end, and the
    tenant keeps an active administrator."""
    demotes = changes.get("role", user.role) != user.role
    deactivates = changes.get("is_active", user.is_active) is False and user.is_active
    if demotes or deactivates:
        await _ensure_not_last_admin(scope, user)
        await sessions.revoke_all_of(user.id)
    if "role" in changes:
        user.role = changes["role"]
    if "is_active" in changes:
        user.is_active = changes["is_active"]


async def _ensure_not_last_admin(scope: TenantUsers, user: User) -> None:
    if user.role != "admin" or not user.is_active:
        return
    if await scope.active_admin_ids() == {user.id}:
        raise Conflict("The tenant would be left without an active administrator")
