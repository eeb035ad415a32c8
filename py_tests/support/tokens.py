"""Token helpers for the tests: read claims, build headers, call refresh."""

from typing import Any

import httpx
import jwt

from py_tests.support.accounts import Poster
from py_tests.support.routes import REFRESH

MISSING: Any = object()  # an override that removes the field from a payload


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(api: Poster[httpx.Response], refresh_token: str) -> httpx.Response:
    return api.post(REFRESH, json={"refresh_token": refresh_token})


def without_missing(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if value is not MISSING}
