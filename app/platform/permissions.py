"""Who the caller is (`Principal`) and the contract's role rules as one table: which
role may take which action.

Every route under /api/v1 declares its action with `require(...)`
(app/identity/dependencies.py), the one place this table is applied: other roles are
refused with 403 before the route runs. Rules that depend on the target (a member may
edit only itself and only some fields, may delete only its own uploads) belong to
their domain's service. The tests read `RULES` and the routes' declared actions, so a
route without an action, or an action without a rule, fails them.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    OPERATOR = "operator"


class Action(StrEnum):
    LIST_USERS = "users:list"
    READ_USER = "users:read"
    CREATE_USER = "users:create"
    BULK_CREATE_USERS = "users:bulk-create"
    UPDATE_USER = "users:update"  # members: only themselves, only some fields
    DELETE_USER = "users:delete"
    UPLOAD_FILE = "files:upload"
    LIST_FILES = "files:list"
    READ_FILE = "files:read"
    DELETE_FILE = "files:delete"  # members: only their own uploads
    LIST_TENANTS = "admin:tenants"
    READ_STATS = "admin:stats"


_MEMBER_ACTIONS = frozenset(
    {
        Action.LIST_USERS,
        Action.READ_USER,
        Action.UPDATE_USER,
        Action.UPLOAD_FILE,
        Action.LIST_FILES,
        Action.READ_FILE,
        Action.DELETE_FILE,
    }
)

RULES: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.USER: _MEMBER_ACTIONS,
    # Not a tenant member: the admin views of every tenant, nothing inside a tenant.
    Role.OPERATOR: frozenset({Action.LIST_TENANTS, Action.READ_STATS}),
}


def allowed(role: str, action: Action) -> bool:
    return role in RULES and action in RULES[Role(role)]


def declared_action(dependency: Callable[..., Any]) -> Action | None:
    """The action a `require(...)` dependency enforces, None for other dependencies."""
    action: Action | None = getattr(dependency, "action", None)
    return action


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as the database says it is now (not as the token said)."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID | None
    role: str
    session_id: uuid.UUID

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def is_tenant_admin(self) -> bool:
        return self.role == "admin"
