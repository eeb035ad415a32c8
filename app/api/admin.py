"""Admin views: a tenant admin sees its own tenant, a platform operator every tenant."""

from fastapi import APIRouter

from app.api.deps import PrincipalDep, RuntimeDep, require
from app.api.responses import API_V1, problems
from app.permissions import Action
from app.schemas import Stats, TenantList
from app.services import tenants

router = APIRouter(prefix=f"{API_V1}/admin", tags=["admin"], responses=problems(401, 403, 429))


@router.get("/tenants", dependencies=[require(Action.LIST_TENANTS)], response_model=TenantList)
async def list_tenants(principal: PrincipalDep, runtime: RuntimeDep) -> TenantList:
    return await tenants.list_tenants(runtime.db, principal)


@router.get("/stats", dependencies=[require(Action.READ_STATS)], response_model=Stats)
async def stats(principal: PrincipalDep, runtime: RuntimeDep) -> Stats:
    return await tenants.stats(runtime.db, principal)
