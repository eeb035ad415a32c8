"""Bodies of user management."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from app.platform.schemas import (
    Email,
    FullName,
    Password,
    RequestBody,
    ResponseBody,
    Role,
    Username,
)

MAX_BULK = 50


class UserCreate(RequestBody):
    username: Username
    email: Email
    full_name: FullName = ""
    role: Role = "user"
    password: Password | None = None


class UserUpdate(RequestBody):
    """Partial update: absent fields stay as they are; null is not a value here."""

    email: Email | SkipJsonSchema[None] = None
    full_name: FullName | SkipJsonSchema[None] = None
    password: Password | SkipJsonSchema[None] = None
    role: Role | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None
    # Needed to change one's own password or email: a stolen access token alone cannot.
    current_password: (
        Annotated[str, StringConstraints(min_length=1, max_length=1024)] | SkipJsonSchema[None]
    ) = None

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None:
            raise ValueError("null is not allowed; leave the field out to keep it")
        return value


BulkUserCreate = Annotated[list[UserCreate], Field(min_length=1, max_length=MAX_BULK)]


class UserOut(ResponseBody):
    id: uuid.UUID
    tenant_id: uuid.UUID
    username: str
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
