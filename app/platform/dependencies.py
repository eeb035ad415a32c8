"""Dependencies every domain shares: the app's runtime, the client's address, and the
per-endpoint rate limit.

Every dependency here is `async def`, even where it awaits nothing: FastAPI runs a
plain `def` dependency in a worker thread, a hop that costs more than the work.
"""

import ipaddress
from typing import Annotated

from fastapi import Depends, Request

from app.platform.errors import RateLimited, ServiceUnavailable
from app.platform.request_context import record_rate_limit
from app.platform.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


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


async def limit_as(request: Request, principal: str | None) -> None:
    """Counts this call against the rate limit of its endpoint for `principal`: a caller
    that proved who it is (`user:<id>`, `session:<id>`, `device:<id>`), or the client
    address for anyone else. A caller with credentials then never shares a bucket with
    whoever else calls from its address (a NAT, a proxy), who could otherwise spend it.
    Over the limit, the call is refused with 429."""
    runtime = runtime_of(request)
    if not runtime.limiter.enabled:
        return
    if principal is None:
        principal = f"addr:{client_address(request, runtime.settings.trusted_proxies)}"
    route = request.scope.get("route")
    endpoint = f"{request.method} {route.path if route is not None else request.scope['path']}"
    decision = await runtime.limiter.hit(endpoint, principal)
    if decision.storage_down and not decision.allowed:
        raise ServiceUnavailable("Rate limiting is unavailable; try again shortly")
    record_rate_limit(decision.headers())
    if not decision.allowed:
        raise RateLimited(f"Rate limit of {decision.limit} per minute exceeded for {endpoint}")


async def limit_by_address(request: Request) -> None:
    await limit_as(request, None)
