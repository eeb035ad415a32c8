"""The app's route table, read from the app itself, so tables in the tests can be
checked for completeness: a new route without its rows fails a test."""

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

LIMITED_PREFIXES = ("/auth/", "/api/v1/")


def routes(app: FastAPI, *prefixes: str) -> set[tuple[str, str]]:
    """(method, path template) of every API route whose path starts with a prefix.

    `iter_route_contexts` flattens included routers, whose routes `app.routes` no
    longer lists one by one."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.path.startswith(prefixes)
        for method in context.methods or ()
    }
