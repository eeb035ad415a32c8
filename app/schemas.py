"""Request and response bodies. Requests are strict: unknown fields answer 422."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from app.text import FORMAT_CHARACTERS

MAX_BULK = 50
MAX_PASSWORD_LENGTH = 128


# Display text: no control or format characters (Cf: bidi overrides, zero-width
# spaces; app/text.py), no leading or trailing whitespace. Written as a pattern so
# that the OpenAPI document states exactly what the server accepts.
_TEXT_CHAR = rf"[^\x00-\x1f\x7f-\x9f{FORMAT_CHARACTERS}]"
_EDGE_CHAR = rf"[^\s\x00-\x1f\x7f-\x9f{FORMAT_CHARACTERS}]"
DISPLAY_TEXT = rf"^(?:{_EDGE_CHAR}(?:{_TEXT_CHAR}*{_EDGE_CHAR})?)?$"


Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=MAX_PASSWORD_LENGTH)]
TenantName = Annotated[str, StringConstraints(min_length=3, max_length=50, pattern=DISPLAY_TEXT)]
FullName = Annotated[str, StringConstraints(max_length=200, pattern=DISPLAY_TEXT)]
# Addresses under special-use names (RFC 6761: .test, .local, ...) are refused as
# undeliverable, and so are addresses with format characters; the pattern says both
# in the OpenAPI document (validation is the email validator's, which also checks the
# syntax and refuses every control and format character).
_RESERVED_DOMAINS = "|".join(email_validator.SPECIAL_USE_DOMAIN_NAMES)
_INVISIBLE = re.compile(f"[{FORMAT_CHARACTERS}]")


def _visible(address: str) -> str:
    # The email validator refuses format characters; the other invisible ones too.
    if _INVISIBLE.search(address):
        raise ValueError("An email address must not contain invisible characters")
    return address


Email = Annotated[
    EmailStr,
    StringConstraints(max_length=254),
    AfterValidator(_visible),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "pattern": rf"^(?!.*[@.](?:{_RESERVED_DOMAINS})$)(?!.*[{FORMAT_CHARACTERS}]).*$",
        }
    ),
]
Role = Literal["admin", "user"]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- authentication -----------------------------------------------------------------


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


# --- users --------------------------------------------------------------------------


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


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    page: int
    page_size: int
    total_count: int
    has_next: bool
    has_prev: bool


class FileOut(ResponseBody):
    id: uuid.UUID
    tenant_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    uploaded_by: uuid.UUID
    uploaded_at: datetime
    sha256: str


# --- admin and health ---------------------------------------------------------------


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


class Health(BaseModel):
    status: Literal["healthy"]
    timestamp: datetime
    environment: str
    version: str


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]
