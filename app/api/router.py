"""The route table: which router sits where, and which limits apply to it.

Each router is included on the app itself, not nested in another: every level of
nesting is one more match to walk on every request.
"""

from fastapi import Depends, FastAPI

from app.api import admin, auth, files, health, users
from app.api.deps import limit_by_user

PUBLIC = (health.router, auth.router)
# Per-user limits on every /api/v1 route (the auth routes limit by address themselves).
API_V1 = (users.router, files.router, admin.router)


def include_routes(app: FastAPI) -> None:
    for router in PUBLIC:
        app.include_router(router)
    for router in API_V1:
        app.include_router(router, dependencies=[Depends(limit_by_user)])
