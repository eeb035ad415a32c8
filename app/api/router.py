"""The route table: which router sits where, and which limits apply to it."""

from fastapi import APIRouter, Depends

from app.api import admin, auth, files, health, users
from app.api.deps import limit_by_user

api_v1 = APIRouter(dependencies=[Depends(limit_by_user)])
api_v1.include_router(users.router)
api_v1.include_router(files.router)
api_v1.include_router(admin.router)

root = APIRouter()
root.include_router(health.router)
root.include_router(auth.router)
root.include_router(api_v1)
