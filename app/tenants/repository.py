"""SQL of tenants: registration's name check, the admin views' listing and totals."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select

from app.platform.db.database import DbSession, ReadRow, entities
from app.platform.text import unique_key
from app.tenants.models import Tenant
from app.users.models import User


class Tenants:
    def __init__(self, session: DbSession) -> None:
        self._session = session

    async def name_taken(self, name: str) -> bool:
        stmt = select(Tenant.id).where(Tenant.name_key == unique_key(name))
        return (await self._session.scalar(stmt)) is not None

    _VIEW = select(Tenant.id, Tenant.name, Tenant.created_at, Tenant.is_active)

    def add(self, tenant: Tenant) -> None:
        entities(self._session).add(tenant)

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        """The entity, to change in a write."""
        return await entities(self._session).get(Tenant, tenant_id)

    async def views(self, tenant_id: uuid.UUID | None) -> Sequence[ReadRow]:
        """One tenant as a read shows it, or every tenant when tenant_id is None."""
        stmt = self._VIEW if tenant_id is None else self._VIEW.where(Tenant.id == tenant_id)
        return (await self._session.execute(stmt.order_by(Tenant.created_at))).all()

    async def totals(self, tenant_id: uuid.UUID | None) -> tuple[int, int]:
        """(tenants, users) in one tenant, or platform-wide when tenant_id is None."""
        tenants = select(func.count()).select_from(Tenant)
        users = select(func.count()).select_from(User).where(User.tenant_id.is_not(None))
        if tenant_id is not None:
            tenants = tenants.where(Tenant.id == tenant_id)
            users = users.where(User.tenant_id == tenant_id)
        return (await self._session.scalar(tenants) or 0, await self._session.scalar(users) or 0)
