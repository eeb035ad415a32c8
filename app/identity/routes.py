"""Registration, login (JSON or OAuth2 form), refresh rotation, logout."""

import json
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ValidationError

from app.identity.dependencies import PrincipalDep, TokenServiceDep
from app.identity.login_guard import DEVICE_COOKIE
from app.identity.registration import RegistrationService
from app.identity.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenPair,
)
from app.platform.body_limit import read_body
from app.platform.dependencies import (
    RuntimeDep,
    client_address,
    limit_as,
    limit_by_address,
    runtime_of,
)
from app.platform.errors import InvalidInput, Unauthorized
from app.platform.responses import problems

Body = TypeVar("Body", bound=BaseModel)
# Every route is rate limited: by address, or by the credential it proves (limit_as).
router = APIRouter(prefix="/auth", tags=["auth"])
# A logout's body holds at most a refresh token.
MAX_LOGOUT_BODY_BYTES = 16 * 1024
LOGOUT_PATH = "/auth/logout"
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
    dependencies=[Depends(limit_by_address)],
)
async def register(body: RegisterRequest, runtime: RuntimeDep) -> RegisterResponse:
    registration = RegistrationService(runtime.db, runtime.passwords)
    tenant_id, admin_id = await registration.register(body)
    return RegisterResponse(
        tenant_id=tenant_id, admin_user_id=admin_id, message="Tenant registered successfully"
    )


async def _json_body(request: Request) -> object:
    return _parsed_json(await request.body())


def _parsed_json(raw: bytes) -> object:
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
    device = guard.device_of(body.username, request.cookies.get(DEVICE_COOKIE))
    await limit_as(request, f"device:{device}" if device else None)
    attempt = await guard.admit(body.username, address, device)
    try:
        pair = await service.login(body.username, body.password)
    except Unauthorized:
        raise  # a wrong password, or no such account: the attempt stays counted
    except Exception:
        await guard.withdraw(attempt)  # anything else is no failed guess
        raise
    (await guard.succeeded(attempt)).set_on(response)
    response.headers["Cache-Control"] = "no-store"  # RFC 6749, 5.1: answers with tokens
    return pair


@router.post("/refresh", response_model=TokenPair, responses=problems(401, 413, 422, 429))
async def refresh(
    request: Request,
    response: Response,
    body: RefreshRequest,
    service: TokenServiceDep,
    runtime: RuntimeDep,
) -> TokenPair:
    try:  # a genuine refresh token is limited per session, anything else per address
        session = runtime.tokens.decode(body.refresh_token, expected_type="refresh").session_id
    except Unauthorized:
        session = None
    await limit_as(request, f"session:{session}" if session else None)
    pair = await service.refresh(body.refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return pair


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
    """The caller's session ends first, before its body is read (the request middleware
    leaves this route's body alone): a body that is too large, too slow, cut off or not
    valid is answered afterwards, and never keeps the session alive."""
    await service.logout(principal)
    await limit_as(request, f"user:{principal.user_id}")
    within_s = runtime_of(request).settings.body_timeout_seconds
    raw = await read_body(
        request.scope, request.receive, limit=MAX_LOGOUT_BODY_BYTES, within_s=within_s
    )
    if raw.strip():
        parsed = _validated(LogoutRequest, _parsed_json(raw))
        if parsed.refresh_token:
            await service.end_other_session(principal, parsed.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
