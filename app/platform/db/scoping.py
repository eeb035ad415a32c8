"""Tenant scoping, enforced here: a repository of tenant-owned rows is built from the
authenticated caller's tenant id and answers only that tenant's rows.

Its statements name the tenant as a bound parameter (`OWN_TENANT`), whose value only
`values()` supplies: a statement run without it is an error, never another tenant's
rows, and a row added through `add` belongs to the scope's tenant whatever it said.
"""

import uuid
from typing import Any

from sqlalchemy import BindParameter, bindparam

from app.platform.db.database import DbSession, entities
from app.platform.errors import NotFound

OWN_TENANT: BindParameter[uuid.UUID] = bindparam("tenant_id")


def not_found() -> NotFound:
    """One answer for unknown, another tenant's and malformed ids: nothing leaks across
    tenants."""
    return NotFound("No such resource in your tenant")


def parse_id(raw: str) -> uuid.UUID:
    """An id from a path; one that is not a UUID names nothing, so it is not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found() from None


class TenantScoped:
    def __init__(self, session: DbSession, tenant_id: uuid.UUID) -> None:
        self._session = session
        self.tenant_id = tenant_id

    def values(self, **more: Any) -> dict[str, Any]:
        """A statement's parameters, with the scope's tenant among them."""
        return {**more, "tenant_id": self.tenant_id}

    def add(self, row: Any) -> None:
        row.tenant_id = self.tenant_id
        entities(self._session).add(row)
