"""The target's route table, read from its OpenAPI document, so tables in the tests can
be checked for completeness on any target: a new route without its rows fails a test."""

import httpx

LIMITED_PREFIXES = ("/auth/", "/api/v1/")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def routes(client: httpx.Client, *prefixes: str) -> set[tuple[str, str]]:
    """(method, path template) of every operation whose path starts with a prefix."""
    document = client.get("/openapi.json")
    assert document.status_code == 200, document.text
    return {
        (method.upper(), path)
        for path, operations in document.json()["paths"].items()
        if path.startswith(prefixes)
        for method in operations
        if method.upper() in METHODS
    }
