"""The admin views of tenants (a tenant admin sees its own tenant, a platform operator
every tenant) and the platform's activation of a tenant (CLI)."""

import uuid

from app.files.repository import Blobs
from app.identity.repository import Sessions, SessionState
from app.identity.state_cache import StateCache
from app.platform.db.database import Database
from app.platform.permissions import Principal
from app.tenants.repository import Tenants
from app.tenants.schemas import Stats, TenantList, TenantOut


class TenantService:
    def __init__(self, db: Database, states: StateCache[SessionState] | None = None) -> None:
        self._db = db
        self._states = states

    async def list_tenants(self, principal: Principal) -> TenantList:
        scope = _visible_tenant(principal)
        async with self._db.session() as session:
            rows = await Tenants(session).views(scope)
        return TenantList(tenants=[TenantOut.model_validate(t) for t in rows], total=len(rows))

    async def stats(self, principal: Principal) -> Stats:
        scope = _visible_tenant(principal)
        async with self._db.session() as session:
            total_tenants, total_users = await Tenants(session).totals(scope)
            total_files, total_bytes = await Blobs(session).totals(scope)
        return Stats(
            total_tenants=total_tenants,
            total_users=total_users,
            total_files=total_files,
            total_storage_bytes=total_bytes,
        )

    async def set_active(self, tenant_id: uuid.UUID, active: bool) -> bool:
        """A deactivated tenant's sessions end at once and its members cannot log in
        until it is activated again. False if there is no such tenant."""
        async with self._db.transaction() as session:
            tenant = await Tenants(session).get(tenant_id)
            if tenant is None:
                return False
            tenant.is_active = active
            if not active:
                await Sessions(session, self._states).revoke_all_in_tenant(tenant_id)
        return True


def _visible_tenant(principal: Principal) -> uuid.UUID | None:
    """Which tenant the admin views show: None means every tenant (a platform operator);
    anyone else the route admits (a tenant admin) sees its own."""
    return None if principal.is_operator else principal.tenant_id
