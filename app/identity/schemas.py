"""Bodies of registration, login, refresh and logout."""

import uuid
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.platform.schemas import (
    Email,
    Password,
    RequestBody,
    ResponseBody,
    TenantName,
    Username,
)


class RegisterRequest(RequestBody):
    tenant_name: TenantName
    admin_email: Email
    admin_username: Username
    admin_password: Password


class RegisterResponse(ResponseBody):
    tenant_id: uuid.UUID
    admin_user_id: uuid.UUID
    message: str


class LoginRequest(RequestBody):
    # No NUL: it can name no account, and PostgreSQL text cannot even be compared with it.
    username: Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=r"^[^\x00]*$")]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenPair(ResponseBody):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Lifetime of the access token in seconds")


class RefreshRequest(RequestBody):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class LogoutRequest(RequestBody):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
