"""Users of the caller's tenant."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from app.identity.dependencies import PrincipalDep, member_tenant, require
from app.platform.dependencies import client_address, runtime_of
from app.platform.pagination import Page, PageDep
from app.platform.permissions import Action
from app.platform.responses import API_V1, problems
from app.users.schemas import BulkUserCreate, UserCreate, UserOut, UserUpdate
from app.users.service import UserService

router = APIRouter(prefix=f"{API_V1}/users", tags=["users"])
ID_ROUTE_ERRORS = problems(401, 403, 404, 422, 429)


async def get_user_service(request: Request, principal: PrincipalDep) -> UserService:
    runtime = runtime_of(request)
    address = client_address(request, runtime.settings.trusted_proxies)
    return UserService(
        runtime.db,
        member_tenant(principal),
        principal,
        runtime.passwords,
        runtime.login_guard.from_address(address),
        runtime.session_states,
    )


UserServiceDep = Annotated[UserService, Depends(get_user_service)]


@router.get(
    "",
    dependencies=[require(Action.LIST_USERS)],
    response_model=Page[UserOut],
    responses=problems(401, 403, 422, 429),
)
async def list_users(
    service: UserServiceDep,
    paging: PageDep,
    active_only: Annotated[
        bool, Query(description="Hide deactivated users (false lists everyone)")
    ] = True,
) -> Page[UserOut]:
    return await service.page(paging, active_only=active_only)


@router.post(
    "",
    dependencies=[require(Action.CREATE_USER)],
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problems(401, 403, 409, 413, 422, 429),
)
async def create_user(body: UserCreate, service: UserServiceDep) -> UserOut:
    return UserOut.model_validate(await service.create(body))


@router.post(
    "/bulk",
    dependencies=[require(Action.BULK_CREATE_USERS)],
    status_code=status.HTTP_201_CREATED,
    response_model=list[UserOut],
    responses=problems(401, 403, 409, 413, 422, 429),
)
async def bulk_create_users(
    body: Annotated[BulkUserCreate, Body()], service: UserServiceDep
) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await service.create_many(body)]


@router.get(
    "/{user_id}",
    dependencies=[require(Action.READ_USER)],
    response_model=UserOut,
    responses=ID_ROUTE_ERRORS,
)
async def get_user(user_id: str, service: UserServiceDep) -> UserOut:
    return UserOut.model_validate(await service.get(user_id))


@router.put(
    "/{user_id}",
    dependencies=[require(Action.UPDATE_USER)],
    response_model=UserOut,
    responses=problems(401, 403, 404, 409, 413, 422, 429),
)
async def update_user(user_id: str, body: UserUpdate, service: UserServiceDep) -> UserOut:
    return UserOut.model_validate(await service.update(user_id, body))


@router.delete(
    "/{user_id}",
    dependencies=[require(Action.DELETE_USER)],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 403, 404, 409, 429),
)
async def delete_user(user_id: str, service: UserServiceDep) -> Response:
    await service.deactivate(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
