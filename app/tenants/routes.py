"""Admin views: a tenant admin sees its own tenant, a platform operator every tenant."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.identity.dependencies import PrincipalDep, require
from app.platform.dependencies import runtime_of
from app.platform.permissions import Action
from app.platform.responses import API_V1, problems
from app.tenants.schemas import Stats, TenantList
from app.tenants.service import TenantService

router = APIRouter(prefix=f"{API_V1}/admin", tags=["admin"], responses=problems(401, 403, 429))


async def get_tenant_service(request: Request) -> TenantService:
    return TenantService(runtime_of(request).db)


TenantServiceDep = Annotated[TenantService, Depends(get_tenant_service)]


@router.get("/tenants", dependencies=[require(Action.LIST_TENANTS)], response_model=TenantList)
async def list_tenants(service: TenantServiceDep, principal: PrincipalDep) -> TenantList:
    return await service.list_tenants(principal)


@router.get("/stats", dependencies=[require(Action.READ_STATS)], response_model=Stats)
async def stats(service: TenantServiceDep, principal: PrincipalDep) -> Stats:
    return await service.stats(principal)
