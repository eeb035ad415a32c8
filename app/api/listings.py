"""Pages of a listing answered from memory while the database is unchanged.

A page of `GET /api/v1/users` or `GET /api/v1/files` is the same answer for everyone
in a tenant who may list, until something in the database changes. On the embedded
SQLite default, the route keeps the JSON it answered for at most
`LISTING_CACHE_SECONDS`, stamped with the database's change counter as it read before
the page's query ran (app/db/sqlite.py, `DataVersion`). A later call for the same page
of the same tenant, with the same query string, is answered from memory by
`ListingLane` only when:

- its token verifies and has not expired, as on every call (app/auth.py);
- its session's state (not revoked, user and tenant active, a role that may list) is
  in the session-state cache, which the routes fill and every revocation through this
  process empties (app/db/state_cache.py);
- the rate limiter admits it, counted in the same bucket as the route's own calls;
- the change counter still reads what it read before the kept page was queried: any
  commit since, by this process or another (a worker, the CLI), means a fresh read.

The lane answers before FastAPI's routing and dependency solving, which cost several
times what the rest of such an answer does. Whenever it cannot vouch for a call, it
steps aside before counting it and the route answers as it always does, errors
included. On PostgreSQL nothing is kept: it has no such counter to check.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.listing_cache import ListingCache
from app.errors import Unauthorized
from app.permissions import Action, allowed, declared_action
from app.runtime import Runtime
from app.services.tokens import principal_from

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
JSON_HEADERS = [(b"content-type", b"application/json")]


def cached_listing(endpoint: Endpoint) -> Endpoint:
    """Marks a route whose pages `ListingLane` may answer. The route answers through
    `answer_page`, and declares `require(action)` like every /api/v1 route."""
    endpoint.cached_listing = True  # type: ignore[attr-defined]
    return endpoint


async def answer_page(request: Request, read: Callable[[], Awaitable[BaseModel]]) -> Response:
    """The page that `read` queries, as JSON, kept for the lane when the cache is on."""
    listings: ListingCache = request.app.state.runtime.listings
    stamp = listings.stamp()
    body = (await read()).model_dump_json().encode()
    principal = request.state.principal
    key = (request.scope["route"].path, principal.tenant_id, request.scope["query_string"])
    listings.put(key, body, stamp)
    return Response(body, media_type="application/json")


Listings = dict[str, tuple[APIRoute, Action]]  # route path: the route, its action


def listing_routes(routes: Sequence[BaseRoute]) -> Listings:
    """The routes marked `cached_listing`, checked when the app is built."""
    found: Listings = {}
    for route in routes:
        if isinstance(route, APIRoute) and getattr(route.endpoint, "cached_listing", False):
            actions = [
                a
                for d in route.dependencies
                if d.dependency and (a := declared_action(d.dependency))
            ]
            if len(actions) != 1 or "{" in route.path or route.methods != {"GET"}:
                raise ValueError(
                    f"{route.path}: a listing is a GET without path parameters "
                    "that declares exactly one require(action)"
                )
            found[route.path] = (route, actions[0])
    return found


class ListingLane:
    """Answers a kept page without routing (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, listings: Listings) -> None:
        self.app = app
        self._routes = listings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and await self._answer(scope, send):
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send) -> bool:
        listing = self._listing(scope)
        if listing is None:
            return False
        runtime: Runtime = scope["app"].state.runtime
        token = _bearer_token(scope)
        if not runtime.listings.enabled or token is None:
            return False
        route, action = listing
        stamp = runtime.db.state_cache.stamp()  # the database's version, read once for both
        try:
            claims = runtime.tokens.decode(token, expected_type="access")
            state = runtime.db.state_cache.get((claims.session_id, claims.user_id), stamp)
            principal = principal_from(claims, state)
        except Unauthorized:
            return False
        if principal.tenant_id is None or not allowed(principal.role, action):
            return False
        key = (route.path, principal.tenant_id, scope["query_string"])
        body = runtime.listings.get(key, stamp[1])
        if body is None:
            return False
        request_state = scope.setdefault("state", {})
        if runtime.limiter.enabled:
            limited = (f"GET {route.path}", f"user:{principal.user_id}")
            decision = await runtime.limiter.hit(*limited)
            if not decision.allowed:
                # The route answers the refusal (429, or 503 with the storage down) from
                # this decision rather than asking the limiter again (app/api/deps.py).
                request_state["rate_limit_refused"] = (limited, decision)
                return False
            request_state["rate_limit"] = decision
            request_state["rate_limit_headers"] = decision.headers()
        request_state["principal"] = principal
        scope["route"] = route  # named in the access log, as a routed call's is
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def _listing(self, scope: Scope) -> tuple[APIRoute, Action] | None:
        """The listing route that this GET is for, if any: its path has no parameters,
        so the path under the app's root path names it (a dict lookup, since every GET
        passes here)."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return self._routes.get(path)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token if scheme.lower() == "bearer" and token else None
    return None
