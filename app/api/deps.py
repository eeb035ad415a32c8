"""Dependencies as `Annotated` aliases, so a route's signature reads as its permissions."""

import ipaddress
import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth import Principal
from app.errors import Forbidden, InvalidInput, RateLimited, ServiceUnavailable, Unauthorized
from app.pagination import PageParams
from app.permissions import Action, allowed
from app.runtime import Runtime
from app.services.files import FileService
from app.services.tokens import TokenService
from app.services.users import UserService

# Every dependency here is `async def`, even where it awaits nothing: FastAPI runs a
# plain `def` dependency in a worker thread, a hop that costs more than the work.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def token_service(request: Request) -> TokenService:
    runtime = runtime_of(request)
    return TokenService(runtime.db, runtime.tokens, runtime.passwords)


async def get_token_service(request: Request) -> TokenService:
    return token_service(request)


TokenServiceDep = Annotated[TokenService, Depends(get_token_service)]


async def get_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The caller of a bearer token. A call that fails authentication counts against
    its client address, in the endpoint's bucket, so guessing tokens is rate limited too."""
    try:
        if not token:
            raise Unauthorized("Missing bearer token")
        principal = await token_service(request).authenticate(token)
    except Unauthorized:
        await limit_by_address(request)
        raise
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(action: Action) -> Any:
    """A route dependency: the caller's per-user rate limit on this endpoint, then the
    roles of `action` (app/permissions.py). Every /api/v1 route declares exactly one
    (test_rbac.py), so every one is limited. One dependency rather than two: FastAPI
    solves a dependency's whole subtree (principal, token) again wherever it is named,
    before it looks in its per-request cache."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        await _enforce(request, runtime_of(request), f"user:{principal.user_id}")
        if not allowed(principal.role, action):
            raise Forbidden(f"The {principal.role} role may not do {action.value}")
        return principal

    check.action = action  # type: ignore[attr-defined]  # read by the tests' route table
    return Depends(check)


def member_tenant(principal: Principal) -> uuid.UUID:
    """The caller's tenant; a platform operator has none."""
    if principal.tenant_id is None:
        raise Forbidden("This endpoint belongs to tenant members")
    return principal.tenant_id


async def get_user_service(request: Request, principal: PrincipalDep) -> UserService:
    runtime = runtime_of(request)
    address = client_address(request, runtime.settings.trusted_proxies)
    guesses = runtime.login_guard.from_address(address)
    return UserService(runtime.db, member_tenant(principal), principal, runtime.passwords, guesses)


UserServiceDep = Annotated[UserService, Depends(get_user_service)]


async def get_file_service(request: Request, principal: PrincipalDep) -> FileService:
    runtime = runtime_of(request)
    return FileService(
        runtime.db, member_tenant(principal), principal, runtime.storage, runtime.settings
    )


FileServiceDep = Annotated[FileService, Depends(get_file_service)]


async def get_page(
    request: Request,
    page: Annotated[int, Query(ge=1, description="1-based page number")] = 1,
    page_size: Annotated[
        int | None, Query(ge=1, description="Items per page, at most MAX_PAGE_SIZE (100)")
    ] = None,
) -> PageParams:
    settings = runtime_of(request).settings
    size = settings.default_page_size if page_size is None else page_size
    if size > settings.max_page_size:
        raise InvalidInput(
            [
                {
                    "loc": ["query", "page_size"],
                    "msg": f"Input should be less than or equal to {settings.max_page_size}",
                    "type": "less_than_equal",
                }
            ]
        )
    return PageParams(page=page, page_size=size)


PageDep = Annotated[PageParams, Depends(get_page)]


# --- rate limiting ------------------------------------------------------------------


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The peer address, or the right-most untrusted hop of X-Forwarded-For when the peer
    is a trusted proxy (a client can prepend anything to that header)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return peer


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)


async def _enforce(request: Request, runtime: Runtime, principal: str) -> None:
    if not runtime.limiter.enabled:
        return
    route = request.scope.get("route")
    endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
    refused = getattr(request.state, "rate_limit_refused", None)  # by app/api/listings.py
    if refused is not None and refused[0] == (endpoint, principal):
        decision = refused[1]
    else:
        decision = await runtime.limiter.hit(endpoint, principal)
    request.state.rate_limit = decision
    if decision.storage_down and not decision.allowed:
        raise ServiceUnavailable("Rate limiting is unavailable; try again shortly")
    # The request middleware puts these on the answer, whatever it turns out to be.
    request.state.rate_limit_headers = decision.headers()
    if not decision.allowed:
        raise RateLimited(f"Rate limit of {decision.limit} per minute exceeded for {endpoint}")


async def limit_by_address(request: Request) -> None:
    await limit_as(request, None)


async def limit_as(request: Request, principal: str | None) -> None:
    """The rate limit of this endpoint for `principal`: a caller that proved who it is
    (a user, a session, a device); the client address for anyone else. A caller with
    credentials then never shares a bucket with whoever else calls from its address
    (a NAT, a proxy), who could otherwise spend it."""
    runtime = runtime_of(request)
    if principal is None:
        principal = f"addr:{client_address(request, runtime.settings.trusted_proxies)}"
    await _enforce(request, runtime, principal)
