"""What every domain's bodies share: strict request bodies (unknown fields answer 422),
response bodies read from ORM rows, and the field types of names, emails and passwords."""

import re
from typing import Annotated, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, StringConstraints
from pydantic.json_schema import WithJsonSchema

from app.platform.text import FORMAT_CHARACTERS

MAX_PASSWORD_LENGTH = 128


# Display text: no control or format characters (Cf: bidi overrides, zero-width
# spaces; app/platform/text.py), no leading or trailing whitespace. Written as a pattern so
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
