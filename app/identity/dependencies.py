"""The caller of a request, as dependencies: who it is (authentication), whether its
role may take the route's action (authorisation, by the table in
app/platform/permissions.py) and which tenant it acts in. Each happens here only.

Written as `Annotated` aliases, so a route's signature reads as its permissions.
"""

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.identity.service import TokenService
from app.platform.dependencies import limit_as, limit_by_address, runtime_of
from app.platform.errors import Forbidden, Unauthorized
from app.platform.permissions import Action, Principal, allowed
from app.platform.request_context import record_caller

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


async def get_token_service(request: Request) -> TokenService:
    return runtime_of(request).token_service


TokenServiceDep = Annotated[TokenService, Depends(get_token_service)]


async def get_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The caller of a bearer token, as its session's state says now. A call that fails
    authentication counts against its client address, in the endpoint's bucket, so
    guessing tokens is rate limited too."""
    try:
        if not token:
            raise Unauthorized("Missing bearer token")
        principal = await runtime_of(request).token_service.authenticate(token)
    except Unauthorized:
        await limit_by_address(request)
        raise
    record_caller(principal.tenant_id, principal.user_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(action: Action) -> Any:
    """A route dependency: the caller's per-user rate limit on this endpoint, then the
    roles of `action`. Every /api/v1 route declares exactly one (the route table tests
    check it), so every one is limited. One dependency rather than two: FastAPI solves
    a dependency's whole subtree (principal, token) again wherever it is named, before
    it looks in its per-request cache."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        await limit_as(request, f"user:{principal.user_id}")
        if not allowed(principal.role, action):
            raise Forbidden(f"The {principal.role} role may not do {action.value}")
        return principal

    check.action = action  # type: ignore[attr-defined]  # read by the route table tests
    return Depends(check)


def member_tenant(principal: Principal) -> uuid.UUID:
    """The tenant a member acts in; a platform operator belongs to none."""
    if principal.tenant_id is None:
        raise Forbidden("This endpoint belongs to tenant members")
    return principal.tenant_id
