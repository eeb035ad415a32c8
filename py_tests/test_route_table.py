"""The app's routes are copies of the routers' routes (app/api/router.py). A copy that
dropped an option (a status code, a response, a dependency) would change what the API
answers; these tests hold every copy to its original."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute

from app.api.deps import limit_by_user
from app.api.router import API_V1, PUBLIC, ROUTE_OPTIONS

pytestmark = pytest.mark.inprocess


def _resolved(value: Any) -> Any:
    """An option left at its default, as the route will use it."""
    return value.value if isinstance(value, DefaultPlaceholder) else value


def _app_routes(app: FastAPI) -> dict[tuple[str, frozenset[str]], APIRoute]:
    return {
        (route.path, frozenset(route.methods)): route
        for route in app.routes
        if isinstance(route, APIRoute)
    }


def test_every_declared_route_is_served_once_with_all_its_options(app: FastAPI) -> None:
    served = _app_routes(app)
    declared = [route for router in (*PUBLIC, *API_V1) for route in router.routes]
    assert len(served) == len(declared) == len([r for r in app.routes if isinstance(r, APIRoute)])
    for original in declared:
        assert isinstance(original, APIRoute)
        copy = served[(original.path, frozenset(original.methods))]
        for option in ROUTE_OPTIONS:
            expected = _resolved(getattr(original, option, None))
            assert _resolved(getattr(copy, option, None)) == expected, option


def test_api_v1_routes_are_limited_per_user_before_anything_else(app: FastAPI) -> None:
    served = _app_routes(app)
    for router in API_V1:
        for original in router.routes:
            assert isinstance(original, APIRoute)
            copy = served[(original.path, frozenset(original.methods))]
            assert copy.dependencies[0].dependency is limit_by_user
            assert copy.dependencies[1:] == original.dependencies
    for router in PUBLIC:
        for original in router.routes:
            assert isinstance(original, APIRoute)
            copy = served[(original.path, frozenset(original.methods))]
            assert copy.dependencies == original.dependencies
