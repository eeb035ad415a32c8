"""User management inside one tenant: who may change what, conflicts, atomic bulk."""

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Passwords, Principal
from app.db.models import User
from app.db.repositories import Accounts, Sessions, TenantScope
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.pagination import PageParams
from app.permissions import Action, allowed
from app.schemas import Page, UserCreate, UserOut, UserUpdate

SELF_EDITABLE = frozenset({"email", "full_name", "password"})


def ensure_password_allowed(password: str, username: str, email: str) -> None:
    lowered = password.casefold()
    if lowered in {username.casefold(), email.casefold(), email.split("@")[0].casefold()}:
        raise InvalidInput(
            [
                {
                    "loc": ["body", "password"],
                    "msg": "Password must not be the username or the email",
                    "type": "password_policy",
                }
            ]
        )


def not_found() -> NotFound:
    # One body for unknown, foreign and malformed ids: nothing leaks across tenants.
    return NotFound("No such resource in your tenant")


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found() from None


class UserService:
    def __init__(
        self,
        session: AsyncSession,
        scope: TenantScope,
        principal: Principal,
        passwords: Passwords,
    ) -> None:
        self._db = session
        self._scope = scope
        self._principal = principal
        self._passwords = passwords

    async def page(self, params: PageParams, *, active_only: bool) -> Page[UserOut]:
        rows, total = await self._scope.users.page(
            offset=params.offset, limit=params.page_size, active_only=active_only
        )
        return params.of([UserOut.model_validate(u) for u in rows], total)

    async def get(self, raw_id: str, *, for_update: bool = False) -> User:
        user = await self._scope.users.get(parse_id(raw_id), for_update=for_update)
        if user is None:
            raise not_found()
        return user

    async def create(self, body: UserCreate) -> User:
        return (await self.create_many([body]))[0]

    async def create_many(self, items: Sequence[UserCreate]) -> list[User]:
        """All or nothing. Conflicts, in the batch or with existing users, name the items."""
        self._require(Action.CREATE_USER)
        for index, item in enumerate(items):
            if item.password is not None:
                try:
                    ensure_password_allowed(item.password, item.username, str(item.email))
                except InvalidInput as exc:
                    for error in exc.extra["errors"]:
                        error["loc"] = ["body", index, "password"]
                    raise
        await self._raise_on_conflicts(items)
        users = await asyncio.gather(*(self._build(item) for item in items))
        for user in users:
            self._scope.users.add(user)
        try:
            await self._db.commit()
        except IntegrityError as exc:
            await self._db.rollback()
            raise Conflict("A username or email was taken meanwhile; nothing was created") from exc
        return list(users)

    async def update(self, raw_id: str, body: UserUpdate) -> User:
        user = await self.get(raw_id, for_update=True)
        changes = body.model_dump(exclude_unset=True)
        self._authorize_update(user, changes)
        sessions = Sessions(self._db)
        if "email" in changes and changes["email"].lower() != user.email.lower():
            if (await Accounts(self._db).taken([], [changes["email"]])).emails:
                raise Conflict("This email is already taken", extra={"fields": ["email"]})
            user.email = changes["email"]
        if "full_name" in changes:
            user.full_name = changes["full_name"]
        if "password" in changes:
            ensure_password_allowed(changes["password"], user.username, user.email)
            user.password_hash = await self._passwords.hash(changes["password"])
            keep = self._principal.session_id if user.id == self._principal.user_id else None
            await sessions.revoke_all_of(user.id, keep=keep)
        demotes = changes.get("role", user.role) != user.role
        deactivates = changes.get("is_active", user.is_active) is False and user.is_active
        if demotes or deactivates:
            await self._ensure_not_last_admin(user)
            await sessions.revoke_all_of(user.id)
        if "role" in changes:
            user.role = changes["role"]
        if "is_active" in changes:
            user.is_active = changes["is_active"]
        try:
            await self._db.commit()
        except IntegrityError as exc:
            await self._db.rollback()
            raise Conflict("This email was taken meanwhile", extra={"fields": ["email"]}) from exc
        return user

    async def deactivate(self, raw_id: str) -> None:
        self._require(Action.DELETE_USER)
        user = await self.get(raw_id, for_update=True)
        if user.is_active:
            await self._ensure_not_last_admin(user)
            user.is_active = False
        await Sessions(self._db).revoke_all_of(user.id)
        await self._db.commit()

    # --- rules ------------------------------------------------------------------------

    def _require(self, action: Action) -> None:
        if not allowed(self._principal.role, action):
            raise Forbidden(f"The {self._principal.role} role may not do {action.value}")

    def _authorize_update(self, user: User, changes: dict[str, Any]) -> None:
        self._require(Action.UPDATE_USER)
        if self._principal.is_tenant_admin:
            return
        if user.id != self._principal.user_id:
            raise Forbidden("Members may only change their own profile")
        if forbidden := sorted(set(changes) - SELF_EDITABLE):
            raise Forbidden(f"Members may not change: {', '.join(forbidden)}")

    async def _ensure_not_last_admin(self, user: User) -> None:
        if user.role != "admin" or not user.is_active:
            return
        if await self._scope.users.active_admin_ids() == {user.id}:
            raise Conflict("The tenant would be left without an active administrator")

    async def _raise_on_conflicts(self, items: Sequence[UserCreate]) -> None:
        taken = await Accounts(self._db).taken(
            [i.username for i in items], [str(i.email) for i in items]
        )
        conflicts: list[dict[str, Any]] = []
        seen: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):
            for field, value in (("username", item.username), ("email", str(item.email))):
                key = (field, value.lower())
                pool = taken.usernames if field == "username" else taken.emails
                if key[1] in pool:
                    conflicts.append({"index": index, "field": field, "reason": "exists"})
                elif key in seen:
                    conflicts.append(
                        {"index": index, "field": field, "reason": f"duplicate of item {seen[key]}"}
                    )
                else:
                    seen[key] = index
        if conflicts:
            if len(items) == 1:
                named = ", ".join(c["field"] for c in conflicts)
            else:
                named = ", ".join(f"item {c['index']} {c['field']}" for c in conflicts)
            raise Conflict(
                f"Already taken or repeated: {named}; nothing was created",
                extra={"conflicts": conflicts},
            )

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
