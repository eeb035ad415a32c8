"""Bodies of the admin views."""

import uuid
from datetime import datetime

from pydantic import BaseModel

from app.platform.schemas import ResponseBody


class TenantOut(ResponseBody):
    id: uuid.UUID
    name: str
    created_at: datetime
    is_active: bool


class TenantList(BaseModel):
    tenants: list[TenantOut]
    total: int


class Stats(BaseModel):
    total_tenants: int
    total_users: int
    total_files: int
    total_storage_bytes: int
