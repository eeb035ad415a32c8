"""Registration, login (JSON or OAuth2 form), refresh rotation, logout."""

import json
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ValidationError

from app.api.deps import (
    PrincipalDep,
    RuntimeDep,
    TokenServiceDep,
    client_address,
    limit_by_address,
)
from app.api.responses import problems
from app.errors import InvalidInput, Unauthorized
from app.login_guard import DEVICE_COOKIE
from app.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenPair,
)
from app.services.tenants import register_tenant

Body = TypeVar("Body", bound=BaseModel)
router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(limit_by_address)])
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                        "grant_type": {"type": "string", "enum": ["password"]},
                    },
                }
            },
        },
    }
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    responses=problems(409, 413, 422, 429),
)
async def register(body: RegisterRequest, runtime: RuntimeDep) -> RegisterResponse:
    tenant_id, admin_id = await register_tenant(runtime.db, runtime.passwords, body)
    return RegisterResponse(
        tenant_id=tenant_id, admin_user_id=admin_id, message="Tenant registered successfully"
    )


async def _json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # nested too deep
        raise InvalidInput(
            [{"loc": ["body"], "msg": "Body is not valid JSON", "type": "json_invalid"}]
        ) from None


def _validated(model: type[Body], data: object) -> Body:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


async def _login_body(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: object
    if content_type in FORM_TYPES:
        form = await request.form()
        data = {k: form.get(k) for k in ("username", "password") if k in form}
    else:
        data = await _json_body(request)
    return _validated(LoginRequest, data)


@router.post(
    "/login",
    response_model=TokenPair,
    responses=problems(401, 403, 413, 422, 429),
    openapi_extra=_LOGIN_BODY,
)
async def login(
    request: Request, response: Response, service: TokenServiceDep, runtime: RuntimeDep
) -> TokenPair:
    body = await _login_body(request)
    address = client_address(request, runtime.settings.trusted_proxies)
    guard = runtime.login_guard
    attempt = await guard.admit(body.username, address, request.cookies.get(DEVICE_COOKIE))
    try:
        pair = await service.login(body.username, body.password)
    except Unauthorized:
        raise  # a wrong password, or no such account: the attempt stays counted
    except Exception:
        await guard.withdraw(attempt)  # anything else is no failed guess
        raise
    (await guard.succeeded(attempt)).set_on(response)
    return pair


@router.post("/refresh", response_model=TokenPair, responses=problems(401, 413, 422, 429))
async def refresh(body: RefreshRequest, service: TokenServiceDep) -> TokenPair:
    return await service.refresh(body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 413, 422, 429),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": LogoutRequest.model_json_schema()}},
        }
    },
)
async def logout(request: Request, principal: PrincipalDep, service: TokenServiceDep) -> Response:
    """The caller's session ends before the body is even read: a body that is not valid
    is answered 422 afterwards, and never keeps the session alive."""
    body = await request.body()
    refresh_token = None
    problem: InvalidInput | None = None
    if body.strip():
        try:
            parsed = _validated(LogoutRequest, await _json_body(request))
            refresh_token = parsed.refresh_token
        except InvalidInput as exc:
            problem = exc
    await service.logout(principal, refresh_token)
    if problem is not None:
        raise problem
    return Response(status_code=status.HTTP_204_NO_CONTENT)
