"""The API's paths, named once for the whole suite, and the target's route table read
from its OpenAPI document, so tables in the tests can be checked for completeness on
any target: a new route without its rows fails a test."""

import httpx

REGISTER = "/auth/register"
LOGIN = "/auth/login"
REFRESH = "/auth/refresh"
LOGOUT = "/auth/logout"

USERS = "/api/v1/users"
USER = f"{USERS}/{{user_id}}"
BULK = f"{USERS}/bulk"
FILES = "/api/v1/files"
FILE = f"{FILES}/{{file_id}}"
UPLOAD = f"{FILES}/upload"
TENANTS = "/api/v1/admin/tenants"
STATS = "/api/v1/admin/stats"

HEALTH = "/health"
READY = "/ready"
OPENAPI = "/openapi.json"

LIMITED_PREFIXES = ("/auth/", "/api/v1/")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def route_table(client: httpx.Client, *prefixes: str) -> set[tuple[str, str]]:
    """(method, path template) of every operation whose path starts with a prefix."""
    document = client.get(OPENAPI)
    assert document.status_code == 200, document.text
    return {
        (method.upper(), path)
        for path, operations in document.json()["paths"].items()
        if path.startswith(prefixes)
        for method in operations
        if method.upper() in METHODS
    }
