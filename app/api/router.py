"""The route table: which routers the app serves.

The routers' routes are added to the app's own router. `include_router` would wrap
each router in a layer that is walked on every request (about 40 µs per call here,
a quarter of what `/health` costs); the routes are the same either way, and so is the
OpenAPI document.
"""

import inspect

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from app.api import admin, auth, files, health, users

# The auth routes limit by address themselves; health is never limited.
PUBLIC = (health.router, auth.router)
# Every route here declares `require(action)`, which also limits per user (deps.py).
API_V1 = (users.router, files.router, admin.router)

# Everything a route was declared with, by the names `add_api_route` takes them under.
ROUTE_OPTIONS = tuple(
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in {"self", "path", "endpoint", "route_class_override"}
)


def include_routes(app: FastAPI) -> None:
    for router in (*PUBLIC, *API_V1):
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            options = {name: getattr(route, name) for name in ROUTE_OPTIONS if hasattr(route, name)}
            app.router.add_api_route(route.path, route.endpoint, **options)
